// Which result leaves memory first under a memory limit (docs/memory.md), one rule for every executor: the
// one needed furthest in the future (Belady's rule), since the plan order is the order tasks run in: a
// result's next reader's plan number says when it is needed. Results kept only as outputs are needed at the
// very end (kNever). The executors decide what may go (encodable, no output, no reader running or assigned)
// and when a result's next reader changes; this decides the order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <set>
#include <span>
#include <utility>
#include <vector>

namespace tessera::detail {

class SpillCandidates {
 public:
  static constexpr std::uint32_t kNever = 0xFFFFFFFFu;  // no reader left: needed only as an output

  // Results are plan task numbers below `tasks`.
  explicit SpillCandidates(std::uint32_t tasks = 0) : key_(tasks, kAbsent) {}

  // Result r may leave memory; it is next read by plan task `next_reader` (kNever: by none). Replaces r's
  // earlier entry.
  void add(std::uint32_t r, std::uint32_t next_reader) {
    remove(r);
    key_[r] = next_reader;
    order_.emplace(next_reader, r);
  }
  // Result r may not leave memory (any more): released, being read, already out.
  void remove(std::uint32_t r) {
    if (key_[r] == kAbsent) return;
    order_.erase({key_[r], r});
    key_[r] = kAbsent;
  }
  bool contains(std::uint32_t r) const { return key_[r] != kAbsent; }
  bool empty() const noexcept { return order_.empty(); }
  std::size_t size() const noexcept { return order_.size(); }
  // The result needed furthest in the future (ties: the higher task number), taken out of the candidates.
  std::uint32_t take_victim() {
    const std::uint32_t r = std::prev(order_.end())->second;
    order_.erase(std::prev(order_.end()));
    key_[r] = kAbsent;
    return r;
  }

  // The first of `readers` (plan numbers, ascending) after plan task `after`, or kNever.
  static std::uint32_t next_reader(std::span<const std::uint32_t> readers, std::uint32_t after) {
    auto it = std::upper_bound(readers.begin(), readers.end(), after);
    return it == readers.end() ? kNever : *it;
  }
  // A batch of (next reader, result) pairs put in the order take_victim() would give them (for a caller that
  // decides anew each time from what it holds, as the MPI scheduler does per worker).
  static void order_victims(std::vector<std::pair<std::uint32_t, std::uint32_t>>& batch) {
    std::sort(batch.begin(), batch.end(), std::greater<>());
  }

 private:
  static constexpr std::uint32_t kAbsent = 0xFFFFFFFEu;
  std::vector<std::uint32_t> key_;                           // per result: its next reader, or kAbsent
  std::set<std::pair<std::uint32_t, std::uint32_t>> order_;  // (next reader, result)
};

}  // namespace tessera::detail
