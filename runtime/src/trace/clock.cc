#include "clock.h"

namespace tessera::detail {

namespace {

struct FirstReading {
  std::uint64_t ticks;
  TraceClock::time_point time;
};

const FirstReading& first_reading() {
  static const FirstReading first{ticks(), TraceClock::now()};
  return first;
}

}  // namespace

void TickScale::start() noexcept {
  (void)first_reading();
  origin_time = TraceClock::now();
  origin = ticks();
}

void TickScale::finish() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  const std::uint64_t t = ticks();
  const TraceClock::time_point now = TraceClock::now();
  const FirstReading& first = first_reading();
  const double since_first = std::chrono::duration<double>(now - first.time).count();
  const double since_origin = std::chrono::duration<double>(now - origin_time).count();
  if (since_first >= since_origin && since_first > 1e-4 && t > first.ticks) {
    seconds_per_tick = since_first / static_cast<double>(t - first.ticks);
  } else if (since_origin > 1e-6 && t > origin) {
    seconds_per_tick = since_origin / static_cast<double>(t - origin);
  }
#endif
}

}  // namespace tessera::detail
