// Bounded samples of what a run goes through: series at a fixed interval, reservoirs past a cap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera::detail {

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

}  // namespace tessera::detail
