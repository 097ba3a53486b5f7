// Helpers shared by the arrays tests: a runtime, deterministic test data, bitwise comparison.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tessera/arrays/array.h"

namespace tessera::test {

inline Runtime& rt() {
  static Runtime runtime(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = 2});
  return runtime;
}

// Deterministic test data: values in [-10, 10) with a few NaNs when asked.
inline Chunk data(const Shape& shape, DType dtype, std::uint32_t seed, bool with_nans = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-10, 10);
  Chunk c(DType::kFloat64, shape);
  auto v = c.data<double>();
  for (double& x : v) x = u(rng);
  if (with_nans) {
    for (std::size_t i = 0; i < v.size(); i += 7) v[i] = std::numeric_limits<double>::quiet_NaN();
  }
  if (dtype == DType::kBool) {
    Chunk b(DType::kBool, shape);
    for (std::size_t i = 0; i < v.size(); ++i) b.data<bool>()[i] = v[i] > 0;
    return b;
  }
  if (!is_float(dtype)) {
    for (double& x : v) x = std::floor(x) + (dtype == DType::kUint8 ? 10 : 0);
  }
  return c.astype(dtype);
}

inline bool bit_equal(const Chunk& a, const Chunk& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

}  // namespace tessera::test
