// Executors run plans. One interface; synchronous, local-thread and (later) MPI implementations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"
#include "tessera/runtime/value.h"

namespace tessera {

// What one MPI worker did during a run.
struct WorkerStats {
  int rank = 0;
  int threads = 0;
  std::uint64_t tasks = 0;                // plan tasks it ran
  std::uint64_t bytes_fetched = 0;        // bytes it pulled from other workers, by either path
  std::uint64_t bytes_rma = 0;            // ... of which with one-sided gets
  std::uint64_t bytes_two_sided = 0;      // ... of which sent by the owner on request or pushed
  std::uint64_t bytes_inline = 0;         // ... of which came with the scheduler's assignment (small results)
  std::uint64_t bytes_pushed = 0;         // ... of which (two-sided) their owner sent unasked (push_bytes)
  std::uint64_t gets = 0;                 // one-sided gets it issued (one per GiB piece of a result)
  std::uint64_t requests = 0;             // two-sided chunk requests it sent (one per result)
  std::uint64_t bytes_served = 0;         // bytes it sent to other workers on request or pushed (two-sided)
  double fetch_seconds = 0;               // summed time from issuing each fetch to seeing it complete
  std::uint64_t bytes_published = 0;      // bytes of results it wrote to its arena for other workers
  std::uint64_t bytes_spilled = 0;        // bytes of results it wrote to its spill files (memory limit)
  std::uint64_t bytes_unspilled = 0;      // ... and read back for its own tasks
  std::vector<std::uint64_t> bytes_from;  // bytes_fetched by source rank (index = rank)
  std::string binding;                    // where it ran ("NUMA 0, cores 0-3 (4)", or "unbound")
};

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

// How MPI workers move results between them.
enum class TransferMode : std::uint8_t {
  kAuto,  // one-sided gets where the MPI library can make RMA windows: between all ranks, else between the
          // ranks of each node where it can; two-sided everywhere else. Never fails for lack of RMA.
  kRma,   // one-sided gets between all workers; construction throws Error(kResourceExhausted) on every
          // rank when the MPI library cannot make the window
  kTwoSided,  // the owner's communication thread sends the bytes on request (MPI_Isend/MPI_Irecv)
};

struct MpiExecutorOptions {
  int threads = 0;            // compute threads per worker; 0: one per core of the worker's binding
  bool bind = true;           // pin each worker to its NUMA domain(s) and its threads to cores (hwloc)
  bool show_binding = false;  // rank 0 prints every worker's binding once, at start-up
  int tasks_per_thread = 4;   // runnable tasks the scheduler keeps queued per worker thread
  std::size_t arena_bytes = std::size_t{64} << 20;  // first arena region per worker (later ones double)
  // kAuto lets the environment decide: TESSERA_TRANSFER=auto|rma|two-sided (unset: auto), so that tests and
  // users can force a path without rebuilding. Any other value of TESSERA_TRANSFER is
  // Error(kInvalidArgument).
  TransferMode transfer = TransferMode::kAuto;
  // A result of at most this many encoded bytes travels to its readers inside the scheduler's messages (with
  // its completion, then with each reader's assignment) instead of being fetched from its owner: a fetch is
  // a round trip between two workers, which costs more than the bytes. 0: every input is fetched. At most
  // 64 KiB (construction throws Error(kInvalidArgument) otherwise).
  std::size_t inline_bytes = 1024;
  // Between ranks that fetch two-sided (across nodes without RMA, or TransferMode::kTwoSided), a result of
  // at most this many encoded bytes is pushed: the scheduler has its owner send it to the reader while the
  // reader's assignment travels, instead of the reader asking for it afterwards (a round trip). 0: readers
  // always ask. At most 64 KiB (construction throws Error(kInvalidArgument) otherwise).
  std::size_t push_bytes = std::size_t{64} << 10;
  // Every rank must pass the same `record.enabled`; the trace is assembled on rank 0. Progress calls happen
  // on rank 0 only.
  RecordOptions record;
  ProgressOptions progress;
  // The limit per worker: the scheduler counts the bytes each worker holds, has a worker past spill_fraction
  // write results to its spill directory (peers then get them on request) and assigns no new root task to a
  // worker past pause_fraction (docs/memory.md).
  MemoryOptions memory;
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
};

// Runs tasks one at a time on the calling thread in plan order: deterministic, for debugging.
std::unique_ptr<Executor> make_sync_executor(const ExecutorOptions& options = {});
// A pool of threads (the calling thread is one of them) running ready tasks by plan priority.
std::unique_ptr<Executor> make_thread_pool_executor(const ExecutorOptions& options = {});

// Rank 0 schedules, every other rank is a worker; run() is collective: every rank calls it with the same
// graph and plan (checked: a mismatch throws Error(kInvalidArgument) on every rank) and every rank gets the
// outputs. A task's failure throws the same TaskError on every rank. Initialises MPI (MPI_THREAD_MULTIPLE) if
// needed. Needs at least 2 ranks. Construction and destruction are collective too.
std::unique_ptr<Executor> make_mpi_executor(const MpiExecutorOptions& options = {});

// CPUs in this process's affinity mask (at least 1).
int available_cpus() noexcept;

}  // namespace tessera
