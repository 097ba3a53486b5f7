// A run's state while it goes on, for a view on another thread (a dashboard): the executor publishes
// immutable snapshots (ProgressOptions::live); readers take the latest one whenever they like. Publishing
// happens at most once per ProgressOptions::seconds from a runtime thread that is never a compute thread (the
// thread pool's sampler, the sync executor's loop between tasks, the MPI scheduler's loop on rank 0), and
// once more when a run ends; a reader only copies a pointer under a lock, so however many readers poll, the
// run does not wait.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/runtime/trace.h"

namespace tessera {

// One row of the worker table: a worker rank under MPI, the whole pool for the local executors.
struct WorkerRow {
  std::int32_t rank = 0;  // 0 for the local executors
  int threads = 0;
  std::string binding;             // where it runs (MPI), else empty
  std::uint64_t tasks_done = 0;    // plan tasks it finished in this run
  std::uint64_t tasks_queued = 0;  // MPI: assigned with their inputs finished, not finished (running or
                                   // waiting for a thread); local: ready tasks in the pool's queues
  double queued_seconds = 0;       // MPI: their expected run time (the scheduler's estimate)
  std::uint64_t bytes_held = 0;    // MPI with a memory limit: result bytes it holds, as the scheduler counts
  // MPI: summed run time of its finished tasks, as it reported them; 0 where unknown.
  double busy_seconds = 0;
  std::string node;  // its host's name (MPI), else empty
};

// A task the observer learnt had finished.
struct RecentTask {
  std::uint32_t task = 0;  // plan task number
  std::uint32_t name = 0;  // index into LiveSnapshot::names (the key's name)
  std::int32_t rank = 0;   // the worker that ran it (0 for the local executors)
  double end = 0;      // seconds since the run started: when the observer learnt of it (MPI: rank 0 handled
                       // its completion; local: the sample after it finished)
  double seconds = 0;  // its run time as its worker measured it (MPI); 0 where unknown (local)
  std::uint64_t bytes = 0;  // encoded result bytes (MPI); 0 where unknown
};

struct LiveSnapshot {
  std::string executor;                    // "threads", "sync", "mpi"
  std::uint64_t run = 0;                   // runs of this executor so far, this one included
  bool finished = false;                   // the run ended successfully (the last snapshot of a run)
  Progress progress;                       // tasks, bytes, elapsed seconds, progress groups
  std::vector<SchedulerSample> scheduler;  // the run's scheduler samples so far (when recording)
  // Tasks done per progress group at each scheduler sample (when recording and the graph has groups):
  // group_done[i][g] at scheduler[i].time, groups as in progress.groups.
  std::vector<std::vector<std::uint64_t>> group_done;
  std::vector<ResourceSample> resources;  // this process's memory/CPU samples so far (rank 0's under MPI)
  std::vector<WorkerRow> workers;
  std::uint64_t bytes_spilled = 0;    // written to spill files so far (local executors; 0 where unknown)
  std::uint64_t bytes_unspilled = 0;  // read back from them so far
  std::vector<std::string> names;     // the graph's key names (RecentTask::name)
  std::vector<RecentTask> recent;     // the latest finished tasks, oldest first, at most LiveView::kRecent
};

// Where an executor publishes LiveSnapshots (ProgressOptions::live); thread-safe. Share one between a run and
// the view that reads it.
class LiveView {
 public:
  static constexpr std::size_t kRecent = 4096;  // finished tasks a snapshot lists at most

  // The latest snapshot, or null before the first one. Any thread, any time; the snapshot stays valid as long
  // as the caller holds it.
  std::shared_ptr<const LiveSnapshot> latest() const {
    std::lock_guard lock(mu_);
    return latest_;
  }
  // Snapshots published so far (a reader can tell whether anything changed without taking one).
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }
  // Called by executors.
  void publish(std::shared_ptr<const LiveSnapshot> snapshot) {
    {
      std::lock_guard lock(mu_);
      latest_.swap(snapshot);
    }
    version_.fetch_add(1, std::memory_order_release);
    // The previous snapshot is freed here, outside the lock (or by its last reader).
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const LiveSnapshot> latest_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace tessera
