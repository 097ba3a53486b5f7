// scale: per-task cost of building, ordering (Plan::build) and scheduling (Executor::run) no-op graphs of
// 100k, 1M and 4M tasks (wall time, and CPU time of the single-threaded build and order), and the memory
// per task (peak RSS growth over the process's baseline, the largest
// over ranks under MPI). A tree reduction with fan-in 8 over N leaves (about 1.14 N tasks): one root per
// leaf, the shape that stresses a scheduler's root handling most. Under mpiexec the MPI executor runs it
// (impl tessera-mpi-N), otherwise the local thread pool (tessera-local). Times are the least of the
// repetitions, after a warm-up run.
#include <malloc.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "bench_graphs.h"
#include "bench_util.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"

namespace {

// This thread's CPU time: building and ordering are single-threaded, so this is their cost without the time
// the thread spent preempted (3 ranks on 2 cores, or a machine shared with compilers, inflate the wall time
// of long phases far more than that of short ones).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The least of the repetitions: on a shared machine, interference only ever adds time.
double least(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  // Large blocks always come fresh from the kernel (as for a program that builds one graph): otherwise glibc
  // recycles blocks up to 32 MiB on its heap, so repeated small graphs would skip the page faults that large
  // ones pay, and the sizes would not be compared alike.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const bool mpi = bench::under_mpi();
  std::vector<long> sizes = {100000, 1000000, 4000000};
  if (long n = bench::flag_value(argc, argv, "--tasks", 0); n > 0) sizes = {n};
  std::unique_ptr<Executor> exec = mpi ? make_mpi_executor() : make_thread_pool_executor();
  const std::string impl = mpi ? "tessera-mpi-" + std::to_string(exec->ranks()) : "tessera-local";
  {
    // Warm-up: the first run of an executor pays for its start (threads, MPI buffers, page faults).
    bench::Built b;
    bench::build_tree(b, 10000, 8);
    exec->run(b.graph, Plan::build(b.graph, b.outputs));
  }
  const long base_kb = bench::proc_status_kb("VmRSS");
  double first[3] = {0, 0, 0};
  double last[3] = {0, 0, 0};
  for (long n : sizes) {
    const int reps = quick ? (n >= 1000000 ? 1 : 2) : (n >= 4000000 ? 2 : 3);
    std::vector<double> build, order, schedule, build_cpu, order_cpu;
    std::size_t tasks = 0;
    for (int r = 0; r < reps; ++r) {
      bench::Built b;
      const double c0 = thread_cpu_seconds();
      const double t0 = bench::now_seconds();
      bench::build_tree(b, static_cast<int>(n), 8);
      const double t1 = bench::now_seconds();
      const double c1 = thread_cpu_seconds();
      Plan plan = Plan::build(b.graph, b.outputs, {.cull = true, .fuse = false});
      const double t2 = bench::now_seconds();
      const double c2 = thread_cpu_seconds();
      RunResult result = exec->run(b.graph, plan);
      const double t3 = bench::now_seconds();
      tasks = b.graph.size();
      if (result.stats.graph_tasks != tasks) {
        std::fprintf(stderr, "scale: ran %llu of %zu tasks\n",
                     static_cast<unsigned long long>(result.stats.graph_tasks), tasks);
        return 1;
      }
      build.push_back(t1 - t0);
      build_cpu.push_back(c1 - c0);
      order_cpu.push_back(c2 - c1);
      order.push_back(t2 - t1);
      schedule.push_back(t3 - t2);
    }
    // Sizes grow, so the high-water mark after this size's runs is this size's peak.
    double bytes_per_task =
        static_cast<double>(bench::proc_status_kb("VmHWM") - base_kb) * 1024.0 / static_cast<double>(tasks);
    if (mpi) MPI_Allreduce(MPI_IN_PLACE, &bytes_per_task, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (exec->rank() != 0) continue;
    const double us = 1e6 / static_cast<double>(tasks);
    const std::string case_name = "tree-" + std::to_string(n);
    last[0] = least(build_cpu) * us;
    last[1] = least(order_cpu) * us;
    last[2] = least(schedule) * us;
    if (n == sizes.front()) std::copy(last, last + 3, first);
    bench::emit("scale", impl, case_name, "build", least(build) * us, "us");
    bench::emit("scale", impl, case_name, "order", least(order) * us, "us");
    bench::emit("scale", impl, case_name, "schedule", last[2], "us");
    bench::emit("scale", impl, case_name, "build_cpu", last[0], "us");
    bench::emit("scale", impl, case_name, "order_cpu", last[1], "us");
    bench::emit("scale", impl, case_name, "bytes_per_task", bytes_per_task, "B");
  }
  // Per-task cost at the largest size over the smallest (build and order by CPU time, schedule by wall
  // time): 1 is perfectly linear.
  if (exec->rank() == 0 && sizes.size() > 1) {
    const std::string growth = std::to_string(sizes.back()) + "/" + std::to_string(sizes.front());
    const char* names[] = {"growth_build", "growth_order", "growth_schedule"};
    for (int i = 0; i < 3; ++i) bench::emit("scale", impl, growth, names[i], last[i] / first[i], "x");
  }
  return 0;
}
