#include "tessera/runtime/format.h"

#include <cstdio>

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

}  // namespace tessera
