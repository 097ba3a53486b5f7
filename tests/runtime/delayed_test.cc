#include "tessera/runtime/delayed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <random>

#include "tessera/runtime/error.h"
#include "tessera/runtime/runtime.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

Runtime threads(int n) {
  return Runtime(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = n});
}

TEST(Delayed, TheSeedsExample) {
  auto inc = delayed([](int x) { return x + 1; }, "inc");
  auto add = delayed([](int a, int b) { return a + b; }, "add");
  auto x = inc(1);
  auto y = inc(2);
  auto z = add(x, y);
  Runtime rt = threads(2);
  EXPECT_EQ(rt.compute(z), 5);
  EXPECT_EQ(rt.last_stats().graph_tasks, 3u);
}

TEST(Delayed, IndependentCallsRunInParallel) {
  // Each inc waits until both have started: it completes only if x and y run at the same time.
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  auto inc = delayed(
      [&](int x) {
        std::unique_lock lock(mu);
        ++started;
        cv.notify_all();
        if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return started == 2; })) {
          throw std::runtime_error("inc calls did not overlap");
        }
        return x + 1;
      },
      "inc");
  auto add = delayed([](int a, int b) { return a + b; }, "add");
  Runtime rt = threads(2);
  EXPECT_EQ(rt.compute(add(inc(1), inc(2))), 5);
}

TEST(Delayed, ComputeSeveralSharesWork) {
  std::atomic<int> calls{0};
  auto slow_square = delayed(
      [&](int x) {
        ++calls;
        return x * x;
      },
      "square");
  auto add = delayed([](int a, int b) { return a + b; }, "add");
  auto s = slow_square(7);
  auto [a, b, c] = threads(2).compute(s, add(s, s), add(s, 1));
  EXPECT_EQ(a, 49);
  EXPECT_EQ(b, 98);
  EXPECT_EQ(c, 50);
  EXPECT_EQ(calls.load(), 1);
}

TEST(Delayed, LiteralsStringsVectorsAndListArguments) {
  auto greet =
      delayed([](const std::string& who, const char* punct) { return "hello " + who + punct; }, "greet");
  auto total = delayed([](std::vector<int> parts) { return std::accumulate(parts.begin(), parts.end(), 0); });
  auto ten = literal(10);
  std::vector<Delayed<int>> parts{ten, literal(20), literal(12)};
  Runtime rt = threads(2);
  EXPECT_EQ(rt.compute(greet(std::string("world"), "!")), "hello world!");
  EXPECT_EQ(rt.compute(total(parts)), 42);
  EXPECT_EQ(rt.compute(std::vector<Delayed<int>>{ten, ten}), (std::vector<int>{10, 10}));
}

TEST(Delayed, TreeReduceIsExactAndBitIdenticalEverywhere) {
  // Floating-point sums depend on association; the tree's shape is fixed by the inputs, so every executor and
  // thread count gives the same bits.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  std::vector<Delayed<double>> xs;
  for (int i = 0; i < 5000; ++i) xs.push_back(literal(u(rng)));
  auto sum = tree_reduce(
      xs, [](double a, double b) { return a + b; }, 5);
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  const double expected = sync.compute(sum);
  for (int n : {1, 2, 3, 8}) {
    const double got = threads(n).compute(sum);
    EXPECT_EQ(std::memcmp(&got, &expected, sizeof(double)), 0) << n << " threads";
  }
  std::vector<Delayed<long>> ints;
  for (long i = 1; i <= 1000; ++i) ints.push_back(literal(i));
  EXPECT_EQ(threads(2).compute(tree_reduce(ints, [](long a, long b) { return a + b; })), 500500);
  EXPECT_EQ(threads(2).compute(tree_reduce(std::vector<Delayed<long>>{ints[4]}, std::plus<long>())), 5);
}

TEST(Delayed, TreeReduceRejectsBadArguments) {
  EXPECT_THAT([] { tree_reduce(std::vector<Delayed<int>>{}, std::plus<int>()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("empty list")));
  EXPECT_THAT([] { tree_reduce(std::vector<Delayed<int>>{literal(1)}, std::plus<int>(), 1); },
              ::testing::ThrowsMessage<Error>(HasSubstr("split_every is 1")));
}

TEST(Delayed, ErrorsNameTheCall) {
  auto boom = delayed([](int) -> int { throw std::runtime_error("negative input"); }, "validate");
  auto inc = delayed([](int x) { return x + 1; }, "inc");
  Runtime rt = threads(2);
  try {
    rt.compute(inc(boom(inc(1))));
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_THAT(e.task_key(), HasSubstr("validate"));
    EXPECT_EQ(e.original_message(), "negative input");
  }
  Delayed<int> empty;
  EXPECT_THAT([&] { inc(empty); }, ::testing::ThrowsMessage<Error>(HasSubstr("empty Delayed")));
}

TEST(Delayed, WrongTypeIsAClearError) {
  Value v = Value::of(3.5);
  EXPECT_THAT([&] { v.get<int>(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("value holds double, not int")));
  EXPECT_EQ(Value().type_name(), "empty");
}

TEST(Futures, SubmitMapGather) {
  Runtime rt = threads(2);
  std::atomic<int> calls{0};
  auto square = [&](int x) {
    ++calls;
    return x * x;
  };
  auto a = rt.submit(square, 3);
  auto b = rt.submit([](int x, int y) { return x + y; }, a, 1);  // a future as an argument
  std::vector<int> items{1, 2, 3, 4};
  auto squares = rt.map(square, items);
  EXPECT_FALSE(a.done());
  EXPECT_EQ(b.result(), 10);  // computes everything submitted so far, in one graph
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(squares[3].done());
  EXPECT_EQ(rt.gather(squares), (std::vector<int>{1, 4, 9, 16}));
  EXPECT_EQ(calls.load(), 5);
  // A finished future used again is not recomputed.
  auto c = rt.submit([](int x) { return -x; }, a);
  EXPECT_EQ(c.result(), -9);
  EXPECT_EQ(calls.load(), 5);
}

TEST(Futures, FailureReachesEveryFutureOfTheBatch) {
  Runtime rt = threads(2);
  auto good = rt.submit([](int x) { return x; }, 1);
  auto bad = rt.submit([](int) -> int { throw std::runtime_error("bad chunk"); }, 2);
  EXPECT_THROW(bad.result(), TaskError);
  EXPECT_THROW(good.result(), TaskError);
  auto later = rt.submit([](int x) { return x * 2; }, 21);
  EXPECT_EQ(later.result(), 42);
}

TEST(RuntimeOptions, ReadsTheEnvironment) {
  setenv("TESSERA_EXECUTOR", "sync", 1);
  setenv("TESSERA_THREADS", "3", 1);
  RuntimeOptions o = RuntimeOptions::from_environment();
  EXPECT_EQ(o.executor, ExecutorKind::kSync);
  EXPECT_EQ(o.threads, 3);
  setenv("TESSERA_THREADS", "three", 1);
  EXPECT_THAT([] { RuntimeOptions::from_environment(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("TESSERA_THREADS is \"three\"")));
  setenv("TESSERA_THREADS", "", 1);
  setenv("TESSERA_EXECUTOR", "gpu", 1);
  EXPECT_THAT([] { RuntimeOptions::from_environment(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("TESSERA_EXECUTOR is \"gpu\"")));
  unsetenv("TESSERA_EXECUTOR");
  setenv("TESSERA_BIND", "maybe", 1);
  EXPECT_THAT([] { RuntimeOptions::from_environment(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("TESSERA_BIND is \"maybe\"; expected 1 or 0")));
  setenv("TESSERA_BIND", "0", 1);
  setenv("TESSERA_SHOW_BINDING", "yes", 1);
  RuntimeOptions b = RuntimeOptions::from_environment();
  EXPECT_FALSE(b.mpi.bind);
  EXPECT_TRUE(b.mpi.show_binding);
  unsetenv("TESSERA_BIND");
  unsetenv("TESSERA_SHOW_BINDING");
  unsetenv("TESSERA_THREADS");
}

TEST(Runtime, RunsLowLevelGraphs) {
  Graph g;
  const TaskId a = g.add(TaskKey{"a", {}}, [](const TaskContext&) { return Value::of(2); });
  const TaskId b =
      g.add(TaskKey{"b", {}}, [](const TaskContext& c) { return Value::of(c.input<int>(0) * 21); }, {a});
  Runtime rt = threads(2);
  const TaskId outs[] = {b, a};
  auto values = rt.run(g, outs);
  EXPECT_EQ(values[0].get<int>(), 42);
  EXPECT_EQ(values[1].get<int>(), 2);
}

}  // namespace
}  // namespace tessera
