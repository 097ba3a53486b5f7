// The MPI executor, run under mpiexec with 2, 3 and 4 ranks. Every test is collective: all ranks build the
// same graphs and check the same outputs.
#include <mpi.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <random>

#include "../runtime/test_graphs.h"
#include "tessera/runtime/delayed.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/runtime.h"
#include "tessera/runtime/stop.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// Whether world ranks a and b share a node (MPI_COMM_TYPE_SHARED). Collective.
bool same_node(int a, int b) {
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank(), MPI_INFO_NULL, &node);
  int leader = world_rank();
  MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  std::vector<int> leaders(static_cast<std::size_t>(world_size()));
  MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, MPI_COMM_WORLD);
  return leaders[static_cast<std::size_t>(a)] == leaders[static_cast<std::size_t>(b)];
}

std::vector<std::int64_t> ints(const std::vector<Value>& values) {
  std::vector<std::int64_t> out;
  for (const auto& v : values) out.push_back(v.get<std::int64_t>());
  return out;
}

std::vector<std::int64_t> reference(Graph& g, std::span<const TaskId> outs) {
  Plan plan = Plan::build(g, outs, {.cull = true, .fuse = false});
  return ints(make_sync_executor()->run(g, plan).outputs);
}

// Registered with 1 rank as well (tests/CMakeLists.txt): what happens under `mpirun -n 1`.
TEST(SingleRank, RuntimeRunsLocallyAndTheMpiExecutorSaysWhy) {
  if (world_size() != 1) GTEST_SKIP() << "only meaningful with one rank";
  Runtime rt;
  EXPECT_EQ(rt.executor().name(), "threads");
  auto inc = delayed([](int x) { return x + 1; }, "inc");
  EXPECT_EQ(rt.compute(inc(41)), 42);
  EXPECT_THAT(
      [] { make_mpi_executor(); },
      ::testing::ThrowsMessage<Error>(HasSubstr("needs at least 2 ranks (a scheduler and a worker)")));
}

class MpiExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (world_size() < 2) GTEST_SKIP() << "the MPI executor needs 2 or more ranks";
  }
  std::unique_ptr<Executor> exec_ = world_size() >= 2 ? make_mpi_executor({.bind = true}) : nullptr;
};

TEST_F(MpiExecutorTest, RolesAndConcurrency) {
  EXPECT_EQ(exec_->name(), "mpi");
  EXPECT_EQ(exec_->rank(), world_rank());
  EXPECT_EQ(exec_->ranks(), world_size());
  EXPECT_GE(exec_->concurrency(), world_size() - 1);
}

TEST_F(MpiExecutorTest, ChainsMatchTheLocalExecutor) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 8, 500, k);
  const auto expected = reference(g, ends);
  for (bool fuse : {false, true}) {
    Plan plan = Plan::build(g, ends, {.cull = true, .fuse = fuse});
    RunResult r = exec_->run(g, plan);
    EXPECT_EQ(ints(r.outputs), expected);
    EXPECT_EQ(r.stats.graph_tasks, 4000u);
    ASSERT_EQ(r.stats.workers.size(), static_cast<std::size_t>(world_size() - 1));
  }
}

TEST_F(MpiExecutorTest, TreesAndRandomDagsMatchTheLocalExecutor) {
  for (int fan_in : {2, 8}) {
    Graph g;
    const KernelId k = g.kernel(testing::sum_plus_index_kernel());
    testing::Tree tree = testing::add_tree(g, 3000, fan_in, k);
    const TaskId outs[] = {tree.root};
    const auto expected = reference(g, outs);
    EXPECT_EQ(ints(exec_->run(g, Plan::build(g, outs)).outputs), expected) << "fan-in " << fan_in;
  }
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    Graph g;
    const KernelId k = g.kernel(testing::sum_plus_index_kernel());
    auto ids = testing::add_random_dag(g, 1500, 4, seed, k);
    std::vector<TaskId> outs(ids.end() - 7, ids.end());
    outs.push_back(ids[100]);
    outs.push_back(ids[100]);
    const auto expected = reference(g, outs);
    EXPECT_EQ(ints(exec_->run(g, Plan::build(g, outs)).outputs), expected) << "seed " << seed;
  }
}

TEST_F(MpiExecutorTest, FloatingPointReductionIsBitIdentical) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1e8, 1e8);
  std::vector<Delayed<double>> xs;
  for (int i = 0; i < 3000; ++i) xs.push_back(literal(u(rng)));
  auto sum = tree_reduce(
      xs, [](double a, double b) { return a + b; }, 3);
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  const double expected = sync.compute(sum);
  Runtime rt;  // kAuto: MPI, since mpiexec started us with several ranks
  ASSERT_EQ(rt.executor().name(), "mpi");
  const double got = rt.compute(sum);
  EXPECT_EQ(std::memcmp(&got, &expected, sizeof(double)), 0);
}

TEST_F(MpiExecutorTest, TheSeedsExampleAndFutures) {
  Runtime rt;
  auto inc = delayed([](int x) { return x + 1; }, "inc");
  auto add = delayed([](int a, int b) { return a + b; }, "add");
  EXPECT_EQ(rt.compute(add(inc(1), inc(2))), 5);
  auto words = rt.map([](int n) { return std::string(static_cast<std::size_t>(n), 'x'); },
                      std::vector<int>{0, 3, 70000});
  auto lengths = rt.gather(words);
  EXPECT_EQ(lengths[1], "xxx");
  EXPECT_EQ(lengths[2].size(), 70000u);
  EXPECT_EQ(lengths[0], "");
}

TEST_F(MpiExecutorTest, DataMovesBetweenWorkersByTheChosenPath) {
  // A result made on the last worker and read on worker 1 travels by MPI_Rget, or on request when the data
  // plane is two-sided (TESSERA_TRANSFER=two-sided, or no RMA): worker 1 must report exactly its encoded size
  // as fetched from that rank on that path, the owner as served on request, and nobody else anything.
  const int last = world_size() - 1;
  constexpr std::size_t kDoubles = 1 << 17;  // 1 MiB
  Graph g;
  const TaskId big = g.add(
      TaskKey{"big", {0}},
      [](const TaskContext&) {
        std::vector<double> v(kDoubles);
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.5;
        return Value::of(std::move(v));
      },
      {}, TaskOptions{.rank = last});
  const TaskId small = g.add(
      TaskKey{"small", {0}}, [](const TaskContext&) { return Value::of(std::int64_t{7}); }, {},
      TaskOptions{.rank = 1});
  const TaskId use = g.add(
      TaskKey{"use", {0}},
      [](const TaskContext& ctx) {
        const auto& v = ctx.input<std::vector<double>>(0);
        double s = 0;
        for (double x : v) s += x;
        return Value::of(s + static_cast<double>(ctx.input<std::int64_t>(1)));
      },
      {big, small}, TaskOptions{.rank = 1});
  const TaskId outs[] = {use};
  RunResult r = exec_->run(g, Plan::build(g, outs));
  const double n = kDoubles;
  EXPECT_EQ(r.outputs[0].get<double>(), 0.5 * n * (n - 1) / 2 + 7);
  // With windows per node (simulated nodes in tests/cluster), the path depends on whether the ranks share
  // one.
  const bool two_sided =
      r.stats.transfer == "two-sided" ||
      (r.stats.transfer == "rma within nodes, two-sided between nodes" && !same_node(1, last));
  ASSERT_TRUE(two_sided || r.stats.transfer != "two-sided") << r.stats.transfer;
  const std::uint64_t bytes = kDoubles * sizeof(double);
  for (const WorkerStats& w : r.stats.workers) {
    const std::uint64_t expected = (last != 1 && w.rank == 1) ? bytes : 0;
    EXPECT_EQ(w.bytes_fetched, expected) << "rank " << w.rank;
    EXPECT_EQ(w.bytes_two_sided, two_sided ? expected : 0) << "rank " << w.rank;
    EXPECT_EQ(w.bytes_rma, two_sided ? 0 : expected) << "rank " << w.rank;
    EXPECT_EQ(w.bytes_served, (two_sided && last != 1 && w.rank == last) ? bytes : 0) << "rank " << w.rank;
    if (expected > 0) {
      EXPECT_EQ(w.bytes_from[static_cast<std::size_t>(last)], expected);
      EXPECT_EQ(w.gets, two_sided ? 0u : 1u);
      EXPECT_EQ(w.requests, two_sided ? 1u : 0u);
    }
  }
}

TEST_F(MpiExecutorTest, TaskFailureReachesEveryRankAndExecutorIsReusable) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 4, 100, k);
  const TaskId bad = g.add(
      TaskKey{"mean-3f2a", {4, 0}},
      [](const TaskContext&) -> Value { throw std::runtime_error("division by zero in chunk"); }, {ends[2]});
  std::vector<TaskId> outs = ends;
  outs.push_back(bad);
  try {
    exec_->run(g, Plan::build(g, outs));
    ADD_FAILURE() << "expected TaskError on rank " << world_rank();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.task_key(), "(\"mean-3f2a\", 4, 0)");
    EXPECT_EQ(e.original_message(), "division by zero in chunk");
    EXPECT_GE(e.rank(), 1);
    EXPECT_THAT(e.what(), HasSubstr("failed: division by zero in chunk"));
  }
  RunResult r = exec_->run(g, Plan::build(g, ends));
  EXPECT_EQ(r.outputs[3].get<std::int64_t>(), 300);
}

// A stop request on rank 0 (a signal from Slurm) ends the run on every rank with the same kCancelled error; a
// worker's request alone is ignored (srun sends signals to every rank, rank 0 decides).
TEST_F(MpiExecutorTest, StopRequestOnTheSchedulerEndsTheRunEverywhere) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 4, 100, k);
  if (world_rank() == 0) request_stop(SIGUSR2);
  try {
    exec_->run(g, Plan::build(g, ends));
    ADD_FAILURE() << "the run did not stop on rank " << world_rank();
  } catch (const TaskError& e) {
    ADD_FAILURE() << "a stop is not a task's failure: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled);
    EXPECT_THAT(e.what(), HasSubstr("stopped on request (SIGUSR2) with "));
  }
  clear_stop();
  if (world_rank() != 0) request_stop(SIGUSR1);  // workers only: ignored
  RunResult r = exec_->run(g, Plan::build(g, ends));
  EXPECT_EQ(r.outputs[3].get<std::int64_t>(), 300);
  clear_stop();
}

TEST_F(MpiExecutorTest, ErrorCodesTravelWithTheError) {
  Graph g;
  const TaskId t = g.add(
      TaskKey{"read", {3}},
      [](const TaskContext&) -> Value {
        throw Error(ErrorCode::kNotFound, "variable \"t2m\" not in era5.nc");
      },
      {}, TaskOptions{.retries = 1});
  const TaskId outs[] = {t};
  try {
    exec_->run(g, Plan::build(g, outs));
    ADD_FAILURE();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_EQ(e.attempts(), 1) << "a missing variable stays missing: no retry";
    EXPECT_THAT(e.what(), HasSubstr("failed: variable"));
  }
}

TEST_F(MpiExecutorTest, DifferentGraphsOnDifferentRanksAreAnErrorEverywhere) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 2, world_rank() == 1 ? 11 : 10, k);
  try {
    exec_->run(g, Plan::build(g, ends, {.cull = true, .fuse = false}));
    ADD_FAILURE() << "rank " << world_rank() << " ran a mismatched graph";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("ranks built different task graphs"));
    EXPECT_THAT(e.what(), HasSubstr("rank 1 planned 22"));
  }
}

struct Opaque {
  int v;
  std::vector<std::string> names;  // not trivially copyable, no Codec
};

TEST_F(MpiExecutorTest, ValuesWithoutCodecStayOnTheirWorker) {
  // A chain of codec-less values stays on one worker and works; returning one to every rank is a clear error.
  Graph g;
  const TaskId a = g.add(TaskKey{"make", {0}}, [](const TaskContext&) {
    return Value::of(Opaque{20, {"a"}});
  });
  const TaskId b = g.add(TaskKey{"grow", {0}},
                         [](const TaskContext& c) {
                           return Value::of(Opaque{c.input<Opaque>(0).v + 1, {}});
                         },
                         {a});
  const TaskId c =
      g.add(TaskKey{"out", {0}},
            [](const TaskContext& ctx) { return Value::of(std::int64_t{ctx.input<Opaque>(0).v * 2}); }, {b});
  const TaskId outs[] = {c};
  EXPECT_EQ(exec_->run(g, Plan::build(g, outs, {.cull = true, .fuse = false})).outputs[0].get<std::int64_t>(),
            42);
  const TaskId opaque_out[] = {b};
  EXPECT_THAT([&] { exec_->run(g, Plan::build(g, opaque_out)); },
              ::testing::ThrowsMessage<Error>(HasSubstr("cannot be sent to every rank")));
}

TEST_F(MpiExecutorTest, ChainsRunWhereTheyStartWithoutPublishingIntermediates) {
  // Pre-assignment: each chain step is assigned together with its predecessor, so only the chain ends (the
  // outputs, which every rank receives) are ever written to a worker's RMA arena.
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 4, 200, k);
  RunResult r = exec_->run(g, Plan::build(g, ends, {.cull = true, .fuse = false}));
  std::uint64_t published = 0, fetched = 0;
  for (const WorkerStats& w : r.stats.workers) {
    published += w.bytes_published;
    fetched += w.bytes_fetched;
  }
  EXPECT_EQ(published, 4 * sizeof(std::int64_t));
  EXPECT_EQ(fetched, 0u);
}

TEST_F(MpiExecutorTest, PinnedTaskCannotReadACodeclessResultFromAnotherRank) {
  if (world_size() < 3) GTEST_SKIP() << "needs two workers";
  Graph g;
  const TaskId a = g.add(
      TaskKey{"opaque", {0}},
      [](const TaskContext&) {
        return Value::of(Opaque{1, {}});
      },
      {}, TaskOptions{.rank = 2});
  const TaskId b = g.add(
      TaskKey{"reader", {0}},
      [](const TaskContext& c) { return Value::of(std::int64_t{c.input<Opaque>(0).v}); }, {a},
      TaskOptions{.rank = 1});
  const TaskId outs[] = {b};
  try {
    exec_->run(g, Plan::build(g, outs, {.cull = true, .fuse = false}));
    ADD_FAILURE() << "expected an error on rank " << world_rank();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("pinned to rank 1"));
    EXPECT_THAT(e.what(), HasSubstr("cannot leave rank 2"));
  }
  Graph ok;  // the executor is still usable
  const KernelId k = ok.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(ok, 2, 10, k);
  EXPECT_EQ(exec_->run(ok, Plan::build(ok, ends)).outputs[1].get<std::int64_t>(), 10);
}

// A type whose decoding fails, as a corrupt or mismatched custom codec would.
struct Fragile {
  int v;
};

}  // namespace

template <>
struct Codec<Fragile> {
  static constexpr bool kDefined = true;
  static std::size_t size(const Fragile&) { return sizeof(int); }
  static void encode(const Fragile& f, std::byte* out) { std::memcpy(out, &f.v, sizeof(int)); }
  static Fragile decode(const std::byte*, std::size_t) {
    throw std::runtime_error("cannot decode a Fragile");
  }
};

namespace {

TEST_F(MpiExecutorTest, DecodeFailuresEndTheRunOnEveryRank) {
  if (world_size() < 3) GTEST_SKIP() << "needs two workers";
  {
    Graph g;  // a transfer between workers that cannot be decoded
    const TaskId a = g.add(
        TaskKey{"fragile", {0}}, [](const TaskContext&) { return Value::of(Fragile{3}); }, {},
        TaskOptions{.rank = 2});
    const TaskId b = g.add(
        TaskKey{"reader", {0}}, [](const TaskContext& c) { return Value::of(c.input<Fragile>(0).v); }, {a},
        TaskOptions{.rank = 1});
    const TaskId outs[] = {b};
    EXPECT_THAT([&] { exec_->run(g, Plan::build(g, outs)); },
                ::testing::ThrowsMessage<Error>(HasSubstr("cannot decode a Fragile")));
  }
  {
    Graph g;  // an output that cannot be decoded on the ranks that did not make it
    const TaskId a = g.add(TaskKey{"fragile", {1}}, [](const TaskContext&) { return Value::of(Fragile{4}); });
    const TaskId outs[] = {a};
    EXPECT_THAT([&] { exec_->run(g, Plan::build(g, outs)); },
                ::testing::ThrowsMessage<Error>(HasSubstr("cannot decode a Fragile")));
  }
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  auto ends = testing::add_chains(g, 2, 10, k);
  EXPECT_EQ(exec_->run(g, Plan::build(g, ends)).outputs.size(), 2u);
}

TEST_F(MpiExecutorTest, ManyRunsBackToBack) {
  Graph g;
  const KernelId k = g.kernel(testing::sum_plus_index_kernel());
  testing::Tree tree = testing::add_tree(g, 200, 4, k);
  const TaskId outs[] = {tree.root};
  Plan plan = Plan::build(g, outs);
  const auto first = exec_->run(g, plan).outputs[0].get<std::int64_t>();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(exec_->run(g, plan).outputs[0].get<std::int64_t>(), first);
  RunResult empty = exec_->run(g, Plan::build(g, {}));
  EXPECT_TRUE(empty.outputs.empty());
}

}  // namespace
}  // namespace tessera
