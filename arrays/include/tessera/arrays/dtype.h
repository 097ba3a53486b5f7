// Element types of arrays and NumPy's rules for combining them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include <string_view>
#include <type_traits>

namespace tessera {

enum class DType : std::uint8_t { kBool, kUint8, kInt16, kInt32, kInt64, kFloat32, kFloat64 };

inline constexpr DType kAllDTypes[] = {DType::kBool,  DType::kUint8,   DType::kInt16,  DType::kInt32,
                                       DType::kInt64, DType::kFloat32, DType::kFloat64};

std::size_t size_of(DType t) noexcept;
// NumPy's names: "bool", "uint8", "int16", "int32", "int64", "float32", "float64".
std::string_view name_of(DType t) noexcept;
// The dtype with that NumPy name; throws Error(kInvalidArgument) listing the valid names.
DType parse_dtype(std::string_view name);
bool is_float(DType t) noexcept;
bool is_integer(DType t) noexcept;  // bool excluded

// NumPy's result_type for two arrays: the smallest type both convert to safely (int32 with float32 gives
// float64, uint8 with int16 gives int16, bool with anything gives the other).
DType promote(DType a, DType b) noexcept;

// The kind of a scalar operand. Scalars are "weak" as in NumPy: an array keeps its dtype when the scalar is
// of the same kind or lower (float32 array + 2.5 -> float32; int16 array + 3 -> int16); a float scalar makes
// an integer array float64. (NumPy 1.x also looks at the value to pick a wider integer; tessera does not.)
enum class ScalarKind : std::uint8_t { kBool, kInt, kFloat };
DType promote_with_scalar(DType array, ScalarKind scalar) noexcept;
// The smallest of uint8, int16, int32, int64 holding `value`: an integer scalar that does not fit an integer
// array's dtype widens the result to hold it, as NumPy 1.x does (uint8 array < -1 compares in int16).
DType smallest_int_dtype(std::int64_t value) noexcept;

// Converts one element as NumPy's astype does on x86, with every case defined: floats that are NaN or out of
// an integer type's range give the type's minimum (the "integer indefinite" value), bool is "not zero".
template <class To, class From>
To convert_value(From v) {
  if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To> && !std::is_same_v<To, bool>) {
    constexpr double lo = static_cast<double>(std::numeric_limits<To>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<To>::max());
    if (!(v >= lo && v <= hi)) return std::numeric_limits<To>::min();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

// C++ type of each dtype, and back.
template <DType D>
struct CType;
template <>
struct CType<DType::kBool> {
  using type = bool;
};
template <>
struct CType<DType::kUint8> {
  using type = std::uint8_t;
};
template <>
struct CType<DType::kInt16> {
  using type = std::int16_t;
};
template <>
struct CType<DType::kInt32> {
  using type = std::int32_t;
};
template <>
struct CType<DType::kInt64> {
  using type = std::int64_t;
};
template <>
struct CType<DType::kFloat32> {
  using type = float;
};
template <>
struct CType<DType::kFloat64> {
  using type = double;
};
template <DType D>
using ctype_t = typename CType<D>::type;

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<bool>() {
  return DType::kBool;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::kUint8;
}
template <>
constexpr DType dtype_of<std::int16_t>() {
  return DType::kInt16;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::kInt32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::kInt64;
}
template <>
constexpr DType dtype_of<float>() {
  return DType::kFloat32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::kFloat64;
}

// Calls f(std::type_identity<T>{}) with T the C++ type of `t`.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kBool:
      return f(std::type_identity<bool>{});
    case DType::kUint8:
      return f(std::type_identity<std::uint8_t>{});
    case DType::kInt16:
      return f(std::type_identity<std::int16_t>{});
    case DType::kInt32:
      return f(std::type_identity<std::int32_t>{});
    case DType::kInt64:
      return f(std::type_identity<std::int64_t>{});
    case DType::kFloat32:
      return f(std::type_identity<float>{});
    case DType::kFloat64:
      break;
  }
  return f(std::type_identity<double>{});
}

}  // namespace tessera
