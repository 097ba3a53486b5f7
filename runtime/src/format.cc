#include "tessera/runtime/format.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tessera/runtime/error.h"

namespace tessera {

std::string format_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (b >= 999.5 && u < 5) {
    b /= 1000;
    ++u;
  }
  char text[32];
  const char* format = u == 0 || b >= 99.95 ? "%.0f %s" : b >= 9.995 ? "%.1f %s" : "%.2f %s";
  std::snprintf(text, sizeof(text), format, b, units[u]);
  return text;
}

std::uint64_t parse_size(std::string_view text, std::string_view what) {
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) s.push_back(static_cast<char>(std::tolower(c)));
  }
  double number = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
  if (ec != std::errc() || s.empty()) {
    throw_error(ErrorCode::kInvalidArgument, what, " \"", text,
                "\" is not a size: expected a number of bytes or a number and a unit, like 8GB or 512MiB");
  }
  const std::string_view unit(end, static_cast<std::size_t>(s.data() + s.size() - end));
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},         {"b", 1},        {"k", 1e3},      {"kb", 1e3},     {"m", 1e6},     {"mb", 1e6},
      {"g", 1e9},      {"gb", 1e9},     {"t", 1e12},     {"tb", 1e12},    {"p", 1e15},    {"pb", 1e15},
      {"kib", 0x1p10}, {"mib", 0x1p20}, {"gib", 0x1p30}, {"tib", 0x1p40}, {"pib", 0x1p50}};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    const double bytes = number * factor;
    if (!(bytes >= 0) || !std::isfinite(bytes) || bytes >= 0x1p64) {
      throw_error(ErrorCode::kInvalidArgument, what, " \"", text, "\" is out of range");
    }
    return static_cast<std::uint64_t>(bytes);
  }
  throw_error(ErrorCode::kInvalidArgument, what, " \"", text,
              "\" has an unknown unit: use B, kB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB "
              "(powers of 1024)");
}

}  // namespace tessera
