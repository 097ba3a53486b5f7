// Rank 0's run: the scheduling core (scheduler_core.h) fed with the workers' messages and its orders sent,
// over MPI; samples and progress calls on the side.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../trace/clock.h"
#include "../trace/run_observer.h"
#include "messenger.h"
#include "mpi_env.h"
#include "protocol.h"
#include "scheduler_core.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/trace.h"

namespace tessera::mpi {

class Scheduler final : private SchedulerObserver {
 public:
  using Clock = std::chrono::steady_clock;

  // `observer`: null when nothing is recorded, reported or published; `bindings`: each rank's binding, for
  // the live view's worker table.
  Scheduler(const Graph& graph, const Plan& plan, MPI_Comm comm, SchedulerConfig config,
            detail::RunObserver* observer, const std::vector<std::string>& bindings,
            Clock::time_point origin);

  // Runs the plan to its end on every worker. A task's failure, a stop request or an error here ends the
  // run on every rank (the Outcome carries the error); a failing MPI call ends the job (MPI_Abort).
  Outcome run();
  // Host names by rank, for the live worker table (kept by the caller for the scheduler's life).
  void set_hosts(const std::vector<std::string>* hosts) noexcept { hosts_ = hosts; }

  // What rank 0 recorded (after run(); the observer's samples are taken when recording).
  struct Recording {
    std::vector<SchedulerSample> samples;
    std::vector<std::vector<std::uint64_t>> group_samples;  // done per progress group at each sample
    std::vector<GroupProgress> groups;                      // progress groups at the end (all done)
    std::vector<std::uint16_t> task_groups;                 // each plan task's group (when recording)
    std::vector<ResourceSample> resources;
    double busy_seconds = 0;
    std::uint64_t bytes_done = 0;
  };
  Recording take_recording();

  std::uint64_t peak_held_bytes() const noexcept { return core_.peak_held_bytes(); }
  std::uint64_t roots_withheld() const noexcept { return core_.roots_withheld(); }

 private:
  Outcome loop();
  Outcome finish();
  Outcome abort_all();
  void send_orders();
  void broadcast(const std::vector<std::byte>& message);
  void observe_loop(std::uint64_t iteration, bool active);
  void task_done(int worker_rank, std::uint32_t task, float seconds, std::uint64_t bytes) override;
  void worker_table(LiveSnapshot& snapshot) const;

  detail::RunObserver* const observer_;
  const std::vector<std::string>& bindings_;
  const std::vector<std::string>* hosts_ = nullptr;
  const Clock::time_point origin_;
  MPI_Comm comm_;
  Messenger msg_;
  SchedulerCore core_;
  std::uint64_t busy_ticks_ = 0;
  std::uint64_t rounds_ = 0;
  detail::TickScale busy_scale_;  // started with the scheduler
  double round_time_ = 0;         // with a live view: when the current round began (seconds since origin)
  std::vector<std::uint64_t> done_by_worker_;  // with a live view
  std::vector<double> busy_by_worker_;         // with a live view: summed task seconds each worker reported
};

}  // namespace tessera::mpi
