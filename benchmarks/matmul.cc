// matmul: n x n float64 with 1024 x 1024 chunks through tessera (one Eigen GEMM per block pair on the thread
// pool) against Eigen's own GEMM of the whole matrices on the same number of threads (OpenMP), GFLOP/s.
#include <omp.h>

#include <Eigen/Core>

#include "bench_util.h"
#include "tessera/arrays/array.h"

int main(int argc, char** argv) {
  using namespace tessera;
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const std::int64_t n = bench::flag_value(argc, argv, "--n", quick ? 4096 : 8192);
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 2 : 3));
  Runtime rt(RuntimeOptions{.executor = ExecutorKind::kThreads});
  const int threads = rt.executor().concurrency();
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  const std::string c = std::to_string(n) + "-c1024";

  Array a = persist(rt, random_uniform({n, n}, {1024, 1024}, 1));
  Array b = persist(rt, random_uniform({n, n}, {1024, 1024}, 2));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const double t0 = bench::now_seconds();
    persist(rt, matmul(a, b));
    t.push_back(bench::now_seconds() - t0);
  }
  bench::emit("matmul", "tessera-local", c, "throughput", flops / bench::median(t) / 1e9, "GFLOP/s");

  Eigen::setNbThreads(threads);
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(n, n), y = Eigen::MatrixXd::Random(n, n), z(n, n);
  std::vector<double> e;
  for (int r = 0; r < reps; ++r) {
    const double t0 = bench::now_seconds();
    z.noalias() = x * y;
    e.push_back(bench::now_seconds() - t0);
  }
  bench::emit("matmul", "eigen", c, "throughput", flops / bench::median(e) / 1e9, "GFLOP/s");
  bench::emit("matmul", "eigen", "", "threads", Eigen::nbThreads(), "threads");
  return z(0, 0) == 12345.0 ? 1 : 0;  // keeps z alive
}
