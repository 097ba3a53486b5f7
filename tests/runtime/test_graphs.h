// Graph shapes shared by the runtime tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tessera/runtime/graph.h"

namespace tessera::testing {

// A kernel that returns the sum of its int64 inputs plus its key's first index: every task's value depends on
// the whole cone below it, so a wrong input or order shows in the result.
inline Kernel sum_plus_index_kernel() {
  return [](const TaskContext& ctx) {
    std::int64_t v = ctx.index().empty() ? 0 : ctx.index()[0];
    for (std::size_t i = 0; i < ctx.num_inputs(); ++i) v += ctx.input<std::int64_t>(i);
    return Value::of(v);
  };
}

// `chains` independent chains of `length` tasks; returns the chain ends.
inline std::vector<TaskId> add_chains(Graph& g, int chains, int length, KernelId kernel) {
  std::vector<TaskId> ends;
  const NameId name = g.name("chain");
  for (int c = 0; c < chains; ++c) {
    TaskId prev = g.add(name, {c, 0}, kernel, {});
    for (int i = 1; i < length; ++i) prev = g.add(name, {c, i}, kernel, {prev});
    ends.push_back(prev);
  }
  return ends;
}

struct Tree {
  TaskId root;
  int depth;  // levels above the leaves
};

// A reduction tree over `leaves` leaf tasks with fan-in `fan_in`.
inline Tree add_tree(Graph& g, int leaves, int fan_in, KernelId kernel) {
  const NameId leaf = g.name("leaf");
  const NameId node = g.name("node");
  std::vector<TaskId> level;
  for (int i = 0; i < leaves; ++i) level.push_back(g.add(leaf, {i}, kernel, {}));
  int depth = 0;
  while (level.size() > 1) {
    std::vector<TaskId> next;
    for (std::size_t i = 0; i < level.size(); i += static_cast<std::size_t>(fan_in)) {
      std::vector<TaskId> kids(
          level.begin() + static_cast<std::ptrdiff_t>(i),
          level.begin() + static_cast<std::ptrdiff_t>(std::min(level.size(), i + fan_in)));
      next.push_back(
          g.add(node, std::vector<std::int32_t>{depth, static_cast<std::int32_t>(i)}, kernel, kids));
    }
    level = std::move(next);
    ++depth;
  }
  return {level[0], depth};
}

// A random DAG: task i depends on up to `max_deps` earlier tasks (sometimes the same one twice).
inline std::vector<TaskId> add_random_dag(Graph& g, int n, int max_deps, std::uint32_t seed,
                                          KernelId kernel) {
  std::mt19937 rng(seed);
  const NameId name = g.name("rand");
  std::vector<TaskId> ids;
  for (int i = 0; i < n; ++i) {
    std::vector<TaskId> deps;
    if (i > 0) {
      const int k = static_cast<int>(rng() % static_cast<std::uint32_t>(max_deps + 1));
      for (int j = 0; j < k; ++j) deps.push_back(ids[rng() % ids.size()]);
    }
    ids.push_back(g.add(name, {i}, kernel, deps));
  }
  return ids;
}

}  // namespace tessera::testing
