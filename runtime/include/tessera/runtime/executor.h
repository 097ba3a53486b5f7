// Executors run plans. One interface; synchronous, local-thread and (later) MPI implementations.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/value.h"

namespace tessera {

struct RunStats {
  std::uint64_t plan_tasks = 0;    // plan tasks run (fused chains count once)
  std::uint64_t graph_tasks = 0;   // graph tasks run, counting every member of a fused chain
  std::uint64_t attempts = 0;      // callable invocations, including retries
  std::uint64_t peak_live = 0;     // most results held at once (only when ExecutorOptions::track_live)
  double seconds = 0;              // wall time of run()
};

struct RunResult {
  std::vector<Value> outputs;  // one per Plan::outputs(), in the same order
  RunStats stats;
};

struct ExecutorOptions {
  int threads = 0;          // 0: one per CPU of the process's affinity mask (what mpirun/srun/taskset allowed)
  bool track_live = false;  // count results alive at once (one atomic per task: on for tests and reports)
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Runs every task of `plan` (built from `graph`) and returns the requested outputs. A result is released as
  // soon as its last reader has run. If a task throws (after its retries), no new task starts, running tasks
  // finish, and run() throws TaskError naming the task and carrying the original message and code. The
  // executor stays usable. Not reentrant: one run() at a time.
  virtual RunResult run(const Graph& graph, const Plan& plan) = 0;
  // Tasks that can run at once.
  virtual int concurrency() const noexcept = 0;
  virtual std::string_view name() const noexcept = 0;
};

// Runs tasks one at a time on the calling thread in plan order: deterministic, for debugging.
std::unique_ptr<Executor> make_sync_executor(const ExecutorOptions& options = {});
// A pool of threads (the calling thread is one of them) running ready tasks by plan priority.
std::unique_ptr<Executor> make_thread_pool_executor(const ExecutorOptions& options = {});

// CPUs in this process's affinity mask (at least 1).
int available_cpus() noexcept;

}  // namespace tessera
