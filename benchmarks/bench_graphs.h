// The no-op graph shapes of the overhead and scheduler benchmarks (the Dask peers build the same shapes).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/runtime/graph.h"

namespace tessera::bench {

struct Built {
  Graph graph;
  std::vector<TaskId> outputs;
};

// `chains` independent chains of `length` no-op tasks.
inline void build_chains(Built& b, int chains, int length) {
  Graph& g = b.graph;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  const NameId name = g.name("chain");
  for (int c = 0; c < chains; ++c) {
    TaskId prev = g.add(name, {c, 0}, noop, {});
    for (int i = 1; i < length; ++i) prev = g.add(name, {c, i}, noop, {prev});
    b.outputs.push_back(prev);
  }
}

// A reduction over `leaves` no-op leaves with fan-in `fan_in`.
inline void build_tree(Built& b, int leaves, int fan_in) {
  Graph& g = b.graph;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  const NameId leaf = g.name("leaf");
  const NameId node = g.name("sum");
  std::vector<TaskId> level;
  level.reserve(static_cast<std::size_t>(leaves));
  for (int i = 0; i < leaves; ++i) level.push_back(g.add(leaf, {i}, noop, {}));
  std::vector<TaskId> next;
  for (int depth = 1; level.size() > 1; ++depth) {
    next.clear();
    for (std::size_t i = 0; i < level.size(); i += static_cast<std::size_t>(fan_in)) {
      const std::size_t end = std::min(level.size(), i + static_cast<std::size_t>(fan_in));
      const std::int32_t index[] = {depth, static_cast<std::int32_t>(i / static_cast<std::size_t>(fan_in))};
      next.push_back(g.add(node, index, noop, std::span<const TaskId>(level.data() + i, end - i)));
    }
    std::swap(level, next);
  }
  b.outputs.push_back(level[0]);
}

// The shape named "chains" (8 chains of n/8) or "tree" (n leaves, fan-in 8).
inline void build_shape(Built& b, const std::string& shape, int n) {
  if (shape == "chains") {
    build_chains(b, 8, n / 8);
  } else {
    build_tree(b, n, 8);
  }
}

// n leaves that each compute for about 10 us, reduced by a no-op tree with fan-in 8.
inline void build_work(Built& b, int n) {
  Graph& g = b.graph;
  const KernelId work = g.kernel([](const TaskContext&) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(10);
    while (std::chrono::steady_clock::now() < until) {
    }
    return Value();
  });
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  std::vector<TaskId> level;
  for (int i = 0; i < n; ++i) level.push_back(g.add(g.name("work"), {i}, work, {}));
  for (int depth = 1; level.size() > 1; ++depth) {
    std::vector<TaskId> next;
    for (std::size_t i = 0; i < level.size(); i += 8) {
      const std::size_t end = std::min(level.size(), i + 8);
      const std::int32_t index[] = {depth, static_cast<std::int32_t>(i / 8)};
      next.push_back(g.add(g.name("sum"), index, noop, std::span<const TaskId>(level.data() + i, end - i)));
    }
    level.swap(next);
  }
  b.outputs.push_back(level[0]);
}

}  // namespace tessera::bench
