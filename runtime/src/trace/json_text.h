// Small helpers for writing JSON text and output files.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::detail {

inline void append_json_string(std::string& s, std::string_view v) {
  s += '"';
  for (char c : v) {
    switch (c) {
      case '"':
        s += "\\\"";
        break;
      case '\\':
        s += "\\\\";
        break;
      case '\n':
        s += "\\n";
        break;
      case '\t':
        s += "\\t";
        break;
      case '<':  // keeps "</script>" out of a report's embedded data
        s += "\\u003c";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          s += buf;
        } else {
          s += c;
        }
    }
  }
  s += '"';
}

// A finite number with at most `decimals` decimals, trailing zeros dropped (JSON has no NaN or infinity).
inline void append_number(std::string& s, double v, int decimals) {
  if (!std::isfinite(v)) v = 0;
  char buf[64];
  const int n = std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  std::string_view t(buf, static_cast<std::size_t>(n));
  if (t.find('.') != std::string_view::npos) {
    while (!t.empty() && t.back() == '0') t.remove_suffix(1);
    if (!t.empty() && t.back() == '.') t.remove_suffix(1);
  }
  if (t == "-0") t = "0";
  s += t;
}

// Writes `path` through a temporary file renamed into place. Throws Error(kIo) naming the file.
// A JSON array of v's elements, each appended by value(s, element).
template <class T, class F>
inline void append_json_array(std::string& s, const std::vector<T>& v, F value) {
  s += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    value(s, v[i]);
  }
  s += ']';
}

void write_file_atomically(const std::string& path, const char* what,
                           const std::function<void(std::ostream&)>& write);

}  // namespace tessera::detail
