// scheduler: tasks per second through the MPI executor (rank 0 schedules, the other ranks work) on the no-op
// graphs of the overhead benchmark. Run under mpiexec; rank 0 prints the figures as impl tessera-mpi-<ranks>.
// per_task = (plan + run) / tasks on the MPI executor; "-fused" plans fuse chains first.
#include <string>
#include <vector>

#include "bench_graphs.h"
#include "bench_util.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"

int main(int argc, char** argv) {
  using namespace tessera;
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 3 : 3));
  std::vector<int> sizes;
  if (long n = bench::flag_value(argc, argv, "--tasks", 0); n > 0) {
    sizes = {static_cast<int>(n)};
  } else if (quick) {
    sizes = {20000, 200000};
  } else {
    sizes = {100000, 1000000};
  }
  auto exec = make_mpi_executor();
  const std::string impl = "tessera-mpi-" + std::to_string(exec->ranks());
  for (int n : sizes) {
    for (const std::string shape : {"chains", "tree"}) {
      const std::string case_name = shape + "-" + std::to_string(n);
      for (bool fuse : {false, true}) {
        std::vector<double> seconds;
        std::size_t tasks = 0;
        for (int r = 0; r < reps; ++r) {
          bench::Built b;
          bench::build_shape(b, shape, n);
          tasks = b.graph.size();
          const double t0 = bench::now_seconds();
          Plan plan = Plan::build(b.graph, b.outputs, {.cull = true, .fuse = fuse});
          exec->run(b.graph, plan);
          seconds.push_back(bench::now_seconds() - t0);
        }
        if (exec->rank() != 0) continue;
        const double s = bench::median(seconds);
        const std::string name = fuse ? impl + "-fused" : impl;
        bench::emit("scheduler", name, case_name, "throughput", static_cast<double>(tasks) / s, "tasks/s");
        bench::emit("scheduler", name, case_name, "per_task", s * 1e6 / static_cast<double>(tasks), "us");
      }
    }
  }
  return 0;
}
