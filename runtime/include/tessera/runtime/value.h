// Value: the type-erased, immutable, shared result of a task.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

namespace tessera {

// Codec<T> turns a T into bytes and back so that a result can move between ranks. Defined here for trivially
// copyable types, std::string and std::vector of trivially copyable types; specialise it for your own types
// (three static functions, as below). A type without a codec works on the local executors; the MPI executor
// reports a clear error naming the task and the type if such a value has to cross ranks.
template <class T, class Enable = void>
struct Codec {
  static constexpr bool kDefined = false;
};

// A codec may also set kInPlace and provide make_for_receive(n) (an object ready to take n encoded bytes) and
// receive_bytes(obj) (where to write them): the MPI executor then gets remote results straight into the final
// object, without a second copy.
template <class T>
struct Codec<T, std::enable_if_t<std::is_trivially_copyable_v<T>>> {
  static constexpr bool kDefined = true;
  static constexpr bool kInPlace = true;
  static T make_for_receive(std::size_t) { return T{}; }
  static std::byte* receive_bytes(T& v) { return reinterpret_cast<std::byte*>(&v); }
  static std::size_t size(const T&) { return sizeof(T); }
  static void encode(const T& v, std::byte* out) { std::memcpy(out, &v, sizeof(T)); }
  static T decode(const std::byte* in, std::size_t) {
    T v;
    std::memcpy(&v, in, sizeof(T));
    return v;
  }
};

template <class E>
struct Codec<std::vector<E>, std::enable_if_t<std::is_trivially_copyable_v<E>>> {
  static constexpr bool kDefined = true;
  static constexpr bool kInPlace = true;
  static std::vector<E> make_for_receive(std::size_t n) { return std::vector<E>(n / sizeof(E)); }
  static std::byte* receive_bytes(std::vector<E>& v) { return reinterpret_cast<std::byte*>(v.data()); }
  static std::size_t size(const std::vector<E>& v) { return v.size() * sizeof(E); }
  static void encode(const std::vector<E>& v, std::byte* out) {
    if (!v.empty()) std::memcpy(out, v.data(), v.size() * sizeof(E));
  }
  static std::vector<E> decode(const std::byte* in, std::size_t n) {
    std::vector<E> v(n / sizeof(E));
    if (!v.empty()) std::memcpy(v.data(), in, v.size() * sizeof(E));
    return v;
  }
};

template <>
struct Codec<std::string> {
  static constexpr bool kDefined = true;
  static constexpr bool kInPlace = true;
  static std::string make_for_receive(std::size_t n) { return std::string(n, '\0'); }
  static std::byte* receive_bytes(std::string& s) { return reinterpret_cast<std::byte*>(s.data()); }
  static std::size_t size(const std::string& s) { return s.size(); }
  static void encode(const std::string& s, std::byte* out) { std::memcpy(out, s.data(), s.size()); }
  static std::string decode(const std::byte* in, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(in), n);
  }
};

namespace detail {

// What the runtime knows about a value's type without knowing the type. One static instance per type.
struct TypeOps {
  const std::type_info& type;
  std::uint64_t tag;  // stable within one program binary: ranks use it to name a type to each other
  // Null when the type has no Codec.
  std::size_t (*encoded_size)(const void*);
  void (*encode)(const void*, std::byte*);
  std::shared_ptr<const void> (*decode)(const std::byte*, std::size_t);
  // Null unless the codec supports in-place receives: makes an object for n encoded bytes and says where to
  // write them.
  std::shared_ptr<const void> (*receive)(std::size_t n, std::byte** destination);
  // Null unless the codec needs it: completes an object made by `receive` once its bytes arrived.
  void (*finish_receive)(void* object);
};

template <class C, class = void>
struct HasFinish : std::false_type {};
template <class C>
struct HasFinish<C, std::void_t<decltype(&C::finish_receive)>> : std::true_type {};

template <class C, class = void>
struct HasInPlace : std::false_type {};
template <class C>
struct HasInPlace<C, std::enable_if_t<C::kInPlace>> : std::true_type {};

std::uint64_t type_tag(const std::type_info& type) noexcept;
// Registers a type so that a rank can decode values of it that another rank encoded; returns its tag.
std::uint64_t register_type(const TypeOps& ops);
// The registered type with this tag, or nullptr.
const TypeOps* find_type(std::uint64_t tag) noexcept;

template <class T>
const TypeOps& type_ops();

// Every type that is ever wrapped in a Value registers itself before main() runs (dynamic initialisation of
// this member is forced by type_ops<T>), so every rank of the same program knows every type, including the
// ones it never produces itself.
template <class T>
struct TypeRegistration {
  static const std::uint64_t tag;
};
template <class T>
const std::uint64_t TypeRegistration<T>::tag = register_type(type_ops<T>());

template <class T>
constexpr auto receive_fn() -> std::shared_ptr<const void> (*)(std::size_t, std::byte**) {
  if constexpr (HasInPlace<Codec<T>>::value) {
    return [](std::size_t n, std::byte** destination) -> std::shared_ptr<const void> {
      auto object = std::make_shared<T>(Codec<T>::make_for_receive(n));
      *destination = Codec<T>::receive_bytes(*object);
      return object;
    };
  } else {
    return nullptr;
  }
}

template <class T>
constexpr auto finish_fn() -> void (*)(void*) {
  if constexpr (HasFinish<Codec<T>>::value) {
    return [](void* object) { Codec<T>::finish_receive(*static_cast<T*>(object)); };
  } else {
    return nullptr;
  }
}

template <class T>
const TypeOps& type_ops() {
  (void)TypeRegistration<T>::tag;
  if constexpr (Codec<T>::kDefined) {
    static const TypeOps ops{
        typeid(T),
        type_tag(typeid(T)),
        [](const void* p) { return Codec<T>::size(*static_cast<const T*>(p)); },
        [](const void* p, std::byte* out) { Codec<T>::encode(*static_cast<const T*>(p), out); },
        [](const std::byte* in, std::size_t n) -> std::shared_ptr<const void> {
          return std::make_shared<const T>(Codec<T>::decode(in, n));
        },
        receive_fn<T>(),
        finish_fn<T>()};
    return ops;
  } else {
    static const TypeOps ops{typeid(T), type_tag(typeid(T)), nullptr, nullptr, nullptr, nullptr, nullptr};
    return ops;
  }
}

std::string demangle(const std::type_info& type);
[[noreturn]] void throw_bad_value_type(const TypeOps* held, const std::type_info& wanted);

}  // namespace detail

// An immutable result shared by every task that reads it. Copying a Value copies a reference, never the data.
// Empty (has_value() false) for tasks that return nothing.
class Value {
 public:
  Value() noexcept = default;

  template <class T, class D = std::decay_t<T>>
  static Value of(T&& v) {
    return Value(std::make_shared<const D>(std::forward<T>(v)), &detail::type_ops<D>());
  }
  template <class T>
  static Value shared(std::shared_ptr<const T> p) {
    return Value(std::move(p), &detail::type_ops<T>());
  }

  bool has_value() const noexcept { return ptr_ != nullptr; }
  template <class T>
  bool holds() const noexcept {
    return ops_ != nullptr && ops_->type == typeid(T);
  }
  // The held T. Throws Error(kInvalidArgument) naming both types when the value holds something else.
  template <class T>
  const T& get() const {
    if (!holds<T>()) detail::throw_bad_value_type(ops_, typeid(T));
    return *static_cast<const T*>(ptr_.get());
  }
  template <class T>
  std::shared_ptr<const T> share() const {
    if (!holds<T>()) detail::throw_bad_value_type(ops_, typeid(T));
    return std::static_pointer_cast<const T>(ptr_);
  }
  // The held type's name, "empty" when there is none.
  std::string type_name() const;
  const detail::TypeOps* ops() const noexcept { return ops_; }
  const void* data() const noexcept { return ptr_.get(); }
  void reset() noexcept {
    ptr_.reset();
    ops_ = nullptr;
  }

  // Rebuilds a value from bytes made by encode() on a value of the type `ops` describes.
  static Value decode(const detail::TypeOps& ops, const std::byte* bytes, std::size_t n);
  // Wraps an object made by ops.receive (low level: for executors).
  static Value adopt(std::shared_ptr<const void> object, const detail::TypeOps& ops) noexcept {
    return Value(std::move(object), &ops);
  }

 private:
  Value(std::shared_ptr<const void> p, const detail::TypeOps* ops) noexcept : ptr_(std::move(p)), ops_(ops) {}

  std::shared_ptr<const void> ptr_;
  const detail::TypeOps* ops_ = nullptr;
};

}  // namespace tessera
