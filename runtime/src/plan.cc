#include "tessera/runtime/plan.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "tessera/runtime/error.h"

namespace tessera {
namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

// Compressed sparse rows: row r is items[begin[r] .. begin[r+1]).
struct Csr {
  std::vector<std::uint32_t> begin;
  std::vector<std::uint32_t> items;
  std::span<const std::uint32_t> row(std::uint32_t r) const {
    return {items.data() + begin[r], items.data() + begin[r + 1]};
  }
  std::uint32_t degree(std::uint32_t r) const { return begin[r + 1] - begin[r]; }
};

// Reverses `forward` (rows 0..n-1), keeping multiplicity; each reversed row lists sources ascending.
Csr reverse(const Csr& forward, std::uint32_t n) {
  Csr out;
  out.begin.assign(n + 1, 0);
  for (std::uint32_t v : forward.items) ++out.begin[v + 1];
  for (std::uint32_t i = 0; i < n; ++i) out.begin[i + 1] += out.begin[i];
  out.items.resize(forward.items.size());
  std::vector<std::uint32_t> fill(out.begin.begin(), out.begin.end() - 1);
  for (std::uint32_t r = 0; r < n; ++r) {
    for (std::uint32_t v : forward.row(r)) out.items[fill[v]++] = r;
  }
  return out;
}

[[noreturn]] void throw_cycle(const Graph& graph, const std::vector<std::uint32_t>& nodes, const Csr& deps,
                              const std::vector<std::uint32_t>& indegree) {
  // Every node Kahn's algorithm could not process has a dependency it could not process either, so walking
  // such dependencies from any of them must come back to a node already on the walk.
  std::uint32_t v = 0;
  while (indegree[v] == 0) ++v;
  std::vector<std::uint32_t> position(nodes.size(), kNone);
  std::vector<std::uint32_t> path;
  while (position[v] == kNone) {
    position[v] = static_cast<std::uint32_t>(path.size());
    path.push_back(v);
    for (std::uint32_t d : deps.row(v)) {
      if (indegree[d] != 0) {
        v = d;
        break;
      }
    }
  }
  std::string cycle;
  for (std::size_t i = position[v]; i < path.size(); ++i) cycle += graph.key_string(nodes[path[i]]) + " -> ";
  cycle += graph.key_string(nodes[v]);
  throw_error(ErrorCode::kInvalidArgument, "cycle in the task graph: ", cycle,
              " (each task depends on the next)");
}

}  // namespace

Plan Plan::build(Graph& graph, std::span<const TaskId> outputs, const PlanOptions& options) {
  graph.resolve();
  const auto n = static_cast<std::uint32_t>(graph.size());
  for (TaskId o : outputs) {
    if (o >= n) {
      throw_error(ErrorCode::kInvalidArgument, "requested output task id ", o,
                  " does not exist (the graph has ", n, " tasks)");
    }
  }
  // One pass plans the graph as it is and notes the rereadable roots whose readers run far apart; when there
  // are any, a second pass plans it again with a copy of each such root for its later readers.
  std::vector<Reread> rereads;
  Plan plan = build_pass(graph, outputs, options, {}, options.reread_copies > 0 ? &rereads : nullptr);
  if (rereads.empty()) return plan;
  return build_pass(graph, outputs, options, rereads, nullptr);
}

Plan Plan::build_pass(const Graph& graph, std::span<const TaskId> outputs, const PlanOptions& options,
                      std::span<const Reread> rereads, std::vector<Reread>* found) {
  const auto n = static_cast<std::uint32_t>(graph.size());

  // 1. Cull: keep what the outputs need. Nodes are renumbered 0..k-1 ascending by task id ("local" ids).
  std::vector<std::uint32_t> local(n, kNone);
  std::vector<std::uint32_t> nodes;
  nodes.reserve(n);  // growing arrays of millions of ids costs a copy and fresh page faults per doubling
  if (options.cull) {
    std::vector<TaskId> stack(outputs.begin(), outputs.end());
    std::vector<std::uint8_t> needed(n, 0);
    for (TaskId o : outputs) needed[o] = 1;
    while (!stack.empty()) {
      TaskId t = stack.back();
      stack.pop_back();
      for (TaskId d : graph.dependencies(t)) {
        if (!needed[d]) {
          needed[d] = 1;
          stack.push_back(d);
        }
      }
    }
    for (std::uint32_t t = 0; t < n; ++t) {
      if (needed[t]) {
        local[t] = static_cast<std::uint32_t>(nodes.size());
        nodes.push_back(t);
      }
    }
  } else {
    nodes.resize(n);
    for (std::uint32_t t = 0; t < n; ++t) local[t] = nodes[t] = t;
  }
  const auto culled = static_cast<std::uint32_t>(nodes.size());
  // Copies of rereadable roots: local ids culled.., each read by its readers instead of the root.
  std::unordered_map<std::uint64_t, std::uint32_t> copy_for;  // (reader << 32 | root) -> the copy's local id
  for (const Reread& r : rereads) {
    for (TaskId t : r.chain) nodes.push_back(t);
    const auto copy = static_cast<std::uint32_t>(nodes.size() - 1);
    for (TaskId reader : r.readers) copy_for[(std::uint64_t{reader} << 32) | r.chain.back()] = copy;
  }
  const auto k = static_cast<std::uint32_t>(nodes.size());

  Csr deps;
  deps.begin.resize(k + 1);
  deps.begin[0] = 0;
  deps.items.reserve(graph.edges());
  for (std::uint32_t v = 0; v < culled; ++v) {
    if (copy_for.empty()) {
      for (TaskId d : graph.dependencies(nodes[v])) deps.items.push_back(local[d]);
    } else {
      for (TaskId d : graph.dependencies(nodes[v])) {
        auto it = copy_for.find((std::uint64_t{nodes[v]} << 32) | d);
        deps.items.push_back(it == copy_for.end() ? local[d] : it->second);
      }
    }
    deps.begin[v + 1] = static_cast<std::uint32_t>(deps.items.size());
  }
  // A copied chain's members read the member before them (its head reads nothing).
  std::uint32_t next_copy = culled;
  for (const Reread& r : rereads) {
    for (std::size_t i = 0; i < r.chain.size(); ++i, ++next_copy) {
      if (i > 0) deps.items.push_back(next_copy - 1);
      deps.begin[next_copy + 1] = static_cast<std::uint32_t>(deps.items.size());
    }
  }
  Csr dependents = reverse(deps, k);
  std::vector<std::uint8_t> is_output(k, 0);
  for (TaskId o : outputs) is_output[local[o]] = 1;

  // 2. Topological sort (Kahn), critical path (longest chain of dependencies down to a root), cycle check.
  std::vector<std::uint32_t> indegree(k);
  std::vector<std::uint32_t> ready;
  ready.reserve(k);
  for (std::uint32_t v = 0; v < k; ++v) {
    indegree[v] = deps.degree(v);
    if (indegree[v] == 0) ready.push_back(v);
  }
  std::vector<std::uint32_t> critical(k, 1);
  std::size_t processed = 0;
  while (!ready.empty()) {
    std::uint32_t v = ready.back();
    ready.pop_back();
    ++processed;
    for (std::uint32_t w : dependents.row(v)) {
      critical[w] = std::max(critical[w], critical[v] + 1);
      if (--indegree[w] == 0) ready.push_back(w);
    }
  }
  if (processed != k) throw_cycle(graph, nodes, deps, indegree);
  indegree = {};

  // 3. Fusion: v joins its only dependent w when w has no other dependency, v is not an output, and they are
  // not pinned to different ranks.
  std::vector<std::uint32_t> fuse_next(k, kNone);
  if (options.fuse) {
    for (std::uint32_t v = 0; v < k; ++v) {
      if (is_output[v] || dependents.degree(v) != 1) continue;
      std::uint32_t w = dependents.row(v)[0];
      const std::int32_t rv = graph.options(nodes[v]).rank;
      const std::int32_t rw = graph.options(nodes[w]).rank;
      if (rv >= 0 && rw >= 0 && rv != rw) continue;
      if (deps.degree(w) == 1) fuse_next[v] = w;
    }
  }
  // Groups are numbered by their last member (tail), ascending; members are listed head first.
  std::vector<std::uint32_t> group_of(k, kNone);
  std::vector<std::uint32_t> group_begin{0};
  std::vector<std::uint32_t> group_members;
  group_members.reserve(k);
  for (std::uint32_t v = 0; v < k; ++v) {
    if (fuse_next[v] != kNone) continue;
    const auto g = static_cast<std::uint32_t>(group_begin.size() - 1);
    const std::size_t first = group_members.size();
    std::uint32_t m = v;
    while (true) {
      group_members.push_back(m);
      group_of[m] = g;
      if (deps.degree(m) != 1) break;
      std::uint32_t prev = deps.row(m)[0];
      if (fuse_next[prev] != m) break;
      m = prev;
    }
    std::reverse(group_members.begin() + static_cast<std::ptrdiff_t>(first), group_members.end());
    group_begin.push_back(static_cast<std::uint32_t>(group_members.size()));
  }
  const auto ng = static_cast<std::uint32_t>(group_begin.size() - 1);
  auto head = [&](std::uint32_t g) { return group_members[group_begin[g]]; };
  auto tail = [&](std::uint32_t g) { return group_members[group_begin[g + 1] - 1]; };

  Csr gdeps;  // a group reads what its head reads
  gdeps.begin.resize(ng + 1);
  gdeps.begin[0] = 0;
  gdeps.items.reserve(deps.items.size());
  for (std::uint32_t g = 0; g < ng; ++g) {
    for (std::uint32_t d : deps.row(head(g))) gdeps.items.push_back(group_of[d]);
    gdeps.begin[g + 1] = static_cast<std::uint32_t>(gdeps.items.size());
  }
  deps = {};
  dependents = {};
  Csr gdependents = reverse(gdeps, ng);
  // A group that can be run again instead of holding its result: it reads nothing, and all its members are
  // rereadable (a chunk read from a file and what cheap steps made of it alone, such as decoding).
  auto rereadable_root = [&](std::uint32_t g) {
    if (gdeps.degree(g) != 0) return false;
    for (std::uint32_t i = group_begin[g]; i < group_begin[g + 1]; ++i) {
      if (!graph.options(nodes[group_members[i]]).rereadable) return false;
    }
    return true;
  };

  // 4. Order: depth-first from the outputs, visiting dependencies by (user priority desc, critical path desc,
  // task id asc), emitting each group after its dependencies (post-order).
  std::vector<std::int32_t> priority(ng, std::numeric_limits<std::int32_t>::min());
  std::vector<std::uint32_t> gcritical(ng);
  for (std::uint32_t g = 0; g < ng; ++g) {
    gcritical[g] = critical[tail(g)];
    for (std::uint32_t i = group_begin[g]; i < group_begin[g + 1]; ++i) {
      priority[g] = std::max(priority[g], graph.options(nodes[group_members[i]]).priority);
    }
  }
  critical = {};
  auto before = [&](std::uint32_t a, std::uint32_t b) {
    if (priority[a] != priority[b]) return priority[a] > priority[b];
    if (gcritical[a] != gcritical[b]) return gcritical[a] > gcritical[b];
    return a < b;
  };
  Csr visit = gdeps;
  for (std::uint32_t g = 0; g < ng; ++g) {
    std::sort(visit.items.begin() + visit.begin[g], visit.items.begin() + visit.begin[g + 1], before);
  }
  std::vector<std::uint32_t> sinks;
  std::vector<std::uint8_t> queued(ng, 0);
  for (TaskId o : outputs) {
    std::uint32_t g = group_of[local[o]];
    if (!queued[g]) {
      queued[g] = 1;
      sinks.push_back(g);
    }
  }
  std::vector<std::uint32_t> other_sinks;
  for (std::uint32_t g = 0; g < ng; ++g) {
    if (!queued[g] && gdependents.degree(g) == 0) other_sinks.push_back(g);
  }
  std::sort(other_sinks.begin(), other_sinks.end(), before);
  sinks.insert(sinks.end(), other_sinks.begin(), other_sinks.end());

  std::vector<std::uint32_t> position(ng, kNone);
  std::uint32_t next_position = 0;
  std::vector<std::uint8_t> visited(ng, 0);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> stack;  // (group, next child slot in `visit`)
  for (std::uint32_t s : sinks) {
    if (visited[s]) continue;
    visited[s] = 1;
    stack.emplace_back(s, visit.begin[s]);
    while (!stack.empty()) {
      auto& [g, slot] = stack.back();
      if (slot < visit.begin[g + 1]) {
        std::uint32_t c = visit.items[slot++];
        if (!visited[c]) {
          visited[c] = 1;
          stack.emplace_back(c, visit.begin[c]);
        }
      } else {
        position[g] = next_position++;
        stack.pop_back();
      }
    }
  }
  if (next_position != ng) {
    throw_error(ErrorCode::kInternal, "plan ordering reached ", next_position, " of ", ng, " tasks");
  }
  visit = {};

  // 4b. Rereadable roots read by tasks far apart in this order: readers are taken in order and clustered
  // (a cluster ends where a reader comes more than reread_distance plan tasks after the cluster's first);
  // the first cluster reads the root, every other one a copy, unless that takes more than reread_copies
  // copies (a rechunk whose every output reads the root: holding it costs less than reading it for each).
  if (found != nullptr) {
    std::vector<std::uint32_t> by_pos;  // made at the first candidate: most graphs read no file
    std::vector<std::uint32_t> readers;
    for (std::uint32_t g = 0; g < ng; ++g) {
      if (gdependents.degree(g) < 2 || !rereadable_root(g) || is_output[tail(g)]) continue;
      if (by_pos.empty()) {
        by_pos.resize(ng);
        for (std::uint32_t h = 0; h < ng; ++h) by_pos[position[h]] = h;
      }
      readers.clear();
      for (std::uint32_t d : gdependents.row(g)) readers.push_back(position[d]);
      std::sort(readers.begin(), readers.end());
      readers.erase(std::unique(readers.begin(), readers.end()), readers.end());
      if (readers.back() - readers.front() <= options.reread_distance) continue;
      std::vector<Reread> copies;
      std::uint32_t first = readers.front();
      for (std::uint32_t p : readers) {
        if (p - first > options.reread_distance) {
          first = p;
          Reread r;
          for (std::uint32_t i = group_begin[g]; i < group_begin[g + 1]; ++i) {
            r.chain.push_back(nodes[group_members[i]]);
          }
          copies.push_back(std::move(r));
        }
        if (!copies.empty()) copies.back().readers.push_back(nodes[head(by_pos[p])]);
      }
      if (copies.size() <= options.reread_copies) found->insert(found->end(), copies.begin(), copies.end());
    }
  }

  // 5. Emit the plan in priority order.
  std::vector<std::uint32_t> by_position(ng);
  for (std::uint32_t g = 0; g < ng; ++g) by_position[position[g]] = g;
  Plan plan;
  plan.member_begin_.reserve(ng + 1);
  plan.member_begin_.push_back(0);
  plan.members_.reserve(k);
  plan.member_input_begin_.reserve(k + 1);
  plan.member_input_begin_.push_back(0);
  plan.member_inputs_.reserve(gdeps.items.size() + k);
  plan.dep_begin_.reserve(ng + 1);
  plan.dep_begin_.push_back(0);
  plan.deps_.reserve(gdeps.items.size());
  for (std::uint32_t p = 0; p < ng; ++p) {
    const std::uint32_t g = by_position[p];
    for (std::uint32_t i = group_begin[g]; i < group_begin[g + 1]; ++i) {
      plan.members_.push_back(nodes[group_members[i]]);
      if (i == group_begin[g]) {
        for (std::uint32_t d : gdeps.row(g)) {
          plan.member_inputs_.push_back(position[d]);
          plan.deps_.push_back(position[d]);
        }
      } else {
        plan.member_inputs_.push_back(kFromPrevious);
      }
      plan.member_input_begin_.push_back(static_cast<std::uint32_t>(plan.member_inputs_.size()));
    }
    plan.member_begin_.push_back(static_cast<std::uint32_t>(plan.members_.size()));
    plan.dep_begin_.push_back(static_cast<std::uint32_t>(plan.deps_.size()));
    if (gdeps.degree(g) == 0) plan.roots_.push_back(p);
  }
  Csr forward{plan.dep_begin_, plan.deps_};
  Csr backward = reverse(forward, ng);
  plan.dependent_begin_ = std::move(backward.begin);
  plan.dependents_ = std::move(backward.items);
  plan.outputs_.reserve(outputs.size());
  for (TaskId o : outputs) plan.outputs_.push_back(position[group_of[local[o]]]);
  plan.sorted_outputs_ = plan.outputs_;
  std::sort(plan.sorted_outputs_.begin(), plan.sorted_outputs_.end());
  return plan;
}

std::uint32_t Plan::output_holds(std::uint32_t p) const noexcept {
  auto [lo, hi] = std::equal_range(sorted_outputs_.begin(), sorted_outputs_.end(), p);
  return static_cast<std::uint32_t>(hi - lo);
}

std::shared_ptr<const TaskId> Plan::result_tasks_shared() const {
  if (members_.size() != size()) return nullptr;
  static std::mutex pin_mutex;  // executors running this plan concurrently may all pin it
  std::lock_guard lock(pin_mutex);
  return members_.pin();
}

std::size_t Plan::memory_bytes() const noexcept {
  auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
  return bytes(member_begin_) + bytes(members_) + bytes(member_input_begin_) + bytes(member_inputs_) +
         bytes(dep_begin_) + bytes(deps_) + bytes(dependent_begin_) + bytes(dependents_) + bytes(roots_) +
         bytes(outputs_) + bytes(sorted_outputs_);
}

}  // namespace tessera
