// Recording inside the executors: a cheap clock, one event buffer per compute thread, samplers, and the step
// that turns what the ranks recorded into a RunTrace (on rank 0, where the graph names the tasks).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"
#include "tessera/runtime/value.h"

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
  std::uint32_t task;
  std::int32_t thread;
  std::uint64_t start;  // ticks
  std::uint64_t end;
  std::uint64_t bytes;
};

// One compute thread's events; only that thread touches it until the run ends. Below the cap it appends;
// past it, it folds every event into per-name totals (exact) and keeps a uniform reservoir sample.
class ThreadRecorder {
 public:
  void begin(const Graph& graph, const Plan& plan, int thread, std::size_t cap, std::size_t expected);

  void task(std::uint32_t p, std::uint64_t start, std::uint64_t end, std::uint64_t bytes) {
    ++seen_;
    if (events_.size() < cap_) {
      events_.push_back(RawTask{p, thread_, start, end, bytes});
      return;
    }
    overflow(RawTask{p, thread_, start, end, bytes});
  }
  void idle(std::uint64_t t) noexcept { idle_ += t; }

  // After the run: the thread's events with start/end converted to nanoseconds since the scale's origin (in
  // time order unless sampled), whether they are a sample, the exact totals by key name when they are (else
  // empty: the events are every task), and the thread's time. The event buffer is lent out: hand it back with
  // restore() so the next run reuses its memory.
  struct Result {
    std::vector<RawTask> events;
    bool sampled = false;
    std::unordered_map<std::string, KindTotals> totals;
    ThreadTime time;
  };
  Result finish(const TickScale& scale, int rank);
  void restore(std::vector<RawTask>&& events) {
    if (events.capacity() > events_.capacity()) {
      events.clear();
      events_ = std::move(events);
    }
  }

 private:
  void overflow(const RawTask& e);
  void fold(const RawTask& e);

  const Graph* graph_ = nullptr;
  const Plan* plan_ = nullptr;
  std::int32_t thread_ = 0;
  std::size_t cap_ = 0;
  std::uint64_t seen_ = 0;
  std::uint64_t idle_ = 0;
  std::uint64_t rng_ = 0;
  bool folded_ = false;
  double seconds_per_tick_ = 0;  // for folding past the cap (the first run's estimate)
  std::vector<RawTask> events_;
  std::unordered_map<const char*, KindTotals> by_name_;  // keyed by the graph's interned name
  const char* last_name_ = nullptr;
  KindTotals* last_totals_ = nullptr;
};

// A series sampled at a fixed interval that halves its resolution past 4096 samples.
template <class T>
class SampleSeries {
 public:
  explicit SampleSeries(double interval = 0.02) : interval_(interval) {}
  bool due(double t) const noexcept { return t >= next_; }
  void add(double t, const T& v) {
    samples_.push_back(v);
    next_ = t + interval_;
    if (samples_.size() > kMax) {
      std::size_t j = 0;
      for (std::size_t i = 0; i < samples_.size(); i += 2) samples_[j++] = samples_[i];
      samples_.resize(j);
      interval_ *= 2;
    }
  }
  std::vector<T>& samples() noexcept { return samples_; }

 private:
  static constexpr std::size_t kMax = 4096;
  double interval_;
  double next_ = 0;
  std::vector<T> samples_;
};

// "2026-11-30T00:39:31Z".
std::string iso_time_now();
// SLURM_JOB_ID, or empty.
std::string slurm_job_id();

// This process's resident bytes and CPU seconds now.
ResourceSample sample_resources(int rank, double time, std::uint64_t live_bytes);

// What one rank recorded.
struct RankRecording {
  std::int32_t rank = 0;
  // One list per compute thread, start/end in nanoseconds since the origin, in time order unless sampled.
  std::vector<std::vector<RawTask>> tasks;
  std::vector<std::uint8_t> sampled;  // per list: a sample, whose tasks are counted in `totals` instead
  std::vector<std::pair<std::string, KindTotals>> totals;  // of the sampled lists, by key name
  bool transfers_sampled = false;
  std::vector<TransferEvent> transfers;
  std::vector<ResourceSample> resources;
  std::vector<ThreadTime> thread_times;
};

// Takes the thread recorders' events (hand them back with give_back() after assemble()).
RankRecording collect(std::vector<ThreadRecorder>& threads, const TickScale& scale, int rank);
void give_back(std::vector<ThreadRecorder>& threads, RankRecording& recording);

// Names every recorded task from the graph, totals tasks by kind, sorts, and fills where time went. `trace`
// already carries the configuration, seconds, scheduler samples and bytes_between. Leaves the task lists
// empty (their memory is kept for give_back).
void assemble(RunTrace& trace, const Graph& graph, const Plan& plan, std::vector<RankRecording>& ranks);

// Reservoir sampling past a cap, for transfers (one comm thread per worker).
template <class T>
class Reservoir {
 public:
  explicit Reservoir(std::size_t cap = 0) : cap_(cap) {}
  void add(const T& v) {
    ++seen_;
    if (items_.size() < cap_) {
      items_.push_back(v);
      return;
    }
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    const std::uint64_t j = rng_ % seen_;
    if (j < cap_) items_[j] = v;
  }
  bool sampled() const noexcept { return seen_ > items_.size(); }
  std::vector<T>& items() noexcept { return items_; }

 private:
  std::size_t cap_;
  std::uint64_t seen_ = 0;
  std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
  std::vector<T> items_;
};

// Calls `fn` about every `seconds` on its own thread until stopped (or destroyed).
class Ticker {
 public:
  Ticker() = default;
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker() { stop(); }
  void start(double seconds, std::function<void()> fn);
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tessera::detail
