// Recording under MPI (run with 2+ ranks): rank 0 gets one trace with every task once, on worker tracks, with
// transfers between workers that agree with the run's byte counters; other ranks get none.
#include <mpi.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "../../runtime/src/mpi/trace_wire.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/live_view.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/runtime.h"
#include "trace_check.h"

namespace tessera {
namespace {

int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// Task events travel delta- and varint-coded (runtime/src/mpi/trace_wire.h): every value comes back, however
// the fields move from one event to the next, and a damaged stream is refused rather than misread.
TEST(MpiTrace, TaskEventsSurviveTheWireCodingAndADamagedStreamIsRefused) {
  constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();
  constexpr std::uint32_t kMax32 = std::numeric_limits<std::uint32_t>::max();
  detail::EventList events = {
      {5, 9, 100, 250, 0},
      {3, 1, 90, 95, 8},               // task and graph task go back; starts before the previous end
      {kMax32, 0, 0, kMax64, kMax64},  // extremes
      {0, kMax32, kMax64, kMax64, 1},  // and back
      {7, 7, 1000, 900, 4096},         // an end before its start still comes back as it was
  };
  for (std::uint32_t i = 0; i < 1000; ++i) {  // a typical run: tasks near each other, back to back
    const std::uint64_t t = 2000 + 300ULL * i;
    events.push_back({100 + i, 200 + 2 * i, t + 40, t + 290, i % 3 == 0 ? 0 : 64});
  }
  mpi::WireWriter w;
  w.put<std::uint8_t>(42);  // coded after other bytes, as in a recording
  mpi::put_events(w, events);
  mpi::put_events(w, detail::EventList{});
  w.put<std::uint8_t>(43);
  EXPECT_LT(w.size(), 1 + 16 + 1000 * 10 + 5 * 50 + 16 + 1) << "about 8 bytes an event, not 32";
  {
    mpi::WireReader r(w.bytes().data(), w.size());
    EXPECT_EQ(r.get<std::uint8_t>(), 42);
    const auto back = mpi::get_events<detail::EventList>(r);
    ASSERT_EQ(back.size(), events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(back[i].task, events[i].task) << i;
      EXPECT_EQ(back[i].graph_task, events[i].graph_task) << i;
      EXPECT_EQ(back[i].start, events[i].start) << i;
      EXPECT_EQ(back[i].end, events[i].end) << i;
      EXPECT_EQ(back[i].bytes, events[i].bytes) << i;
    }
    EXPECT_TRUE(mpi::get_events<detail::EventList>(r).empty());
    EXPECT_EQ(r.get<std::uint8_t>(), 43);
    EXPECT_TRUE(r.done());
  }
  // The first list's stream, cut short by one byte (its declared length kept): refused.
  std::vector<std::byte> bytes = w.bytes();
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data() + 1 + 8, sizeof n);
  std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(1 + 16 + n - 1));
  {
    mpi::WireReader r(cut.data(), cut.size());
    r.get<std::uint8_t>();
    EXPECT_THROW(mpi::get_events<detail::EventList>(r), Error);
  }
  // A stream whose last varint never ends (continuation bit set): refused.
  bytes[1 + 16 + n - 1] |= std::byte{0x80};
  {
    mpi::WireReader r(bytes.data(), bytes.size());
    r.get<std::uint8_t>();
    EXPECT_THROW(mpi::get_events<detail::EventList>(r), Error);
  }
  // More events declared than the stream could hold: refused before anything is sized.
  std::vector<std::byte> lying = w.bytes();
  const std::uint64_t many = std::uint64_t{1} << 40;
  std::memcpy(lying.data() + 1, &many, sizeof many);
  {
    mpi::WireReader r(lying.data(), lying.size());
    r.get<std::uint8_t>();
    EXPECT_THROW(mpi::get_events<detail::EventList>(r), Error);
  }
}

// Compute threads that wait for work count the wait as idle: while one task sleeps 100 ms, the other
// threads (and the sleeper's dependents) can only wait. Each thread's busy and idle time fit in the run.
TEST(MpiTrace, WaitsForWorkCountAsIdle) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  auto exec = make_mpi_executor({.threads = 2, .record = {.enabled = true}});
  Graph g;
  const std::vector<TaskId> outputs = test::build_wait_graph(g, 100);
  Plan plan = Plan::build(g, outputs);
  RunResult r = exec->run(g, plan);
  if (exec->rank() != 0) return;
  ASSERT_TRUE(r.trace);
  const RunTrace& t = *r.trace;
  double idle = 0;
  for (const ThreadTime& th : t.thread_times) {
    EXPECT_GE(th.idle, 0);
    EXPECT_LE(th.busy + th.idle, t.seconds + 0.05) << "rank " << th.rank << " thread " << th.thread;
    idle += th.idle;
  }
  // At least one other thread waits the whole 100 ms (there are 2 per worker).
  EXPECT_GE(idle, 0.08);
  EXPECT_LE(idle, static_cast<double>(t.thread_times.size()) * (t.seconds + 0.05));
}

TEST(MpiTrace, RankZeroGetsEveryTaskOnceWithTransfers) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  std::vector<Progress> calls;
  auto exec = make_mpi_executor({.threads = 2,
                                 .record = {.enabled = true},
                                 .progress = {[&](const Progress& p) { calls.push_back(p); }, 0.001}});
  const int workers = world_size() - 1;
  for (int round = 0; round < 2; ++round) {
    calls.clear();
    Graph g;
    auto outputs = test::build_trace_graph(g, 96, workers);
    Plan plan = Plan::build(g, outputs);
    RunResult r = exec->run(g, plan);
    if (exec->rank() != 0) {
      EXPECT_FALSE(r.trace);
      EXPECT_TRUE(calls.empty());
      continue;
    }
    ASSERT_TRUE(r.trace);
    const RunTrace& t = *r.trace;
    EXPECT_EQ(t.executor, "mpi");
    EXPECT_EQ(t.ranks, world_size());
    EXPECT_EQ(t.tasks.size(), plan.size());
    EXPECT_EQ(t.tasks_total, plan.size());
    std::uint64_t counted = 0;
    for (const KindSummary& k : t.kind_summary) counted += k.count;
    EXPECT_EQ(counted, plan.size());
    for (const TaskEvent& e : t.tasks) {
      EXPECT_GE(e.rank, 1);
      EXPECT_LT(e.rank, world_size());
    }
    std::set<int> ranks_with_memory;
    for (const ResourceSample& s : t.resources) ranks_with_memory.insert(s.rank);
    EXPECT_EQ(ranks_with_memory.size(), static_cast<std::size_t>(world_size()));
    EXPECT_FALSE(t.scheduler.empty());
    // Progress groups: the reads and the means, counted by the scheduler.
    ASSERT_FALSE(calls.empty());
    ASSERT_TRUE(calls.back().final);
    ASSERT_EQ(calls.back().groups.size(), 2u);
    EXPECT_EQ(calls.back().groups[0].label, "reads");
    EXPECT_EQ(calls.back().groups[0].total, 96u);
    EXPECT_EQ(calls.back().groups[0].done, 96u);
    EXPECT_EQ(calls.back().groups[1].label, "means");
    EXPECT_EQ(calls.back().groups[1].total, 48u);
    EXPECT_EQ(calls.back().groups[1].done, 48u);
    for (const Progress& p : calls) {
      ASSERT_EQ(p.groups.size(), 2u);
      EXPECT_LE(p.groups[0].done, 96u);
    }
    EXPECT_EQ(t.group_totals, (std::vector<std::uint64_t>{96, 48}));
    ASSERT_EQ(t.group_done.size(), t.scheduler.size());
    EXPECT_EQ(t.group_done.back(), (std::vector<std::uint64_t>{96, 48}));
    // Transfers: one event per fetch, bytes as the workers counted them; small results came inline with
    // the assignments (no fetch, no event) and count in the matrix only.
    std::uint64_t fetched = 0;
    std::uint64_t inlined = 0;
    for (const WorkerStats& w : r.stats.workers) {
      fetched += w.bytes_fetched;
      inlined += w.bytes_inline;
      EXPECT_EQ(w.bytes_fetched, w.bytes_rma + w.bytes_two_sided + w.bytes_inline) << "rank " << w.rank;
    }
    std::uint64_t recorded = 0;
    for (const TransferEvent& x : t.transfers) {
      recorded += x.bytes;
      EXPECT_NE(x.source, x.rank);
      EXPECT_LE(x.start, x.end);
    }
    EXPECT_EQ(recorded, fetched - inlined);
    std::uint64_t matrix = 0;
    for (std::uint64_t b : t.bytes_between) matrix += b;
    EXPECT_EQ(matrix, fetched);
    if (workers >= 2) EXPECT_GT(fetched, 0u);
    std::ostringstream json;
    write_chrome_trace(t, json);
    nlohmann::json doc = test::check_chrome_trace(json.str(), plan.size(), &t);
    int flows = 0;
    for (const auto& e : doc["traceEvents"]) flows += e["ph"] == "f";
    if (workers >= 2) EXPECT_GT(flows, 0);
    std::ostringstream html;
    write_html_report(t, html);
    EXPECT_NE(html.str().find("\"executor\":\"mpi\""), std::string::npos);
    ASSERT_FALSE(calls.empty());
    EXPECT_TRUE(calls.back().final);
    EXPECT_EQ(calls.back().tasks_done, plan.size());
  }
}

// Rank 0 publishes live snapshots while the workers run: a worker table with one row per worker, and the
// finished tasks as the scheduler learns them, each with the rank that ran it and its measured time.
TEST(MpiTrace, RankZeroPublishesLiveSnapshotsWithTheWorkerTable) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  auto live = std::make_shared<LiveView>();
  MpiExecutorOptions options{.threads = 2};
  options.progress.seconds = 0.001;
  options.progress.live = live;
  auto exec = make_mpi_executor(options);
  const int workers = world_size() - 1;
  Graph g;
  auto outputs = test::build_trace_graph(g, 96, workers);
  Plan plan = Plan::build(g, outputs);
  std::atomic<bool> running{true};
  std::atomic<int> looks{0};
  std::thread viewer([&] {  // a reader on another thread, as a dashboard's server is
    while (running.load()) {
      if (live->latest() != nullptr) ++looks;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  exec->run(g, plan);
  running = false;
  viewer.join();
  if (exec->rank() != 0) {
    EXPECT_EQ(live->latest(), nullptr) << "only rank 0 publishes";
    return;
  }
  const std::shared_ptr<const LiveSnapshot> last = live->latest();
  ASSERT_NE(last, nullptr);
  EXPECT_TRUE(last->finished);
  EXPECT_EQ(last->executor, "mpi");
  EXPECT_EQ(last->progress.tasks_done, plan.size());
  ASSERT_EQ(last->workers.size(), static_cast<std::size_t>(workers));
  std::uint64_t done = 0;
  for (int w = 0; w < workers; ++w) {
    EXPECT_EQ(last->workers[static_cast<std::size_t>(w)].rank, w + 1);
    EXPECT_EQ(last->workers[static_cast<std::size_t>(w)].threads, 2);
    EXPECT_FALSE(last->workers[static_cast<std::size_t>(w)].binding.empty());
    done += last->workers[static_cast<std::size_t>(w)].tasks_done;
  }
  EXPECT_EQ(done, plan.size());
  ASSERT_EQ(last->recent.size(), std::min<std::size_t>(plan.size(), LiveView::kRecent));
  std::set<std::uint32_t> tasks;
  for (const RecentTask& r : last->recent) {
    EXPECT_GE(r.rank, 1);
    EXPECT_LE(r.rank, workers);
    EXPECT_GE(r.seconds, 0);
    ASSERT_LT(r.name, last->names.size());
    tasks.insert(r.task);
  }
  EXPECT_EQ(tasks.size(), last->recent.size()) << "each finished task once";
}

TEST(MpiTrace, TheEventCapHoldsForTheWholeRunHoweverManyWorkers) {
  // max_events bounds what rank 0 gathers: each worker keeps its share; totals stay exact.
  if (world_size() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  constexpr std::size_t kCap = 120;
  auto exec = make_mpi_executor({.threads = 2, .record = {.enabled = true, .max_events = kCap}});
  Graph g;
  auto outputs = test::build_trace_graph(g, 960, world_size() - 1);
  Plan plan = Plan::build(g, outputs);
  RunResult r = exec->run(g, plan);
  if (exec->rank() != 0) return;
  ASSERT_TRUE(r.trace);
  const RunTrace& t = *r.trace;
  EXPECT_TRUE(t.tasks_sampled);
  EXPECT_LE(t.tasks.size(), kCap);
  EXPECT_GT(t.tasks.size(), 0u);
  std::uint64_t counted = 0;
  for (const KindSummary& k : t.kind_summary) counted += k.count;
  EXPECT_EQ(counted, plan.size());
  EXPECT_EQ(t.tasks_total, plan.size());
}

TEST(MpiTrace, RuntimeOptionsReachTheMpiExecutor) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 or more ranks";
  RuntimeOptions options;
  options.executor = ExecutorKind::kMpi;
  options.record.enabled = true;
  Runtime rt(options);
  auto inc = delayed([](int x) { return x + 1; }, "inc");
  EXPECT_EQ(rt.compute(inc(inc(1))), 3);
  if (rt.rank() == 0) {
    ASSERT_NE(rt.last_trace(), nullptr);
    EXPECT_EQ(rt.last_trace()->tasks_total, rt.last_stats().plan_tasks);
  } else {
    EXPECT_EQ(rt.last_trace(), nullptr);
  }
}

}  // namespace
}  // namespace tessera
