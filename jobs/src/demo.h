// `tessera demo`: a self-checking task-graph pipeline that shows the runtime at work.
#pragma once

#include <cstdint>
#include <ostream>

#include "tessera/runtime/runtime.h"

namespace tessera::jobs {

struct DemoOptions {
  std::int64_t samples = 200'000'000;  // Monte Carlo samples in total
  std::int64_t chunk = 1'000'000;      // samples per task
  std::uint64_t seed = 2026;
};

struct DemoResult {
  double pi = 0;
  std::uint64_t hits = 0;
  std::uint64_t tasks = 0;
  double seconds = 0;
};

// Estimates pi from `samples` random points, one task per chunk of points and a tree reduction of the counts.
// Each chunk's random stream depends only on the seed and the chunk's position, so the result is identical on
// any executor and thread count. Prints a short account to `out`.
DemoResult run_demo(Runtime& runtime, const DemoOptions& options, std::ostream& out);

}  // namespace tessera::jobs
