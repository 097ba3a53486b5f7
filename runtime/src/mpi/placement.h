// Where the MPI scheduler runs a ready task that reads results held by workers: a pure decision, kept apart
// from the scheduler's MPI plumbing so that it can be tested on its own (tests/runtime/placement_test.cc).
//
// Moving bytes within a node (shared memory, RMA) is cheap; moving them between nodes crosses the network.
// So the task goes to the node holding most of its input bytes, and there to the worker holding most of
// them, unless that worker is overloaded (twice its capacity of assigned tasks): then to the least occupied
// worker with room on the same node, and only when the whole node is full to the least occupied worker
// anywhere. On one node this is the worker holding most input bytes, else the least occupied one.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace tessera::detail {

struct WorkerLoads {
  std::span<const int> occupancy;  // assigned, unfinished tasks, by worker index (rank - 1)
  std::span<const int> capacity;   // tasks a worker may hold before it counts as full
  std::span<const int> node;       // a node id (the node's lowest rank) by worker index
};

// The least occupied worker rank with room (occupancy < capacity), restricted to `node` unless it is -1;
// -1 when there is none. Ties go to the lowest rank.
inline int least_occupied_on(const WorkerLoads& loads, int node) {
  int best = -1;
  for (std::size_t i = 0; i < loads.occupancy.size(); ++i) {
    if (node >= 0 && loads.node[i] != node) continue;
    if (loads.occupancy[i] >= loads.capacity[i]) continue;
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
  if (best > 0 && loads.occupancy[wi(best)] < 2 * loads.capacity[wi(best)]) return best;
  const int here = least_occupied_on(loads, best_node);
  return here > 0 ? here : least_occupied_on(loads, -1);
}

}  // namespace tessera::detail
