// Shared by the trace tests: a small graph with named kinds and byte-sized results, and a checker for the
// Chrome trace-event JSON written from its run.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/trace.h"

namespace tessera::test {

// One "slow" task that sleeps `sleep_ms`, and 8 "after" tasks that need it (the outputs): while it sleeps,
// every other compute thread can only wait.
inline std::vector<TaskId> build_wait_graph(Graph& g, int sleep_ms) {
  const KernelId sleeper = g.kernel([sleep_ms](const TaskContext&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    return Value::of(1.0);
  });
  const KernelId add = g.kernel([](const TaskContext& ctx) { return Value::of(ctx.input<double>(0) + 1); });
  const TaskId slow = g.add(g.name("slow"), {0}, sleeper, {});
  std::vector<TaskId> outputs;
  for (int i = 0; i < 8; ++i) outputs.push_back(g.add(g.name("after"), {i}, add, {slow}));
  return outputs;
}

// `chunks` reads of 1000 doubles ("read-t2m-8e1f", spread over `workers` ranks by hint), a "mean-3f2a" of
// each pair of neighbouring reads, a "sum" tree over the means (fan-in 4) and one "store-write".
inline std::vector<TaskId> build_trace_graph(Graph& g, int chunks, int workers = 1) {
  const KernelId read = g.kernel([](const TaskContext& ctx) {
    std::vector<double> v(1000);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(ctx.index()[0]) + 1e-3 * i;
    return Value::of(std::move(v));
  });
  const KernelId mean = g.kernel([](const TaskContext& ctx) {
    double s = 0;
    std::size_t n = 0;
    for (std::size_t k = 0; k < ctx.num_inputs(); ++k) {
      for (double x : ctx.input<std::vector<double>>(k)) s += x;
      n += ctx.input<std::vector<double>>(k).size();
    }
    return Value::of(s / static_cast<double>(n));
  });
  const KernelId sum = g.kernel([](const TaskContext& ctx) {
    double s = 0;
    for (std::size_t k = 0; k < ctx.num_inputs(); ++k) s += ctx.input<double>(k);
    return Value::of(s);
  });
  const NameId read_name = g.name("read-t2m-8e1f");
  const NameId mean_name = g.name("mean-3f2a");
  const NameId sum_name = g.name("sum");
  // The reads and the means are progress groups of their own.
  const std::uint16_t read_group = g.progress_group("reads");
  TaskOptions mean_options;
  mean_options.progress_group = g.progress_group("means");
  std::vector<TaskId> reads;
  for (int i = 0; i < chunks; ++i) {
    TaskOptions o;
    o.rank = 1 + i % std::max(1, workers);
    o.output_bytes = 8000;
    o.progress_group = read_group;
    reads.push_back(g.add(read_name, {i}, read, {}, o));
  }
  std::vector<TaskId> level;
  for (int i = 0; i + 1 < chunks; i += 2) {
    const TaskId deps[] = {reads[static_cast<std::size_t>(i)], reads[static_cast<std::size_t>(i + 1)]};
    level.push_back(g.add(mean_name, {i / 2}, mean, deps, mean_options));
  }
  for (int depth = 1; level.size() > 1; ++depth) {
    std::vector<TaskId> next;
    for (std::size_t i = 0; i < level.size(); i += 4) {
      const std::size_t end = std::min(level.size(), i + 4);
      next.push_back(g.add(sum_name, {depth, static_cast<std::int32_t>(i / 4)}, sum,
                           std::span<const TaskId>(level.data() + i, end - i)));
    }
    level.swap(next);
  }
  const TaskId store =
      g.add(g.name("store-write"), {},
            g.kernel([](const TaskContext& ctx) { return Value::of(ctx.input<double>(0)); }), {level[0]});
  return {store};
}

// Checks the trace-event JSON: required fields, timestamps that never go back (and slices that never
// overlap) on any track, every plan task 0..tasks-1 present exactly once, spill-file slices with their bytes
// and direction, and a per-output "progress" counter whose timestamps and values never go back. Given the
// RunTrace it was written from, also: one slice per recorded spill file, their bytes summing to the run's
// totals (when not sampled), the metadata's spill figures, and each output's progress ending at its task
// count. Returns the parsed document.
inline nlohmann::json check_chrome_trace(const std::string& text, std::uint64_t tasks,
                                         const RunTrace* run = nullptr) {
  nlohmann::json doc = nlohmann::json::parse(text);  // throws on malformed JSON
  EXPECT_TRUE(doc.contains("traceEvents"));
  EXPECT_TRUE(doc["traceEvents"].is_array());
  std::map<std::pair<int, int>, std::pair<double, double>> last;  // track -> (ts, end) of the previous slice
  std::map<std::uint64_t, int> seen;
  std::set<std::pair<int, int>> named_threads;
  std::set<int> named_processes;
  int flows_out = 0;
  int flows_in = 0;
  std::size_t spill_slices = 0;
  std::uint64_t spill_bytes[2] = {0, 0};  // written, read back
  std::size_t spill_keys = 0;
  std::size_t progress_points = 0;
  double progress_ts = -1;
  std::map<std::string, std::uint64_t> progress;  // series -> latest value
  for (const auto& e : doc["traceEvents"]) {
    EXPECT_TRUE(e.contains("ph") && e.contains("pid")) << e.dump();
    const std::string ph = e["ph"];
    const int pid = e["pid"];
    if (ph == "M") {
      EXPECT_TRUE(e.contains("name") && e.contains("args")) << e.dump();
      if (e["name"] == "thread_name") named_threads.emplace(pid, e["tid"].get<int>());
      if (e["name"] == "process_name") named_processes.insert(pid);
      continue;
    }
    EXPECT_TRUE(e.contains("ts") && e["ts"].is_number()) << e.dump();
    if (ph == "X") {
      for (const char* key : {"name", "cat", "tid", "dur", "args"})
        EXPECT_TRUE(e.contains(key)) << key << " in " << e.dump();
      const int tid = e["tid"];
      const double ts = e["ts"];
      const double dur = e["dur"];
      EXPECT_GE(dur, 0) << e.dump();
      auto& prev = last[{pid, tid}];
      EXPECT_GE(ts, prev.first) << "timestamps go back on track " << pid << "/" << tid << ": " << e.dump();
      EXPECT_GE(ts + 1e-3, prev.second)
          << "slices overlap on track " << pid << "/" << tid << ": " << e.dump();
      prev = {ts, ts + dur};
      EXPECT_TRUE(named_threads.count({pid, tid})) << "track without a thread_name: " << e.dump();
      EXPECT_TRUE(named_processes.count(pid)) << "process without a process_name: " << e.dump();
      if (e["cat"] == "task") {
        EXPECT_TRUE(e["args"].contains("key") && e["args"].contains("task") && e["args"].contains("bytes"));
        ++seen[e["args"]["task"].get<std::uint64_t>()];
      } else if (e["cat"] == "spill") {
        const auto& a = e["args"];
        EXPECT_TRUE(a.contains("task") && a.contains("bytes") && a.contains("direction")) << e.dump();
        const std::string direction = a.value("direction", "");
        EXPECT_TRUE(direction == "spill" || direction == "read back") << e.dump();
        EXPECT_EQ(e["name"], direction) << e.dump();
        ++spill_slices;
        spill_bytes[direction == "read back" ? 1 : 0] += a.value("bytes", std::uint64_t{0});
        if (a.contains("key")) ++spill_keys;
      }
    } else if (ph == "s") {
      ++flows_out;
      EXPECT_TRUE(e.contains("id") && e.contains("tid"));
    } else if (ph == "f") {
      ++flows_in;
      EXPECT_TRUE(e.contains("id") && e.contains("tid") && e.value("bp", "") == "e");
    } else {
      EXPECT_EQ(ph, "C") << "unexpected event " << e.dump();
      if (e["name"] == "progress") {
        ++progress_points;
        const double ts = e["ts"];
        EXPECT_GE(ts, progress_ts) << "progress goes back in time: " << e.dump();
        progress_ts = ts;
        EXPECT_TRUE(e.contains("args") && e["args"].is_object()) << e.dump();
        if (progress_points > 1) {
          EXPECT_EQ(e["args"].size(), progress.size()) << "every point has every output: " << e.dump();
        }
        for (const auto& [label, value] : e["args"].items()) {
          const std::uint64_t v = value.get<std::uint64_t>();
          auto it = progress.find(label);
          if (it != progress.end()) {
            EXPECT_GE(v, it->second) << label << " goes back: " << e.dump();
          }
          progress[label] = v;
        }
      }
    }
  }
  EXPECT_EQ(flows_out, flows_in);
  if (run != nullptr) {
    // Spill files: one slice each, the run's own totals, and the metadata says whether they are a sample.
    EXPECT_EQ(spill_slices, run->spills.size());
    if (!run->tasks_sampled) {
      EXPECT_EQ(spill_keys, spill_slices) << "every spilled result named by its key";
    }
    if (!run->spills_sampled) {
      EXPECT_EQ(spill_bytes[0], run->bytes_spilled);
      EXPECT_EQ(spill_bytes[1], run->bytes_unspilled);
    }
    const auto& other = doc["otherData"];
    EXPECT_EQ(other.value("spills_sampled", !run->spills_sampled), run->spills_sampled);
    EXPECT_EQ(other.value("bytes_spilled", ~std::uint64_t{0}), run->bytes_spilled);
    EXPECT_EQ(other.value("bytes_read_back", ~std::uint64_t{0}), run->bytes_unspilled);
    EXPECT_EQ(other.value("spill_files", ~std::size_t{0}), run->spills.size());
    // Progress per output: a series per label, ending at the label's task count, in at most ~2000 points.
    if (run->group_labels.empty()) {
      EXPECT_EQ(progress_points, 0u);
    } else {
      EXPECT_GT(progress_points, 0u);
      EXPECT_LE(progress_points, 2001u);
      EXPECT_EQ(progress.size(), run->group_labels.size());
      for (std::size_t g = 0; g < run->group_labels.size(); ++g) {
        auto it = progress.find(run->group_labels[g]);
        if (it == progress.end()) {
          ADD_FAILURE() << "no progress series for " << run->group_labels[g];
          continue;
        }
        EXPECT_EQ(it->second, run->group_totals[g]) << "final progress of " << run->group_labels[g];
      }
    }
  }
  EXPECT_EQ(seen.size(), tasks) << "tasks in the trace";
  for (std::uint64_t t = 0; t < tasks; ++t) EXPECT_EQ(seen[t], 1) << "plan task " << t;
  return doc;
}

}  // namespace tessera::test
