#include "spill_log.h"

#include "pending_trace.h"

namespace tessera::detail {

void SpillLog::begin(std::size_t cap) {
  std::lock_guard lock(mu_);
  events_ = Reservoir<Raw>(cap);
  bytes_[0] = bytes_[1] = 0;
  seconds_[0] = seconds_[1] = 0;
}

void SpillLog::add(std::uint32_t task, TraceClock::time_point start, TraceClock::time_point end,
                   std::uint64_t bytes, bool read) {
  std::lock_guard lock(mu_);
  events_.add(Raw{task, read, start, end, bytes});
  bytes_[read ? 1 : 0] += bytes;
  seconds_[read ? 1 : 0] += std::chrono::duration<double>(end - start).count();
}

void SpillLog::take(TraceClock::time_point origin, RankRecording& into) {
  std::lock_guard lock(mu_);
  for (const Raw& r : events_.items()) {
    into.spills.push_back(SpillEvent{r.task, into.rank,
                                     std::chrono::duration<double>(r.start - origin).count(),
                                     std::chrono::duration<double>(r.end - origin).count(), r.bytes, r.read});
  }
  into.spills_sampled = events_.sampled();
  into.bytes_spilled = bytes_[0];
  into.bytes_unspilled = bytes_[1];
  into.spill_seconds = seconds_[0];
  into.unspill_seconds = seconds_[1];
  events_ = Reservoir<Raw>(0);
}

void SpillLog::take(TraceClock::time_point origin, RunTrace& into) {
  RankRecording spills;
  take(origin, spills);
  into.spills = std::move(spills.spills);
  into.spills_sampled = spills.spills_sampled;
  into.bytes_spilled = spills.bytes_spilled;
  into.bytes_unspilled = spills.bytes_unspilled;
  into.spill_seconds = spills.spill_seconds;
  into.unspill_seconds = spills.unspill_seconds;
}

}  // namespace tessera::detail
