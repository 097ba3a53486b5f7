#include "tessera/runtime/executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <new>
#include <thread>

#include "tessera/runtime/error.h"
#include "test_graphs.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

struct ExecutorCase {
  std::string name;
  std::function<std::unique_ptr<Executor>(bool track_live)> make;
};

void PrintTo(const ExecutorCase& c, std::ostream* os) {
  *os << c.name;
}

class ExecutorTest : public ::testing::TestWithParam<ExecutorCase> {
 protected:
  std::unique_ptr<Executor> make(bool track_live = false) { return GetParam().make(track_live); }
};

// Reference results: the sync executor on an unfused plan.
std::vector<std::int64_t> reference(Graph& g, std::span<const TaskId> outs) {
  Plan plan = Plan::build(g, outs, {.cull = true, .fuse = false});
  auto result = make_sync_executor()->run(g, plan);
  std::vector<std::int64_t> v;
  for (const auto& o : result.outputs) v.push_back(o.get<std::int64_t>());
  return v;
}

std::vector<std::int64_t> values_of(const RunResult& r) {
  std::vector<std::int64_t> v;
  for (const auto& o : r.outputs) v.push_back(o.get<std::int64_t>());
  return v;
}

TEST_P(ExecutorTest, RunsChains) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 8, 1000, k);
  for (bool fuse : {false, true}) {
    Plan plan = Plan::build(g, ends, {.cull = true, .fuse = fuse});
    auto exec = make();
    RunResult r = exec->run(g, plan);
    // Chain c's tasks carry index (c, i); each adds c to its input: the end holds 1000 * c.
    for (int c = 0; c < 8; ++c) EXPECT_EQ(r.outputs[c].get<std::int64_t>(), 1000 * c);
    EXPECT_EQ(r.stats.graph_tasks, 8000u);
    EXPECT_EQ(r.stats.plan_tasks, fuse ? 8u : 8000u);
  }
}

TEST_P(ExecutorTest, RunsTreeReduction) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  testing::Tree tree = testing::add_tree(g, 10000, 8, k);
  const TaskId outs[] = {tree.root};
  auto expected = reference(g, outs);
  Plan plan = Plan::build(g, outs);
  RunResult r = make()->run(g, plan);
  EXPECT_EQ(values_of(r), expected);
  EXPECT_EQ(r.outputs[0].get<std::int64_t>() > 49995000, true);  // includes sum(0..9999) of the leaves
}

TEST_P(ExecutorTest, MatchesSyncOnRandomDags) {
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    Graph g;
    const KernelId k = g.kernel(testing::sum_plus_index_kernel());
    auto ids = testing::add_random_dag(g, 2000, 3, seed, k);
    std::vector<TaskId> outs(ids.end() - 10, ids.end());
    outs.push_back(ids[ids.size() / 2]);
    auto expected = reference(g, outs);
    Plan plan = Plan::build(g, outs);
    EXPECT_EQ(values_of(make()->run(g, plan)), expected) << "seed " << seed;
  }
}

TEST_P(ExecutorTest, TreeReductionKeepsFewIntermediatesAlive) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  testing::Tree tree = testing::add_tree(g, 1 << 14, 2, k);
  const TaskId outs[] = {tree.root};
  Plan plan = Plan::build(g, outs);
  auto exec = make(/*track_live=*/true);
  RunResult r = exec->run(g, plan);
  const std::uint64_t bound = static_cast<std::uint64_t>(2 * (tree.depth + 2) * exec->concurrency());
  EXPECT_GT(r.stats.peak_live, 0u);
  EXPECT_LE(r.stats.peak_live, bound) << "depth " << tree.depth << ", threads " << exec->concurrency();
}

// Counts live instances to prove intermediates are released and nothing leaks.
struct Tracked {
  static std::atomic<int> alive;
  std::int64_t v;
  explicit Tracked(std::int64_t x) : v(x) { ++alive; }
  Tracked(const Tracked& o) : v(o.v) { ++alive; }
  ~Tracked() { --alive; }
};
std::atomic<int> Tracked::alive{0};

TEST_P(ExecutorTest, ReleasesIntermediatesAndKeepsOutputs) {
  Tracked::alive = 0;
  {
    Graph g;
    const KernelId k = g.kernel([](const TaskContext& ctx) {
      std::int64_t s = 1;
      for (std::size_t i = 0; i < ctx.num_inputs(); ++i) s += ctx.input<Tracked>(i).v;
      return Value::of(Tracked(s));
    });
    testing::Tree tree = testing::add_tree(g, 512, 4, k);
    auto ends = testing::add_chains(g, 3, 50, k);
    std::vector<TaskId> outs = ends;
    outs.push_back(tree.root);
    Plan plan = Plan::build(g, outs);
    RunResult r = make()->run(g, plan);
    EXPECT_EQ(Tracked::alive.load(), 4) << "only the four outputs may survive the run";
    EXPECT_EQ(r.outputs[0].get<Tracked>().v, 50);
  }
  EXPECT_EQ(Tracked::alive.load(), 0);
}

TEST_P(ExecutorTest, ThrowingTaskGivesTaskErrorAndExecutorIsReusable) {
  Graph g;
  const KernelId ok = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 4, 200, ok);
  const TaskId bad = g.add(
      TaskKey{"mean-3f2a", {4, 0}},
      [](const TaskContext&) -> Value { throw std::runtime_error("division by zero in chunk"); }, {ends[1]});
  std::vector<TaskId> outs = ends;
  outs.push_back(bad);
  Plan plan = Plan::build(g, outs);
  auto exec = make();
  try {
    exec->run(g, plan);
    FAIL() << "expected TaskError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.task_key(), "(\"mean-3f2a\", 4, 0)");
    EXPECT_EQ(e.original_message(), "division by zero in chunk");
    EXPECT_THAT(e.what(), HasSubstr("task (\"mean-3f2a\", 4, 0) failed: division by zero in chunk"));
  }
  // Same executor, a good plan: works, with correct results.
  Plan good = Plan::build(g, ends);
  RunResult r = exec->run(g, good);
  EXPECT_EQ(r.outputs[3].get<std::int64_t>(), 600);
}

TEST_P(ExecutorTest, TaskErrorKeepsTesseraErrorCodeAndMapsBadAlloc) {
  Graph g;
  const TaskId nf = g.add(TaskKey{"read", {2}}, [](const TaskContext&) -> Value {
    throw Error(ErrorCode::kNotFound, "variable \"t2m\" not in era5.nc");
  });
  const TaskId oom = g.add(TaskKey{"big", {0}}, [](const TaskContext&) -> Value { throw std::bad_alloc(); });
  auto exec = make();
  const TaskId o1[] = {nf};
  try {
    exec->run(g, Plan::build(g, o1));
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_THAT(e.what(), HasSubstr("(\"read\", 2)"));
  }
  const TaskId o2[] = {oom};
  try {
    exec->run(g, Plan::build(g, o2));
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_THAT(e.what(), HasSubstr("task (\"big\", 0) failed: out of memory"));
  }
}

TEST_P(ExecutorTest, FailureLetsRunningTasksFinishAndStartsNoNewOnes) {
  // Many slow independent tasks and one failing task early in the order: after the failure no new task
  // starts, and run() returns only after the running ones finished.
  Graph g;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  const KernelId slow = g.kernel([&](const TaskContext&) {
    ++started;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ++finished;
    return Value();
  });
  const NameId n = g.name("slow");
  std::vector<TaskId> outs;
  outs.push_back(g.add(
      TaskKey{"boom", {}}, [](const TaskContext&) -> Value { throw std::runtime_error("x"); }, {},
      TaskOptions{.priority = 100}));
  for (int i = 0; i < 200; ++i) outs.push_back(g.add(n, {i}, slow, {}));
  auto exec = make();
  EXPECT_THROW(exec->run(g, Plan::build(g, outs)), TaskError);
  EXPECT_EQ(started.load(), finished.load());
  EXPECT_LT(started.load(), 200);
}

TEST_P(ExecutorTest, RetriesUntilSuccessThenReportsAttempts) {
  Graph g;
  std::atomic<int> calls{0};
  const TaskId flaky = g.add(
      TaskKey{"read", {0}},
      [&](const TaskContext&) -> Value {
        if (++calls < 3) throw Error(ErrorCode::kIo, "transient read failure");
        return Value::of(std::int64_t{42});
      },
      {}, TaskOptions{.retries = 2});
  const TaskId outs[] = {flaky};
  auto exec = make();
  RunResult r = exec->run(g, Plan::build(g, outs));
  EXPECT_EQ(r.outputs[0].get<std::int64_t>(), 42);
  EXPECT_EQ(r.stats.attempts, 3u);

  Graph h;
  const TaskId hopeless = h.add(
      TaskKey{"read", {1}}, [](const TaskContext&) -> Value { throw Error(ErrorCode::kIo, "disk gone"); }, {},
      TaskOptions{.retries = 2});
  const TaskId houts[] = {hopeless};
  try {
    exec->run(h, Plan::build(h, houts));
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_THAT(e.what(), HasSubstr("failed after 3 attempts: disk gone"));
    EXPECT_EQ(e.attempts(), 3);
  }
}

TEST_P(ExecutorTest, FailuresNoRetryCanCureAreNotRetried) {
  auto exec = make();
  for (ErrorCode code : {ErrorCode::kCorrupt, ErrorCode::kInvalidArgument, ErrorCode::kNotFound}) {
    Graph g;
    std::atomic<int> calls{0};
    const TaskId t = g.add(
        TaskKey{"decode", {0}},
        [&](const TaskContext&) -> Value {
          ++calls;
          throw Error(code, "deflate stream is damaged");
        },
        {}, TaskOptions{.retries = 3, .retry_backoff_ms = 1});
    const TaskId outs[] = {t};
    try {
      exec->run(g, Plan::build(g, outs));
      FAIL();
    } catch (const TaskError& e) {
      EXPECT_EQ(e.code(), code);
      EXPECT_EQ(e.attempts(), 1) << to_string(code);
      EXPECT_THAT(e.what(), HasSubstr("task (\"decode\", 0) failed: deflate stream is damaged"));
    }
    EXPECT_EQ(calls.load(), 1) << to_string(code);
  }
  // What user code throws may pass on a retry: it is retried as asked.
  Graph g;
  std::atomic<int> calls{0};
  const TaskId t = g.add(
      TaskKey{"user", {0}},
      [&](const TaskContext&) -> Value {
        if (++calls < 2) throw std::runtime_error("service busy");
        return Value::of(1);
      },
      {}, TaskOptions{.retries = 1, .retry_backoff_ms = 1});
  const TaskId outs[] = {t};
  EXPECT_EQ(exec->run(g, Plan::build(g, outs)).outputs[0].get<int>(), 1);
  EXPECT_EQ(calls.load(), 2);
}

TEST_P(ExecutorTest, EmptyPlanAndRepeatedRuns) {
  Graph g;
  auto exec = make();
  RunResult r = exec->run(g, Plan::build(g, {}));
  EXPECT_TRUE(r.outputs.empty());
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  testing::Tree tree = testing::add_tree(g, 64, 3, k);
  const TaskId outs[] = {tree.root};
  Plan plan = Plan::build(g, outs);
  const auto first = exec->run(g, plan).outputs[0].get<std::int64_t>();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(exec->run(g, plan).outputs[0].get<std::int64_t>(), first);
}

TEST_P(ExecutorTest, UncheckedSinksAreDroppedWhenNotCulled) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  const NameId n = g.name("t");
  const TaskId a = g.add(n, {1}, k, {});
  g.add(n, {2}, k, {a});  // a sink nobody asked for
  const TaskId outs[] = {a};
  RunResult r = make()->run(g, Plan::build(g, outs, {.cull = false, .fuse = true}));
  EXPECT_EQ(r.stats.graph_tasks, 2u);
  EXPECT_EQ(r.outputs[0].get<std::int64_t>(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Executors, ExecutorTest,
    ::testing::Values(
        ExecutorCase{"sync", [](bool t) { return make_sync_executor({.track_live = t}); }},
        ExecutorCase{"threads1",
                     [](bool t) { return make_thread_pool_executor({.threads = 1, .track_live = t}); }},
        ExecutorCase{"threads2",
                     [](bool t) { return make_thread_pool_executor({.threads = 2, .track_live = t}); }},
        ExecutorCase{"threads4",
                     [](bool t) { return make_thread_pool_executor({.threads = 4, .track_live = t}); }},
        // A limit of 64 bytes: nearly every result goes to disk and back, and roots are withheld.
        ExecutorCase{"threads4_spilling",
                     [](bool t) {
                       return make_thread_pool_executor(
                           {.threads = 4, .track_live = t, .memory = {.limit = 64}});
                     }},
        ExecutorCase{"threads2_withholding",
                     [](bool t) {
                       return make_thread_pool_executor(
                           {.threads = 2, .track_live = t, .memory = {.limit = 64, .spill = false}});
                     }}),
    [](const ::testing::TestParamInfo<ExecutorCase>& info) { return info.param.name; });

TEST(ThreadPoolExecutor, RunsIndependentTasksInParallel) {
  // Two tasks that can only finish if they run at the same time.
  Graph g;
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  const KernelId meet = g.kernel([&](const TaskContext&) {
    std::unique_lock lock(mu);
    ++arrived;
    cv.notify_all();
    const bool met = cv.wait_for(lock, std::chrono::seconds(10), [&] { return arrived == 2; });
    if (!met) throw std::runtime_error("the other task never ran concurrently");
    return Value();
  });
  const NameId n = g.name("meet");
  const TaskId outs[] = {g.add(n, {0}, meet, {}), g.add(n, {1}, meet, {})};
  auto exec = make_thread_pool_executor({.threads = 2});
  EXPECT_NO_THROW(exec->run(g, Plan::build(g, outs)));
}

TEST(ThreadPoolExecutor, DefaultsToTheCpusOfTheAffinityMask) {
  EXPECT_EQ(make_thread_pool_executor()->concurrency(), available_cpus());
  EXPECT_GE(available_cpus(), 1);
}

}  // namespace
}  // namespace tessera
