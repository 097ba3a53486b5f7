// Helpers shared by the benchmark programs: timing, medians, process memory and the JSON-lines output that
// benchmarks/run collects (see ../shared/BENCHMARKS.md for the convention).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::bench {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A field of /proc/self/status in kB (VmRSS, VmHWM), or -1.
inline long proc_status_kb(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() &&
        line[field.size()] == ':') {
      return std::stol(line.substr(field.size() + 1));
    }
  }
  return -1;
}

// One figure, one line: {"bench": ..., "impl": ..., "case": ..., "metric": ..., "value": ..., "unit": ...}
inline void emit(std::string_view bench, std::string_view impl, std::string_view case_name,
                 std::string_view metric, double value, std::string_view unit) {
  std::printf("{\"bench\": \"%.*s\", \"impl\": \"%.*s\", ", static_cast<int>(bench.size()), bench.data(),
              static_cast<int>(impl.size()), impl.data());
  if (!case_name.empty())
    std::printf("\"case\": \"%.*s\", ", static_cast<int>(case_name.size()), case_name.data());
  std::printf("\"metric\": \"%.*s\", \"value\": %.6g, \"unit\": \"%.*s\"}\n", static_cast<int>(metric.size()),
              metric.data(), value, static_cast<int>(unit.size()), unit.data());
  std::fflush(stdout);
}

// Whether this process was started by an MPI launcher with more than one rank (then the MPI executor runs).
inline bool under_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(var); v != nullptr && std::atoi(v) > 1) return true;
  }
  return false;
}

inline bool has_flag(int argc, char** argv, std::string_view flag) {
  for (int i = 1; i < argc; ++i) {
    if (flag == argv[i]) return true;
  }
  return false;
}

// The value after `--name`, or `fallback`.
inline long flag_value(int argc, char** argv, std::string_view name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name == argv[i]) return std::stol(argv[i + 1]);
  }
  return fallback;
}

}  // namespace tessera::bench
