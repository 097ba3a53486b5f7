#include "tessera/runtime/value.h"

#include <cxxabi.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "tessera/runtime/error.h"

namespace tessera {
namespace detail {

std::string demangle(const std::type_info& type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  if (status != 0 || name == nullptr) return type.name();
  std::string out(name);
  std::free(name);
  return out;
}

std::uint64_t type_tag(const std::type_info& type) noexcept {
  // FNV-1a of the mangled name: the same on every rank running the same binary, unlike addresses.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char* p = type.name(); *p != '\0'; ++p)
    h = (h ^ static_cast<unsigned char>(*p)) * 0x100000001b3ULL;
  return h == 0 ? 1 : h;  // 0 means "no value"
}

namespace {
struct Registry {
  std::mutex mu;
  std::unordered_map<std::uint64_t, const TypeOps*> types;
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

std::uint64_t register_type(const TypeOps& ops) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.types.emplace(ops.tag, &ops);
  return ops.tag;
}

const TypeOps* find_type(std::uint64_t tag) noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.types.find(tag);
  return it == r.types.end() ? nullptr : it->second;
}

void throw_bad_value_type(const TypeOps* held, const std::type_info& wanted) {
  throw_error(ErrorCode::kInvalidArgument, "value holds ",
              held ? demangle(held->type) : std::string("nothing"), ", not ", demangle(wanted));
}

}  // namespace detail

std::string Value::type_name() const {
  return ops_ ? detail::demangle(ops_->type) : std::string("empty");
}

Value Value::decode(const detail::TypeOps& ops, const std::byte* bytes, std::size_t n) {
  if (ops.decode == nullptr) {
    throw_error(ErrorCode::kInvalidArgument, "values of type ", detail::demangle(ops.type),
                " cannot be decoded: specialise tessera::Codec for it");
  }
  return Value(ops.decode(bytes, n), &ops);
}

}  // namespace tessera
