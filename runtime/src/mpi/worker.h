// A worker of the MPI executor (ranks 1..N-1): its state, shared by its communication thread and its compute
// threads. The member functions are spread over files by concept:
//   worker.cc          the communication loop: the scheduler's messages in, completion reports and errors
//                      out, the drain after an abort, recording;
//   worker_fetch.cc    fetching the inputs of assigned tasks (over the transports of transport.h, with the
//                      bookkeeping of fetches.h) and serving results to peers that fetch them two-sided;
//   worker_spill.cc    the scheduler's spill orders and reading spilled results back;
//   worker_compute.cc  the compute threads: run ready tasks, publish their results.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../spill_store.h"
#include "../trace/sampling.h"
#include "../trace/spill_log.h"
#include "../trace/thread_recorder.h"
#include "chunk_arena.h"
#include "fetches.h"
#include "messenger.h"
#include "mpi_env.h"
#include "protocol.h"
#include "rma_transport.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/topology.h"
#include "trace_wire.h"
#include "transport.h"
#include "two_sided_transport.h"

namespace tessera::mpi {

// A result this worker holds: made here, or a copy fetched from its owner.
struct Held {
  Value value;                   // empty while only on disk
  ChunkArena::Block block;       // the published bytes (none for copies, local-only results, or once spilled)
  std::uint64_t tag = 0;         // the value's type tag
  std::uint64_t file_bytes = 0;  // > 0: in this worker's spill file (also once read back)
};

// One worker's run. Compute threads (pinned to the worker's cores) take runnable tasks in plan priority
// order, run them, publish their results into the chunk arena, start local successors themselves and queue a
// completion report; the calling thread is the communication thread: it handles the scheduler's messages,
// drives fetches and serves peers, and sends completion reports in batches. Shared state is guarded by one
// mutex.
class Worker {
 public:
  using Clock = std::chrono::steady_clock;

  // rma_target[r]: the rank naming world rank r in the arena's window, or -1 to fetch from r two-sided.
  Worker(const Graph& graph, const Plan& plan, MPI_Comm comm, ChunkArena& arena,
         const std::vector<int>& rma_target, int rank, int ranks, int threads, const Topology* topology,
         const WorkerBinding* binding, const RecordOptions& record, const MemoryOptions& memory,
         std::size_t inline_bytes, detail::RecordingPool* pool, Clock::time_point origin);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until the scheduler says the run finished or failed; returns what it said.
  Outcome run();

  bool recording() const noexcept { return record_.enabled; }
  // What this worker recorded (after run()), times in seconds since the run's origin.
  detail::RankRecording take_recording();

  // The result of task t if this worker holds it (valid after run()).
  const Held* held(std::uint32_t t) const {
    auto it = held_.find(t);
    return it == held_.end() ? nullptr : &it->second;
  }

  struct Stats : WorkerStats {
    std::uint64_t graph_tasks = 0;
    std::uint64_t attempts = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  // A request answered later, in order (see serve()).
  struct QueuedServe {
    std::uint32_t dep = 0;
    std::uint64_t bytes = 0;
    int reader = 0;
  };
  struct Assigned {
    std::int32_t pending;  // inputs not here yet
    std::uint8_t flags;
  };

  static std::size_t per_worker(std::size_t run_cap, int ranks) {
    return std::max<std::size_t>(1, run_cap / static_cast<std::size_t>(std::max(ranks - 1, 1)));
  }

  // worker.cc: the communication loop.
  void fail(ErrorInfo info);
  void handle(const std::vector<std::byte>& buf, int source, std::unique_lock<std::mutex>* lock);
  std::uint32_t checked(std::uint32_t t) const;
  void on_assign(WireReader& r);
  Remote read_remote(WireReader& r) const;
  void drain_after_abort(std::vector<std::byte>& buf, Backoff& backoff);
  bool send_reports(std::vector<std::byte>& report);
  void stop_threads();
  void sample_if_due();

  // worker_fetch.cc: fetching inputs, serving peers.
  bool start_fetch(const Remote& rem);
  void expect_push(const Remote& rem);
  void complete(Fetch& f, Clock::time_point now);
  bool progress_fetches();
  static Value finish_fetch(Fetch& f);
  void hold_copy(std::uint32_t dep, Value v);
  void serve(std::uint32_t t, std::uint64_t bytes, int reader);
  bool serve_queued();
  void push(std::uint32_t t, int reader);

  // worker_spill.cc.
  bool read_back_spilled();
  void spill(std::uint32_t t, std::uint8_t kind, std::unique_lock<std::mutex>& lock);

  // worker_compute.cc: the compute threads.
  void compute_loop(int thread);
  void publish(const Value& result, std::uint8_t flags, Location& where, ChunkArena::Block& block);

  // Wakes the compute threads if there is work for them (caller holds mu_). Only then: a thread woken for
  // nothing spins before it parks again, taking a core from the threads moving bytes (2 cores, 3 ranks here).
  void wake_compute() {
    if (!ready_.empty()) work_cv_.notify_all();
  }

  // Result `d` is now here: make runnable the tasks that waited only for it (caller holds mu_).
  void satisfy(std::uint32_t d) {
    auto it = waiters_.find(d);
    if (it == waiters_.end()) return;
    std::vector<std::uint32_t> tasks = std::move(it->second);
    waiters_.erase(it);
    for (std::uint32_t t : tasks) {
      auto a = assigned_.find(t);
      if (a != assigned_.end() && --a->second.pending == 0) make_ready(t);
    }
  }

  void make_ready(std::uint32_t t) {
    if (failed_) return;
    ready_.push_back(t);
    std::push_heap(ready_.begin(), ready_.end(), std::greater<>());
    ready_hint_.store(static_cast<int>(ready_.size()), std::memory_order_relaxed);
  }

  double since_origin(Clock::time_point t) const {
    return std::chrono::duration<double>(t - origin_).count();
  }
  std::uint64_t ns_since_origin(Clock::time_point t) const {
    return t > origin_ ? static_cast<std::uint64_t>(std::chrono::nanoseconds(t - origin_).count()) : 0;
  }

  const RecordOptions record_;
  const std::size_t inline_bytes_;  // results up to this size go to the scheduler with their completion
  const Clock::time_point origin_;
  std::vector<detail::ThreadRecorder> recorders_;   // one per compute thread, touched only by it
  std::uint64_t sample_rounds_ = 0;                 // comm thread
  detail::Reservoir<TransferEvent> transfers_;      // comm thread only
  detail::SampleSeries<ResourceSample> resources_;  // comm thread only
  const Graph& graph_;
  const Plan& plan_;
  MPI_Comm comm_;
  ChunkArena& arena_;
  const std::vector<int>& rma_target_;
  const int rank_;
  const bool two_sided_peers_;  // some peer fetches from us by request
  std::atomic<std::uint64_t> published_{0};
  Messenger msg_;  // comm thread only
  // Made before the transports, which count into it on the comm thread; what compute threads count, they
  // count under mu_.
  Stats stats_;
  RmaTransport rma_;                        // comm thread only, as are the three below
  RequestTransport request_;                //
  PushTransport push_;                      //
  ChunkSends sends_;                        // answers and pushes to peers in flight
  FetchesInFlight fetches_;                 // comm thread only
  std::vector<QueuedServe> queued_serves_;  // comm thread only
  std::vector<std::uint32_t> read_back_;    // comm thread only: spilled results to read back
  detail::SpillLog spill_log_;              // spill files written and read back, when recording
  detail::SpillStore spill_;                // its destructor removes the spill files, however the run ends
  bool abort_done_ = false;                 // comm thread only
  int fetch_spins_ = 0;
  std::vector<Remote> remotes_;
  std::vector<std::uint32_t> seen_;
  std::optional<Outcome> outcome_;

  std::mutex mu_;  // guards everything below
  std::condition_variable work_cv_;
  std::condition_variable comm_cv_;
  std::vector<std::uint32_t> ready_;  // min-heap: runnable tasks whose inputs are all here
  std::atomic<int> ready_hint_{0};    // ready_.size(), readable without the lock (for spinning)
  std::unordered_map<std::uint32_t, Held> held_;
  std::unordered_map<std::uint32_t, Assigned> assigned_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> waiters_;
  std::unordered_set<std::uint32_t> reading_back_;
  std::vector<std::uint32_t> copies_;  // fetched copies not yet reported to the scheduler
  WireWriter report_;
  std::uint32_t report_count_ = 0;
  std::optional<ErrorInfo> failure_;
  bool failure_sent_ = false;
  bool failed_ = false;
  bool stopping_ = false;
  int running_ = 0;
  std::uint64_t held_bytes_ = 0;  // arena bytes of the results held here
  std::vector<std::thread> threads_;
};

}  // namespace tessera::mpi
