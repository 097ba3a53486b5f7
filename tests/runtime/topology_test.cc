#include "tessera/runtime/topology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sched.h>

#include <set>

#include "tessera/runtime/error.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;

std::vector<int> range(int lo, int hi) {
  std::vector<int> v;
  for (int i = lo; i < hi; ++i) v.push_back(i);
  return v;
}

// 2 packages x 2 NUMA domains x 4 cores: cores 0-3 in NUMA 0, 4-7 in NUMA 1, 8-11 in NUMA 2, 12-15 in NUMA 3.
Topology two_sockets() {
  return Topology::synthetic("pack:2 numa:2 core:4 pu:1");
}

TEST(Topology, ReadsASyntheticMachine) {
  Topology t = two_sockets();
  EXPECT_EQ(t.numa_domains(), 4);
  EXPECT_EQ(t.cores(), 16);
  EXPECT_THAT(t.summary(), ::testing::HasSubstr("2 packages, 4 NUMA domains, 16 cores, 16 PUs"));
}

TEST(Topology, OneWorkerTakesTheWholeNode) {
  WorkerBinding b = two_sockets().place(0, 1);
  EXPECT_THAT(b.numa_domains, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(b.cores, range(0, 16));
  EXPECT_EQ(b.describe(), "NUMA 0-3, cores 0-15 (16)");
}

TEST(Topology, TwoWorkersTakeOneSocketEach) {
  Topology t = two_sockets();
  EXPECT_THAT(t.place(0, 2).numa_domains, ElementsAre(0, 1));
  EXPECT_EQ(t.place(0, 2).cores, range(0, 8));
  EXPECT_THAT(t.place(1, 2).numa_domains, ElementsAre(2, 3));
  EXPECT_EQ(t.place(1, 2).cores, range(8, 16));
}

TEST(Topology, FourWorkersTakeOneNumaDomainEach) {
  Topology t = two_sockets();
  for (int w = 0; w < 4; ++w) {
    WorkerBinding b = t.place(w, 4);
    EXPECT_THAT(b.numa_domains, ElementsAre(w));
    EXPECT_EQ(b.cores, range(4 * w, 4 * w + 4));
  }
}

TEST(Topology, EightWorkersShareDomainsWithoutSharingCores) {
  Topology t = two_sockets();
  std::set<int> used;
  for (int w = 0; w < 8; ++w) {
    WorkerBinding b = t.place(w, 8);
    EXPECT_THAT(b.numa_domains, ElementsAre(w / 2)) << "worker " << w;
    EXPECT_EQ(b.cores, range(2 * w, 2 * w + 2)) << "worker " << w;
    used.insert(b.cores.begin(), b.cores.end());
  }
  EXPECT_EQ(used.size(), 16u);
}

TEST(Topology, UnevenCountsStillCoverEveryCoreOnce) {
  Topology t = two_sockets();
  for (int workers : {3, 5, 6, 7, 16}) {
    std::multiset<int> used;
    for (int w = 0; w < workers; ++w) {
      WorkerBinding b = t.place(w, workers);
      ASSERT_FALSE(b.cores.empty());
      ASSERT_EQ(b.numa_domains.size(), workers >= 4 ? 1u : b.numa_domains.size());
      used.insert(b.cores.begin(), b.cores.end());
    }
    EXPECT_EQ(used.size(), 16u) << workers << " workers";
    EXPECT_EQ(std::set<int>(used.begin(), used.end()).size(), 16u) << workers << " workers";
  }
}

TEST(Topology, MoreWorkersThanCoresShareCores) {
  Topology t = Topology::synthetic("numa:1 core:2 pu:1");
  std::vector<int> cores;
  for (int w = 0; w < 5; ++w) {
    WorkerBinding b = t.place(w, 5);
    ASSERT_EQ(b.cores.size(), 1u);
    cores.push_back(b.cores[0]);
  }
  EXPECT_EQ(std::set<int>(cores.begin(), cores.end()), (std::set<int>{0, 1}));
}

TEST(Topology, HyperthreadsPinToTheFirstPuOfEachCore) {
  Topology t = Topology::synthetic("pack:1 numa:2 core:2 pu:2");
  EXPECT_EQ(t.place(0, 2).cores, (std::vector<int>{0, 2}));
  EXPECT_EQ(t.place(1, 2).cores, (std::vector<int>{4, 6}));
}

TEST(Topology, RejectsBadInput) {
  EXPECT_THROW(Topology::synthetic("this is not a topology"), Error);
  EXPECT_THROW(two_sockets().place(4, 4), Error);
  EXPECT_THROW(two_sockets().place(0, 0), Error);
  EXPECT_THROW(Topology::from_xml("/nonexistent/topology.xml"), Error);
}

TEST(Topology, ThisMachineRespectsTheAffinityMask) {
  Topology t = Topology::this_machine();
  EXPECT_GE(t.cores(), 1);
  EXPECT_LE(t.cores(), 1024);
  WorkerBinding b = t.place(0, 1);
  EXPECT_EQ(static_cast<int>(b.cores.size()), t.cores());
  EXPECT_TRUE(t.bind_thread(b.cores));
}

TEST(Topology, ThisMachineSeesOnlyTheCpusItMayUse) {
  // As under `taskset -c N` or an srun cpuset: only the allowed CPU is placed.
  cpu_set_t original;
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &original)) last = c;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(last, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  Topology t = Topology::this_machine();
  sched_setaffinity(0, sizeof(original), &original);
  EXPECT_EQ(t.cores(), 1);
  EXPECT_EQ(t.place(0, 1).cores, std::vector<int>{last});
}

TEST(FormatRanges, CollapsesRuns) {
  EXPECT_EQ(format_ranges({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(format_ranges({}), "");
  EXPECT_EQ(format_ranges({3}), "3");
}

}  // namespace
}  // namespace tessera
