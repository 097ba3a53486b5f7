// Shared by the trace tests: a small graph with named kinds and byte-sized results, and a checker for the
// Chrome trace-event JSON written from its run.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/trace.h"

namespace tessera::test {

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
// overlap) on any track, and every plan task 0..tasks-1 present exactly once. Returns the parsed document.
inline nlohmann::json check_chrome_trace(const std::string& text, std::uint64_t tasks) {
  nlohmann::json doc = nlohmann::json::parse(text);  // throws on malformed JSON
  EXPECT_TRUE(doc.contains("traceEvents"));
  EXPECT_TRUE(doc["traceEvents"].is_array());
  std::map<std::pair<int, int>, std::pair<double, double>> last;  // track -> (ts, end) of the previous slice
  std::map<std::uint64_t, int> seen;
  std::set<std::pair<int, int>> named_threads;
  std::set<int> named_processes;
  int flows_out = 0;
  int flows_in = 0;
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
      }
    } else if (ph == "s") {
      ++flows_out;
      EXPECT_TRUE(e.contains("id") && e.contains("tid"));
    } else if (ph == "f") {
      ++flows_in;
      EXPECT_TRUE(e.contains("id") && e.contains("tid") && e.value("bp", "") == "e");
    } else {
      EXPECT_EQ(ph, "C") << "unexpected event " << e.dump();
    }
  }
  EXPECT_EQ(flows_out, flows_in);
  EXPECT_EQ(seen.size(), tasks) << "tasks in the trace";
  for (std::uint64_t t = 0; t < tasks; ++t) EXPECT_EQ(seen[t], 1) << "plan task " << t;
  return doc;
}

}  // namespace tessera::test
