// Recording inside the executors: a cheap clock, one event buffer per compute thread, samplers, and the step
// that turns what the ranks recorded into a RunTrace (on rank 0, where the graph names the tasks).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"
#include "tessera/runtime/value.h"

namespace tessera::detail {

using TraceClock = std::chrono::steady_clock;

// A timestamp in ticks: the TSC where there is one (about 10 ns to read where steady_clock takes 40 ns in a
// VM), else steady_clock nanoseconds. Ticks become seconds through TickScale.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(TraceClock::now().time_since_epoch().count());
#endif
}

// Maps ticks to seconds since a run's origin, calibrated against steady_clock over the longer of the run and
// the time since the process first recorded (so short runs still convert accurately).
struct TickScale {
  std::uint64_t origin = 0;
  double seconds_per_tick = 1e-9;

  // Call at the start of a run; finish() at its end sets seconds_per_tick.
  void start() noexcept;
  void finish() noexcept;
  double seconds(std::uint64_t t) const noexcept {
    return t >= origin ? static_cast<double>(t - origin) * seconds_per_tick
                       : -static_cast<double>(origin - t) * seconds_per_tick;
  }
  double span(std::uint64_t a, std::uint64_t b) const noexcept {
    return b >= a ? static_cast<double>(b - a) * seconds_per_tick : 0.0;
  }

  TraceClock::time_point origin_time{};
};

// Bytes of a result as the executors would move it (0 when its type has no codec).
inline std::uint64_t result_bytes(const Value& v) {
  const TypeOps* ops = v.ops();
  if (ops == nullptr || !v.has_value() || ops->encoded_size == nullptr) return 0;
  return ops->encoded_size(v.data());
}

struct KindTotals {
  std::uint64_t count = 0;
  double seconds = 0;
  double max_seconds = 0;
  std::uint64_t bytes = 0;
};

struct RawTask {
  std::uint32_t task;        // plan task
  std::uint32_t graph_task;  // the graph task whose key names it (Plan::result_task)
  std::uint64_t start;       // ticks (TickScale), or nanoseconds since the origin once collected
  std::uint64_t end;
  std::uint64_t bytes;
};

// An allocator whose resize() leaves trivially constructible elements uninitialised, so that an event
// buffer can be sized ahead without writing it.
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// One thread's task events.
using EventList = std::vector<RawTask, UninitAllocator<RawTask>>;

// Event lists and byte buffers kept for the next run, so that recording does not fault fresh pages into
// memory on every run. A pending recording hands its buffers back when it is assembled or dropped.
// Thread-safe.
class RecordingPool {
 public:
  EventList take_events();
  void give_events(EventList&& events);
  // Byte buffers (an MPI run's gathered recordings), kept when at most kKeepBytes.
  std::vector<std::byte> take_bytes();
  void give_bytes(std::vector<std::byte>&& bytes);

 private:
  static constexpr std::size_t kKeep = 16;  // lists kept at most (two runs' worth on most machines)
  static constexpr std::size_t kKeepBytes = std::size_t{256} << 20;
  std::mutex mu_;
  std::vector<EventList> events_;
  std::vector<std::vector<std::byte>> bytes_;
};

// Plan task -> the graph task it produces and its name id, in few dependent loads: an unfused plan's result
// tasks and the graph's records are read straight from their arrays (valid while the run goes on).
class TaskNames {
 public:
  void begin(const Graph& graph, const Plan& plan) noexcept {
    plan_ = &plan;
    result_ = plan.size() > 0 && plan.graph_tasks() == plan.size() ? plan.members(0).data() : nullptr;
    records_ = graph.records();
  }
  TaskId task(std::uint32_t p) const noexcept {
    return result_ != nullptr ? result_[p] : plan_->result_task(p);
  }
  NameId name(TaskId g) const noexcept { return records_[g].name; }

 private:
  const Plan* plan_ = nullptr;
  const TaskId* result_ = nullptr;
  const detail::GraphRecord* records_ = nullptr;
};

// The event cap and first buffer size of each of `recorders` compute threads (all ranks together) in a run of
// `run_tasks` tasks, so that the run keeps at most `max_events` events. A run that fits keeps all its
// events: a thread may then hold any number of them (threads rarely run even shares), and its buffer starts
// at a little over an even share and grows if need be. A larger run gives each thread an even share of
// `max_events`, past which it samples.
struct EventCaps {
  std::size_t cap;
  std::size_t expected;
};
inline EventCaps event_caps(std::size_t max_events, std::size_t run_tasks, std::size_t recorders) {
  recorders = std::max<std::size_t>(recorders, 1);
  if (run_tasks <= max_events) {
    const std::size_t share = run_tasks / recorders;
    return {std::max<std::size_t>(run_tasks, 1), std::min(run_tasks, share + share / 4 + 1024)};
  }
  const std::size_t even = std::max<std::size_t>(1, max_events / recorders);
  return {even, even};
}

// One compute thread's events; only that thread touches it until the run ends. Below the cap it appends.
// At the cap it keeps every other event and folds the others into exact per-name totals, then keeps one
// event in 2, 4, ... from then on (folding the rest), so the events kept are a systematic sample that spans
// the whole run, still in time order, and totals over kept and folded events are exact. Folding touches
// only the event and the graph record the task just used.
// Cache-line aligned: each compute thread writes its own recorder on every task, and recorders sit side by
// side in a vector (false sharing between two threads cost about 10 ns per task when the allocation happened
// to put two recorders in one line).
class alignas(64) ThreadRecorder {
 public:
  void begin(const Graph& graph, const Plan& plan, int thread, std::size_t cap, std::size_t expected,
             RecordingPool* pool = nullptr);

  // A task timed by the caller (MPI workers, which read the clock anyway).
  void task(std::uint32_t p, std::uint64_t start, std::uint64_t end, std::uint64_t bytes) {
    put(p, plan_->result_task(p), start, end, bytes);
  }
  void idle(std::uint64_t t) noexcept { idle_ += t; }

  // The local executors' clock: a task starts where the thread's previous step ended, and the TSC is read at
  // the end of each task, except in runs of tiny tasks of one name, which share reads: while tasks take under
  // kTinyTicks each, up to kMaxBatch of them (of one name) end at one clock read and get even shares of the
  // time since the previous read. Their name's totals stay exact; only the split between them is an estimate.
  // start() when the thread begins, starting(p) before task p runs, done(p, bytes) after it, pause() before
  // waiting for work (returns the time), resume(paused) after, stop() when the thread leaves the run.
  void start() noexcept { mark_ = ticks(); }
  void starting(std::uint32_t p) {
    next_ = names_.task(p);
    if (batch_ != 0 && (batch_ >= limit_ || n_ + batch_ >= room_ || names_.name(next_) != batch_name_)) {
      close(ticks());
    }
  }
  void done(std::uint32_t p, std::uint64_t bytes) {  // p: the task starting() was given
    if (limit_ > 1 && n_ + batch_ < room_) {         // joins the batch; its times are set when it closes
      Staged& d = staged_[batch_];
      d.task = p;
      d.graph_task = next_;
      d.bytes = bytes;
      if (batch_++ == 0) batch_name_ = names_.name(next_);
      return;
    }
    const std::uint64_t now = ticks();
    if (now - mark_ < kTinyTicks) limit_ = 2;  // tiny: the next ones may share clock reads
    put(p, next_, mark_, now, bytes);
    mark_ = now;
  }
  std::uint64_t pause() {
    const std::uint64_t now = ticks();
    if (batch_ != 0) close(now);
    return now;
  }
  void resume(std::uint64_t paused) noexcept {
    mark_ = ticks();
    idle_ += mark_ - paused;
  }
  void stop() {
    if (batch_ != 0) close(ticks());
  }

  // After the run: the thread's events, raw (in time order), whether they are a sample, the
  // totals by key name of the events dropped from the sample (in seconds by `seconds_per_tick`), and the
  // thread's task count and idle time (busy time is added up from the events when they are assembled).
  struct Result {
    EventList events;
    bool sampled = false;
    std::vector<std::pair<std::string, KindTotals>> dropped;
    ThreadTime time;
  };
  Result take(double seconds_per_tick, int rank);
  // take(), with start/end converted to nanoseconds since the scale's origin (for the MPI wire).
  Result finish(const TickScale& scale, int rank);

  // Plan tasks first..last-1 ran one after another between the reads `start` and `end` (ticks), each taking
  // an even share. Their results' bytes run-length coded: each entry of [bytes, bytes_end) (in task order)
  // says that from its task on the results take its bytes; the cursor passes the entries of these tasks and
  // `current` carries the value in effect from one call to the next (0 before the first entry). graph_task[p]
  // names p (null: the plan's, during a run). Appended as events, past the cap as sampled (as during a run).
  struct TaskBytes {
    std::uint32_t task;
    std::uint64_t bytes;
  };
  void span(std::uint32_t first, std::uint32_t last, std::uint64_t start, std::uint64_t end,
            const TaskBytes*& bytes, const TaskBytes* bytes_end, std::uint64_t& current,
            const TaskId* graph_task);
  // A recorder that names tasks from `keys` (no graph or plan): for replaying a recording (span()) after
  // the run, when the graph may be gone.
  void begin_replay(const Graph::Keys& keys, std::size_t cap, std::size_t expected, RecordingPool* pool);

 private:
  void put(std::uint32_t p, TaskId g, std::uint64_t start, std::uint64_t end, std::uint64_t bytes) {
    if (n_ < room_) {  // below the cap, in the buffer as sized: one compare and the stores
      // Field by field: a record built on the stack and copied whole stalls on store forwarding.
      RawTask& d = data_[n_++];
      d.task = p;
      d.graph_task = g;
      d.start = start;
      d.end = end;
      d.bytes = bytes;
      return;
    }
    slow(RawTask{p, g, start, end, bytes});
  }
  void reset(std::size_t cap, std::size_t expected, RecordingPool* pool);  // begin()'s sizing and counters
  void slow(const RawTask& e);
  void close(std::uint64_t now);
  void halve();
  void fold(TaskId g, std::uint64_t start, std::uint64_t end, std::uint64_t bytes);

  NameId name_of(TaskId g) const { return graph_ != nullptr ? graph_->name_id_of(g) : keys_->name(g); }

  const Graph* graph_ = nullptr;
  TaskNames names_;                    // graph_'s and plan_'s, for the hot path
  const Graph::Keys* keys_ = nullptr;  // names instead of graph_ (a replay)
  const Plan* plan_ = nullptr;
  std::int32_t thread_ = 0;
  std::size_t cap_ = 0;
  std::uint64_t stride_ = 1;   // one event kept in this many
  std::uint64_t phase_ = 0;    // events since the last one kept
  std::uint64_t dropped_ = 0;  // events folded instead of kept
  std::uint64_t idle_ = 0;
  EventList events_;  // sized ahead (a pooled buffer keeps its size); the events are data_[0, n_)
  RawTask* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t room_ = 0;  // stores the fast path may make: min(events_.size(), cap_), 0 once sampling
  static constexpr std::uint64_t kTinyTicks = 600;  // about 0.2 us at 3 GHz
  static constexpr std::size_t kMaxBatch = 16;
  std::uint64_t mark_ = 0;  // ticks: where the pending batch (or the next task) starts
  std::size_t batch_ = 0;   // tasks in staged_, not yet events (their times are set when the batch closes)
  std::size_t limit_ = 1;   // tasks one clock read may end
  NameId batch_name_ = 0;
  TaskId next_ = 0;  // graph task of the plan task starting() was given
  // A batch's tasks, until close() writes them to data_ whole (each event's line written once, at once).
  struct Staged {
    std::uint32_t task;
    std::uint32_t graph_task;
    std::uint64_t bytes;
  };
  Staged staged_[kMaxBatch];
  struct TickTotals {
    std::uint64_t count = 0;
    std::uint64_t ticks = 0;
    std::uint64_t max_ticks = 0;
    std::uint64_t bytes = 0;
  };
  std::vector<TickTotals> by_name_;  // of the folded events, by the graph's name id
};

// The sync executor's recording. Tasks run one at a time in plan order, so a task's number and its start (the
// previous task's end) are implied: while the run goes on the recorder keeps only its clock reads, one (next
// task, TSC) pair per read, and the bytes of tasks whose result has an encoded size. As in ThreadRecorder,
// runs of tiny tasks of one name share reads (up to 16 per read; a task of another name always starts at a
// read, so every name's totals stay exact). Each read decides where the next one falls (the batch: up to
// `limit` tasks of the next task's name), so that per task the run pays only two compares; no event is
// written. The events are made when the trace is looked at (Compact::replay), with the event cap and sampling
// of a ThreadRecorder; only a run with more reads than the cap turns them into events as it goes (into
// `out`), so that its memory stays bounded.
class SyncRecorder {
 public:
  struct Read {
    std::uint32_t task;  // the first task after the read
    std::uint64_t at;    // TSC
  };
  // What a run recorded, to be replayed into events later.
  struct Compact {
    std::vector<Read> reads;
    std::vector<ThreadRecorder::TaskBytes> bytes;  // run-length coded, as ThreadRecorder::span takes them
    std::shared_ptr<const TaskId> graph_task;  // per plan task (Plan::result_task), or index into keys_of()
    std::uint64_t start = 0;                   // the read before the first task
    std::size_t cap = 0;
    // The events, as ThreadRecorder::take() gives them, named from `keys`.
    ThreadRecorder::Result replay(const Graph::Keys& keys, double seconds_per_tick,
                                  RecordingPool* pool) const;
  };

  // `out` (begun on this graph and plan) receives the events of a run with more reads than `cap`. Reads the
  // clock last: the first task starts there.
  void begin(const Graph& graph, const Plan& plan, std::size_t cap, ThreadRecorder* out);
  // Plan task p (the one after the previous call's; the first call's is 0) ran; `bytes`: its result's encoded
  // size. Sizes are kept only where they change: results of one size in a row (most runs) cost no memory and
  // no stores. The last task of the plan always ends at a read.
  void done(std::uint32_t p, std::uint64_t bytes) {
    if (bytes != last_bytes_) [[unlikely]] {
      bytes_.push_back({p, bytes});
      last_bytes_ = bytes;
    }
    if (p + 1 < until_) return;  // in the batch: the read comes later
    close(p + 1);
  }
  // Whether the run's reads are all still here (else they went to `out` as events; call flush() then).
  bool compact() const noexcept { return !flushed_; }
  // The reads into `out` as events.
  void flush();
  // The reads for a later replay; graph_task from `graph_task` when given (a renumbering), else the plan's.
  Compact take(std::vector<TaskId>* graph_task = nullptr);

 private:
  // Reads the clock after the tasks before `next`, and sets the next batch.
  void close(std::uint32_t next);

  const Plan* plan_ = nullptr;
  TaskNames names_;
  ThreadRecorder* out_ = nullptr;
  std::uint32_t n_ = 0;
  std::size_t cap_ = 0;
  bool flushed_ = false;
  std::vector<Read> reads_;
  std::vector<ThreadRecorder::TaskBytes> bytes_;    // where result sizes change (run-length)
  std::uint64_t last_bytes_ = 0;                    // the size in effect after bytes_ (0 before any)
  std::uint64_t flushed_bytes_ = 0;                 // the size in effect after what flush() passed on
  std::uint64_t mark_ = 0;                          // the read the reads_ list starts after
  std::uint32_t first_ = 0;                         // the first task after mark_
  std::uint32_t from_ = 0;                          // the first task after the last read
  std::uint64_t until_ = 0;                         // the batch: tasks from_ to until_ - 1 end at one read
  std::uint32_t limit_ = 1;                         // tasks one read may end
  std::uint64_t at_ = 0;                            // the last read
  static constexpr std::uint64_t kTinyTicks = 600;  // as ThreadRecorder's
  static constexpr std::uint32_t kMaxBatch = 16;
};

// A series sampled at a fixed interval that halves its resolution past 4096 samples.
template <class T>
class SampleSeries {
 public:
  explicit SampleSeries(double interval = 0.02) : interval_(interval) {}
  bool due(double t) const noexcept { return t >= next_; }
  void add(double t, const T& v) {
    samples_.push_back(v);
    next_ = t + interval_;
    if (samples_.size() > kMax) {
      std::size_t j = 0;
      for (std::size_t i = 0; i < samples_.size(); i += 2) samples_[j++] = samples_[i];
      samples_.resize(j);
      interval_ *= 2;
    }
  }
  std::vector<T>& samples() noexcept { return samples_; }

 private:
  static constexpr std::size_t kMax = 4096;
  double interval_;
  double next_ = 0;
  std::vector<T> samples_;
};

// Tasks done per progress group (Graph::progress_group) while a run goes on: each thread counts the tasks it
// finishes in its own cache lines; a sampler sums them. Without groups in the graph it is empty() and costs
// nothing.
class ProgressGroups {
 public:
  void begin(const Graph& graph, const Plan& plan, int threads);
  bool empty() const noexcept { return labels_.empty(); }
  // Thread `thread` finished plan task p.
  void done(int thread, std::uint32_t p) noexcept {
    const std::uint16_t g = group_of_[p];
    if (g == 0) return;
    std::atomic<std::uint64_t>& c = counts_[static_cast<std::size_t>(thread) * stride_ + g];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Done per group now (any thread), by group id - 1; `final`: every task of the run finished.
  std::vector<std::uint64_t> read(bool final = false) const;
  // The progress groups for a Progress call.
  std::vector<GroupProgress> progress(const std::vector<std::uint64_t>& done) const;
  // Labels, totals and each plan task's group into a trace. Call once the run's tasks are done: the per-task
  // groups move into the trace (the next begin() sizes them afresh).
  void describe(RunTrace& trace) {
    trace.group_labels = labels_;
    trace.group_totals = totals_;
    trace.task_groups = std::move(group_of_);
    group_of_.clear();
  }

 private:
  std::vector<std::string> labels_;
  std::vector<std::uint64_t> totals_;
  std::vector<std::uint16_t> group_of_;  // per plan task
  std::size_t threads_ = 0;
  std::size_t stride_ = 0;  // counters per thread, whole cache lines
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
};

// "2026-11-30T00:39:31Z".
std::string iso_time_now();
// SLURM_JOB_ID, or empty.
std::string slurm_job_id();

// This process's resident bytes and CPU seconds now.
ResourceSample sample_resources(int rank, double time, std::uint64_t live_bytes);

// What one rank recorded.
struct RankRecording {
  std::int32_t rank = 0;
  // How the task lists' start/end become seconds since the run's origin: (t - origin) * seconds_per_tick.
  std::uint64_t origin = 0;
  double seconds_per_tick = 1e-9;
  // One list per compute thread (list i is thread i), in time order.
  std::vector<EventList> tasks;
  std::vector<std::uint8_t> sampled;  // per list: a sample; the tasks it dropped are counted in `totals`
  std::vector<std::pair<std::string, KindTotals>> totals;  // of the dropped tasks, by key name
  bool transfers_sampled = false;
  std::vector<TransferEvent> transfers;
  std::vector<ResourceSample> resources;
  std::vector<ThreadTime> thread_times;  // per list; busy counts the dropped tasks only until assembled
  // Spill files written and read back (a memory limit), times in seconds since the origin, and exact totals.
  std::vector<SpillEvent> spills;
  bool spills_sampled = false;
  std::uint64_t bytes_spilled = 0;
  std::uint64_t bytes_unspilled = 0;
  double spill_seconds = 0;
  double unspill_seconds = 0;
};

// Takes the thread recorders' events, converted to nanoseconds since the scale's origin (the MPI wire).
RankRecording collect(std::vector<ThreadRecorder>& threads, const TickScale& scale, int rank);

// Names every recorded task from the keys, totals tasks by kind, sorts, and fills where time went. `trace`
// already carries the configuration, seconds, scheduler samples and bytes_between. Leaves the task lists
// empty (their memory kept).
void assemble(RunTrace& trace, const Graph::Keys& keys, std::vector<RankRecording>& ranks);

// A run's recording, assembled only when someone looks at it (TraceRef::get): the raw event lists as
// recorded (ticks; nanoseconds from MPI workers), the graph's keys (shared with it, Graph::keys), and the
// rest of the trace. At the end of a run this costs no per-task work. Its buffers go back to the pool when it
// is assembled or dropped.
struct PendingTrace {
  RunTrace base;  // everything but the task-level parts
  std::vector<RankRecording> ranks;
  Graph::Keys keys;
  std::shared_ptr<RecordingPool> pool;
  // Recordings still in their wire form (the MPI workers'), and what appends them to `ranks` (before
  // assembly; all or nothing).
  std::vector<std::byte> wire;
  std::function<void(PendingTrace&)> decode;

  PendingTrace() = default;
  PendingTrace(const PendingTrace&) = delete;
  PendingTrace& operator=(const PendingTrace&) = delete;
  ~PendingTrace();
};

// Takes the local recorders' events (raw) and the graph's keys (a copy of only the recorded tasks' keys when
// the plan runs a small part of the graph) into a pending trace.
std::unique_ptr<PendingTrace> defer(RunTrace&& base, const Graph& graph, std::vector<ThreadRecorder>& threads,
                                    const TickScale& scale, std::vector<ResourceSample>&& resources,
                                    const std::shared_ptr<RecordingPool>& pool);

// The same for the sync executor's compact recording (SyncRecorder, when compact()): the events are made from
// its reads when the trace is looked at.
std::unique_ptr<PendingTrace> defer_sync(RunTrace&& base, const Graph& graph, const Plan& plan,
                                         SyncRecorder& sync, const TickScale& scale,
                                         std::vector<ResourceSample>&& resources,
                                         const std::shared_ptr<RecordingPool>& pool);

// Reservoir sampling past a cap, for transfers (one comm thread per worker).
template <class T>
class Reservoir {
 public:
  explicit Reservoir(std::size_t cap = 0) : cap_(cap) {}
  void add(const T& v) {
    ++seen_;
    if (items_.size() < cap_) {
      items_.push_back(v);
      return;
    }
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const std::uint64_t j = rng_ % seen_;
    if (j < cap_) items_[j] = v;
  }
  bool sampled() const noexcept { return seen_ > items_.size(); }
  std::vector<T>& items() noexcept { return items_; }

 private:
  std::size_t cap_;
  std::uint64_t seen_ = 0;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  std::vector<T> items_;
};

// Spill files written and read back during a run (SpillStore::record_to), from any thread: a mutex per
// event, which is nothing next to the file I/O it times. Exact totals; events past the cap are sampled.
class SpillLog {
 public:
  void begin(std::size_t cap);
  void add(std::uint32_t task, TraceClock::time_point start, TraceClock::time_point end, std::uint64_t bytes,
           bool read);
  // The run's events (times since `origin`) and totals into `into`; the log is empty afterwards.
  void take(TraceClock::time_point origin, RankRecording& into);
  // The same for a local executor's run: straight into its trace.
  void take(TraceClock::time_point origin, RunTrace& into);

 private:
  struct Raw {
    std::uint32_t task;
    bool read;
    TraceClock::time_point start;
    TraceClock::time_point end;
    std::uint64_t bytes;
  };
  std::mutex mu_;
  Reservoir<Raw> events_;
  std::uint64_t bytes_[2] = {0, 0};  // written, read
  double seconds_[2] = {0, 0};
};

// Calls `fn` about every `seconds` on its own thread from start() until stop(). The thread is made by the
// first start() and waits between runs (making one per run cost about 60 us, more than a 1000-task run);
// it ends when the Ticker is destroyed. stop() returns once `fn` is not running and will not be called again
// (so `fn` must not call stop()).
class Ticker {
 public:
  Ticker() = default;
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker();
  void start(double seconds, std::function<void()> fn);
  void stop();

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> fn_;  // while running_
  std::chrono::duration<double> period_{1.0};
  bool running_ = false;
  bool calling_ = false;       // fn_ is being called (outside the lock)
  std::uint64_t started_ = 0;  // start() calls: a new run restarts the wait
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace tessera::detail

namespace tessera {
// A TraceRef that assembles `pending` when first looked at.
TraceRef make_pending_trace_ref(std::unique_ptr<detail::PendingTrace> pending);
}  // namespace tessera
