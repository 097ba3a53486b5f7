// bandwidth: a STREAM-like triad c = a + 3 b and a sum over float64 arrays held in memory (persisted chunks),
// against a plain C++ loop over one contiguous vector per array on the same number of threads. Figures in
// GB/s of array bytes touched (triad: read a and b, write c; sum: read a).
#include <algorithm>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tessera/arrays/array.h"

namespace {

template <class F>
double timed(F&& f) {
  const double t0 = tessera::bench::now_seconds();
  f();
  return tessera::bench::now_seconds() - t0;
}

// Splits [0, n) over `threads` threads.
template <class F>
void parallel(std::int64_t n, int threads, F&& f) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { f(n * t / threads, n * (t + 1) / threads); });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const std::int64_t bytes = bench::flag_value(argc, argv, "--bytes", quick ? (512l << 20) : (4l << 30));
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 3 : 5));
  const std::int64_t n = bytes / 8;
  const std::int64_t chunk = 8 << 20;  // 64 MiB chunks
  Runtime rt(RuntimeOptions{.executor = ExecutorKind::kThreads});
  const int threads = rt.executor().concurrency();
  set_buffer_cache_limit(static_cast<std::size_t>(bytes) +
                         (256u << 20));  // chunk memory is reused between runs
  const std::string c = std::to_string(bytes >> 20) + "MiB";

  std::vector<double> triad, sum;
  {
    // tessera's arrays are released before the plain loop allocates its own (4 GiB each at full size).
    Array a = persist(rt, random_uniform({n}, {chunk}, 1));
    Array b = persist(rt, random_uniform({n}, {chunk}, 2));
    for (int r = 0; r < reps + 1; ++r) {
      const double t1 = timed([&] { persist(rt, a + 3.0 * b); });
      const double t2 = timed([&] { compute(rt, a.sum()); });
      if (r == 0) continue;  // warms the chunk cache
      triad.push_back(t1);
      sum.push_back(t2);
    }
  }
  set_buffer_cache_limit(0);
  bench::emit("bandwidth", "tessera-local", c + "-triad", "throughput",
              3.0 * bytes / bench::median(triad) / 1e9, "GB/s");
  bench::emit("bandwidth", "tessera-local", c + "-sum", "throughput", 1.0 * bytes / bench::median(sum) / 1e9,
              "GB/s");

  std::vector<double> va(static_cast<std::size_t>(n)), vb(static_cast<std::size_t>(n)),
      vc(static_cast<std::size_t>(n));
  parallel(n, threads, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      va[static_cast<std::size_t>(i)] = 0.5;
      vb[static_cast<std::size_t>(i)] = 0.25;
      vc[static_cast<std::size_t>(i)] = 0;
    }
  });
  std::vector<double> btriad, bsum;
  for (int r = 0; r < reps; ++r) {
    btriad.push_back(timed([&] {
      parallel(n, threads, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) {
          vc[static_cast<std::size_t>(i)] =
              va[static_cast<std::size_t>(i)] + 3.0 * vb[static_cast<std::size_t>(i)];
        }
      });
    }));
    std::vector<double> partial(static_cast<std::size_t>(threads), 0);
    bsum.push_back(timed([&] {
      parallel(n, threads, [&](std::int64_t lo, std::int64_t hi) {
        double s = 0;
        for (std::int64_t i = lo; i < hi; ++i) s += va[static_cast<std::size_t>(i)];
        partial[static_cast<std::size_t>(lo * threads / n)] = s;
      });
    }));
  }
  bench::emit("bandwidth", "raw", c + "-triad", "throughput", 3.0 * bytes / bench::median(btriad) / 1e9,
              "GB/s");
  bench::emit("bandwidth", "raw", c + "-sum", "throughput", 1.0 * bytes / bench::median(bsum) / 1e9, "GB/s");
  bench::emit("bandwidth", "tessera-local", "", "threads", threads, "threads");
  return 0;
}
