#include "tessera/runtime/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "tessera/runtime/error.h"
#include "tessera/runtime/pod_vector.h"
#include "test_graphs.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

Kernel noop() {
  return [](const TaskContext&) { return Value(); };
}

TEST(TaskKey, PrintsLikeDask) {
  EXPECT_EQ((TaskKey{"mean-3f2a", {4, 0}}).str(), "(\"mean-3f2a\", 4, 0)");
  EXPECT_EQ((TaskKey{"inc", {}}).str(), "inc");
}

TEST(TaskContext, InputOutOfRangeNamesTheTask) {
  Value v = Value::of(1);
  const Value* inputs[] = {&v};
  const std::int32_t index[] = {3, 1};
  TaskContext ctx(inputs, "sum", index, 0);
  EXPECT_EQ(ctx.input<int>(0), 1);
  EXPECT_THAT(
      [&] { ctx.input(1); },
      ::testing::ThrowsMessage<Error>(HasSubstr("task (\"sum\", 3, 1) asked for input 1 but has 1 inputs")));
}

TEST(Graph, StoresTasksKeysAndDependencies) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId x = g.name("x");
  const TaskId a = g.add(x, {0}, k, {});
  const TaskId b = g.add(x, {1}, k, {});
  const TaskId c = g.add(g.name("sum"), {0, 1}, k, {a, b, a}, TaskOptions{.output_bytes = 64, .priority = 3});
  EXPECT_EQ(g.size(), 3u);
  EXPECT_EQ(g.key_string(c), "(\"sum\", 0, 1)");
  EXPECT_THAT(std::vector<TaskId>(g.dependencies(c).begin(), g.dependencies(c).end()),
              ::testing::ElementsAre(a, b, a));
  EXPECT_EQ(g.options(c).output_bytes, 64u);
  EXPECT_EQ(g.options(c).priority, 3);
  EXPECT_EQ(g.name_of(b), "x");
  EXPECT_EQ(g.name("x"), x);  // interned once
}

TEST(Graph, RejectsUnknownDependencyId) {
  Graph g;
  const KernelId k = g.kernel(noop());
  g.add(g.name("x"), {0}, k, {});
  try {
    g.add(g.name("y"), {1}, k, {7});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("(\"y\", 1)"));
    EXPECT_THAT(e.what(), HasSubstr("dependency id 7 does not exist"));
  }
}

TEST(Graph, RejectsEmptyKernelAndUnknownIds) {
  Graph g;
  EXPECT_THROW(g.kernel(Kernel()), Error);
  const NameId n = g.name("x");
  EXPECT_THROW(g.add(n, {0}, 5, {}), Error);
  const KernelId k = g.kernel(noop());
  EXPECT_THROW(g.add(n + 3, {0}, k, {}), Error);
}

TEST(Graph, ResolvesForwardReferencesByKey) {
  Graph g;
  const TaskId sum = g.add(TaskKey{"sum", {}}, noop(), {TaskKey{"x", {0}}, TaskKey{"x", {1}}});
  const TaskId x0 = g.add(TaskKey{"x", {0}}, noop());
  const TaskId x1 = g.add(TaskKey{"x", {1}}, noop(), {x0});
  EXPECT_FALSE(g.resolved());
  g.resolve();
  EXPECT_TRUE(g.resolved());
  EXPECT_THAT(std::vector<TaskId>(g.dependencies(sum).begin(), g.dependencies(sum).end()),
              ::testing::ElementsAre(x0, x1));
  EXPECT_EQ(g.find(TaskKey{"x", {1}}), x1);
  EXPECT_EQ(g.find(TaskKey{"x", {2}}), std::nullopt);
  EXPECT_EQ(g.find(TaskKey{"nope", {}}), std::nullopt);
}

TEST(Graph, MissingDependencyNamesTheTaskThatNeedsIt) {
  Graph g;
  g.add(TaskKey{"x", {0}}, noop());
  g.add(TaskKey{"total", {3}}, noop(), {TaskKey{"x", {0}}, TaskKey{"x", {7}}});
  try {
    g.resolve();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_THAT(e.what(), HasSubstr("task (\"total\", 3) depends on (\"x\", 7), which is not in the graph"));
  }
}

TEST(Graph, DuplicateKeysAreAnError) {
  Graph g;
  g.add(TaskKey{"x", {0}}, noop());
  g.add(TaskKey{"x", {1}}, noop());
  g.add(TaskKey{"x", {0}}, noop());
  try {
    g.resolve();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("duplicate task key (\"x\", 0): added as task #0 and again as task #2"));
  }
  // Still reported (not a bogus self-duplicate) when asked again.
  EXPECT_THROW(g.resolve(), Error);
}

TEST(Graph, DuplicateAmongManyKeysIsFoundAndLookupsStillWork) {
  // 2-d keys over 300k tasks (the first resolve sorts the keys' hashes), one duplicate far from its twin.
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("x");
  for (int i = 0; i < 300000; ++i) g.add(n, {i / 1000, i % 1000}, k, {});
  g.resolve();                                           // no duplicate yet
  EXPECT_EQ(g.find(TaskKey{"x", {123, 456}}), 123456u);  // builds the key table on demand
  Graph h;
  const KernelId hk = h.kernel(noop());
  const NameId hn = h.name("x");
  for (int i = 0; i < 300000; ++i) h.add(hn, {i / 1000, i % 1000}, hk, {});
  h.add(hn, {7, 8}, hk, {});
  try {
    h.resolve();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("duplicate task key (\"x\", 7, 8): added as task #7008 and again as task #300000"));
  }
}

TEST(Graph, ResolveIsIncremental) {
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("x");
  for (int i = 0; i < 100; ++i) g.add(n, {i}, k, {});
  g.resolve();
  for (int i = 100; i < 5000; ++i) g.add(n, {i}, k, {});  // grows the key table
  g.resolve();
  EXPECT_EQ(g.find(TaskKey{"x", {4321}}), 4321u);
  g.add(n, {17}, k, {});
  EXPECT_THROW(g.resolve(), Error);
}

TEST(PodVector, APinnedBlockIsNeverRewrittenMovedOrFreedByTheVector) {
  detail::PodVector<int> v;
  for (int i = 0; i < 10; ++i) v.push_back(i);
  const std::shared_ptr<const int> pin = v.pin();
  EXPECT_EQ(pin.get(), v.data());
  EXPECT_EQ(v.pin(), pin);  // one owner per block
  v.push_back(10);          // spare room (capacity 16): past the pinned elements
  EXPECT_EQ(v.data(), pin.get());
  v.clear();  // the block stays with the pin; the vector starts a new one
  v.push_back(99);
  EXPECT_NE(v.data(), pin.get());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pin.get()[i], i);
  detail::PodVector<int> w;
  w.push_back(5);
  const std::shared_ptr<const int> other = w.pin();
  w = std::move(v);  // w's pinned block is left to `other`
  EXPECT_EQ(other.get()[0], 5);
  EXPECT_EQ(w[0], 99);
  w.shrink_to_fit();
  detail::PodVector<int> copy = w;
  w = copy;  // copy-assigned over a block pinned by nobody else: plain reuse
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0], 99);
}

// Graph::keys shares the graph's per-task arrays (PodVector::pin) instead of copying them: the keys must stay
// exactly as taken while the graph grows (within its arrays' spare room and past it), is copied over, and
// after it is gone.
TEST(Graph, KeysStayAsTakenWhileTheGraphGrowsAndAfterItIsGone) {
  auto g = std::make_unique<Graph>();
  const KernelId k = g->kernel(noop());
  const NameId a = g->name("a");
  for (int i = 0; i < 1000; ++i) g->add(a, {i, -i}, k, {});
  const Graph::Keys keys = g->keys();
  const Graph::Keys again = g->keys();  // a second pin of the same arrays
  auto check = [](const Graph::Keys& ks, std::size_t n) {
    ASSERT_EQ(ks.size(), n);
    ASSERT_EQ(ks.names()[ks.name(0)], "a");
    for (std::size_t i = 0; i < n; ++i) {
      const auto index = ks.index(static_cast<TaskId>(i));
      ASSERT_EQ(index.size(), 2u) << i;
      EXPECT_EQ(index[0], static_cast<int>(i)) << i;
      EXPECT_EQ(index[1], -static_cast<int>(i)) << i;
      EXPECT_EQ(ks.names()[ks.name(static_cast<TaskId>(i))], "a");
    }
  };
  check(keys, 1000);
  const NameId b = g->name("b");
  g->add(b, {7}, k, {});  // within the spare room: written past the pinned elements
  for (int i = 0; i < 100000; ++i) g->add(b, {i, 1, 2}, k, {});  // past it: the graph moves to new arrays
  check(keys, 1000);
  EXPECT_EQ(g->size(), 101001u);
  EXPECT_EQ(g->key_string(1000), "(\"b\", 7)");
  EXPECT_EQ(g->key_string(101000), "(\"b\", 99999, 1, 2)");
  EXPECT_EQ(g->key_string(999), "(\"a\", 999, -999)");
  const Graph::Keys later = g->keys();
  ASSERT_EQ(later.size(), 101001u);
  EXPECT_EQ(later.names()[later.name(101000)], "b");
  EXPECT_THAT(later.index(101000), ::testing::ElementsAre(99999, 1, 2));
  Graph other;
  other.add(other.name("x"), {1}, other.kernel(noop()), {});
  *g = other;  // copied over: the pinned arrays are left to the keys
  EXPECT_EQ(g->size(), 1u);
  EXPECT_EQ(g->key_string(0), "(\"x\", 1)");
  check(keys, 1000);
  g.reset();  // gone
  check(keys, 1000);
  check(again, 1000);
  EXPECT_THAT(later.index(1000), ::testing::ElementsAre(7));
}

TEST(Graph, KeysOfSomeTasksAreRenumberedCopies) {
  Graph g;
  const KernelId k = g.kernel(noop());
  for (int i = 0; i < 10; ++i) g.add(g.name(i % 2 == 0 ? "even" : "odd"), {i}, k, {});
  const TaskId some[] = {7, 2, 9};
  const Graph::Keys keys = g.keys_of(some);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys.names()[keys.name(0)], "odd");
  EXPECT_THAT(keys.index(0), ::testing::ElementsAre(7));
  EXPECT_EQ(keys.names()[keys.name(1)], "even");
  EXPECT_THAT(keys.index(1), ::testing::ElementsAre(2));
  EXPECT_THAT(keys.index(2), ::testing::ElementsAre(9));
}

TEST(Graph, CompactPerTask) {
  // A task sharing its kernel, with a 2-d index and one dependency, must stay small: the 1M-task graphs of
  // the benchmarks depend on it.
  Graph g;
  const KernelId k = g.kernel(noop());
  const NameId n = g.name("x");
  constexpr int kTasks = 100000;
  TaskId prev = g.add(n, {0, 0}, k, {});
  for (int i = 1; i < kTasks; ++i) prev = g.add(n, {0, i}, k, {prev});
  g.resolve();  // includes the key index
  const double per_task = static_cast<double>(g.memory_bytes()) / kTasks;
  EXPECT_LT(per_task, 80.0);
}

}  // namespace
}  // namespace tessera
