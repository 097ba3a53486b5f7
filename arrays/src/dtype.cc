#include "tessera/arrays/dtype.h"

#include <string>

#include "tessera/runtime/error.h"

namespace tessera {

std::size_t size_of(DType t) noexcept {
  switch (t) {
    case DType::kBool:
    case DType::kUint8:
      return 1;
    case DType::kInt16:
      return 2;
    case DType::kInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kFloat64:
      return 8;
  }
  return 8;
}

std::string_view name_of(DType t) noexcept {
  switch (t) {
    case DType::kBool:
      return "bool";
    case DType::kUint8:
      return "uint8";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
  }
  return "?";
}

DType parse_dtype(std::string_view name) {
  for (DType t : kAllDTypes) {
    if (name_of(t) == name) return t;
  }
  if (name == "float") return DType::kFloat64;
  if (name == "int") return DType::kInt64;
  throw_error(ErrorCode::kInvalidArgument, "unknown dtype \"", name,
              "\"; expected bool, uint8, int16, int32, int64, float32 or float64");
}

bool is_float(DType t) noexcept {
  return t == DType::kFloat32 || t == DType::kFloat64;
}
bool is_integer(DType t) noexcept {
  return t == DType::kUint8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64;
}

DType promote(DType a, DType b) noexcept {
  if (a == b) return a;
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  const bool fa = is_float(a), fb = is_float(b);
  if (fa && fb) return DType::kFloat64;  // float32 with float64
  if (fa || fb) {
    // A float with an integer: float32 holds uint8 and int16 exactly, nothing wider.
    const DType i = fa ? b : a;
    const DType f = fa ? a : b;
    if (f == DType::kFloat64) return DType::kFloat64;
    return (i == DType::kUint8 || i == DType::kInt16) ? DType::kFloat32 : DType::kFloat64;
  }
  // Two integers: uint8 is the only unsigned one and fits in any wider signed type.
  auto rank = [](DType t) {
    switch (t) {
      case DType::kUint8:
        return 1;
      case DType::kInt16:
        return 2;
      case DType::kInt32:
        return 3;
      default:
        return 4;
    }
  };
  return rank(a) > rank(b) ? a : b;
}

DType smallest_int_dtype(std::int64_t value) noexcept {
  if (value >= 0 && value <= 255) return DType::kUint8;
  if (value >= -32768 && value <= 32767) return DType::kInt16;
  if (value >= -2147483648LL && value <= 2147483647LL) return DType::kInt32;
  return DType::kInt64;
}

DType promote_with_scalar(DType array, ScalarKind scalar) noexcept {
  switch (scalar) {
    case ScalarKind::kBool:
      return array;
    case ScalarKind::kInt:
      return array == DType::kBool ? DType::kInt64 : array;
    case ScalarKind::kFloat:
      return is_float(array) ? array : DType::kFloat64;
  }
  return array;
}

}  // namespace tessera
