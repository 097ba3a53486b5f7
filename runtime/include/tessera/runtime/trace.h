// Seeing a run: what the executors record when asked (RecordOptions), the progress hook, and the two files
// made from a recording: a Chrome trace-event file (trace.json; Perfetto and chrome://tracing open it) and a
// self-contained HTML performance report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

// What an executor records during a run. Off by default; when off, the executors' hot paths see one
// predictable branch per task. When on, each compute thread appends to its own buffer (no locks, no shared
// cache lines). On the local executors a task starts where its thread's previous step ended, and the clock is
// read when a task ends, except that runs of tiny tasks of one name share reads (up to 16 per read, each an
// even share of the time); MPI workers use the two reads they take per task anyway. Buffers are gathered when
// the run ends.
struct RecordOptions {
  bool enabled = false;
  // Task events kept per run. A run of at most max_events tasks keeps every event, however its threads share
  // the tasks. A larger run gives each compute thread an even share (under MPI over all workers' threads, so
  // that what rank 0 gathers stays bounded however many workers there are); past its share every task still
  // counts in the per-kind totals (exact), and the events kept are a systematic sample of the thread's tasks.
  std::size_t max_events = std::size_t{1} << 20;
  // Transfer and spill-file events kept per run (MPI: per worker, its share), sampled the same way past it.
  std::size_t max_transfers = std::size_t{1} << 18;
  // Seconds between memory/CPU samples (each rank) and scheduler samples (rank 0). Past 4096 samples the
  // interval doubles and every other sample is dropped, so a long run keeps its whole span.
  double sample_seconds = 0.02;
};

// Progress of one group of tasks (Graph::progress_group), e.g. the chunk writes of one output.
struct GroupProgress {
  std::string label;
  std::uint64_t done = 0;   // plan tasks of the group finished
  std::uint64_t total = 0;  // plan tasks of the group in the run
};

// What the progress hook is told.
struct Progress {
  std::uint64_t tasks_done = 0;   // plan tasks finished (a fused chain counts once)
  std::uint64_t tasks_total = 0;  // plan tasks in the run
  std::uint64_t bytes = 0;  // result bytes produced so far (MPI: bytes published by workers; local: only
                            // while recording, else 0)
  double elapsed = 0;       // seconds since the run started
  bool final = false;       // the last call of the run, after every task finished
  std::vector<GroupProgress> groups;  // one per Graph::progress_groups() label, in id order (may be empty)
};

// Called on rank 0 only, from a runtime thread (never a compute thread's task path), at most once per
// ProgressOptions::seconds, and once more with final = true when a run succeeds. Calls of one run never
// overlap. It must not throw and should return quickly.
using ProgressFn = std::function<void(const Progress&)>;

class LiveView;  // tessera/runtime/live_view.h

struct ProgressOptions {
  ProgressFn callback;    // none: no progress calls, no progress bookkeeping
  double seconds = 0.25;  // at most one call (and one live snapshot) per this many seconds
  // When set, the run's state is also published there as LiveSnapshots (for a dashboard on another thread):
  // at most once per `seconds` while the run goes on (rank 0 under MPI), and once when it ends.
  std::shared_ptr<LiveView> live;
};

// ---------------------------------------------------------------------------------------------------------
// A recorded run (Runtime::last_trace(); RunResult::trace). Times are seconds since the run started on the
// rank that recorded them; under MPI every rank starts its clock when the ranks agree on the plan (one
// collective), so tracks of ranks line up to within that collective's skew.

struct TaskEvent {
  std::uint32_t task = 0;         // plan task number
  std::uint32_t name = 0;         // index into RunTrace::names (the key's name, e.g. "mean-3f2a")
  std::uint32_t kind = 0;         // index into RunTrace::kinds
  std::int32_t rank = 0;          // process (0 for local executors; a worker rank under MPI)
  std::int32_t thread = 0;        // compute thread within the rank
  std::uint32_t index_begin = 0;  // the key's index: RunTrace::index_pool[index_begin, +index_size)
  std::uint32_t index_size = 0;
  double start = 0;
  double end = 0;
  std::uint64_t bytes = 0;  // encoded size of the result (0 for results without a codec)
};

// A result pulled by a worker from another worker (MPI).
struct TransferEvent {
  std::uint32_t task = 0;  // plan task whose result moved
  std::int32_t source = 0;
  std::int32_t rank = 0;  // the fetching worker (its communication thread drives the transfer)
  double start = 0;
  double end = 0;
  std::uint64_t bytes = 0;
  bool two_sided = false;
};

// Memory and CPU of one rank at one moment.
struct ResourceSample {
  std::int32_t rank = 0;
  double time = 0;
  std::uint64_t rss = 0;         // resident bytes (/proc/self/statm)
  std::uint64_t live_bytes = 0;  // result bytes held (MPI: results held in the worker's arena; local: results
                                 // produced and not yet released, counted when recording)
  double cpu_seconds = 0;        // process CPU time so far (user + system)
};

// A result written to its spill file, or read back from it, under a memory limit (MemoryOptions).
struct SpillEvent {
  std::uint32_t task = 0;  // plan task whose result moved
  std::int32_t rank = 0;   // the process whose memory it left (0 for local executors; a worker under MPI)
  double start = 0;
  double end = 0;
  std::uint64_t bytes = 0;
  bool read = false;  // read back into memory (else written out)
};

// The scheduler's view at one moment (rank 0; for local executors, the pool's).
struct SchedulerSample {
  double time = 0;
  std::uint64_t done = 0;     // plan tasks finished
  std::uint64_t ready = 0;    // ready but not handed to a worker (MPI), or queued in the pool's heaps
  std::uint64_t running = 0;  // handed out and not finished (MPI: assigned to workers)
};

struct KindSummary {
  std::string kind;  // the key's name without its numeric/hash suffix ("read-t2m", "mean", "store-write")
  std::uint64_t count = 0;
  double seconds = 0;  // summed task time
  double max_seconds = 0;
  std::uint64_t bytes = 0;  // summed result bytes
};

// Where one compute thread's time went.
struct ThreadTime {
  std::int32_t rank = 0;
  std::int32_t thread = 0;
  std::uint64_t tasks = 0;
  double busy = 0;  // in tasks
  double idle = 0;  // waiting for work (parked or spinning)
};

struct RunTrace {
  // Configuration.
  std::string executor;               // "sync", "threads", "mpi"
  int ranks = 1;                      // processes (MPI: including the scheduler, rank 0)
  std::vector<int> threads;           // compute threads per rank (MPI: 0 for rank 0)
  std::vector<std::string> bindings;  // per rank, where it runs (MPI), else empty
  std::string transfer;               // MPI data plane; empty otherwise
  std::string slurm_job_id;           // SLURM_JOB_ID when set
  std::string started;                // wall-clock start, ISO 8601 UTC

  double seconds = 0;             // wall time of the run
  std::uint64_t tasks_total = 0;  // plan tasks run
  std::uint64_t graph_tasks = 0;  // graph tasks run (members of fused chains counted)
  bool tasks_sampled = false;     // `tasks` holds a sample, not every task
  bool transfers_sampled = false;

  std::vector<std::string> names;  // distinct key names
  std::vector<std::string> kinds;  // distinct kinds
  std::vector<std::int32_t> index_pool;
  std::vector<KindSummary> kind_summary;  // exact, one per kind, by total time descending
  std::vector<TaskEvent> tasks;           // sorted by (rank, thread, start)
  std::vector<TransferEvent> transfers;   // sorted by (rank, start)
  std::vector<ResourceSample> resources;  // sorted by (rank, time)
  std::vector<SchedulerSample> scheduler;
  std::vector<ThreadTime> thread_times;
  std::vector<std::uint64_t> bytes_between;  // ranks x ranks, [source * ranks + destination] (MPI)
  // Spilling (a memory limit): every spill file written or read back (a sample past
  // RecordOptions::max_transfers per rank), and exact totals over all ranks.
  std::vector<SpillEvent> spills;  // sorted by (rank, start)
  bool spills_sampled = false;
  std::uint64_t bytes_spilled = 0;    // written to spill files
  std::uint64_t bytes_unspilled = 0;  // read back from them (MPI: also to serve a peer's request)
  double spill_seconds = 0;           // writing them (summed over threads)
  double unspill_seconds = 0;         // reading them back
  // Progress groups (Graph::progress_group): labels and plan tasks per group, and at each scheduler sample
  // the tasks of each group done (group_done[i][g] at scheduler[i].time).
  std::vector<std::string> group_labels;
  std::vector<std::uint64_t> group_totals;
  std::vector<std::vector<std::uint64_t>> group_done;
  // Each plan task's group (its Graph::progress_group id: group_labels[id - 1]; 0: in none), so that progress
  // can be drawn task by task, when the graph has groups (every executor).
  std::vector<std::uint16_t> task_groups;

  // Where the compute threads' time went (thread-seconds): in tasks, moving inputs (MPI fetches, overlapping
  // compute), waiting for work, and the rest (scheduling and bookkeeping between tasks). Scheduler: rank 0's
  // busy time (MPI).
  double compute_seconds = 0;
  double transfer_seconds = 0;
  double idle_seconds = 0;
  double overhead_seconds = 0;
  double scheduler_seconds = 0;

  // "('mean-3f2a', 4, 0)" for an event.
  std::string key_of(const TaskEvent& e) const;
};

namespace detail {
struct PendingTrace;
}

// A run's recording as the executors hand it out (RunResult::trace; Runtime::last_trace() returns its
// get()). The local executors keep what they recorded raw and compact, and the RunTrace (names, kinds, exact
// totals, events in track order) is assembled the first time it is looked at, so that recording costs the
// run almost nothing; copies share one recording. Empty when nothing was recorded. Thread-safe.
class TraceRef {
 public:
  TraceRef() = default;
  TraceRef(std::shared_ptr<const RunTrace> trace);  // NOLINT(google-explicit-constructor): already assembled

  explicit operator bool() const noexcept { return state_ != nullptr; }
  // The trace, assembled on the first call (throws std::bad_alloc if memory runs out); null when empty.
  std::shared_ptr<const RunTrace> get() const;
  // Require a non-empty TraceRef; the reference lives as long as this TraceRef (or a copy) does.
  const RunTrace& operator*() const { return *get(); }
  const RunTrace* operator->() const { return get().get(); }

  struct State;

 private:
  explicit TraceRef(std::shared_ptr<State> state) : state_(std::move(state)) {}
  friend TraceRef make_pending_trace_ref(std::unique_ptr<detail::PendingTrace> pending);

  std::shared_ptr<State> state_;
};

// The kind of a task name: the name with a trailing hash or number ("-3f2a9c", "_12") dropped, as Dask's
// key_split does: "mean-3f2a" -> "mean", "read-t2m-8e1f" -> "read-t2m", "store-write" -> "store-write".
std::string task_kind(std::string_view name);

// Chrome trace-event JSON: one process per rank, one track per compute thread (tid = thread + 1), a
// "transfers in" track per MPI worker, a complete event ("ph":"X") per recorded task, flow events from the
// producing task to each transfer, a "spill files" track per process that spilled (a slice per spill file
// written or read back), counters for memory and scheduler queues, and a "progress" counter with one series
// per progress group (tasks done; at most about 2000 points). Throws Error(kIo) when the stream fails.
void write_chrome_trace(const RunTrace& trace, std::ostream& out);
// The performance report: one self-contained HTML file (inline script, no network). Large runs are
// downsampled to keep the file under about 20 MB. Throws Error(kIo) when the stream fails.
void write_html_report(const RunTrace& trace, std::ostream& out);
// The same into a file (written whole, then renamed into place). Throws Error(kIo) naming the file.
void write_chrome_trace(const RunTrace& trace, const std::string& path);
void write_html_report(const RunTrace& trace, const std::string& path);

// A few lines for a terminal: wall time, tasks, where time went, the top kinds by time and the transfer
// volume.
std::string summarize(const RunTrace& trace, std::size_t top_kinds = 5);

}  // namespace tessera
