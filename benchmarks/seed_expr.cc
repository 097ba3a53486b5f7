// seed-expr: the seeds' expression ((X + X.T) - X.mean(axis=0)).sum() on random float64, whole compute time.
// Cases: n=20000 with 1000-chunks (400 chunks, 3.2 GB of X never all in memory) and n=4000 with 50-chunks
// (6,400 chunks: the per-task overhead case). Local threads, or the MPI executor under mpiexec. Locally also
// `raw`, the floor: plain C++ loops on the same threads computing the same expression once from the same
// random numbers (X generated once and kept in memory, its column means, then the sum with X.T read in
// tiles).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tessera/arrays/array.h"

namespace {

// tessera's random_uniform: element e of seed s is mix64(mix64(s) + e) >> 11, scaled to [0, 1)
// (arrays/src/array.cc). Repeated here so that the floor computes from the very same numbers.
std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// n elements of row-major position first, first + 1, ... of X, as tessera's uniform_row makes them (compiled
// for x86-64-v4 as well, picked at load time, as tessera's is).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
void uniform_row(std::uint64_t key, std::uint64_t first, std::int64_t n, double* out) {
  for (std::int64_t j = 0; j < n; ++j) {
    out[j] = static_cast<double>(mix64(key + first + static_cast<std::uint64_t>(j)) >> 11) *
             (1.0 / 9007199254740992.0);
  }
}

// Runs f(first, last) over [0, n) split evenly among `threads` threads.
template <class F>
void parallel_rows(std::int64_t n, int threads, F f) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { f(n * t / threads, n * (t + 1) / threads); });
  }
  for (auto& th : pool) th.join();
}

double raw_seed_expr(std::int64_t n, std::uint64_t seed, int threads) {
  std::vector<double> x(static_cast<std::size_t>(n * n));
  const std::uint64_t key = mix64(seed);
  parallel_rows(n, threads, [&](std::int64_t a, std::int64_t b) {
    for (std::int64_t i = a; i < b; ++i)
      uniform_row(key, static_cast<std::uint64_t>(i * n), n, x.data() + i * n);
  });
  // Column means: each thread sums its rows, then the partial sums are added.
  std::vector<std::vector<double>> partial(static_cast<std::size_t>(threads), std::vector<double>(n, 0.0));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<double>& p = partial[static_cast<std::size_t>(t)];
      for (std::int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i) {
        const double* row = x.data() + i * n;
        for (std::int64_t j = 0; j < n; ++j) p[j] += row[j];
      }
    });
  }
  for (auto& th : pool) th.join();
  std::vector<double> mean(static_cast<std::size_t>(n), 0.0);
  for (const auto& p : partial) {
    for (std::int64_t j = 0; j < n; ++j) mean[j] += p[j];
  }
  for (double& m : mean) m /= static_cast<double>(n);
  // The sum of X + X.T - mean over 64 x 64 tiles (X.T read tile by tile, not column by column).
  constexpr std::int64_t kTile = 64;
  std::vector<double> sums(static_cast<std::size_t>(threads), 0.0);
  const std::int64_t tiles = (n + kTile - 1) / kTile;
  pool.clear();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      double s = 0;
      for (std::int64_t ti = tiles * t / threads; ti < tiles * (t + 1) / threads; ++ti) {
        for (std::int64_t tj = 0; tj < tiles; ++tj) {
          for (std::int64_t i = ti * kTile; i < std::min(n, (ti + 1) * kTile); ++i) {
            for (std::int64_t j = tj * kTile; j < std::min(n, (tj + 1) * kTile); ++j) {
              s += x[static_cast<std::size_t>(i * n + j)] + x[static_cast<std::size_t>(j * n + i)] - mean[j];
            }
          }
        }
      }
      sums[static_cast<std::size_t>(t)] = s;
    });
  }
  for (auto& th : pool) th.join();
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

// The same expression with X never stored, as tessera computes it: one pass generating X for the column
// means, one generating each 64 x 64 tile of X and of X.T for the sum (X generated three times, no memory
// traffic beyond the tiles).
double raw_fused_seed_expr(std::int64_t n, std::uint64_t seed, int threads) {
  const std::uint64_t key = mix64(seed);
  std::vector<std::vector<double>> partial(static_cast<std::size_t>(threads), std::vector<double>(n, 0.0));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<double>& p = partial[static_cast<std::size_t>(t)];
      std::vector<double> row(static_cast<std::size_t>(n));
      for (std::int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i) {
        uniform_row(key, static_cast<std::uint64_t>(i * n), n, row.data());
        for (std::int64_t j = 0; j < n; ++j) p[j] += row[j];
      }
    });
  }
  for (auto& th : pool) th.join();
  std::vector<double> mean(static_cast<std::size_t>(n), 0.0);
  for (const auto& p : partial) {
    for (std::int64_t j = 0; j < n; ++j) mean[j] += p[j];
  }
  for (double& m : mean) m /= static_cast<double>(n);
  constexpr std::int64_t kTile = 64;
  const std::int64_t tiles = (n + kTile - 1) / kTile;
  std::vector<double> sums(static_cast<std::size_t>(threads), 0.0);
  pool.clear();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      double a[kTile][kTile], b[kTile][kTile];
      double s = 0;
      for (std::int64_t ti = tiles * t / threads; ti < tiles * (t + 1) / threads; ++ti) {
        for (std::int64_t tj = 0; tj < tiles; ++tj) {
          const std::int64_t i0 = ti * kTile, j0 = tj * kTile;
          const std::int64_t ni = std::min(kTile, n - i0), nj = std::min(kTile, n - j0);
          for (std::int64_t i = 0; i < ni; ++i)
            uniform_row(key, static_cast<std::uint64_t>((i0 + i) * n + j0), nj, a[i]);
          for (std::int64_t j = 0; j < nj; ++j)
            uniform_row(key, static_cast<std::uint64_t>((j0 + j) * n + i0), ni, b[j]);
          for (std::int64_t i = 0; i < ni; ++i) {
            for (std::int64_t j = 0; j < nj; ++j) s += a[i][j] + b[j][i] - mean[j0 + j];
          }
        }
      }
      sums[static_cast<std::size_t>(t)] = s;
    });
  }
  for (auto& th : pool) th.join();
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", 3));
  const bool mpi = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
  Runtime rt(RuntimeOptions{.executor = mpi ? ExecutorKind::kMpi : ExecutorKind::kThreads});
  const std::string impl = mpi ? "tessera-mpi-" + std::to_string(rt.ranks()) : std::string("tessera-local");
  struct Case {
    std::int64_t n, chunk;
  };
  const std::vector<Case> cases =
      quick ? std::vector<Case>{{8000, 1000}, {2000, 50}} : std::vector<Case>{{20000, 1000}, {4000, 50}};
  for (const Case& c : cases) {
    std::vector<double> seconds;
    double value = 0;
    std::size_t tasks = 0;
    for (int r = 0; r < reps; ++r) {
      const double t0 = bench::now_seconds();
      Array x = random_uniform({c.n, c.n}, {c.chunk, c.chunk}, 42);
      Array e = ((x + x.T()) - x.mean(0)).sum();
      value = compute(rt, e).flat(0);
      seconds.push_back(bench::now_seconds() - t0);
      tasks = rt.last_stats().graph_tasks;
    }
    if (rt.rank() != 0) continue;
    const std::string name = std::to_string(c.n) + "-c" + std::to_string(c.chunk);
    bench::emit("seed-expr", impl, name, "wall", bench::median(seconds), "s");
    bench::emit("seed-expr", impl, name, "tasks", static_cast<double>(tasks), "tasks");
    if (!mpi) {
      std::vector<double> raw_seconds;
      double raw = 0;
      for (int r = 0; r < reps; ++r) {
        const double t0 = bench::now_seconds();
        raw = raw_seed_expr(c.n, 42, rt.executor().concurrency());
        raw_seconds.push_back(bench::now_seconds() - t0);
      }
      bench::emit("seed-expr", "raw", name, "wall", bench::median(raw_seconds), "s");
      std::vector<double> fused_seconds;
      double fused = 0;
      for (int r = 0; r < reps; ++r) {
        const double t0 = bench::now_seconds();
        fused = raw_fused_seed_expr(c.n, 42, rt.executor().concurrency());
        fused_seconds.push_back(bench::now_seconds() - t0);
      }
      bench::emit("seed-expr", "raw-fused", name, "wall", bench::median(fused_seconds), "s");
      for (double floor : {raw, fused}) {
        if (std::abs(floor - value) > 1e-9 * std::abs(value)) {
          std::fprintf(stderr, "seed-expr: a floor's result %.17g differs from tessera's %.17g\n", floor,
                       value);
          return 1;
        }
      }
    }
    // The sum of x + x.T - mean(x, 0) over n^2 uniform(0,1) values is about n^2 * 0.5.
    const double expected = static_cast<double>(c.n) * static_cast<double>(c.n) * 0.5;
    if (std::abs(value - expected) > 0.01 * expected) {
      std::fprintf(stderr, "seed-expr: result %g is far from %g\n", value, expected);
      return 1;
    }
  }
  return 0;
}
