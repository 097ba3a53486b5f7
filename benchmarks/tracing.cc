// tracing: what recording costs. The `overhead` graphs (8 chains of N/8 no-op tasks; a tree reduction over N
// leaves, fan-in 8) planned and run with recording off and on, alternating in the same process. Figures per
// implementation (tessera-local = thread pool, tessera-sync; under mpiexec tessera-mpi-N, the MPI executor;
// "-traced" = RecordOptions::enabled):
// A third case, "work-10us", has leaves that compute for 10 us (a small real task) under the same tree.
//   per_task = plan + run per task (the overhead benchmark's figure), run = the executor alone,
//   write_trace / write_report = seconds to write trace.json / report.html of the traced run, and their
//   sizes.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <mpi.h>

#include "bench_graphs.h"
#include "bench_util.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"

namespace {

using namespace tessera;

struct Figures {
  std::vector<double> per_task, run;
  TraceRef trace;  // the last traced run's recording, assembled only when its files are written
};

// `keep`: hold on to the run's recording (for the trace and report figures). Other runs drop theirs as soon
// as they are timed, so that no arm starts with a previous recording (and the graph keys it pins) in memory.
void measure_once(const std::string& shape, int n, Executor& exec, Figures& f, bool keep) {
  bench::Built b;
  if (shape == "work-10us") {
    bench::build_work(b, n);
  } else {
    bench::build_shape(b, shape, n);
  }
  // Under MPI every rank builds the graph and plan itself (and the run starts with a collective), so rank 0's
  // figure depends on how far apart the ranks start their plan builds: start them together.
  if (bench::under_mpi()) MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = bench::now_seconds();
  Plan plan = Plan::build(b.graph, b.outputs, {.cull = true, .fuse = false});
  const double t1 = bench::now_seconds();
  RunResult result = exec.run(b.graph, plan);
  const double t2 = bench::now_seconds();
  if (result.stats.graph_tasks != b.graph.size()) {
    std::fprintf(stderr, "tracing: ran %llu of %zu tasks\n",
                 static_cast<unsigned long long>(result.stats.graph_tasks), b.graph.size());
    std::exit(1);
  }
  const double us = 1e6 / static_cast<double>(b.graph.size());
  f.per_task.push_back((t2 - t0) * us);
  f.run.push_back((t2 - t1) * us);
  if (keep && result.trace) f.trace = result.trace;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Keep freed memory in the heap rather than hand it back to the kernel between runs: every arm then builds
  // its graph and plan in pages already mapped, as the overhead benchmark's repeated runs mostly do, and page
  // faults (whose number depends on what the previous arm freed) stay out of the figures. Both arms alike;
  // it makes the baseline faster, so recording's share is if anything larger.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int n = static_cast<int>(bench::flag_value(argc, argv, "--tasks", quick ? 100000 : 1000000));
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 5 : 21));
  const int threads = static_cast<int>(bench::flag_value(argc, argv, "--threads", 0));

  struct Impl {
    std::string name;
    std::unique_ptr<Executor> exec;
  };
  std::vector<Impl> impls;
  const bool mpi = bench::under_mpi();
  if (mpi) {
    auto plain = make_mpi_executor();
    const std::string name = "tessera-mpi-" + std::to_string(plain->ranks());
    impls.push_back({name, std::move(plain)});
    impls.push_back({name + "-traced", make_mpi_executor({.record = {.enabled = true}})});
  } else {
    impls.push_back({"tessera-local", make_thread_pool_executor({.threads = threads})});
    impls.push_back({"tessera-local-traced",
                     make_thread_pool_executor({.threads = threads, .record = {.enabled = true}})});
    impls.push_back({"tessera-sync", make_sync_executor()});
    impls.push_back({"tessera-sync-traced", make_sync_executor({.record = {.enabled = true}})});
  }
  const bool report = impls[0].exec->rank() == 0;  // figures and traces on rank 0 only

  const int work_n = static_cast<int>(bench::flag_value(argc, argv, "--work-tasks", quick ? 10000 : 40000));
  for (const std::string shape : {"chains", "tree", "work-10us"}) {
    const int tasks = shape == "work-10us" ? work_n : n;
    const std::string case_name = shape + "-" + std::to_string(tasks);
    std::vector<Figures> figures(impls.size());
    // Alternate off and on within each repetition, so drift on a shared machine hits both alike, and reverse
    // the order every other repetition, so that what one run leaves behind (the allocator's free lists) does
    // not always fall on the same neighbour.
    for (std::size_t i = 0; i < impls.size(); ++i)
      measure_once(shape, tasks, *impls[i].exec, figures[i], false);  // warm-up
    for (auto& f : figures) f = {};
    for (int r = 0; r < reps; ++r) {
      for (std::size_t k = 0; k < impls.size(); ++k) {
        const std::size_t i = r % 2 == 0 ? k : impls.size() - 1 - k;
        measure_once(shape, tasks, *impls[i].exec, figures[i], r == reps - 1);
      }
    }
    for (std::size_t i = 0; i < impls.size() && report; ++i) {
      bench::emit("tracing", impls[i].name, case_name, "per_task", bench::median(figures[i].per_task), "us");
      bench::emit("tracing", impls[i].name, case_name, "run", bench::median(figures[i].run), "us");
      if (!figures[i].trace) continue;
      std::ostringstream json;
      std::ostringstream html;
      const double t0 = bench::now_seconds();
      write_chrome_trace(*figures[i].trace, json);
      const double t1 = bench::now_seconds();
      write_html_report(*figures[i].trace, html);
      const double t2 = bench::now_seconds();
      bench::emit("tracing", impls[i].name, case_name, "write_trace", t1 - t0, "s");
      bench::emit("tracing", impls[i].name, case_name, "trace_size",
                  static_cast<double>(json.str().size()) / 1e6, "MB");
      bench::emit("tracing", impls[i].name, case_name, "write_report", t2 - t1, "s");
      bench::emit("tracing", impls[i].name, case_name, "report_size",
                  static_cast<double>(html.str().size()) / 1e6, "MB");
    }
  }
  if (!report) return 0;
  bench::emit("tracing", impls[0].name, "", "threads", impls[0].exec->concurrency(), "threads");
  bench::emit("tracing", mpi ? impls[0].name : std::string("tessera"), "", "peak_rss",
              static_cast<double>(bench::proc_status_kb("VmHWM")) / 1024.0, "MB");
  return 0;
}
