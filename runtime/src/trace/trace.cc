#include "tessera/runtime/trace.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace tessera {

std::string task_kind(std::string_view name) {
  // Drop trailing "-word"/"_word" segments that are numbers or hashes (hex with a digit, 4+ characters).
  auto is_suffix = [](std::string_view w) {
    if (w.empty()) return false;
    bool digit = false;
    bool hex = true;
    for (char c : w) {
      if (c >= '0' && c <= '9') {
        digit = true;
      } else if (!((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
        hex = false;
      }
    }
    const bool number = std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
    return number || (hex && digit && w.size() >= 4);
  };
  std::string_view s = name;
  while (true) {
    const auto cut = s.find_last_of("-_");
    if (cut == std::string_view::npos || cut == 0) break;
    if (!is_suffix(s.substr(cut + 1))) break;
    s = s.substr(0, cut);
  }
  return std::string(s.empty() ? name : s);
}

std::string RunTrace::key_of(const TaskEvent& e) const {
  std::string out = "('";
  out += e.name < names.size() ? names[e.name] : std::string("?");
  out += "'";
  for (std::uint32_t i = 0; i < e.index_size && e.index_begin + i < index_pool.size(); ++i) {
    out += ", ";
    out += std::to_string(index_pool[e.index_begin + i]);
  }
  out += ")";
  return out;
}

}  // namespace tessera
