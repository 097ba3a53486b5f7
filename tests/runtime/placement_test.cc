// The MPI scheduler's placement decision (runtime/src/mpi/placement.h): node first, then the holder of most
// input bytes, then room on the same node, then room anywhere.
#include "../../runtime/src/mpi/placement.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace tessera::detail {
namespace {

using Held = std::vector<std::pair<int, std::uint64_t>>;

// Workers with a capacity in tasks: room below it, overloaded at twice it.
struct Cluster {
  std::vector<int> occupancy;
  std::vector<int> capacity;
  std::vector<int> node;
  std::vector<std::uint8_t> room;
  std::vector<std::uint8_t> overloaded;
  WorkerLoads loads() {
    room.clear();
    overloaded.clear();
    for (std::size_t i = 0; i < occupancy.size(); ++i) {
      room.push_back(occupancy[i] < capacity[i]);
      overloaded.push_back(occupancy[i] >= 2 * capacity[i]);
    }
    return {occupancy, room, overloaded, node};
  }
};

TEST(Placement, OneNodeGoesToTheWorkerHoldingMostBytes) {
  Cluster c{{0, 0, 0}, {4, 4, 4}, {0, 0, 0}};
  EXPECT_EQ(place_by_inputs(Held{{1, 10}, {2, 30}, {3, 20}}, c.loads()), 2);
  // Equal bytes: the less occupied holder.
  c.occupancy = {3, 1, 0};
  EXPECT_EQ(place_by_inputs(Held{{1, 10}, {2, 10}}, c.loads()), 2);
}

TEST(Placement, NodeHoldingMostBytesWinsOverTheSingleLargestHolder) {
  // Worker 1 alone on node 0 holds 30; workers 2 and 3 on node 2 hold 20 each: moving 30 across the network
  // beats moving 40, so the task runs on node 2, on its larger holder (then the less occupied one).
  Cluster c{{0, 0, 0}, {4, 4, 4}, {0, 2, 2}};
  EXPECT_EQ(place_by_inputs(Held{{1, 30}, {2, 20}, {3, 25}}, c.loads()), 3);
  c.occupancy = {0, 2, 1};
  EXPECT_EQ(place_by_inputs(Held{{1, 30}, {2, 20}, {3, 20}}, c.loads()), 3);
  // Without the node split, the largest holder.
  c.node = {0, 0, 0};
  EXPECT_EQ(place_by_inputs(Held{{1, 30}, {2, 20}, {3, 20}}, c.loads()), 1);
}

TEST(Placement, OverloadedHolderGivesWayToItsOwnNodeFirst) {
  // Worker 2 (node 2) holds everything but is at twice its capacity. Worker 1 (node 0) is idle, worker 4
  // (node 2) has room though busier: the same node wins.
  Cluster c{{0, 8, 4, 3}, {4, 4, 4, 4}, {0, 2, 2, 2}};
  EXPECT_EQ(place_by_inputs(Held{{2, 100}}, c.loads()), 4);
  // Below twice its capacity the holder itself still takes it.
  c.occupancy = {0, 7, 4, 3};
  EXPECT_EQ(place_by_inputs(Held{{2, 100}}, c.loads()), 2);
  // The whole node full: the least occupied worker anywhere with room.
  c.occupancy = {2, 8, 4, 4};
  EXPECT_EQ(place_by_inputs(Held{{2, 100}}, c.loads()), 1);
  // Nobody has room: wait.
  c.occupancy = {4, 8, 4, 4};
  EXPECT_EQ(place_by_inputs(Held{{2, 100}}, c.loads()), -1);
}

TEST(Placement, NoInputsGoToTheLeastOccupiedWorker) {
  Cluster c{{2, 1, 3}, {4, 4, 4}, {0, 2, 2}};
  EXPECT_EQ(place_by_inputs(Held{}, c.loads()), 2);
  EXPECT_EQ(least_occupied_on(c.loads(), 0), 1);
  EXPECT_EQ(least_occupied_on(c.loads(), 7), -1);
}

TEST(Placement, TheOccupancyIndexAgreesWithAScanOfEveryWorker) {
  // Random clusters (nodes of varying size, ranks of a node not contiguous), random loads changing over
  // time: the index must name the same worker as the scan, for every node and for the whole cluster.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    const int workers = 1 + static_cast<int>(rng() % 70);
    Cluster c;
    for (int i = 0; i < workers; ++i) {
      c.node.push_back(static_cast<int>(rng() % 5) * 10);
      c.capacity.push_back(2 + static_cast<int>(rng() % 6));
      c.occupancy.push_back(static_cast<int>(rng() % 9));
    }
    OccupancyIndex index(c.node);
    for (int i = 0; i < workers; ++i) index.touch(static_cast<std::size_t>(i));
    for (int step = 0; step < 60; ++step) {
      const auto i = static_cast<std::size_t>(rng() % static_cast<unsigned>(workers));
      if (rng() % 3 == 0) {
        c.capacity[i] = 2 + static_cast<int>(rng() % 6);
      } else {
        c.occupancy[i] = std::max(0, c.occupancy[i] + static_cast<int>(rng() % 3) - 1);
      }
      index.touch(i);
      WorkerLoads scan = c.loads();
      WorkerLoads fast = scan;
      fast.index = &index;
      for (int node : {-1, 0, 10, 20, 30, 40, 7}) {
        ASSERT_EQ(least_occupied_on(fast, node), least_occupied_on(scan, node))
            << "trial " << trial << " step " << step << " node " << node;
      }
    }
  }
}

}  // namespace
}  // namespace tessera::detail
