// A stop request (what a Slurm signal turns into) ends a run: no task starts after it, running ones finish,
// and run() throws Error(kCancelled) saying why and how far it got.
#include "tessera/runtime/stop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>

#include "tessera/runtime/executor.h"
#include "tessera/runtime/runtime.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

// A chain of n tasks; task `stop_at` asks for a stop (as a signal handler would). Counts the tasks that ran.
Graph chain(int n, int stop_at, std::atomic<int>& ran) {
  Graph g;
  auto name = g.name("step");
  auto k = g.kernel([stop_at, &ran](const TaskContext& ctx) {
    ran.fetch_add(1);
    if (ctx.index()[0] == stop_at) request_stop(SIGUSR1);
    return Value::of(static_cast<int>(ctx.index()[0]));
  });
  TaskId prev = g.add(name, {0}, k, {});
  for (int i = 1; i < n; ++i) prev = g.add(name, {i}, k, {prev});
  return g;
}

class StopTest : public ::testing::TestWithParam<ExecutorKind> {
 protected:
  void SetUp() override { clear_stop(); }
  void TearDown() override { clear_stop(); }
};

TEST_P(StopTest, NoTaskStartsAfterTheRequestAndTheErrorSaysWhy) {
  RuntimeOptions o;
  o.executor = GetParam();
  o.threads = 2;
  o.plan.fuse = false;  // one plan task per step, so "no task starts after" is visible
  Runtime rt(o);
  std::atomic<int> ran{0};
  Graph g = chain(20, 6, ran);
  const TaskId last = 19;
  try {
    rt.run(g, std::vector<TaskId>{last});
    ADD_FAILURE() << "the run did not stop";
  } catch (const TaskError&) {
    ADD_FAILURE() << "a stop is not a task's failure";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
    EXPECT_THAT(e.what(), HasSubstr("stopped on request (SIGUSR1) with "));
    EXPECT_THAT(e.what(), HasSubstr(" of 20 tasks done"));
  }
  EXPECT_EQ(ran.load(), 7) << "tasks 0-6 ran, nothing after the request";
  // Cleared, the same runtime runs to the end.
  clear_stop();
  std::atomic<int> again{0};
  Graph g2 = chain(5, 99, again);
  EXPECT_EQ(rt.run(g2, std::vector<TaskId>{4})[0].get<int>(), 4);
}

INSTANTIATE_TEST_SUITE_P(Executors, StopTest, ::testing::Values(ExecutorKind::kSync, ExecutorKind::kThreads),
                         [](const auto& info) {
                           return info.param == ExecutorKind::kSync ? "sync" : "threads";
                         });

TEST(Stop, FirstRequestNamesTheSignal) {
  clear_stop();
  EXPECT_FALSE(stop_requested());
  request_stop(SIGTERM);
  request_stop(SIGUSR1);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGTERM);
  EXPECT_STREQ(signal_name(stop_signal()), "SIGTERM");
  clear_stop();
  EXPECT_FALSE(stop_requested());
}

}  // namespace
}  // namespace tessera
