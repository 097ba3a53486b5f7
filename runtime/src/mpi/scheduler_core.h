// The MPI scheduler's decisions (rank 0) as a state machine without MPI: events in (the workers' kComplete
// and kError messages, a failure or stop request of rank 0's own), orders out (per worker, the protocol's
// kPush, kAssign, kRelease and kSpill messages of a round; kFinish or kAbort at the end). Whoever moves the
// bytes drives it: the MPI scheduler loop (scheduler.h), the simulator (benchmarks/simulate.cc) and the unit
// tests (tests/runtime/scheduler_core_test.cc), which run without mpirun.
//
// Per plan task: unfinished inputs, unfinished readers, where it is assigned or held, where its encoded
// result lives. Ready tasks go, in plan priority order, to the node holding most of their input bytes and
// there to the worker holding most (if it is not overloaded), else to the least occupied worker with room on
// that node, then anywhere (placement.h); roots go in consecutive blocks to one worker at a time, so siblings
// of a reduction meet on one worker. A task whose only reader is a single task is assigned together with that
// reader when the reader's other inputs are already placed there ("pre-assignment"): chains and reduction
// subtrees then run on one worker without a round trip per task, and their intermediates are never published
// for RMA. Results are released on every holder when their last reader finished. With a memory limit the core
// counts the bytes each worker holds, withholds roots from workers past pause_fraction and orders spills.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "placement.h"
#include "protocol.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "wire.h"

namespace tessera::mpi {

// What the scheduler knows about its workers, by worker index (rank - 1).
struct WorkerShape {
  int threads = 1;
  int node = 0;        // node id (its lowest rank)
  int rma_group = -1;  // workers with equal values >= 0 fetch from each other one-sided; -1: two-sided
};

struct SchedulerConfig {
  std::vector<WorkerShape> workers;
  int tasks_per_thread = 4;                               // MpiExecutorOptions::tasks_per_thread
  std::size_t push_bytes = std::size_t{64} << 10;         // MpiExecutorOptions::push_bytes
  MemoryOptions memory;                                   // the limit per worker
  std::uint64_t inline_budget = std::uint64_t{64} << 20;  // bytes of small results rank 0 keeps at most
};

// Per plan task, an optional short list (the workers holding a fetched copy, the workers a result was pushed
// to, a small result's bytes): pooled, so that once warm no task costs an allocation (a hash map of vectors
// cost rank 0 about 0.3 us a task in mallocs and lookups). The per-task index is made at first use.
template <class T>
class TaskLists {
 public:
  explicit TaskLists(std::uint32_t tasks) : tasks_(tasks) {}
  bool empty() const noexcept { return used_ == 0; }
  std::vector<T>* find(std::uint32_t t) {
    return slot_.empty() || slot_[t] == kNoSlot ? nullptr : &pool_[slot_[t]];
  }
  const std::vector<T>* find(std::uint32_t t) const {
    return slot_.empty() || slot_[t] == kNoSlot ? nullptr : &pool_[slot_[t]];
  }
  std::vector<T>& operator[](std::uint32_t t) {
    if (slot_.empty()) slot_.assign(tasks_, kNoSlot);
    if (slot_[t] == kNoSlot) {
      if (free_.empty()) {
        free_.push_back(static_cast<std::uint32_t>(pool_.size()));
        pool_.emplace_back();
      }
      slot_[t] = free_.back();
      free_.pop_back();
      ++used_;
    }
    return pool_[slot_[t]];
  }
  void erase(std::uint32_t t) {
    if (slot_.empty() || slot_[t] == kNoSlot) return;
    pool_[slot_[t]].clear();  // keeps its capacity for the next task
    free_.push_back(slot_[t]);
    slot_[t] = kNoSlot;
    --used_;
  }

 private:
  static constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;
  std::uint32_t tasks_;
  std::uint32_t used_ = 0;
  std::vector<std::uint32_t> slot_;
  std::vector<std::vector<T>> pool_;
  std::vector<std::uint32_t> free_;
};

// Told of each completion as the scheduler handles it, on the scheduler's thread (recording, progress
// groups, a live view): never on a worker's path.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void task_done(int worker_rank, std::uint32_t task, float seconds, std::uint64_t bytes) = 0;
};

class SchedulerCore {
 public:
  // Throws Error(kInvalidArgument) for a configuration without workers.
  SchedulerCore(const Graph& graph, const Plan& plan, SchedulerConfig config);

  // Events. A worker's message (kComplete, kError) from rank `source` (>= 1). Throws Error(kInternal) for a
  // malformed one; the caller then fails the run (fail()).
  void handle(const std::byte* data, std::size_t size, int source);
  // The run fails (a task's error, a stop request, an error in the caller's loop); the first failure wins.
  void fail(ErrorInfo error);

  // Decisions: hands ready tasks to workers with room, queueing the orders (nothing is sent).
  void schedule();
  // Passes the round's orders to `send`, per worker in protocol order: every kPush first (the owners' bytes
  // then travel while the readers' assignments do), then per worker kAssign, kRelease and kSpill. Orders a
  // worker past its spill threshold to spill first.
  void flush(const std::function<void(int rank, std::vector<std::byte>&& message)>& send);
  // The end of a successful run (done()): the kFinish message, and the outputs it names.
  std::vector<std::byte> finish_message(std::vector<OutputInfo>& outputs) const;
  // The end of a failed run (failed()): the kAbort message.
  std::vector<std::byte> abort_message() const;

  bool failed() const noexcept { return error_.has_value(); }
  const std::optional<ErrorInfo>& error() const noexcept { return error_; }
  bool done() const noexcept { return completed_ == m_; }
  // Nothing runs and nothing is ready, yet tasks are unfinished: a bug, never a user's error.
  bool stalled() const noexcept { return in_flight_ == 0 && completed_ < m_ && !has_ready(); }

  void observe(SchedulerObserver* observer) noexcept { observer_ = observer; }
  int workers() const noexcept { return workers_; }
  std::uint32_t tasks() const noexcept { return m_; }
  std::uint32_t completed() const noexcept { return completed_; }
  std::uint64_t in_flight() const noexcept { return in_flight_; }  // assigned, unfinished
  std::uint64_t ready() const noexcept { return heap_.size() + (plan_.roots().size() - root_cursor_); }
  std::uint64_t bytes_done() const noexcept { return bytes_done_; }  // encoded bytes of finished results
  // Per worker rank: assigned tasks whose inputs are all finished, not yet finished; their expected seconds;
  // whether it takes more tasks.
  int occupancy(int rank) const { return occupancy_[wi(rank)]; }
  double queued_seconds(int rank) const { return queued_seconds_[wi(rank)]; }
  bool has_room(int rank) const { return room_[wi(rank)] != 0; }
  int threads(int rank) const { return threads_[wi(rank)]; }
  // Result bytes worker `rank` holds as the memory limit counts them (0 without a limit).
  std::uint64_t held_bytes(int rank) const { return held_bytes_.empty() ? 0 : held_bytes_[wi(rank)]; }
  std::uint64_t peak_held_bytes() const noexcept { return peak_held_; }
  std::uint64_t roots_withheld() const noexcept { return roots_withheld_; }

 private:
  enum State : std::uint8_t { kWaiting, kReady, kAssigned, kDone, kReleased };
  // With spilling: per task, whether its owner holds it in memory, on disk only, or both (read back).
  enum SpillState : std::uint8_t { kInMemory, kOnDisk, kReadBack };

  std::size_t wi(int rank) const { return static_cast<std::size_t>(rank - 1); }
  bool has_ready() const { return !heap_.empty() || root_cursor_ < plan_.roots().size(); }
  std::uint32_t peek() const;
  void take(std::uint32_t t);
  int rank_hint(std::uint32_t t) const;
  bool has_memory_for_root(int w) const { return held_bytes_.empty() || held_bytes_[wi(w)] < pause_at_; }
  int least_occupied(bool for_root = false);
  int choose(std::uint32_t t);
  [[noreturn]] void cannot_meet(std::uint32_t t, std::uint32_t a, std::uint32_t b) const;
  bool can_join(std::uint32_t c, int w) const;
  std::uint32_t only_reader(std::uint32_t t) const;
  void assign(std::uint32_t first, int w);
  bool push(std::uint32_t d, int w);
  void release(std::uint32_t d);
  void observe_time(std::uint32_t t, float seconds);
  void update_load(std::size_t i);
  float estimate(std::uint32_t t) const;
  void runnable(std::uint32_t t, int w);
  void on_complete(WireReader& r, int w);
  void forget_inline(std::uint32_t d);
  std::uint64_t owner_bytes(std::uint32_t d) const;
  bool holds_in_memory(int w, std::uint32_t d) const;
  bool spillable(std::uint32_t d, std::uint32_t& next) const;
  void spill_some(int w);
  std::uint32_t checked(std::uint32_t t) const;

  const Graph& graph_;
  const Plan& plan_;
  const int workers_;
  const std::uint32_t m_;
  SchedulerObserver* observer_ = nullptr;
  std::vector<std::int32_t> pending_;  // unfinished dependencies (edges)
  std::vector<std::int32_t> readers_;  // unfinished readers (edges) + output holds
  std::vector<std::int32_t> where_;    // worker rank assigned / holding
  std::vector<std::uint8_t> state_;
  std::vector<Location> loc_;
  TaskLists<int> replicas_;  // workers holding a fetched copy
  // Small results sent with assignments (MpiExecutorOptions::inline_bytes), and the workers that got them.
  TaskLists<std::byte> inline_;
  TaskLists<int> inline_sent_;
  std::uint64_t inline_held_ = 0;
  const std::uint64_t inline_budget_;
  std::vector<std::uint32_t> heap_;  // ready non-root tasks, min-heap
  std::size_t root_cursor_ = 0;
  int last_root_worker_ = -1;
  static constexpr double kQueueSeconds = 0.002;  // of expected work queued per worker thread
  std::vector<int> occupancy_;                    // assigned, runnable, unfinished tasks per worker
  std::vector<double> queued_seconds_;  // their expected seconds (estimate_ at the time they became runnable)
  std::vector<std::uint8_t> room_;      // per worker: takes more tasks (update_load)
  std::vector<std::uint8_t> overloaded_;  // per worker: tasks whose inputs it holds go elsewhere if they can
  std::vector<float> estimate_;           // per task: expected seconds, once runnable
  std::vector<NameId> kind_;              // per task: its key's name (estimates are per name)
  bool pinned_ = false;                   // some task has a rank hint (TaskOptions::rank)
  std::vector<float> name_seconds_;       // running mean of task seconds per key name (-1: none yet)
  const double unknown_seconds_;          // the estimate before any task of a kind finished
  int block_end_ = 0;                     // the current root block ends at this occupancy
  detail::OccupancyIndex index_;          // the least occupied worker with room (touched by update_load)
  std::vector<int> threads_;
  std::vector<int> node_;       // node id (its lowest rank) by worker index
  std::vector<int> rma_group_;  // by worker index: equal values >= 0 fetch one-sided from each other
  const std::uint64_t push_bytes_;
  std::vector<WireWriter> push_out_;  // per owner: kPush entries of this round
  std::vector<std::uint32_t> push_count_;
  TaskLists<int> pushed_;  // workers a result was pushed to
  std::vector<WireWriter> assign_out_;
  std::vector<WireWriter> release_out_;
  std::vector<std::uint32_t> assign_count_;
  std::vector<std::uint32_t> release_count_;
  std::vector<std::pair<int, std::uint64_t>> held_;
  std::vector<std::uint32_t> remotes_;
  std::uint32_t completed_ = 0;
  std::uint64_t in_flight_ = 0;  // assigned, unfinished
  std::uint64_t bytes_done_ = 0;
  std::optional<ErrorInfo> error_;
  const std::uint64_t pause_at_;
  const std::uint64_t spill_at_;  // per worker; 0: no spilling
  std::vector<std::uint64_t>
      held_bytes_;  // per worker: result bytes it holds (own and fetched); empty: no limit
  std::vector<std::uint8_t> spill_state_;
  std::vector<std::vector<std::uint32_t>> holding_;  // per worker: results it may hold (pruned lazily)
  std::vector<std::pair<std::uint32_t, std::uint32_t>> victims_;  // (next reader, result), spill_some's
  std::vector<WireWriter> spill_out_;
  std::vector<std::uint32_t> spill_count_;
  std::uint64_t peak_held_ = 0;
  std::uint64_t roots_withheld_ = 0;
  bool root_withheld_ = false;  // the last choose() held a root back for memory
};

}  // namespace tessera::mpi
