// The recording clock: ticks (the TSC where there is one) and their conversion to seconds.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

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

}  // namespace tessera::detail
