// A compute thread's task events while a run goes on, in a buffer sized ahead and pooled across runs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "clock.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"
#include "tessera/runtime/value.h"

namespace tessera::detail {

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

}  // namespace tessera::detail
