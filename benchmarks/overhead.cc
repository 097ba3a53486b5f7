// overhead: the cost per task of building, planning and running graphs of no-op tasks.
//   chains: 8 independent chains of N/8 tasks     tree: a reduction over N leaves with fan-in 8
// Figures per implementation (tessera-sync, tessera-local = thread pool; "-fused" = with chain fusion):
//   build (graph construction), plan (cull + fuse + order), run (executor), per_task = plan + run (what
//   Dask's get() does for the same graph), and bytes per task held by graph + plan + executor state.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_graphs.h"
#include "bench_util.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"

namespace {

using namespace tessera;

using bench::Built;

struct Figures {
  std::vector<double> build, plan, run;
  double bytes_per_task = 0;
  std::size_t tasks = 0;
};

void measure(const std::string& shape, int n, Executor& exec, bool fuse, int reps, Figures& f) {
  for (int r = 0; r < reps; ++r) {
    Built b;
    double t0 = bench::now_seconds();
    bench::build_shape(b, shape, n);
    double t1 = bench::now_seconds();
    Plan plan = Plan::build(b.graph, b.outputs, {.cull = true, .fuse = fuse});
    double t2 = bench::now_seconds();
    RunResult result = exec.run(b.graph, plan);
    double t3 = bench::now_seconds();
    f.tasks = b.graph.size();
    if (result.stats.graph_tasks != f.tasks) {
      std::fprintf(stderr, "overhead: ran %llu of %zu tasks\n",
                   static_cast<unsigned long long>(result.stats.graph_tasks), f.tasks);
      std::exit(1);
    }
    f.build.push_back(t1 - t0);
    f.plan.push_back(t2 - t1);
    f.run.push_back(t3 - t2);
    // Executor state per plan task: a result slot and two counters.
    const std::size_t exec_bytes = plan.size() * (sizeof(Value) + 2 * sizeof(std::int32_t));
    f.bytes_per_task = static_cast<double>(b.graph.memory_bytes() + plan.memory_bytes() + exec_bytes) /
                       static_cast<double>(f.tasks);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int n = static_cast<int>(bench::flag_value(argc, argv, "--tasks", quick ? 100000 : 1000000));
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 3 : 5));
  const int threads = static_cast<int>(bench::flag_value(argc, argv, "--threads", 0));

  auto sync = make_sync_executor();
  auto local = make_thread_pool_executor({.threads = threads});
  struct Impl {
    std::string name;
    Executor* exec;
    bool fuse;
  };
  const std::vector<Impl> impls = {{"tessera-sync", sync.get(), false},
                                   {"tessera-local", local.get(), false},
                                   {"tessera-local-fused", local.get(), true}};
  for (const std::string shape : {"chains", "tree"}) {
    const std::string case_name = shape + "-" + std::to_string(n);
    for (const Impl& impl : impls) {
      Figures f;
      measure(shape, n, *impl.exec, impl.fuse, reps, f);
      const double us = 1e6 / static_cast<double>(f.tasks);
      const double build = bench::median(f.build) * us;
      const double plan = bench::median(f.plan) * us;
      const double run = bench::median(f.run) * us;
      std::vector<double> total;
      for (std::size_t i = 0; i < f.plan.size(); ++i) total.push_back((f.plan[i] + f.run[i]) * us);
      bench::emit("overhead", impl.name, case_name, "per_task", bench::median(total), "us");
      bench::emit("overhead", impl.name, case_name, "build", build, "us");
      bench::emit("overhead", impl.name, case_name, "plan", plan, "us");
      bench::emit("overhead", impl.name, case_name, "run", run, "us");
      bench::emit("overhead", impl.name, case_name, "bytes_per_task", f.bytes_per_task, "B");
    }
  }
  bench::emit("overhead", "tessera-local", "", "threads", local->concurrency(), "threads");
  bench::emit("overhead", "tessera", "", "peak_rss",
              static_cast<double>(bench::proc_status_kb("VmHWM")) / 1024.0, "MB");
  return 0;
}
