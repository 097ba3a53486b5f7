// seed-expr: the seeds' expression ((X + X.T) - X.mean(axis=0)).sum() on random float64, whole compute time.
// Cases: n=20000 with 1000-chunks (400 chunks, 3.2 GB of X never all in memory) and n=4000 with 50-chunks
// (6,400 chunks: the per-task overhead case). Local threads, or the MPI executor under mpiexec.
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tessera/arrays/array.h"

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
    // The sum of x + x.T - mean(x, 0) over n^2 uniform(0,1) values is about n^2 * 0.5.
    const double expected = static_cast<double>(c.n) * static_cast<double>(c.n) * 0.5;
    if (std::abs(value - expected) > 0.01 * expected) {
      std::fprintf(stderr, "seed-expr: result %g is far from %g\n", value, expected);
      return 1;
    }
  }
  return 0;
}
