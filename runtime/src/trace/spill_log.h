// Spill files written and read back during a run, for the trace.
#pragma once

#include <cstdint>
#include <mutex>

#include "clock.h"
#include "sampling.h"
#include "tessera/runtime/trace.h"

namespace tessera::detail {

struct RankRecording;

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

}  // namespace tessera::detail
