#include "tessera/runtime/value.h"

#include <cxxabi.h>

#include <cstdlib>

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

void throw_bad_value_type(const TypeOps* held, const std::type_info& wanted) {
  throw_error(ErrorCode::kInvalidArgument, "value holds ", held ? demangle(held->type) : std::string("nothing"),
              ", not ", demangle(wanted));
}

}  // namespace detail

std::string Value::type_name() const { return ops_ ? detail::demangle(ops_->type) : std::string("empty"); }

Value Value::decode(const detail::TypeOps& ops, const std::byte* bytes, std::size_t n) {
  if (ops.decode == nullptr) {
    throw_error(ErrorCode::kInvalidArgument, "values of type ", detail::demangle(ops.type),
                " cannot be decoded: specialise tessera::Codec for it");
  }
  return Value(ops.decode(bytes, n), &ops);
}

}  // namespace tessera
