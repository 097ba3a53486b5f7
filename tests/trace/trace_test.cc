// Recording on the local executors: the trace validates, totals match the run, sampling past the cap keeps
// exact totals, progress calls, the report's content and size, and task kinds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tessera/runtime/executor.h"
#include "tessera/runtime/live_view.h"
#include "tessera/runtime/runtime.h"
#include "tessera/runtime/trace.h"
#include "trace_check.h"

namespace tessera {
namespace {

TEST(TaskKind, DropsHashAndNumberSuffixes) {
  EXPECT_EQ(task_kind("mean-3f2a"), "mean");
  EXPECT_EQ(task_kind("read-t2m-8e1f"), "read-t2m");
  EXPECT_EQ(task_kind("store-write"), "store-write");
  EXPECT_EQ(task_kind("sum"), "sum");
  EXPECT_EQ(task_kind("add-12"), "add");
  EXPECT_EQ(task_kind("chunk_7"), "chunk");
  EXPECT_EQ(task_kind("rechunk-merge-9a8b7c6d5e"), "rechunk-merge");
  EXPECT_EQ(task_kind("abcd"), "abcd");  // no digit: a word, not a hash
  EXPECT_EQ(task_kind("-12"), "-12");    // nothing would be left
  EXPECT_EQ(task_kind("beef-cafe"), "beef-cafe");
}

struct Recorded {
  RunResult result;
  Plan plan;
};

Recorded run_recorded(Executor& exec, int chunks, bool fuse = true) {
  Graph g;
  auto outputs = test::build_trace_graph(g, chunks);
  Plan plan = Plan::build(g, outputs, {.cull = true, .fuse = fuse});
  RunResult r = exec.run(g, plan);
  return {std::move(r), std::move(plan)};
}

void check_trace_matches_run(const Recorded& rec, const std::string& executor) {
  ASSERT_TRUE(rec.result.trace);
  const RunTrace& t = *rec.result.trace;
  EXPECT_EQ(t.executor, executor);
  EXPECT_EQ(t.tasks_total, rec.plan.size());
  EXPECT_EQ(t.tasks.size(), rec.plan.size());
  EXPECT_FALSE(t.tasks_sampled);
  std::uint64_t counted = 0;
  std::uint64_t bytes = 0;
  for (const KindSummary& k : t.kind_summary) {
    counted += k.count;
    bytes += k.bytes;
  }
  EXPECT_EQ(counted, rec.plan.size());
  std::vector<std::string> kinds;
  for (const KindSummary& k : t.kind_summary) kinds.push_back(k.kind);
  EXPECT_THAT(kinds, ::testing::UnorderedElementsAre("read-t2m", "mean", "sum", "store-write"));
  // 64 reads of 1000 doubles, 32 means and the sums/store of one double each.
  EXPECT_GE(bytes, 64u * 8000u);
  for (const TaskEvent& e : t.tasks) {
    EXPECT_LE(e.start, e.end);
    EXPECT_LE(e.end, t.seconds + 1e-3);
  }
  EXPECT_FALSE(t.resources.empty());
  EXPECT_GT(t.resources.front().rss, 0u);
  EXPECT_FALSE(t.scheduler.empty());
  EXPECT_EQ(t.scheduler.back().done, rec.plan.size());
  EXPECT_GE(t.compute_seconds, 0);
  EXPECT_EQ(t.thread_times.size(), static_cast<std::size_t>(t.threads[0]));

  std::ostringstream json;
  write_chrome_trace(t, json);
  test::check_chrome_trace(json.str(), rec.plan.size(), &t);
}

TEST(Trace, ThreadPoolRecordsEveryTaskOnce) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  for (int round = 0; round < 2; ++round) {  // a reused executor records each run afresh
    Recorded rec = run_recorded(*exec, 64);
    check_trace_matches_run(rec, "threads");
  }
}

TEST(Trace, SyncExecutorRecordsEveryTaskOnce) {
  auto exec = make_sync_executor({.record = {.enabled = true}});
  Recorded rec = run_recorded(*exec, 64);
  check_trace_matches_run(rec, "sync");
}

TEST(Trace, NothingIsRecordedWhenOff) {
  auto exec = make_thread_pool_executor({.threads = 2});
  Recorded rec = run_recorded(*exec, 16);
  EXPECT_FALSE(rec.result.trace);
}

TEST(Trace, PastTheCapTotalsStayExactAndEventsAreASample) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true, .max_events = 40}});
  Recorded rec = run_recorded(*exec, 256, /*fuse=*/false);
  ASSERT_TRUE(rec.result.trace);
  const RunTrace& t = *rec.result.trace;
  EXPECT_TRUE(t.tasks_sampled);
  EXPECT_LE(t.tasks.size(), 40u);
  // Each thread keeps its share of the cap (20) or every task it ran; one past its share keeps at least half.
  ASSERT_EQ(t.thread_times.size(), 2u);
  for (const ThreadTime& th : t.thread_times) {
    const auto kept = static_cast<std::uint64_t>(std::count_if(
        t.tasks.begin(), t.tasks.end(), [&](const TaskEvent& e) { return e.thread == th.thread; }));
    if (th.tasks <= 20) {
      EXPECT_EQ(kept, th.tasks) << "thread " << th.thread;
    } else {
      EXPECT_GE(kept, 10u) << "thread " << th.thread;
      EXPECT_LE(kept, 20u) << "thread " << th.thread;
    }
  }
  std::uint64_t counted = 0;
  for (const KindSummary& k : t.kind_summary) counted += k.count;
  EXPECT_EQ(counted, rec.plan.size());
  std::uint64_t per_thread = 0;
  for (const ThreadTime& th : t.thread_times) per_thread += th.tasks;
  EXPECT_EQ(per_thread, rec.plan.size());
  std::ostringstream json;
  write_chrome_trace(t, json);
  nlohmann::json doc = nlohmann::json::parse(json.str());
  EXPECT_EQ(doc["otherData"]["sampled"], true);
  // The per-output counter comes from the scheduler samples here and still ends at each output's count.
  nlohmann::json last;
  for (const auto& e : doc["traceEvents"]) {
    if (e["name"] == "progress") last = e;
  }
  ASSERT_TRUE(last.is_object());
  EXPECT_EQ(last["args"]["reads"], 256);
  EXPECT_EQ(last["args"]["means"], 128);
}

// With more threads than the cap has events (31 workers x 2 threads under MPI with max_events 120), each
// thread keeps one event: it must fold every later one (it wrote past its buffer once: rank 0 crashed or
// decoded garbage at 32 ranks).
TEST(Trace, AThreadWhoseShareOfTheCapIsOneEventKeepsOneAndCountsTheRest) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true, .max_events = 2}});
  Recorded rec = run_recorded(*exec, 256, /*fuse=*/false);
  ASSERT_TRUE(rec.result.trace);
  const RunTrace& t = *rec.result.trace;
  EXPECT_TRUE(t.tasks_sampled);
  EXPECT_LE(t.tasks.size(), 2u);
  EXPECT_GE(t.tasks.size(), 1u);
  std::uint64_t counted = 0;
  for (const KindSummary& k : t.kind_summary) counted += k.count;
  EXPECT_EQ(counted, rec.plan.size());
}

// max_events bounds the run, not each thread's even share of it: a run that fits keeps every event however
// unevenly its threads share the tasks (one chain runs on one thread at a time, so one thread can run most of
// it), and its buffers grow past the share they start at.
TEST(Trace, ARunThatFitsTheCapKeepsEveryEventHoweverItsThreadsShareIt) {
  Graph g;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  TaskId prev = g.add(g.name("c"), {0}, noop, {});
  for (int i = 1; i < 5000; ++i) prev = g.add(g.name("c"), {i}, noop, {prev});
  Plan plan = Plan::build(g, std::vector<TaskId>{prev}, {.cull = true, .fuse = false});
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true, .max_events = 5000}});
  for (int round = 0; round < 2; ++round) {  // the second run starts from the pooled buffers
    RunResult r = exec->run(g, plan);
    ASSERT_TRUE(r.trace);
    const RunTrace& t = *r.trace;
    EXPECT_FALSE(t.tasks_sampled);
    ASSERT_EQ(t.tasks.size(), 5000u);
    std::uint64_t most = 0;
    for (const ThreadTime& th : t.thread_times) most = std::max(most, th.tasks);
    EXPECT_GT(most, 2500u) << "one thread ran more than an even share";  // what makes this test a test
    std::vector<int> seen(5000, 0);
    for (const TaskEvent& e : t.tasks) ++seen[static_cast<std::size_t>(t.index_pool[e.index_begin])];
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 5000);
  }
}

// A thread that waits for work counts the wait as idle: while one task sleeps 300 ms, the other thread can
// only wait (once it has woken for the run: up to 200 ms late on a loaded machine still passes). Each
// thread's busy and idle time fit in the run.
TEST(Trace, WaitsForWorkCountAsIdle) {
  Graph g;
  const std::vector<TaskId> outputs = test::build_wait_graph(g, 300);
  Plan plan = Plan::build(g, outputs);
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  RunResult r = exec->run(g, plan);
  ASSERT_TRUE(r.trace);
  const RunTrace& t = *r.trace;
  ASSERT_EQ(t.thread_times.size(), 2u);
  double idle = 0;
  for (const ThreadTime& th : t.thread_times) {
    EXPECT_GE(th.idle, 0);
    EXPECT_LE(th.busy + th.idle, t.seconds + 0.02) << "thread " << th.thread;
    idle += th.idle;
  }
  EXPECT_GE(idle, 0.1);
  EXPECT_LE(idle, 2 * (t.seconds + 0.02));
}

TEST(Trace, PastTheCapASyncRunKeepsEveryStrideThTaskInOrder) {
  // One thread runs in plan order: past the cap the kept tasks are plan tasks 0, s, 2s, ... for a power of
  // two s, so the sample spans the whole run.
  auto exec = make_sync_executor({.record = {.enabled = true, .max_events = 50}});
  Recorded rec = run_recorded(*exec, 256, /*fuse=*/false);
  ASSERT_TRUE(rec.result.trace);
  const RunTrace& t = *rec.result.trace;
  ASSERT_TRUE(t.tasks_sampled);
  ASSERT_GE(t.tasks.size(), 25u);
  ASSERT_LE(t.tasks.size(), 50u);
  const std::uint32_t stride = t.tasks[1].task - t.tasks[0].task;
  EXPECT_EQ(t.tasks[0].task, 0u);
  EXPECT_GE(stride, 2u);
  EXPECT_EQ(stride & (stride - 1), 0u) << stride;
  for (std::size_t i = 1; i < t.tasks.size(); ++i) {
    EXPECT_EQ(t.tasks[i].task, t.tasks[i - 1].task + stride) << i;
    EXPECT_GE(t.tasks[i].start, t.tasks[i - 1].end);
  }
  EXPECT_GT(t.tasks.back().task + stride, rec.plan.size() - stride);  // the sample reaches the run's end
  std::uint64_t counted = 0;
  for (const KindSummary& k : t.kind_summary) counted += k.count;
  EXPECT_EQ(counted, rec.plan.size());
}

// The sync executor keeps only its clock reads while it runs and makes the events when the trace is looked
// at, from the graph's keys and the plan's result tasks, both shared: neither needs to outlive the run.
TEST(Trace, ASyncRecordingOutlivesItsGraphAndPlan) {
  auto exec = make_sync_executor({.record = {.enabled = true}});
  for (bool fuse : {false, true}) {  // unfused: the plan's task list is shared; fused: copied
    RunResult r;
    std::size_t tasks = 0;
    {
      Graph g;
      auto outputs = test::build_trace_graph(g, 64);
      Plan plan = Plan::build(g, outputs, {.cull = true, .fuse = fuse});
      tasks = plan.size();
      r = exec->run(g, plan);
    }
    ASSERT_TRUE(r.trace);
    const RunTrace& t = *r.trace;
    ASSERT_EQ(t.tasks.size(), tasks);
    std::set<std::uint32_t> seen;
    for (const TaskEvent& e : t.tasks) seen.insert(e.task);
    EXPECT_EQ(seen.size(), tasks);
    std::vector<std::string> keys;
    for (const TaskEvent& e : t.tasks) keys.push_back(t.key_of(e));
    EXPECT_THAT(keys, ::testing::Contains("('read-t2m-8e1f', 63)"));
    std::ostringstream json;
    write_chrome_trace(t, json);
    test::check_chrome_trace(json.str(), tasks, &t);
  }
}

// A sync run keeps its clock reads only up to the event cap: one with more (tasks that each take a read)
// turns them into events as it goes, sampled past the cap as on any thread; either way every name's totals
// are exact.
TEST(Trace, ASyncRunWithMoreClockReadsThanTheCapStaysBoundedAndExact) {
  Graph g;
  const KernelId slow = g.kernel([](const TaskContext&) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }
    return Value::of(1.0);
  });
  std::vector<TaskId> outs;
  for (int i = 0; i < 300; ++i) outs.push_back(g.add(g.name(i % 3 == 0 ? "a" : "b"), {i}, slow, {}));
  Plan plan = Plan::build(g, outs, {.cull = true, .fuse = false});
  for (std::size_t cap : {std::size_t{1000}, std::size_t{40}}) {
    auto exec = make_sync_executor({.record = {.enabled = true, .max_events = cap}});
    RunResult r = exec->run(g, plan);
    ASSERT_TRUE(r.trace);
    const RunTrace& t = *r.trace;
    EXPECT_EQ(t.tasks_sampled, cap < 300) << cap;
    EXPECT_LE(t.tasks.size(), std::min<std::size_t>(cap, 300)) << cap;
    if (cap < 300) {
      EXPECT_GE(t.tasks.size(), cap / 2) << cap;
    }
    std::map<std::string, std::uint64_t> counts;
    double seconds = 0;
    for (const KindSummary& k : t.kind_summary) {
      counts[k.kind] = k.count;
      seconds += k.seconds;
    }
    EXPECT_EQ(counts["a"], 100u) << cap;
    EXPECT_EQ(counts["b"], 200u) << cap;
    EXPECT_GE(seconds, 300 * 2e-6) << cap;  // every task's time counted, kept or folded
    for (std::size_t i = 1; i < t.tasks.size(); ++i) {
      EXPECT_GT(t.tasks[i].task, t.tasks[i - 1].task);
      EXPECT_GE(t.tasks[i].start, t.tasks[i - 1].end);
    }
  }
}

// Every event carries its own result's encoded size, whether sizes repeat (the sync executor keeps only where
// they change), change, drop to 0 (no value) or come back, on both local executors, kept compact or made
// during the run past the cap.
TEST(Trace, EveryTaskCarriesItsResultsSize) {
  Graph g;
  // Sizes in runs: 8-byte doubles, then vectors of 3, 3, 5 doubles, then no value, then doubles again.
  auto size_of = [](std::int64_t i) -> std::uint64_t {
    const std::int64_t r = i % 40;
    if (r < 15) return sizeof(double);
    if (r < 25) return 3 * sizeof(double);
    if (r < 28) return 5 * sizeof(double);
    if (r < 33) return 0;
    return sizeof(double);
  };
  const KernelId k = g.kernel([&size_of](const TaskContext& ctx) {
    const std::uint64_t n = size_of(ctx.index()[0]);
    if (n == 0) return Value();
    if (n == sizeof(double)) return Value::of(1.5);
    return Value::of(std::vector<double>(n / sizeof(double), 2.0));
  });
  std::vector<TaskId> all;
  for (int i = 0; i < 400; ++i) all.push_back(g.add(g.name(i % 7 == 0 ? "x" : "y"), {i}, k, {}));
  Plan plan = Plan::build(g, all, {.cull = true, .fuse = false});
  ASSERT_EQ(plan.size(), 400u);
  for (int kind = 0; kind < 2; ++kind) {
    for (std::size_t cap : {std::size_t{1000}, std::size_t{16}}) {
      const RecordOptions record{.enabled = true, .max_events = cap};
      auto exec = kind == 0 ? make_sync_executor({.record = record})
                            : make_thread_pool_executor({.threads = 2, .record = record});
      RunResult r = exec->run(g, plan);
      ASSERT_TRUE(r.trace);
      const RunTrace& t = *r.trace;
      ASSERT_FALSE(t.tasks.empty());
      if (cap > 400) {
        EXPECT_EQ(t.tasks.size(), 400u);
      }
      for (const TaskEvent& e : t.tasks) {
        const std::int64_t i = t.index_pool[e.index_begin];
        ASSERT_EQ(e.bytes, size_of(i)) << "task " << i << ", executor " << kind << ", cap " << cap;
      }
    }
  }
}

// A run of a small part of a large graph keeps only its own tasks' keys (renumbered): the events, kept
// compact or made during the run past the cap, must still name the right tasks, on both local executors.
TEST(Trace, ARunOfASmallPartOfALargeGraphNamesItsTasks) {
  Graph g;
  const KernelId k =
      g.kernel([](const TaskContext& ctx) { return Value::of(static_cast<double>(ctx.index()[0])); });
  std::vector<TaskId> all;
  for (int i = 0; i < 20000; ++i) all.push_back(g.add(g.name(i % 2 == 0 ? "even" : "odd"), {i}, k, {}));
  std::vector<TaskId> some;
  for (int i = 100; i < 160; ++i) some.push_back(all[static_cast<std::size_t>(i)]);
  Plan plan = Plan::build(g, some, {.cull = true, .fuse = false});
  ASSERT_EQ(plan.size(), 60u);
  for (int kind = 0; kind < 2; ++kind) {
    for (std::size_t cap : {std::size_t{1000}, std::size_t{8}}) {
      ExecutorOptions options{.threads = 2, .record = {.enabled = true, .max_events = cap}};
      auto exec = kind == 0 ? make_sync_executor(options) : make_thread_pool_executor(options);
      RunResult r = exec->run(g, plan);
      ASSERT_TRUE(r.trace);
      const RunTrace& t = *r.trace;
      EXPECT_EQ(t.tasks_sampled, cap < 60) << kind << " " << cap;
      if (cap >= 60) {
        EXPECT_EQ(t.tasks.size(), 60u);
      }
      for (const TaskEvent& e : t.tasks) {
        const int i = static_cast<int>(plan.result_task(e.task));
        EXPECT_EQ(t.key_of(e),
                  "('" + std::string(i % 2 == 0 ? "even" : "odd") + "', " + std::to_string(i) + ")")
            << kind << " " << cap;
      }
      std::uint64_t counted = 0;
      for (const KindSummary& ks : t.kind_summary) counted += ks.count;
      EXPECT_EQ(counted, 60u) << kind << " " << cap;
    }
  }
}

// The recording shares the graph's key arrays (Graph::keys) until it is assembled: a graph that grows in the
// meantime must not change the names it gives.
TEST(Trace, ARecordingOfAGraphThatGrewAfterwardsNamesTheTasksAsTheyWere) {
  Graph g;
  const KernelId k = g.kernel([](const TaskContext&) { return Value::of(1); });
  std::vector<TaskId> outs;
  for (int i = 0; i < 50; ++i) outs.push_back(g.add(g.name("early"), {i, 2 * i}, k, {}));
  Plan plan = Plan::build(g, outs);
  for (int kind = 0; kind < 2; ++kind) {
    ExecutorOptions options{.threads = 2, .record = {.enabled = true}};
    auto exec = kind == 0 ? make_sync_executor(options) : make_thread_pool_executor(options);
    RunResult r = exec->run(g, plan);
    for (int i = 0; i < 100000; ++i) g.add(g.name("late"), {kind, i}, k, {});  // moves the graph's arrays
    ASSERT_TRUE(r.trace);
    const RunTrace& t = *r.trace;
    std::set<std::string> keys;
    for (const TaskEvent& e : t.tasks) keys.insert(t.key_of(e));
    ASSERT_EQ(keys.size(), 50u);
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(keys.count("('early', " + std::to_string(i) + ", " + std::to_string(2 * i) + ")")) << i;
    }
  }
}

TEST(Trace, ARecordingOutlivesItsGraphAndIsAssembledOnce) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  Recorded first = run_recorded(*exec, 64);  // its graph is gone: the recording keeps the graph's keys
  Recorded second = run_recorded(*exec, 64);
  ASSERT_TRUE(first.result.trace);
  ASSERT_TRUE(second.result.trace);
  const std::shared_ptr<const RunTrace> a = first.result.trace.get();
  EXPECT_EQ(a, first.result.trace.get());     // assembled once, then shared
  check_trace_matches_run(first, "threads");  // the second run did not reuse the first's buffers
  std::vector<std::string> keys;
  for (const TaskEvent& e : a->tasks) keys.push_back(a->key_of(e));
  EXPECT_THAT(keys, ::testing::Contains("('read-t2m-8e1f', 63)"));
  Recorded third = run_recorded(*exec, 64);  // reuses the first's buffers, now free
  check_trace_matches_run(third, "threads");
  check_trace_matches_run(second, "threads");  // still pending while the third ran
  check_trace_matches_run(first, "threads");
}

TEST(Trace, ProgressGroupsCountTheirTasksOnEveryLocalExecutor) {
  // Two labelled groups ("a": 30 tasks, "b": 10) and 5 tasks in none.
  Graph g;
  EXPECT_EQ(g.progress_group("a"), 1);
  EXPECT_EQ(g.progress_group("b"), 2);
  EXPECT_EQ(g.progress_group("a"), 1);
  const KernelId k = g.kernel([](const TaskContext&) { return Value::of(1.0); });
  std::vector<TaskId> all;
  for (int i = 0; i < 45; ++i) {
    TaskOptions o;
    o.progress_group = i < 30 ? 1 : i < 40 ? 2 : 0;
    all.push_back(g.add(g.name("t"), {i}, k, {}, o));
  }
  const TaskId out = g.add(g.name("join"), {0}, k, all);
  Plan plan = Plan::build(g, std::vector<TaskId>{out}, {});
  for (int kind = 0; kind < 2; ++kind) {
    std::mutex mu;
    std::vector<Progress> calls;
    ExecutorOptions options{.threads = 2, .record = {.enabled = true, .sample_seconds = 0.001}};
    options.progress = {[&](const Progress& p) {
                          std::lock_guard lock(mu);
                          calls.push_back(p);
                        },
                        0.001};
    auto exec = kind == 0 ? make_sync_executor(options) : make_thread_pool_executor(options);
    RunResult r = exec->run(g, plan);
    ASSERT_FALSE(calls.empty());
    ASSERT_TRUE(calls.back().final);
    ASSERT_EQ(calls.back().groups.size(), 2u);
    EXPECT_EQ(calls.back().groups[0].label, "a");
    EXPECT_EQ(calls.back().groups[0].done, 30u);
    EXPECT_EQ(calls.back().groups[0].total, 30u);
    EXPECT_EQ(calls.back().groups[1].label, "b");
    EXPECT_EQ(calls.back().groups[1].done, 10u);
    EXPECT_EQ(calls.back().groups[1].total, 10u);
    ASSERT_TRUE(r.trace);
    const RunTrace& t = *r.trace;
    EXPECT_THAT(t.group_labels, ::testing::ElementsAre("a", "b"));
    EXPECT_THAT(t.group_totals, ::testing::ElementsAre(30u, 10u));
    ASSERT_EQ(t.group_done.size(), t.scheduler.size());
    EXPECT_THAT(t.group_done.back(), ::testing::ElementsAre(30u, 10u));
    for (std::size_t i = 1; i < t.group_done.size(); ++i) {  // never goes back
      EXPECT_GE(t.group_done[i][0], t.group_done[i - 1][0]);
      EXPECT_GE(t.group_done[i][1], t.group_done[i - 1][1]);
    }
    // The trace's per-output counter: task by task here (every task recorded), from the scheduler samples
    // when the trace does not know each task's group (as under MPI); both end at each output's task count.
    EXPECT_EQ(t.task_groups.size(), plan.size());
    std::ostringstream json;
    write_chrome_trace(t, json);
    nlohmann::json doc = test::check_chrome_trace(json.str(), plan.size(), &t);
    std::size_t points = 0;
    for (const auto& e : doc["traceEvents"]) points += e["name"] == "progress";
    EXPECT_EQ(points, 41u) << "a zero, then one point per task in a group";
    RunTrace sampled_only = t;
    sampled_only.task_groups.clear();
    json.str("");
    write_chrome_trace(sampled_only, json);
    doc = test::check_chrome_trace(json.str(), plan.size(), &sampled_only);
    points = 0;
    for (const auto& e : doc["traceEvents"]) points += e["name"] == "progress";
    EXPECT_EQ(points, t.group_done.size());
    std::ostringstream html;
    write_html_report(t, html);
    EXPECT_THAT(html.str(), ::testing::HasSubstr("{\"label\":\"a\",\"total\":30,\"done\":["));
    EXPECT_THAT(html.str(), ::testing::HasSubstr("{\"label\":\"b\",\"total\":10,\"done\":["));
  }
}

TEST(Trace, ProgressCounterOfALargeRunIsDownsampled) {
  // 8000 reads and 4000 means in two groups: at most 2000 counter points (besides the zero), still ending at
  // each group's task count, timestamps never going back (check_chrome_trace).
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  Recorded rec = run_recorded(*exec, 8000);
  ASSERT_TRUE(rec.result.trace);
  const RunTrace& t = *rec.result.trace;
  EXPECT_THAT(t.group_totals, ::testing::ElementsAre(8000u, 4000u));
  std::ostringstream json;
  write_chrome_trace(t, json);
  nlohmann::json doc = test::check_chrome_trace(json.str(), rec.plan.size(), &t);
  std::size_t points = 0;
  for (const auto& e : doc["traceEvents"]) points += e["name"] == "progress";
  EXPECT_GE(points, 1000u);
  EXPECT_LE(points, 2001u);
}

// A chain of `tiny` no-op tasks named "a", one task named `slow_name` that sleeps `sleep_ms`, and `tiny` more
// "a"s.
Recorded run_chain_with_a_slow_task(Executor& exec, const char* slow_name, int tiny, int sleep_ms = 3) {
  Graph g;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  const KernelId sleeper = g.kernel([sleep_ms](const TaskContext&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    return Value();
  });
  TaskId prev = g.add(g.name("a"), {0}, noop, {});
  for (int i = 1; i < 2 * tiny + 1; ++i) {
    const bool slow = i == tiny;
    prev = g.add(g.name(slow ? slow_name : "a"), {i}, slow ? sleeper : noop, {prev});
  }
  Plan plan = Plan::build(g, std::vector<TaskId>{prev}, {.cull = true, .fuse = false});
  RunResult r = exec.run(g, plan);
  return {std::move(r), std::move(plan)};
}

TEST(Trace, TinyTasksShareClockReadsButNeverAcrossNames) {
  // Runs of tiny tasks of one name may end at one clock read; a task of another name always gets its own.
  for (int kind = 0; kind < 2; ++kind) {
    auto exec = kind == 0 ? make_sync_executor({.record = {.enabled = true}})
                          : make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
    // The slow task sleeps 100 ms, far more than 10000 no-op tasks take even under a sanitizer, so its time
    // cannot hide in the tiny tasks' total without showing.
    Recorded rec = run_chain_with_a_slow_task(*exec, "b", 5000, 100);
    const RunTrace& t = *rec.result.trace;
    ASSERT_EQ(t.tasks.size(), rec.plan.size());
    const auto b = std::find_if(t.tasks.begin(), t.tasks.end(),
                                [&](const TaskEvent& e) { return t.names[e.name] == "b"; });
    ASSERT_NE(b, t.tasks.end());
    EXPECT_GE(b->end - b->start, 100e-3);
    EXPECT_LT(b->end - b->start, 100e-3 + 50e-3);
    for (const KindSummary& k : t.kind_summary) {
      if (k.kind == "a") {
        EXPECT_EQ(k.count, 10000u);
        EXPECT_LT(k.seconds, 50e-3) << "the slow task's time went to the tiny ones";
      }
    }
    std::ostringstream json;
    write_chrome_trace(t, json);
    test::check_chrome_trace(json.str(), rec.plan.size(), &t);
  }
}

TEST(Trace, ASlowTaskAmongTinyOnesOfItsNameStillCountsInItsTotal) {
  for (int kind = 0; kind < 2; ++kind) {
    auto exec = kind == 0 ? make_sync_executor({.record = {.enabled = true}})
                          : make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
    Recorded rec = run_chain_with_a_slow_task(*exec, "a", 5000);
    const RunTrace& t = *rec.result.trace;
    ASSERT_EQ(t.kind_summary.size(), 1u);
    EXPECT_EQ(t.kind_summary[0].count, 10001u);
    EXPECT_GE(t.kind_summary[0].seconds, 3e-3);  // totals are exact, whatever shares the clock reads
    EXPECT_GE(t.kind_summary[0].max_seconds, 3e-3 / 16);
    double busy = 0;
    for (const ThreadTime& th : t.thread_times) busy += th.busy;
    EXPECT_NEAR(busy, t.kind_summary[0].seconds, 1e-6);
  }
}

// Each run of a reused executor gets its own periodic calls (the thread pool's sampler thread waits between
// runs) and none once run() has returned.
TEST(Trace, ProgressIsCalledAndEndsWithEverythingDone) {
  std::mutex mu;
  std::vector<Progress> calls;
  ProgressOptions progress{[&](const Progress& p) {
                             std::lock_guard lock(mu);
                             calls.push_back(p);
                           },
                           0.001};
  for (int kind = 0; kind < 2; ++kind) {
    auto exec = kind == 0 ? make_thread_pool_executor({.threads = 2, .progress = progress})
                          : make_sync_executor({.progress = progress});
    Graph g;
    // Slow enough for a few calls even when the sampler thread waits for a core: 200 tasks of 0.25 ms.
    const KernelId k = g.kernel([](const TaskContext&) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(250);
      while (std::chrono::steady_clock::now() < until) {
      }
      return Value::of(1.0);
    });
    std::vector<TaskId> leaves;
    for (int i = 0; i < 200; ++i) leaves.push_back(g.add(g.name("spin"), {i}, k, {}));
    Plan plan = Plan::build(g, leaves);
    for (int run = 0; run < 3; ++run) {
      {
        std::lock_guard lock(mu);
        calls.clear();
      }
      exec->run(g, plan);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // 20 periods: a stray call would come
      std::lock_guard lock(mu);
      ASSERT_GE(calls.size(), 2u) << exec->name() << " run " << run;
      EXPECT_TRUE(calls.back().final) << exec->name() << " run " << run << ": a call after the run ended";
      EXPECT_EQ(calls.back().tasks_done, plan.size());
      EXPECT_EQ(calls.back().tasks_total, plan.size());
      EXPECT_EQ(calls.back().bytes, plan.size() * sizeof(double));
      for (std::size_t i = 1; i < calls.size(); ++i) {
        EXPECT_GE(calls[i].tasks_done, calls[i - 1].tasks_done);
        EXPECT_GE(calls[i].elapsed, calls[i - 1].elapsed);
        EXPECT_FALSE(calls[i - 1].final);
      }
    }
  }
}

// A view on another thread polls the live snapshots while runs go on (a dashboard's way): they change
// during a run, never go backwards, name the finished tasks, and the last one of each run says it finished.
TEST(Trace, ALiveViewSeesTheRunChangeFromAnotherThread) {
  for (int kind = 0; kind < 2; ++kind) {
    auto live = std::make_shared<LiveView>();
    ProgressOptions progress;
    progress.seconds = 0.002;
    progress.live = live;
    auto exec = kind == 0 ? make_thread_pool_executor({.threads = 2, .progress = progress})
                          : make_sync_executor({.progress = progress});
    Graph g;
    const KernelId k = g.kernel([](const TaskContext&) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(250);
      while (std::chrono::steady_clock::now() < until) {
      }
      return Value::of(1.0);
    });
    const std::uint16_t group = g.progress_group("spins");
    std::vector<TaskId> leaves;
    for (int i = 0; i < 400; ++i) {
      leaves.push_back(g.add(g.name("spin"), {i}, k, {}, TaskOptions{.progress_group = group}));
    }
    Plan plan = Plan::build(g, leaves);
    std::atomic<bool> running{true};
    std::vector<std::shared_ptr<const LiveSnapshot>> seen;
    std::thread viewer([&] {
      std::uint64_t version = 0;
      while (running.load()) {
        if (live->version() != version) {
          version = live->version();
          seen.push_back(live->latest());
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    for (int run = 1; run <= 2; ++run) exec->run(g, plan);
    running = false;
    viewer.join();
    const std::string name(exec->name());
    ASSERT_GE(seen.size(), 3u) << name;
    std::set<std::uint64_t> done_values;
    for (std::size_t i = 1; i < seen.size(); ++i) {
      const LiveSnapshot& a = *seen[i - 1];
      const LiveSnapshot& b = *seen[i];
      EXPECT_EQ(b.executor, name);
      if (a.run == b.run) {
        EXPECT_GE(b.progress.tasks_done, a.progress.tasks_done) << name;
        EXPECT_GE(b.progress.elapsed, a.progress.elapsed) << name;
        EXPECT_FALSE(a.finished) << name << ": a snapshot after the run's last";
      }
      done_values.insert(b.progress.tasks_done);
    }
    EXPECT_GE(done_values.size(), 3u) << name << ": the view saw the run move";
    const std::shared_ptr<const LiveSnapshot> last = live->latest();
    EXPECT_TRUE(last->finished);
    EXPECT_EQ(last->run, 2u);
    EXPECT_EQ(last->progress.tasks_done, plan.size());
    ASSERT_EQ(last->progress.groups.size(), 1u);
    EXPECT_EQ(last->progress.groups[0].label, "spins");
    EXPECT_EQ(last->progress.groups[0].done, 400u);
    ASSERT_EQ(last->workers.size(), 1u);
    EXPECT_EQ(last->workers[0].threads, kind == 0 ? 2 : 1);
    EXPECT_EQ(last->workers[0].tasks_done, plan.size());
    ASSERT_FALSE(last->recent.empty()) << name;
    EXPECT_LE(last->recent.size(), LiveView::kRecent);
    for (const RecentTask& r : last->recent) {
      ASSERT_LT(r.task, plan.size());
      ASSERT_LT(r.name, last->names.size());
      EXPECT_EQ(last->names[r.name], "spin");
      EXPECT_LE(r.end, last->progress.elapsed + 1e-9);
    }
  }
}

TEST(Trace, RuntimeKeepsTheLastTrace) {
  RuntimeOptions options;
  options.executor = ExecutorKind::kThreads;
  options.threads = 2;
  options.record.enabled = true;
  Runtime rt(options);
  EXPECT_EQ(rt.last_trace(), nullptr);
  auto add = delayed([](int a, int b) { return a + b; }, "add");
  EXPECT_EQ(rt.compute(add(add(1, 2), add(3, 4))), 10);
  ASSERT_NE(rt.last_trace(), nullptr);
  EXPECT_EQ(rt.last_trace()->tasks_total, rt.last_stats().plan_tasks);
  EXPECT_NE(summarize(*rt.last_trace()).find("add"), std::string::npos);
}

TEST(Report, IsSelfContainedAndCarriesTheRunsNumbers) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  Recorded rec = run_recorded(*exec, 64);
  std::ostringstream html;
  write_html_report(*rec.result.trace, html);
  const std::string page = html.str();
  EXPECT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  // The only "http://" is the SVG namespace name, which is never fetched.
  std::size_t http = 0;
  for (std::size_t at = page.find("http://"); at != std::string::npos; at = page.find("http://", at + 1)) {
    EXPECT_EQ(page.compare(at, 26, "http://www.w3.org/2000/svg"), 0);
    ++http;
  }
  EXPECT_EQ(http, 1u);
  const auto begin = page.find("id=\"data\">") + 10;
  const auto end = page.find("</script>", begin);
  nlohmann::json data = nlohmann::json::parse(page.substr(begin, end - begin));
  EXPECT_EQ(data["tasks_total"], rec.plan.size());
  std::uint64_t counted = 0;
  for (const auto& k : data["kinds"]) counted += k["count"].get<std::uint64_t>();
  EXPECT_EQ(counted, rec.plan.size());
  EXPECT_EQ(data["shown"], rec.plan.size());
}

TEST(Report, AMillionTaskRunStaysSmall) {
  auto exec = make_thread_pool_executor({.threads = 2, .record = {.enabled = true}});
  Graph g;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  const NameId leaf = g.name("leaf");
  std::vector<TaskId> leaves;
  for (int i = 0; i < 1000000; ++i) leaves.push_back(g.add(leaf, {i}, noop, {}));
  Plan plan = Plan::build(g, leaves);
  RunResult r = exec->run(g, plan);
  ASSERT_TRUE(r.trace);
  EXPECT_EQ(r.trace->kind_summary.at(0).count, 1000000u);
  std::ostringstream html;
  write_html_report(*r.trace, html);
  EXPECT_LT(html.str().size(), 20u << 20);
}

TEST(Report, FileErrorsNameTheFile) {
  RunTrace t;
  try {
    write_html_report(t, std::string("/nonexistent-dir/report.html"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/report.html"), std::string::npos);
  }
  try {
    write_chrome_trace(t, std::string("/nonexistent-dir/trace.json"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

}  // namespace
}  // namespace tessera
