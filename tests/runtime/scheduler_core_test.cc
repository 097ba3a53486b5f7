// The MPI scheduler's decisions (runtime/src/mpi/scheduler_core.h) without MPI: completions go in as the
// workers' kComplete messages, the orders of each round come out as the protocol's messages and are decoded
// here.
#include "../../runtime/src/mpi/scheduler_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <vector>

#include "tessera/runtime/plan.h"
#include "test_graphs.h"

namespace tessera::mpi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Input {
  std::uint32_t dep = 0;
  int rank = 0;
  Location where;
  std::vector<std::byte> inline_bytes;
  bool pushed = false;
  bool is_inline() const { return !inline_bytes.empty(); }
};

struct Assignment {
  std::uint32_t task = 0;
  std::uint8_t flags = 0;
  std::vector<Input> inputs;
};

// One round's orders, decoded.
struct Round {
  std::vector<std::pair<int, Msg>> sent;  // (rank, kind) in send order
  std::map<int, std::vector<Assignment>> assigned;
  std::map<int, std::vector<std::uint32_t>> released;
  std::map<int, std::vector<std::pair<std::uint32_t, std::uint8_t>>> spilled;
  std::map<int, std::vector<std::pair<std::uint32_t, int>>> pushed;  // owner -> (result, reader)

  std::vector<std::uint32_t> tasks_of(int rank) const {
    std::vector<std::uint32_t> out;
    if (auto it = assigned.find(rank); it != assigned.end()) {
      for (const Assignment& a : it->second) out.push_back(a.task);
    }
    return out;
  }
  std::size_t assignments() const {
    std::size_t n = 0;
    for (const auto& [rank, list] : assigned) n += list.size();
    return n;
  }
};

Round decode(const std::vector<std::pair<int, std::vector<std::byte>>>& messages) {
  Round round;
  for (const auto& [rank, bytes] : messages) {
    WireReader r(bytes.data(), bytes.size());
    const auto kind = static_cast<Msg>(r.get<std::uint8_t>());
    round.sent.emplace_back(rank, kind);
    const auto n = r.get<std::uint32_t>();
    for (std::uint32_t i = 0; i < n; ++i) {
      switch (kind) {
        case Msg::kAssign: {
          Assignment a;
          std::vector<Remote> remotes;
          a.task = get_assignment(r, a.flags, remotes);
          for (const Remote& rem : remotes) {
            Input in{rem.dep, rem.rank, rem.where, {}, rem.pushed};
            if (rem.inline_bytes != nullptr)
              in.inline_bytes.assign(rem.inline_bytes, rem.inline_bytes + rem.where.bytes);
            a.inputs.push_back(std::move(in));
          }
          round.assigned[rank].push_back(std::move(a));
          break;
        }
        case Msg::kRelease:
          round.released[rank].push_back(r.get<std::uint32_t>());
          break;
        case Msg::kSpill: {
          const auto t = r.get<std::uint32_t>();
          round.spilled[rank].emplace_back(t, r.get<std::uint8_t>());
          break;
        }
        case Msg::kPush: {
          const auto t = r.get<std::uint32_t>();
          round.pushed[rank].emplace_back(t, r.get<std::int32_t>());
          break;
        }
        default:
          ADD_FAILURE() << "unexpected order " << static_cast<int>(kind);
          return round;
      }
    }
    EXPECT_TRUE(r.done()) << "trailing bytes in a message to rank " << rank;
  }
  return round;
}

// A graph, its plan and a scheduling core over `workers`, driven as the MPI loop drives it.
class Harness {
 public:
  Harness(Graph& graph, std::vector<TaskId> outputs, std::vector<WorkerShape> workers,
          SchedulerConfig config = {}, PlanOptions plan_options = {.cull = true, .fuse = false})
      : graph_(graph), plan_(Plan::build(graph, outputs, plan_options)) {
    config.workers = std::move(workers);
    core_ = std::make_unique<SchedulerCore>(graph_, plan_, std::move(config));
    for (std::uint32_t p = 0; p < plan_.size(); ++p) plan_of_[plan_.result_task(p)] = p;
  }

  SchedulerCore& core() { return *core_; }
  const Plan& plan() const { return plan_; }
  std::uint32_t p(TaskId t) const { return plan_of_.at(t); }

  // One round of the scheduler loop: schedule, then the orders.
  Round round() {
    core_->schedule();
    std::vector<std::pair<int, std::vector<std::byte>>> messages;
    core_->flush([&](int rank, std::vector<std::byte>&& m) { messages.emplace_back(rank, std::move(m)); });
    return decode(messages);
  }

  struct Done {
    std::uint32_t task;
    std::uint64_t bytes = 8;
    float seconds = 1e-3f;
    bool inline_result = false;
    std::vector<std::uint32_t> copies = {};
    std::uint8_t flags = 0;
  };
  // Worker `rank` reports tasks finished, in one kComplete message.
  void complete(int rank, const std::vector<Done>& done) {
    WireWriter w;
    w.put(static_cast<std::uint8_t>(Msg::kComplete));
    w.put(static_cast<std::uint32_t>(done.size()));
    for (const Done& d : done) {
      Location where{0x1000 + d.task, d.bytes, tag_, d.flags};
      std::vector<std::byte> payload(d.bytes, std::byte{static_cast<unsigned char>(d.task)});
      put_completion(w, d.task, where, d.inline_result ? payload.data() : nullptr, d.seconds, d.copies.data(),
                     d.copies.size());
    }
    core_->handle(w.bytes().data(), w.size(), rank);
  }
  void complete(int rank, std::uint32_t task, std::uint64_t bytes = 8) {
    complete(rank, {Done{task, bytes}});
  }

 private:
  Graph& graph_;
  Plan plan_;
  std::unique_ptr<SchedulerCore> core_;
  std::unordered_map<TaskId, std::uint32_t> plan_of_;
  const std::uint64_t tag_ = Value::of(std::int64_t{0}).ops()->tag;
};

std::vector<WorkerShape> one_node(int workers, int threads = 1) {
  return std::vector<WorkerShape>(static_cast<std::size_t>(workers), WorkerShape{threads, 1, 0});
}

// Finishes every assigned task of `round` on its worker, in order (those whose inputs are done), and returns
// the next round; repeats until the run is done. Returns the rounds it took.
int drain(Harness& h, Round round) {
  int rounds = 0;
  std::map<int, std::vector<std::uint32_t>> queued;
  while (!h.core().done()) {
    for (const auto& [rank, list] : round.assigned) {
      for (const Assignment& a : list) queued[rank].push_back(a.task);
    }
    bool any = false;
    for (auto& [rank, list] : queued) {
      // A worker runs what it holds in plan order; pre-assigned tasks wait for their local inputs, which
      // come earlier in the list.
      std::vector<Harness::Done> done;
      for (std::uint32_t t : list) done.push_back({t});
      if (!done.empty()) {
        h.complete(rank, done);
        any = true;
      }
      list.clear();
    }
    EXPECT_TRUE(any || h.core().done()) << "nothing to run and the run is not done";
    if (!any) break;
    round = h.round();
    ++rounds;
  }
  return rounds;
}

class SchedulerCoreTest : public ::testing::Test {
 protected:
  Graph g;
  KernelId k = g.kernel(testing::sum_plus_index_kernel());
};

TEST_F(SchedulerCoreTest, RootsGoInBlocksToOneWorkerUntilItIsFull) {
  // 12 independent roots, 3 workers of 2 threads, 2 tasks per thread before task times are known: 4 each.
  std::vector<TaskId> roots;
  const NameId name = g.name("root");
  for (int i = 0; i < 12; ++i) roots.push_back(g.add(name, {i}, k, {}));
  SchedulerConfig config;
  config.tasks_per_thread = 2;
  Harness h(g, roots, one_node(3, 2), config);
  Round r = h.round();
  ASSERT_EQ(r.assignments(), 12u);
  // Consecutive plan tasks (plan order) land on one worker until it is full.
  for (int rank = 1; rank <= 3; ++rank) {
    std::vector<std::uint32_t> got = r.tasks_of(rank);
    ASSERT_EQ(got.size(), 4u) << "rank " << rank;
    for (std::size_t i = 1; i < got.size(); ++i) EXPECT_EQ(got[i], got[i - 1] + 1);
  }
  EXPECT_EQ(h.core().occupancy(1), 4);
  EXPECT_EQ(h.core().in_flight(), 12u);
  EXPECT_EQ(h.core().ready(), 0u);
}

TEST_F(SchedulerCoreTest, AFullClusterWaitsForCompletions) {
  std::vector<TaskId> roots;
  const NameId name = g.name("root");
  for (int i = 0; i < 10; ++i) roots.push_back(g.add(name, {i}, k, {}));
  SchedulerConfig config;
  config.tasks_per_thread = 1;  // at least 2 tasks per thread
  Harness h(g, roots, one_node(2, 1), config);
  Round r = h.round();
  EXPECT_EQ(r.assignments(), 4u);
  EXPECT_EQ(h.core().ready(), 6u);
  EXPECT_TRUE(h.round().assigned.empty()) << "no room, no new assignment";
  h.complete(1, r.tasks_of(1)[0]);
  Round next = h.round();
  EXPECT_EQ(next.assignments(), 1u);
  EXPECT_EQ(next.tasks_of(1).size(), 1u) << "the worker that made room gets the next root";
}

TEST_F(SchedulerCoreTest, ChainsArePreassignedToOneWorkerInOneBatch) {
  std::vector<TaskId> ends = testing::add_chains(g, 1, 5, k);
  Harness h(g, ends, one_node(2));
  Round r = h.round();
  // The whole chain in the first round, to one worker: every link but the last has a single reader there,
  // so nothing is published for other workers (kLocalOnly).
  ASSERT_EQ(r.assignments(), 5u);
  ASSERT_EQ(r.assigned.size(), 1u);
  const std::vector<Assignment>& list = r.assigned.begin()->second;
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].flags, i + 1 < list.size() ? kLocalOnly : 0) << "link " << i;
    EXPECT_TRUE(list[i].inputs.empty());
  }
  // Only the first link is runnable: pre-assigned tasks count towards occupancy once their inputs are done.
  EXPECT_EQ(h.core().occupancy(r.assigned.begin()->first), 1);
  EXPECT_EQ(h.core().in_flight(), 5u);
}

TEST_F(SchedulerCoreTest, AReductionSubtreeJoinsTheWorkerOfItsLeaves) {
  // 16 leaves under two nodes under a root; two workers: each takes an even share of the leaves, 8
  // consecutive ones, and their node with them. The root reads both nodes: it waits.
  testing::Tree tree = testing::add_tree(g, 16, 8, k);
  SchedulerConfig config;
  config.tasks_per_thread = 16;
  Harness h(g, {tree.root}, one_node(2, 1), config);
  Round r = h.round();
  ASSERT_EQ(r.assignments(), 18u);
  for (int rank : {1, 2}) {
    const std::vector<Assignment>& list = r.assigned[rank];
    ASSERT_EQ(list.size(), 9u) << "rank " << rank;
    for (std::size_t i = 0; i + 1 < list.size(); ++i) {
      EXPECT_EQ(list[i + 1].task, list[i].task + 1) << "consecutive in plan order";
    }
    // The node joins with its last leaf, whose result therefore stays unpublished (the earlier leaves
    // were sent before the node's place was known).
    EXPECT_EQ(list[7].flags, kLocalOnly);
    EXPECT_EQ(list.back().flags, 0) << "the node's result goes to the root, elsewhere";
  }
  EXPECT_EQ(drain(h, r), 2) << "the root, then the finish";
  EXPECT_TRUE(h.core().done());
}

TEST_F(SchedulerCoreTest, AReadyTaskGoesToTheWorkerHoldingMostInputBytes) {
  const NameId name = g.name("t");
  // a and b pinned apart (rank hints); c reads both, d reads a (so c is no pre-assignment).
  const TaskId a = g.add(name, {0}, k, {}, TaskOptions{.rank = 1});
  const TaskId b = g.add(name, {1}, k, {}, TaskOptions{.rank = 2});
  const TaskId c = g.add(name, {2}, k, {a, b});
  const TaskId d = g.add(name, {3}, k, {a});
  Harness h(g, {c, d}, one_node(3, 1));
  Round r = h.round();
  const int rank_a = 1, rank_b = 2;
  ASSERT_THAT(r.tasks_of(rank_a), ElementsAre(h.p(a)));
  ASSERT_THAT(r.tasks_of(rank_b), ElementsAre(h.p(b)));
  h.complete(rank_a, h.p(a), 10);
  h.complete(rank_b, h.p(b), 1 << 20);
  Round next = h.round();
  std::vector<std::uint32_t> on_b = next.tasks_of(rank_b);
  EXPECT_NE(std::find(on_b.begin(), on_b.end(), h.p(c)), on_b.end()) << "c reads 1 MiB from b's worker";
  // c reads a from another worker: the assignment says where it is.
  const Assignment& ac = *std::find_if(next.assigned[rank_b].begin(), next.assigned[rank_b].end(),
                                       [&](const Assignment& x) { return x.task == h.p(c); });
  ASSERT_EQ(ac.inputs.size(), 1u);
  EXPECT_EQ(ac.inputs[0].dep, h.p(a));
  EXPECT_EQ(ac.inputs[0].rank, rank_a);
  EXPECT_EQ(ac.inputs[0].where.bytes, 10u);
  EXPECT_EQ(ac.inputs[0].where.address, 0x1000u + h.p(a));
}

TEST_F(SchedulerCoreTest, ResultsAreReleasedOnEveryHolderAfterTheirLastReader) {
  const NameId name = g.name("t");
  const TaskId a = g.add(name, {0}, k, {}, TaskOptions{.rank = 1});
  const TaskId b = g.add(name, {1}, k, {a}, TaskOptions{.rank = 1});
  const TaskId c = g.add(name, {2}, k, {a}, TaskOptions{.rank = 2});
  Harness h(g, {b, c}, one_node(2, 1));
  h.round();
  const int owner = 1, other = 2;
  h.complete(owner, h.p(a));
  Round r2 = h.round();
  ASSERT_THAT(r2.tasks_of(owner), ElementsAre(h.p(b)));
  ASSERT_THAT(r2.tasks_of(other), ElementsAre(h.p(c)));
  ASSERT_EQ(r2.assigned[other][0].inputs.size(), 1u) << "c reads a from its owner";
  // b finishes on the owner, c on the other worker, which now holds a fetched copy of a: a goes from both.
  h.complete(owner, h.p(b));
  EXPECT_TRUE(h.round().released.empty()) << "c still reads a";
  h.complete(other, {Harness::Done{h.p(c), 8, 1e-3f, false, {h.p(a)}}});
  Round r3 = h.round();
  EXPECT_THAT(r3.released[owner], ElementsAre(h.p(a)));
  EXPECT_THAT(r3.released[other], ElementsAre(h.p(a)));
  EXPECT_TRUE(h.core().done());
}

TEST_F(SchedulerCoreTest, SmallResultsTravelInlineOncePerWorker) {
  const NameId name = g.name("t");
  const TaskId a = g.add(name, {0}, k, {});
  std::vector<TaskId> readers;
  for (int i = 0; i < 6; ++i) readers.push_back(g.add(name, {i + 1}, k, {a}));
  SchedulerConfig config;
  config.tasks_per_thread = 1;  // room for 2: the owner takes 4 readers (twice that), then the other
  Harness h(g, readers, one_node(2, 1), config);
  Round r = h.round();
  const int owner = r.assigned.begin()->first;
  h.complete(owner, {Harness::Done{h.p(a), 16, 1e-3f, true}});
  Round r2 = h.round();
  const int other = owner == 1 ? 2 : 1;
  ASSERT_FALSE(r2.assigned[other].empty()) << "some reader goes to the other worker";
  int inline_copies = 0;
  for (const Assignment& x : r2.assigned[other]) {
    ASSERT_EQ(x.inputs.size(), 1u);
    if (x.inputs[0].is_inline()) {
      ++inline_copies;
      EXPECT_EQ(x.inputs[0].inline_bytes.size(), 16u);
      EXPECT_EQ(x.inputs[0].inline_bytes[0], std::byte{static_cast<unsigned char>(h.p(a))});
    }
  }
  EXPECT_EQ(inline_copies, 1) << "the bytes go with the first assignment to that worker only";
  for (const Assignment& x : r2.assigned[owner]) EXPECT_TRUE(x.inputs.empty()) << "the owner has it";
}

TEST_F(SchedulerCoreTest, SmallResultsArePushedBetweenTwoSidedWorkersBeforeTheAssignment) {
  const NameId name = g.name("t");
  const TaskId a = g.add(name, {0}, k, {});
  std::vector<TaskId> readers;
  for (int i = 0; i < 6; ++i) readers.push_back(g.add(name, {i + 1}, k, {a}));
  // Two nodes without RMA between them (rma_group -1).
  std::vector<WorkerShape> workers = {{1, 1, -1}, {1, 2, -1}};
  SchedulerConfig config;
  config.tasks_per_thread = 1;  // the owner takes 4 readers, the other worker 2
  Harness h(g, readers, workers, config);
  Round r = h.round();
  const int owner = r.assigned.begin()->first;
  const int other = owner == 1 ? 2 : 1;
  h.complete(owner, {Harness::Done{h.p(a), 4096}});  // not inline (the worker did not send the bytes)
  Round r2 = h.round();
  ASSERT_EQ(r2.assigned[owner].size(), 4u);
  ASSERT_EQ(r2.assigned[other].size(), 2u);
  // Once per reader worker, however many of its tasks read it.
  EXPECT_THAT(r2.pushed[owner], ElementsAre(std::make_pair(h.p(a), other)));
  ASSERT_EQ(r2.assigned[other][0].inputs.size(), 1u);
  EXPECT_TRUE(r2.assigned[other][0].inputs[0].pushed);
  EXPECT_FALSE(r2.assigned[other][1].inputs[0].pushed);
  // The push order goes before the reader's assignment.
  auto push_at = std::find(r2.sent.begin(), r2.sent.end(), std::make_pair(owner, Msg::kPush));
  auto assign_at = std::find(r2.sent.begin(), r2.sent.end(), std::make_pair(other, Msg::kAssign));
  EXPECT_LT(push_at, assign_at);
}

TEST_F(SchedulerCoreTest, QueuesHoldAboutTwoMillisecondsOfWorkPerThread) {
  std::vector<TaskId> roots;
  const NameId name = g.name("root");
  for (int i = 0; i < 400; ++i) roots.push_back(g.add(name, {i}, k, {}));
  Harness h(g, roots, one_node(1, 2));
  Round r = h.round();
  EXPECT_EQ(r.assignments(), 8u) << "2 threads x 4 tasks before any task time is known";
  EXPECT_FALSE(h.core().has_room(1));
  std::vector<Harness::Done> done;
  for (std::uint32_t t : r.tasks_of(1)) done.push_back({t, 8, 1e-6f});
  h.complete(1, done);
  // 1 us tasks: 2 ms of work per thread would be 2,000 tasks; the cap is 64 per thread.
  Round r2 = h.round();
  EXPECT_EQ(r2.assignments(), 128u);
  EXPECT_NEAR(h.core().queued_seconds(1), 128e-6, 1e-6);
  // Long tasks of the same kind: the estimate follows; at least 2 per thread go out.
  std::vector<Harness::Done> slow;
  for (std::uint32_t t : r2.tasks_of(1)) slow.push_back({t, 8, 1.0f});
  h.complete(1, slow);
  Round r3 = h.round();
  EXPECT_EQ(r3.assignments(), 4u);
}

TEST_F(SchedulerCoreTest, QueueDepthFollowsEachKindsTimeNotTheLastTasks) {
  // A worker that just ran many tiny tasks of one kind must not take a deep queue of long tasks of
  // another kind.
  const NameId tiny = g.name("tiny");
  const NameId slow = g.name("slow");
  std::vector<TaskId> outs;
  for (int i = 0; i < 64; ++i) outs.push_back(g.add(tiny, {i}, k, {}));
  for (int i = 0; i < 64; ++i) outs.push_back(g.add(slow, {i}, k, {}));
  SchedulerConfig config;
  config.tasks_per_thread = 64;  // the first round takes every tiny task
  Harness h(g, outs, one_node(1, 1), config);
  Round r = h.round();
  ASSERT_EQ(r.assignments(), 64u);
  // The slow kind is known from one earlier task (10 ms); the tiny ones finish in 1 us each.
  std::vector<Harness::Done> done;
  for (std::uint32_t t : r.tasks_of(1)) done.push_back({t, 8, 1e-6f});
  h.complete(1, done);
  Round r2 = h.round();
  const std::size_t first_slow = r2.assignments();
  ASSERT_GE(first_slow, 1u);
  h.complete(1, {Harness::Done{r2.tasks_of(1)[0], 8, 10e-3f}});
  Round r3 = h.round();
  // Unknown slow tasks went out at the default estimate (2 ms / 64); once one took 10 ms, the worker gets
  // no more until its queue drains below 2 ms.
  EXPECT_TRUE(r3.assigned.empty() || h.core().queued_seconds(1) < 0.002 + 0.010);
  EXPECT_LE(h.core().occupancy(1), 64);
}

TEST_F(SchedulerCoreTest, ARankHintPinsATask) {
  const NameId name = g.name("t");
  std::vector<TaskId> roots;
  for (int i = 0; i < 4; ++i) roots.push_back(g.add(name, {i}, k, {}, TaskOptions{.rank = 3}));
  Harness h(g, roots, one_node(3, 1));
  Round r = h.round();
  EXPECT_EQ(r.tasks_of(3).size(), 4u);
  EXPECT_EQ(r.assignments(), 4u);
}

TEST_F(SchedulerCoreTest, ResultsThatCannotMoveKeepTheirReadersOnTheirWorker) {
  const NameId name = g.name("t");
  const TaskId a = g.add(name, {0}, k, {}, TaskOptions{.rank = 1});
  const TaskId b = g.add(name, {1}, k, {}, TaskOptions{.rank = 2});
  const TaskId c = g.add(name, {2}, k, {a, b});
  const TaskId d = g.add(name, {3}, k, {a});
  const TaskId e = g.add(name, {4}, k, {b});
  Harness h(g, {c, d, e}, one_node(3, 1));
  h.round();
  // a has no codec; b is large and moves fine: c runs where a is anyway.
  h.complete(1, {Harness::Done{h.p(a), 0, 1e-3f, false, {}, kNotEncodable}});
  h.complete(2, h.p(b), 1 << 20);
  Round r = h.round();
  std::vector<std::uint32_t> on_1 = r.tasks_of(1);
  EXPECT_NE(std::find(on_1.begin(), on_1.end(), h.p(c)), on_1.end());
}

TEST_F(SchedulerCoreTest, TwoResultsThatCannotMoveOnTwoWorkersAreAnErrorNamingBoth) {
  const NameId name = g.name("u");
  const TaskId x = g.add(name, {0}, k, {}, TaskOptions{.rank = 1});
  const TaskId y = g.add(name, {1}, k, {}, TaskOptions{.rank = 2});
  const TaskId z = g.add(name, {2}, k, {x, y});
  const TaskId w1 = g.add(name, {3}, k, {x});
  const TaskId w2 = g.add(name, {4}, k, {y});
  Harness h(g, {z, w1, w2}, one_node(2, 1));
  h.round();
  h.complete(1, {Harness::Done{h.p(x), 0, 1e-3f, false, {}, kNotEncodable}});
  h.complete(2, {Harness::Done{h.p(y), 0, 1e-3f, false, {}, kNotEncodable}});
  try {
    h.round();
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(err.what(),
                HasSubstr("task (\"u\", 2) reads results held on ranks 1 and 2 that cannot move"));
    EXPECT_THAT(err.what(), HasSubstr("specialise tessera::Codec"));
  }
}

TEST_F(SchedulerCoreTest, APinnedTaskThatReadsAnUnmovableResultElsewhereIsAnError) {
  const NameId name = g.name("u");
  const TaskId x = g.add(name, {0}, k, {}, TaskOptions{.rank = 1});
  const TaskId z = g.add(name, {1}, k, {x}, TaskOptions{.rank = 2});
  const TaskId w = g.add(name, {2}, k, {x});
  Harness h(g, {z, w}, one_node(2, 1));
  h.round();
  h.complete(1, {Harness::Done{h.p(x), 0, 1e-3f, false, {}, kNotEncodable}});
  try {
    h.round();
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(err.what(),
                HasSubstr("task (\"u\", 1) is pinned to rank 2 but reads the result of (\"u\", 0)"));
    EXPECT_THAT(err.what(), HasSubstr("which cannot leave rank 1"));
  }
}

TEST_F(SchedulerCoreTest, AWorkerPastItsSpillThresholdSpillsTheResultReadFurthestInTheFuture) {
  // Roots r0..r3 each read by a task that also waits for a slow root, and all read by a sink: nothing that
  // reads them can be assigned yet, so they may leave memory; the one whose next reader comes last goes
  // first.
  const NameId name = g.name("t");
  const TaskId slow = g.add(name, {0}, k, {});
  std::vector<TaskId> roots;
  for (int i = 0; i < 4; ++i) roots.push_back(g.add(name, {1 + i}, k, {}));
  std::vector<TaskId> readers;
  for (int i = 0; i < 4; ++i)
    readers.push_back(g.add(name, {10 + i}, k, {slow, roots[static_cast<std::size_t>(i)]}));
  std::vector<TaskId> all = roots;
  all.insert(all.end(), readers.begin(), readers.end());
  const TaskId sink = g.add(name, {20}, k, all);
  SchedulerConfig config;
  config.memory.limit = 1000;  // per worker: spill past 600, no new root at 800
  config.tasks_per_thread = 8;
  Harness h(g, {sink}, one_node(1, 1), config);
  Round r = h.round();
  ASSERT_EQ(r.assignments(), 5u) << "the five roots";
  // Each result counts twice while in memory (its value and its published copy): 4 x 2 x 100 = 800.
  std::vector<Harness::Done> done;
  for (TaskId t : roots) done.push_back({h.p(t), 100});
  h.complete(1, done);
  Round r2 = h.round();
  EXPECT_EQ(h.core().peak_held_bytes(), 800u);
  std::uint32_t victim = 0, last_reader = 0;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (h.p(readers[i]) > last_reader) {
      last_reader = h.p(readers[i]);
      victim = h.p(roots[i]);
    }
  }
  // One spill brings it to 600, which is not past the threshold.
  EXPECT_THAT(r2.spilled[1], ElementsAre(std::make_pair(victim, kSpillToDisk)));
  // Its reader, once assigned, reads it back on the owner: no fetch, nothing inline.
  h.complete(1, h.p(slow));
  Round r3 = h.round();
  for (const Assignment& x : r3.assigned[1]) EXPECT_TRUE(x.inputs.empty());
}

TEST_F(SchedulerCoreTest, AWorkerPastPauseFractionGetsNoNewRoots) {
  const NameId name = g.name("t");
  std::vector<TaskId> roots;
  for (int i = 0; i < 6; ++i) roots.push_back(g.add(name, {i}, k, {}));
  const TaskId sink = g.add(name, {9}, k, roots);
  SchedulerConfig config;
  config.memory.limit = 1000;
  config.memory.spill = false;
  config.tasks_per_thread = 1;  // room for 2
  Harness h(g, {sink}, one_node(1, 1), config);
  Round r = h.round();
  ASSERT_EQ(r.assignments(), 2u);
  h.complete(1, {Harness::Done{r.tasks_of(1)[0], 450}, Harness::Done{r.tasks_of(1)[1], 0}});
  // 900 bytes held >= pause at 800, and nothing runs: one root at a time goes on anyway (over the limit).
  Round r2 = h.round();
  EXPECT_EQ(r2.assignments(), 1u);
  EXPECT_GE(h.core().roots_withheld(), 1u);
}

TEST_F(SchedulerCoreTest, AWorkersErrorFailsTheRunAndTheAbortCarriesIt) {
  std::vector<TaskId> ends = testing::add_chains(g, 2, 3, k);
  Harness h(g, ends, one_node(2));
  h.round();
  ErrorInfo e{ErrorCode::kIo, "(\"chain\", 1, 1)", "disk on fire", 2, 3};
  WireWriter w;
  w.put(static_cast<std::uint8_t>(Msg::kError));
  put(w, e);
  h.core().handle(w.bytes().data(), w.size(), 2);
  ASSERT_TRUE(h.core().failed());
  // The first failure wins.
  h.core().fail(ErrorInfo{ErrorCode::kCancelled, "", "later", 0, 1});
  std::vector<std::byte> abort = h.core().abort_message();
  WireReader r(abort.data(), abort.size());
  EXPECT_EQ(static_cast<Msg>(r.get<std::uint8_t>()), Msg::kAbort);
  ErrorInfo got = get_error(r);
  EXPECT_EQ(got.code, ErrorCode::kIo);
  EXPECT_EQ(got.key, e.key);
  EXPECT_EQ(got.message, "disk on fire");
  EXPECT_EQ(got.rank, 2);
  EXPECT_EQ(got.attempts, 3);
  // Completions after the failure change nothing.
  const std::uint32_t before = h.core().completed();
  h.complete(1, 0);
  EXPECT_EQ(h.core().completed(), before);
}

TEST_F(SchedulerCoreTest, MalformedMessagesAreInternalErrorsNamingWhatIsWrong) {
  std::vector<TaskId> ends = testing::add_chains(g, 1, 2, k);
  Harness h(g, ends, one_node(1));
  h.round();
  auto expect_error = [&](std::vector<std::byte> bytes, int source, const char* what) {
    try {
      h.core().handle(bytes.data(), bytes.size(), source);
      ADD_FAILURE() << "expected an error for " << what;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInternal);
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  };
  WireWriter unknown;
  unknown.put(static_cast<std::uint8_t>(Msg::kRelease));
  expect_error(unknown.bytes(), 1, "scheduler got unexpected message 2 from rank 1");
  WireWriter bad_task;
  bad_task.put(static_cast<std::uint8_t>(Msg::kComplete));
  bad_task.put<std::uint32_t>(1);
  bad_task.put<std::uint32_t>(77);
  expect_error(bad_task.bytes(), 1, "control message names task 77 of a 2-task plan");
  WireWriter truncated;
  truncated.put(static_cast<std::uint8_t>(Msg::kComplete));
  truncated.put<std::uint32_t>(1);
  truncated.put<std::uint32_t>(0);
  expect_error(truncated.bytes(), 1, "truncated control message");
  WireWriter fine;
  fine.put(static_cast<std::uint8_t>(Msg::kComplete));
  fine.put<std::uint32_t>(0);
  expect_error(fine.bytes(), 5, "scheduler got a message from rank 5 of 2");
}

TEST_F(SchedulerCoreTest, AConfigurationWithoutWorkersIsRejected) {
  std::vector<TaskId> ends = testing::add_chains(g, 1, 2, k);
  Plan plan = Plan::build(g, ends);
  try {
    SchedulerCore core(g, plan, SchedulerConfig{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("at least one worker"));
  }
}

TEST_F(SchedulerCoreTest, RandomGraphsRunToTheEndAndTheFinishNamesTheOutputs) {
  std::vector<TaskId> ids = testing::add_random_dag(g, 300, 4, 7, k);
  std::vector<TaskId> outputs = {ids[299], ids[150], ids[10]};
  Harness h(g, outputs, one_node(4, 2));
  drain(h, h.round());
  ASSERT_TRUE(h.core().done());
  EXPECT_FALSE(h.core().stalled());
  EXPECT_EQ(h.core().in_flight(), 0u);
  std::vector<OutputInfo> out;
  std::vector<std::byte> finish = h.core().finish_message(out);
  ASSERT_EQ(out.size(), 3u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_GE(out[i].owner, 1);
    EXPECT_LE(out[i].owner, 4);
    EXPECT_EQ(out[i].where.address, 0x1000u + h.plan().outputs()[i]);
  }
  WireReader r(finish.data(), finish.size());
  EXPECT_EQ(static_cast<Msg>(r.get<std::uint8_t>()), Msg::kFinish);
  EXPECT_EQ(r.get<std::uint32_t>(), 3u);
}

}  // namespace
}  // namespace tessera::mpi
