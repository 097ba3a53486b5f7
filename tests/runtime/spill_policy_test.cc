// The spill victim rule every executor uses (runtime/src/spill_policy.h): the result needed furthest in the
// future goes first.
#include "../../runtime/src/spill_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace tessera::detail {
namespace {

TEST(SpillPolicy, TheResultReadLastGoesFirstAndOutputsOnlyBeforeEverything) {
  SpillCandidates c(10);
  c.add(1, 7);
  c.add(2, 3);
  c.add(3, SpillCandidates::kNever);  // kept only as an output: needed at the very end
  c.add(4, 9);
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c.take_victim(), 3u);
  EXPECT_EQ(c.take_victim(), 4u);
  // A reader of 1 ran; its next one is earlier than 2's now.
  c.add(1, 2);
  EXPECT_EQ(c.take_victim(), 2u);
  EXPECT_TRUE(c.contains(1));
  c.remove(1);  // released
  EXPECT_FALSE(c.contains(1));
  EXPECT_TRUE(c.empty());
  c.remove(1);  // twice is harmless
}

TEST(SpillPolicy, TiesGoToTheLaterTask) {
  SpillCandidates c(10);
  c.add(5, 8);
  c.add(6, 8);
  EXPECT_EQ(c.take_victim(), 6u);
  EXPECT_EQ(c.take_victim(), 5u);
}

TEST(SpillPolicy, NextReaderIsTheFirstReaderAfterTheTaskThatJustRan) {
  const std::vector<std::uint32_t> readers = {3, 5, 9};
  EXPECT_EQ(SpillCandidates::next_reader(readers, 0), 3u);
  EXPECT_EQ(SpillCandidates::next_reader(readers, 3), 5u);
  EXPECT_EQ(SpillCandidates::next_reader(readers, 6), 9u);
  EXPECT_EQ(SpillCandidates::next_reader(readers, 9), SpillCandidates::kNever);
  EXPECT_EQ(SpillCandidates::next_reader({}, 0), SpillCandidates::kNever);
}

TEST(SpillPolicy, ABatchIsOrderedAsTakeVictimWouldTakeIt) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> batch = {{4, 1}, {9, 2}, {4, 7}, {0, 3}};
  SpillCandidates::order_victims(batch);
  SpillCandidates c(10);
  for (const auto& [next, r] : batch) c.add(r, next);
  for (const auto& [next, r] : batch) EXPECT_EQ(c.take_victim(), r);
}

}  // namespace
}  // namespace tessera::detail
