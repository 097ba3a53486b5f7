// Executors run plans. One interface; synchronous and local-thread implementations here, the MPI one in
// tessera/runtime/mpi_executor.h.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"
#include "tessera/runtime/value.h"
#include "tessera/runtime/worker_stats.h"

namespace tessera {

// How much memory a worker's results may take, and what happens near the limit (docs/memory.md). Results
// are counted by their encoded size (Codec<T>::size; TaskOptions::output_bytes for types without a codec).
struct MemoryOptions {
  std::uint64_t limit = 0;      // bytes of results one worker may hold; 0: no limit (nothing below applies)
  double spill_fraction = 0.6;  // past this share of the limit, results go to disk (needed last first)
  double pause_fraction = 0.8;  // at or past this share, no new root task starts while others run
  bool spill = true;            // false: only withhold roots (a run may then exceed the limit)
  // Where spill files go: a private directory `tessera-spill-XXXXXX` is made inside it for each run and
  // removed with its files when the run ends, also after a failure. Empty: $TMPDIR, else /tmp.
  std::string spill_dir;
};

struct RunStats {
  std::uint64_t plan_tasks = 0;      // plan tasks run (fused chains count once)
  std::uint64_t graph_tasks = 0;     // graph tasks run, counting every member of a fused chain
  std::uint64_t attempts = 0;        // callable invocations, including retries
  std::uint64_t peak_live = 0;       // most results held at once (only when ExecutorOptions::track_live)
  double seconds = 0;                // wall time of run()
  std::vector<WorkerStats> workers;  // MPI executor only: one entry per worker rank, on every rank
  std::string transfer;              // MPI executor only: the data plane chosen at start-up ("rma",
                                     // "two-sided", "rma within nodes, two-sided between nodes")
  // With a memory limit (MemoryOptions::limit): the most result bytes held in memory at once (per worker
  // under MPI: the largest, as the scheduler counted them), bytes written to spill files, and bytes read
  // back.
  std::uint64_t peak_held_bytes = 0;
  std::uint64_t bytes_spilled = 0;
  std::uint64_t bytes_unspilled = 0;
  std::uint64_t roots_withheld = 0;  // times a root task was held back because memory was past pause_fraction
};

struct RunResult {
  std::vector<Value> outputs;  // one per Plan::outputs(), in the same order
  RunStats stats;
  // What was recorded (RecordOptions::enabled): on rank 0 only under MPI, empty otherwise. Assembled into a
  // RunTrace when first looked at (trace.get(), trace->...).
  TraceRef trace;
};

struct ExecutorOptions {
  int threads = 0;  // 0: one per CPU of the process's affinity mask (what mpirun/srun/taskset allowed)
  bool track_live = false;   // count results alive at once (one atomic per task: on for tests and reports)
  RecordOptions record;      // events for a trace and report (tessera/runtime/trace.h)
  ProgressOptions progress;  // a progress callback while a run goes on
  MemoryOptions memory;      // a memory limit for results, with spilling (thread pool and sync executors)
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
  // This process's MPI rank and the number of ranks (0 and 1 for the local executors).
  virtual int rank() const noexcept { return 0; }
  virtual int ranks() const noexcept { return 1; }
  // Collective: every rank passes the exception it met (or null). When any rank met one, every rank throws
  // the lowest failing rank's (as an Error with its code; its message names that rank when it is not 0), so
  // that work every rank does before a run (planning a job) fails everywhere alike instead of leaving some
  // ranks waiting. The local executors rethrow `mine`.
  virtual void agree(std::exception_ptr mine) {
    if (mine) std::rethrow_exception(mine);
  }
};

// Runs tasks one at a time on the calling thread in plan order: deterministic, for debugging.
std::unique_ptr<Executor> make_sync_executor(const ExecutorOptions& options = {});
// A pool of threads (the calling thread is one of them) running ready tasks by plan priority.
std::unique_ptr<Executor> make_thread_pool_executor(const ExecutorOptions& options = {});

// CPUs in this process's affinity mask (at least 1).
int available_cpus() noexcept;

}  // namespace tessera
