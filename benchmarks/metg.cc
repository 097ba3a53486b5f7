// metg: Task Bench's METG(50%) (Slaughter et al., SC'20): the smallest task granularity at which a run still
// reaches 50% efficiency. Width = the executor's cores, 1000 steps; each task runs a compute-bound kernel of
// K iterations and passes 8 bytes to the tasks of the next step that depend on it:
//   no_comm (t-1,i) | stencil_1d (t-1,i-1..i+1) | nearest, radix 5 (t-1,i-2..i+2) | tree (t-1,i/2)
// efficiency = (tasks x K x one iteration's time) / (wall x cores); granularity = wall x cores / tasks.
// K halves from large to small; METG interpolates (in log granularity) where efficiency crosses 50%.
// Local run: tessera-local. Under mpiexec: tessera-mpi-N (rank 0 reports; ranks agree through MPI_Bcast).
#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"

namespace {

using namespace tessera;

// A dependent multiply-add chain: the compiler cannot vectorise or drop it, so time is proportional to k.
[[gnu::noinline]] double spin(std::int64_t k, double seed) {
  double a = seed;
  for (std::int64_t i = 0; i < k; ++i) a = a * 0.999999999 + 1e-9;
  return a;
}

std::vector<int> sources(const std::string& pattern, int i, int width) {
  std::vector<int> out;
  auto add_range = [&](int lo, int hi) {
    for (int j = std::max(0, lo); j <= std::min(width - 1, hi); ++j) out.push_back(j);
  };
  if (pattern == "no_comm") {
    out.push_back(i);
  } else if (pattern == "stencil_1d") {
    add_range(i - 1, i + 1);
  } else if (pattern == "nearest") {
    add_range(i - 2, i + 2);
  } else {  // tree
    out.push_back(i / 2);
  }
  return out;
}

double run_once(Executor& exec, const std::string& pattern, int width, int steps, std::int64_t k) {
  Graph g;
  const KernelId kernel = g.kernel([k](const TaskContext& ctx) {
    double acc = 1.0;
    for (std::size_t j = 0; j < ctx.num_inputs(); ++j) acc += ctx.input<double>(j) * 1e-12;
    return Value::of(spin(k, acc));
  });
  const NameId name = g.name(pattern);
  std::vector<TaskId> prev(static_cast<std::size_t>(width)), cur(static_cast<std::size_t>(width));
  std::vector<TaskId> deps;
  for (int t = 0; t < steps; ++t) {
    for (int i = 0; i < width; ++i) {
      deps.clear();
      if (t > 0) {
        for (int j : sources(pattern, i, width)) deps.push_back(prev[static_cast<std::size_t>(j)]);
      }
      cur[static_cast<std::size_t>(i)] = g.add(name, {t, i}, kernel, deps);
    }
    std::swap(prev, cur);
  }
  const double t0 = bench::now_seconds();
  // Unfused: METG measures the cost of each task, and fusion would turn no_comm into `width` tasks.
  Plan plan = Plan::build(g, prev, {.cull = true, .fuse = false});
  exec.run(g, plan);
  double wall = bench::now_seconds() - t0;
  if (exec.ranks() > 1) MPI_Bcast(&wall, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);  // every rank decides alike
  return wall;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int steps = static_cast<int>(bench::flag_value(argc, argv, "--steps", quick ? 300 : 1000));
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", 3));
  const bool mpi = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
  std::unique_ptr<Executor> exec = mpi ? make_mpi_executor() : make_thread_pool_executor();
  const int cores = exec->concurrency();
  const int width = cores;
  const std::string impl =
      mpi ? "tessera-mpi-" + std::to_string(exec->ranks()) : std::string("tessera-local");

  // One iteration's time, measured on a long run (rank 0's figure is broadcast).
  double per_iteration = 0;
  {
    constexpr std::int64_t kCalibration = std::int64_t{1} << 25;
    std::vector<double> t;
    for (int r = 0; r < 3; ++r) {
      const double t0 = bench::now_seconds();
      volatile double seed = 1.0;  // unknown to the compiler, so the loop cannot be folded away
      volatile double sink = spin(kCalibration, seed);
      (void)sink;
      t.push_back((bench::now_seconds() - t0) / static_cast<double>(kCalibration));
    }
    per_iteration = bench::median(t);
    if (mpi) MPI_Bcast(&per_iteration, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  }

  for (const std::string pattern : {"no_comm", "stencil_1d", "nearest", "tree"}) {
    double prev_gran = 0, prev_eff = 0, metg = -1;
    const double tasks = static_cast<double>(width) * steps;
    for (std::int64_t k = std::int64_t{1} << 18; k >= 1; k /= 2) {
      std::vector<double> walls;
      for (int r = 0; r < reps; ++r) walls.push_back(run_once(*exec, pattern, width, steps, k));
      const double wall = bench::median(walls);
      const double efficiency = tasks * static_cast<double>(k) * per_iteration / (wall * cores);
      const double granularity = wall * cores / tasks;
      if (efficiency < 0.5) {
        if (prev_gran > 0) {
          // Interpolate log(granularity) linearly in efficiency between the two points around 50%.
          const double f = (prev_eff - 0.5) / (prev_eff - efficiency);
          metg = std::exp(std::log(prev_gran) + f * (std::log(granularity) - std::log(prev_gran)));
        } else {
          metg = granularity;  // already below 50% at the largest grain
        }
        break;
      }
      prev_gran = granularity;
      prev_eff = efficiency;
      if (k == 1) metg = granularity;  // never dropped below 50%
    }
    if (exec->rank() == 0) bench::emit("metg", impl, pattern, "metg", metg * 1e6, "us");
  }
  if (exec->rank() == 0) bench::emit("metg", impl, "", "cores", cores, "threads");
  return 0;
}
