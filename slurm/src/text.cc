#include "text.h"

#include <cctype>

#include "tessera/runtime/error.h"

namespace tessera::slurm::detail {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::optional<std::int64_t> number(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

int positive(const std::string& name, const std::string& value) {
  auto v = number(trim(value));
  if (!v || *v <= 0 || *v > 1'000'000) {
    throw_error(ErrorCode::kInvalidArgument, name, "=", value, ": expected a positive whole number");
  }
  return static_cast<int>(*v);
}

}  // namespace tessera::slurm::detail
