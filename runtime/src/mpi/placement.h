// Where the MPI scheduler runs a ready task that reads results held by workers: a pure decision, kept apart
// from the scheduling core so that it can be tested on its own (tests/runtime/placement_test.cc).
//
// Moving bytes within a node (shared memory, RMA) is cheap; moving them between nodes crosses the network.
// So the task goes to the node holding most of its input bytes, and there to the worker holding most of
// them, unless that worker is overloaded (about twice the work it should have queued): then to the least
// occupied worker with room on the same node, and only when the whole node is full to the least occupied
// worker anywhere. On one node this is the worker holding most input bytes, else the least occupied one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

namespace tessera::detail {

// The least occupied worker with room, found in O(log workers) instead of a scan of every worker (a scan per
// placement cost rank 0 0.5-1.5 us a task with 4,096 workers; docs/design.md, "Scheduler at scale"). A
// segment tree over the workers sorted by (node, rank), so that each node's workers form one range; each
// leaf holds (occupancy, worker index) when the worker has room, else nothing. Changes are marked and the
// tree is brought up to date when asked (a worker changing many times between two questions costs one
// update).
class OccupancyIndex {
 public:
  OccupancyIndex() = default;
  // node[i]: the node id of worker index i (rank - 1).
  explicit OccupancyIndex(std::span<const int> node) {
    const std::size_t n = node.size();
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) {
      return node[static_cast<std::size_t>(a)] < node[static_cast<std::size_t>(b)];
    });
    position_.resize(n);
    for (std::size_t p = 0; p < n; ++p) position_[static_cast<std::size_t>(order_[p])] = p;
    for (std::size_t p = 0; p < n; ++p) {
      const int id = node[static_cast<std::size_t>(order_[p])];
      if (ranges_.empty() || ranges_.back().node != id) ranges_.push_back(Range{id, p, p});
      ranges_.back().end = p + 1;
    }
    std::sort(ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) { return a.node < b.node; });
    leaves_ = 1;
    while (leaves_ < n) leaves_ *= 2;
    tree_.assign(2 * leaves_, kEmpty);
    dirty_flag_.assign(n, 0);
  }

  bool empty() const noexcept { return order_.empty(); }
  // Worker index i's occupancy or capacity changed.
  void touch(std::size_t i) {
    if (dirty_flag_[i]) return;
    dirty_flag_[i] = 1;
    dirty_.push_back(i);
  }
  // The least occupied worker rank with room, on `node` unless it is -1; -1 when there is none. Ties go to
  // the lowest rank.
  int least_occupied(std::span<const int> occupancy, std::span<const std::uint8_t> room, int node) {
    refresh(occupancy, room);
    std::uint64_t best = kEmpty;
    if (node < 0) {
      best = tree_[1];
    } else {
      auto it = std::lower_bound(ranges_.begin(), ranges_.end(), node,
                                 [](const Range& r, int id) { return r.node < id; });
      if (it == ranges_.end() || it->node != node) return -1;
      for (std::size_t lo = it->begin + leaves_, hi = it->end + leaves_; lo < hi; lo /= 2, hi /= 2) {
        if (lo & 1) best = std::min(best, tree_[lo++]);
        if (hi & 1) best = std::min(best, tree_[--hi]);
      }
    }
    return best == kEmpty ? -1 : static_cast<int>(best & 0xFFFFFFFFu) + 1;
  }

 private:
  static constexpr std::uint64_t kEmpty = std::numeric_limits<std::uint64_t>::max();
  struct Range {
    int node;
    std::size_t begin;
    std::size_t end;
  };
  void refresh(std::span<const int> occupancy, std::span<const std::uint8_t> room) {
    for (std::size_t i : dirty_) {
      dirty_flag_[i] = 0;
      std::size_t p = position_[i] + leaves_;
      // Occupancy never goes below zero; the offset keeps the order of (occupancy, index) in 64 bits.
      tree_[p] =
          room[i]
              ? (static_cast<std::uint64_t>(static_cast<std::uint32_t>(occupancy[i]) + 0x80000000u) << 32) | i
              : kEmpty;
      for (p /= 2; p >= 1; p /= 2) tree_[p] = std::min(tree_[2 * p], tree_[2 * p + 1]);
    }
    dirty_.clear();
  }

  std::vector<int> order_;             // worker indexes sorted by (node, rank)
  std::vector<std::size_t> position_;  // by worker index: its place in order_
  std::vector<Range> ranges_;          // each node's place in order_, by node id
  std::size_t leaves_ = 0;
  std::vector<std::uint64_t> tree_;
  std::vector<std::size_t> dirty_;
  std::vector<std::uint8_t> dirty_flag_;
};

struct WorkerLoads {
  std::span<const int> occupancy;      // assigned, runnable, unfinished tasks, by worker index (rank - 1)
  std::span<const std::uint8_t> room;  // 1: the worker takes more tasks
  std::span<const std::uint8_t> overloaded;  // 1: even a task whose inputs it holds should go elsewhere
  std::span<const int> node;                 // a node id (the node's lowest rank) by worker index
  OccupancyIndex* index = nullptr;  // when given, answers least_occupied_on (kept up to date by the caller)
};

// The least occupied worker rank with room (occupancy < capacity), restricted to `node` unless it is -1;
// -1 when there is none. Ties go to the lowest rank.
inline int least_occupied_on(const WorkerLoads& loads, int node) {
  if (loads.index != nullptr) return loads.index->least_occupied(loads.occupancy, loads.room, node);
  int best = -1;
  for (std::size_t i = 0; i < loads.occupancy.size(); ++i) {
    if (node >= 0 && loads.node[i] != node) continue;
    if (!loads.room[i]) continue;
    if (best < 0 || loads.occupancy[i] < loads.occupancy[static_cast<std::size_t>(best)]) {
      best = static_cast<int>(i);
    }
  }
  return best < 0 ? -1 : best + 1;
}

// held: (worker rank, input bytes it holds) for the task's inputs, each rank once, in a stable order.
// Returns the worker rank to run on, or -1 when every worker is full (wait for room).
inline int place_by_inputs(std::span<const std::pair<int, std::uint64_t>> held, const WorkerLoads& loads) {
  if (held.empty()) return least_occupied_on(loads, -1);
  auto wi = [](int rank) { return static_cast<std::size_t>(rank - 1); };
  // Bytes per node; few holders, so a linear scan beats a map.
  std::uint64_t best_node_bytes = 0;
  int best_node = -1;
  for (const auto& [w, b] : held) {
    const int n = loads.node[wi(w)];
    std::uint64_t total = 0;
    for (const auto& [v, c] : held) {
      if (loads.node[wi(v)] == n) total += c;
    }
    if (total > best_node_bytes) {
      best_node_bytes = total;
      best_node = n;
    }
  }
  int best = -1;
  std::uint64_t best_bytes = 0;
  for (const auto& [w, b] : held) {
    if (loads.node[wi(w)] != best_node) continue;
    if (b > best_bytes || (b == best_bytes && loads.occupancy[wi(w)] < loads.occupancy[wi(best)])) {
      best = w;
      best_bytes = b;
    }
  }
  if (best > 0 && !loads.overloaded[wi(best)]) return best;
  const int here = least_occupied_on(loads, best_node);
  return here > 0 ? here : least_occupied_on(loads, -1);
}

}  // namespace tessera::detail
