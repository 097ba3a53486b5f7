#include "tessera/runtime/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tessera/runtime/error.h"
#include "test_graphs.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Kernel noop() {
  return [](const TaskContext&) { return Value(); };
}

std::vector<TaskId> vec(std::span<const TaskId> s) {
  return {s.begin(), s.end()};
}

// Every dependency of a plan task has a lower number, and dependents mirror dependencies.
void expect_consistent(const Plan& plan) {
  std::multiset<std::pair<std::uint32_t, std::uint32_t>> forward, backward;
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    for (std::uint32_t d : plan.dependencies(p)) {
      EXPECT_LT(d, p) << "plan order is not topological";
      forward.emplace(d, p);
    }
    for (std::uint32_t c : plan.dependents(p)) backward.emplace(p, c);
  }
  EXPECT_EQ(forward, backward);
}

TEST(Plan, CullsWhatNoOutputNeeds) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("t");
  const TaskId a = g.add(n, {0}, k, {});
  const TaskId b = g.add(n, {1}, k, {a});
  g.add(n, {2}, k, {a});  // unused
  const TaskId d = g.add(n, {3}, k, {});
  const TaskId e = g.add(n, {4}, k, {b, d});
  const TaskId outs[] = {e};
  Plan plan = Plan::build(g, outs, {.cull = true, .fuse = false});
  EXPECT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan.graph_tasks(), 4u);
  expect_consistent(plan);
  Plan all = Plan::build(g, outs, {.cull = false, .fuse = false});
  EXPECT_EQ(all.size(), 5u);
  expect_consistent(all);
}

TEST(Plan, FusesLinearChainsOnly) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("t");
  // a -> b -> c -> d is a chain; d and x both feed e, so e stays separate; f reads c? no: keep chain pure.
  const TaskId a = g.add(n, {0}, k, {});
  const TaskId b = g.add(n, {1}, k, {a});
  const TaskId c = g.add(n, {2}, k, {b});
  const TaskId d = g.add(n, {3}, k, {c});
  const TaskId x = g.add(n, {4}, k, {});
  const TaskId e = g.add(n, {5}, k, {d, x});
  const TaskId outs[] = {e};
  Plan plan = Plan::build(g, outs);
  expect_consistent(plan);
  ASSERT_EQ(plan.size(), 3u);  // [a b c d], [x], [e]
  std::vector<std::vector<TaskId>> groups;
  for (std::uint32_t p = 0; p < plan.size(); ++p) groups.push_back(vec(plan.members(p)));
  EXPECT_THAT(groups,
              ::testing::UnorderedElementsAre(ElementsAre(a, b, c, d), ElementsAre(x), ElementsAre(e)));
  EXPECT_EQ(plan.graph_tasks(), 6u);
  // The fused chain's later members read the previous member.
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    if (plan.members(p).size() != 4) continue;
    for (std::uint32_t m = plan.member_begin(p) + 1; m < plan.member_begin(p) + 4; ++m) {
      EXPECT_THAT(std::vector<std::uint32_t>(plan.member_inputs(m).begin(), plan.member_inputs(m).end()),
                  ElementsAre(Plan::kFromPrevious));
    }
  }
}

TEST(Plan, DoesNotFuseOutputsOrSharedResults) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("t");
  const TaskId a = g.add(n, {0}, k, {});
  const TaskId b = g.add(n, {1}, k, {a});  // output, and read by c
  const TaskId c = g.add(n, {2}, k, {b});
  const TaskId d = g.add(n, {3}, k, {c, c});  // reads c twice: c has two dependent edges
  const TaskId outs[] = {d, b};
  Plan plan = Plan::build(g, outs);
  expect_consistent(plan);
  // a fuses into b; b is an output so it ends its group; c is read twice so stays alone.
  EXPECT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan.result_task(plan.outputs()[1]), b);
  EXPECT_EQ(plan.result_task(plan.outputs()[0]), d);
}

TEST(Plan, DoesNotFuseTasksPinnedToDifferentRanks) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("t");
  const TaskId a = g.add(n, {0}, k, {}, TaskOptions{.rank = 2});
  const TaskId b = g.add(n, {1}, k, {a}, TaskOptions{.rank = 1});
  const TaskId c = g.add(n, {2}, k, {b});  // unpinned: may join b
  const TaskId outs[] = {c};
  Plan plan = Plan::build(g, outs);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_THAT(vec(plan.members(0)), ElementsAre(a));
  EXPECT_THAT(vec(plan.members(1)), ElementsAre(b, c));
}

TEST(Plan, ReportsCycleWithItsKeys) {
  Graph g;
  g.add(TaskKey{"a", {1}}, noop(), {TaskKey{"b", {2}}});
  g.add(TaskKey{"b", {2}}, noop(), {TaskKey{"c", {3}}});
  g.add(TaskKey{"c", {3}}, noop(), {TaskKey{"a", {1}}});
  const TaskId out = g.add(TaskKey{"out", {}}, noop(), {TaskKey{"a", {1}}});
  const TaskId outs[] = {out};
  try {
    Plan::build(g, outs);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("cycle in the task graph"));
    // The cycle, starting wherever the walk entered it, names all three keys and returns to its start.
    const std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr("(\"a\", 1)"));
    EXPECT_THAT(msg, HasSubstr("(\"b\", 2)"));
    EXPECT_THAT(msg, HasSubstr("(\"c\", 3)"));
    EXPECT_THAT(msg, ::testing::AnyOf(HasSubstr("(\"a\", 1) -> (\"b\", 2) -> (\"c\", 3) -> (\"a\", 1)"),
                                      HasSubstr("(\"b\", 2) -> (\"c\", 3) -> (\"a\", 1) -> (\"b\", 2)"),
                                      HasSubstr("(\"c\", 3) -> (\"a\", 1) -> (\"b\", 2) -> (\"c\", 3)")));
    EXPECT_THAT(msg, ::testing::Not(HasSubstr("out")));
  }
}

TEST(Plan, ReportsSelfDependency) {
  Graph g;
  const TaskId t = g.add(TaskKey{"self", {0}}, noop(), {TaskKey{"self", {0}}});
  const TaskId outs[] = {t};
  EXPECT_THAT([&] { Plan::build(g, outs); },
              ::testing::ThrowsMessage<Error>(HasSubstr("(\"self\", 0) -> (\"self\", 0)")));
}

TEST(Plan, ReportsMissingDependencyAndBadOutput) {
  Graph g;
  const TaskId t = g.add(TaskKey{"sum", {}}, noop(), {TaskKey{"x", {9}}});
  const TaskId outs[] = {t};
  EXPECT_THAT([&] { Plan::build(g, outs); },
              ::testing::ThrowsMessage<Error>(HasSubstr("task sum depends on (\"x\", 9)")));
  Graph h;
  h.add(TaskKey{"x", {}}, noop());
  const TaskId bad[] = {3};
  EXPECT_THAT([&] { Plan::build(h, bad); },
              ::testing::ThrowsMessage<Error>(HasSubstr("requested output task id 3 does not exist")));
}

TEST(Plan, OrdersTreeReductionDepthFirst) {
  // Post-order of a binary tree: each parent comes right after its second child, so leaves are consumed in
  // pairs rather than all read first.
  Graph g;
  const KernelId k = g.kernel(noop());
  testing::Tree tree = testing::add_tree(g, 8, 2, k);
  const TaskId outs[] = {tree.root};
  Plan plan = Plan::build(g, outs, {.cull = true, .fuse = false});
  expect_consistent(plan);
  std::vector<std::string> order;
  for (std::uint32_t p = 0; p < plan.size(); ++p) order.push_back(g.key_string(plan.result_task(p)));
  EXPECT_THAT(order, ElementsAre("(\"leaf\", 0)", "(\"leaf\", 1)", "(\"node\", 0, 0)", "(\"leaf\", 2)",
                                 "(\"leaf\", 3)", "(\"node\", 0, 2)", "(\"node\", 1, 0)", "(\"leaf\", 4)",
                                 "(\"leaf\", 5)", "(\"node\", 0, 4)", "(\"leaf\", 6)", "(\"leaf\", 7)",
                                 "(\"node\", 0, 6)", "(\"node\", 1, 2)", "(\"node\", 2, 0)"));
  EXPECT_EQ(plan.roots().size(), 8u);
}

TEST(Plan, VisitsLongerCriticalPathFirstAndHonoursPriority) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("t");
  const TaskId shallow = g.add(n, {0}, k, {});
  const TaskId d0 = g.add(n, {1}, k, {});
  const TaskId d1 = g.add(n, {2}, k, {d0});
  const TaskId d2 = g.add(n, {3}, k, {d1});
  const TaskId top = g.add(n, {4}, k, {shallow, d2});
  const TaskId outs[] = {top};
  Plan plan = Plan::build(g, outs, {.cull = true, .fuse = false});
  EXPECT_EQ(plan.result_task(0), d0);  // the deep side first
  EXPECT_EQ(plan.result_task(3), shallow);

  Graph h;
  const KernelId hk = h.kernel(noop());
  const NameId hn = h.name("t");
  const TaskId low = h.add(hn, {0}, hk, {});
  const TaskId urgent = h.add(hn, {1}, hk, {}, TaskOptions{.priority = 10});
  const TaskId join = h.add(hn, {2}, hk, {low, urgent});
  const TaskId houts[] = {join};
  Plan hp = Plan::build(h, houts, {.cull = true, .fuse = false});
  EXPECT_EQ(hp.result_task(0), urgent);
}

TEST(Plan, RepeatedOutputsAreHeldOncePerRequest) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const TaskId a = g.add(g.name("a"), {}, k, {});
  const TaskId outs[] = {a, a};
  Plan plan = Plan::build(g, outs);
  ASSERT_EQ(plan.outputs().size(), 2u);
  EXPECT_EQ(plan.outputs()[0], plan.outputs()[1]);
  EXPECT_EQ(plan.output_holds(plan.outputs()[0]), 2u);
}

// The shape of a climatology and the anomalies from it: n chunks read (rereadable), each reduced to a
// partial, the partials combined into a mean, and each chunk minus the mean written.
struct AnomalyGraph {
  Graph g;
  std::vector<TaskId> reads, partials, anomalies;
  TaskId mean = 0;

  explicit AnomalyGraph(int n, bool rereadable = true) {
    const KernelId k = g.kernel(noop());
    for (int i = 0; i < n; ++i) {
      reads.push_back(g.add(g.name("read"), {i}, k, {}, TaskOptions{.rereadable = rereadable}));
    }
    for (int i = 0; i < n; ++i) partials.push_back(g.add(g.name("partial"), {i}, k, {reads[i]}));
    mean = g.add(g.name("mean"), std::initializer_list<std::int32_t>{}, k, partials);
    for (int i = 0; i < n; ++i) anomalies.push_back(g.add(g.name("anomaly"), {i}, k, {reads[i], mean}));
  }
};

// Running the plan in order, the most results of `tasks` held at once (made, a dependent still to run).
std::size_t most_held(const Plan& plan, const std::vector<TaskId>& tasks) {
  std::vector<std::uint32_t> left(plan.size());
  std::size_t held = 0, most = 0;
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    for (std::uint32_t d : plan.dependencies(p)) {
      if (--left[d] == 0 && std::count(tasks.begin(), tasks.end(), plan.result_task(d)) > 0) --held;
    }
    left[p] = static_cast<std::uint32_t>(plan.dependents(p).size());
    if (left[p] > 0 && std::count(tasks.begin(), tasks.end(), plan.result_task(p)) > 0) ++held;
    most = std::max(most, held);
  }
  return most;
}

std::size_t times_planned(const Plan& plan, TaskId t) {
  std::size_t n = 0;
  for (std::uint32_t p = 0; p < plan.size(); ++p)
    n += std::count(plan.members(p).begin(), plan.members(p).end(), t);
  return n;
}

TEST(Plan, RereadsRootsWhoseReadersRunFarApart) {
  AnomalyGraph a(16);
  const Plan plan = Plan::build(a.g, a.anomalies);
  expect_consistent(plan);
  // Each chunk is read twice: fused into its partial, and again right before its anomaly.
  for (TaskId r : a.reads) EXPECT_EQ(times_planned(plan, r), 2u) << a.g.key_string(r);
  EXPECT_EQ(plan.graph_tasks(), 16u * 4 + 1);
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    const auto m = vec(plan.members(p));
    if (m.size() == 2) {
      EXPECT_TRUE(a.g.options(m[0]).rereadable);
    }
  }
  EXPECT_LE(most_held(plan, a.reads), 2u);

  // Held instead: without copies allowed, and for roots that are not rereadable.
  const Plan held = Plan::build(a.g, a.anomalies, {.reread_copies = 0});
  expect_consistent(held);
  for (TaskId r : a.reads) EXPECT_EQ(times_planned(held, r), 1u);
  EXPECT_EQ(most_held(held, a.reads), 16u);
  AnomalyGraph fixed(16, false);
  const Plan fixed_plan = Plan::build(fixed.g, fixed.anomalies);
  EXPECT_EQ(fixed_plan.graph_tasks(), 16u * 3 + 1);
  EXPECT_EQ(most_held(fixed_plan, fixed.reads), 16u);
}

TEST(Plan, HoldsRootsWhoseReadersRunCloseOrEverywhere) {
  // Two readers of each chunk that run one after the other (two slices of it): read once.
  Graph g;
  const KernelId k = g.kernel(noop());
  std::vector<TaskId> reads, slices;
  for (int i = 0; i < 16; ++i)
    reads.push_back(g.add(g.name("read"), {i}, k, {}, TaskOptions{.rereadable = true}));
  for (int i = 0; i < 16; ++i) {
    slices.push_back(g.add(g.name("slice"), {i, 0}, k, {reads[i]}));
    slices.push_back(g.add(g.name("slice"), {i, 1}, k, {reads[i]}));
  }
  const TaskId sum = g.add(g.name("sum"), std::initializer_list<std::int32_t>{}, k, slices);
  const TaskId outs[] = {sum};
  const Plan plan = Plan::build(g, outs);
  for (TaskId r : reads) EXPECT_EQ(times_planned(plan, r), 1u);

  // Every output reads every chunk (a transposing rechunk): holding beats reading each chunk 16 times.
  Graph h;
  const KernelId hk = h.kernel(noop());
  std::vector<TaskId> roots, outputs;
  for (int i = 0; i < 16; ++i)
    roots.push_back(h.add(h.name("read"), {i}, hk, {}, TaskOptions{.rereadable = true}));
  for (int i = 0; i < 40; ++i) {
    // Each output also reads a chunk of its own and the previous output: the outputs run in a chain, each
    // reading one more chunk, so that the first and the last run 80 plan tasks apart.
    std::vector<TaskId> deps = roots;
    deps.push_back(h.add(h.name("own"), {i}, hk, {}, TaskOptions{.rereadable = true}));
    if (i > 0) deps.push_back(outputs.back());
    outputs.push_back(h.add(h.name("rechunk"), {i}, hk, deps));
  }
  const Plan hp = Plan::build(h, outputs);
  expect_consistent(hp);
  for (TaskId r : roots) EXPECT_EQ(times_planned(hp, r), 1u);
  // With copies enough for every cluster of readers, it is read again.
  const Plan again = Plan::build(h, outputs, {.reread_copies = 16});
  expect_consistent(again);
  EXPECT_GT(times_planned(again, roots[0]), 1u);
}

TEST(Plan, RandomDagsGiveConsistentTopologicalPlans) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    Graph g;
    const KernelId k = g.kernel(noop());
    auto ids = testing::add_random_dag(g, 300, 4, seed, k);
    std::vector<TaskId> outs(ids.end() - 5, ids.end());
    for (bool fuse : {false, true}) {
      Plan plan = Plan::build(g, outs, {.cull = true, .fuse = fuse});
      expect_consistent(plan);
      std::set<TaskId> members;
      for (std::uint32_t p = 0; p < plan.size(); ++p) {
        for (TaskId m : plan.members(p)) EXPECT_TRUE(members.insert(m).second) << "task planned twice";
      }
      EXPECT_EQ(members.size(), plan.graph_tasks());
    }
  }
}

}  // namespace
}  // namespace tessera
