// Two-sided control traffic: non-blocking sends that keep their buffers alive, polled receives, and the idle
// back-off used by the scheduler and worker loops.
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "mpi_env.h"
#include "protocol.h"

namespace tessera::mpi {

class Messenger {
 public:
  explicit Messenger(MPI_Comm comm) : comm_(comm) {}
  ~Messenger() { wait_all(); }
  Messenger(const Messenger&) = delete;
  Messenger& operator=(const Messenger&) = delete;

  void send(int dest, std::vector<std::byte>&& bytes) {
    pending_.push_back(Pending{std::move(bytes), MPI_REQUEST_NULL});
    Pending& p = pending_.back();
    TESSERA_MPI_CHECK(MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, dest, kControlTag,
                                comm_, &p.request));
    progress();
  }
  // Receives one waiting message, if any.
  bool poll(std::vector<std::byte>& out, int& source) {
    int flag = 0;
    MPI_Status status;
    TESSERA_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kControlTag, comm_, &flag, &status));
    if (!flag) return false;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    out.resize(static_cast<std::size_t>(count));
    TESSERA_MPI_CHECK(
        MPI_Recv(out.data(), count, MPI_BYTE, status.MPI_SOURCE, kControlTag, comm_, MPI_STATUS_IGNORE));
    source = status.MPI_SOURCE;
    return true;
  }
  // Whether every send completed (as far as the last progress() saw).
  bool idle() const noexcept { return pending_.empty(); }
  // Frees the buffers of sends that completed (in order: MPI completes sends to one peer in order anyway).
  void progress() {
    while (!pending_.empty()) {
      int done = 0;
      TESSERA_MPI_CHECK(MPI_Test(&pending_.front().request, &done, MPI_STATUS_IGNORE));
      if (!done) break;
      pending_.pop_front();
    }
  }
  void wait_all() noexcept {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    for (Pending& p : pending_) MPI_Wait(&p.request, MPI_STATUS_IGNORE);
    pending_.clear();
  }

 private:
  struct Pending {
    std::vector<std::byte> bytes;
    MPI_Request request;
  };
  MPI_Comm comm_;
  std::deque<Pending> pending_;
};

// Idle waiting that stays responsive while busy and gives the CPU away when idle: spin, then yield, then
// sleep in growing steps (capped), since ranks often share cores with compute threads.
class Backoff {
 public:
  // `max_sleep_us` bounds the reaction time once idle: lower it where a peer may be waiting for an answer.
  explicit Backoff(int max_sleep_us = 205) : max_step_(std::max(0, max_sleep_us - 5)) {}
  void reset() noexcept { idle_ = 0; }
  void pause() {
    if (const int us = step()) std::this_thread::sleep_for(std::chrono::microseconds(us));
  }
  // One idle round: spins or yields as pause() does and returns 0, or returns the microseconds pause() would
  // sleep, for a caller that sleeps in a way something else can cut short (a condition variable).
  int step() {
    ++idle_;
    if (idle_ < 32) return 0;
    if (idle_ < 256) {
      sched_yield();
      return 0;
    }
    return 5 + std::min(idle_ - 256, max_step_);
  }
  int idle() const noexcept { return idle_; }

 private:
  int max_step_;
  int idle_ = 0;
};

}  // namespace tessera::mpi
