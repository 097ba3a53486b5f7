#include "demo.h"

#include <chrono>
#include <cmath>
#include <numbers>
#include <vector>

#include "tessera/runtime/delayed.h"
#include "tessera/runtime/error.h"

namespace tessera::jobs {
namespace {

// splitmix64: a counter-based generator, so sample i of a chunk depends only on (seed, chunk, i).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t count_hits(std::uint64_t seed, std::int64_t chunk, std::int64_t n) {
  std::uint64_t hits = 0;
  const std::uint64_t base = mix(seed ^ mix(static_cast<std::uint64_t>(chunk)));
  constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t a = mix(base + 2 * static_cast<std::uint64_t>(i));
    const std::uint64_t b = mix(base + 2 * static_cast<std::uint64_t>(i) + 1);
    const double x = static_cast<double>(a >> 11) * kScale;
    const double y = static_cast<double>(b >> 11) * kScale;
    hits += (x * x + y * y < 1.0) ? 1 : 0;
  }
  return hits;
}

}  // namespace

DemoResult run_demo(Runtime& runtime, const DemoOptions& options, std::ostream& out) {
  const auto start = std::chrono::steady_clock::now();
  auto sample = delayed(
      [seed = options.seed](std::int64_t chunk, std::int64_t n) { return count_hits(seed, chunk, n); },
      "sample");
  std::vector<Delayed<std::uint64_t>> counts;
  for (std::int64_t c = 0, done = 0; done < options.samples; ++c, done += options.chunk) {
    counts.push_back(sample(c, std::min(options.chunk, options.samples - done)));
  }
  auto total = tree_reduce(
      counts, [](std::uint64_t a, std::uint64_t b) { return a + b; }, 8, "sum");
  DemoResult result;
  result.hits = runtime.compute(total);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.tasks = runtime.last_stats().graph_tasks;
  result.pi = 4.0 * static_cast<double>(result.hits) / static_cast<double>(options.samples);
  if (runtime.rank() != 0) return result;  // every rank has the result; rank 0 reports it
  out << "tessera demo: estimating pi from " << options.samples << " random points\n"
      << "  executor   " << runtime.executor().name() << " (" << runtime.executor().concurrency()
      << " threads" << (runtime.ranks() > 1 ? str_cat(" on ", runtime.ranks() - 1, " worker ranks") : "")
      << ")\n"
      << "  tasks      " << result.tasks << " (" << counts.size() << " sample chunks + tree reduction)\n"
      << "  hits       " << result.hits << " of " << options.samples << "\n"
      << "  pi         " << result.pi << " (error " << std::abs(result.pi - std::numbers::pi) << ")\n"
      << "  wall time  " << result.seconds << " s\n";
  return result;
}

}  // namespace tessera::jobs
