// Plan: a graph culled to what the requested outputs need, with linear chains fused and every task given a
// static priority. Executors run plans, not graphs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/pod_vector.h"

namespace tessera {

struct PlanOptions {
  bool cull = true;  // drop tasks no requested output needs
  bool fuse = true;  // merge each linear chain (one dependent, one dependency) into one task
  // Run a rereadable root (TaskOptions::rereadable) again for readers that come far after its first ones in
  // the order (more than `reread_distance` plan tasks after them), as at most `reread_copies` extra tasks,
  // instead of holding its result all that time. 0 copies: always hold.
  std::uint32_t reread_copies = 2;
  std::uint32_t reread_distance = 16;
};

// Plan tasks are numbered 0..size()-1 in priority order: a lower number runs earlier whenever both are ready.
// The order is a topological order, so running tasks by number is always valid. It is depth-first toward the
// outputs (visiting the dependency with the longest critical path first, ties broken by the order tasks were
// added), in the spirit of dask.order: a tree reduction over N leaves keeps O(depth x threads) intermediates
// alive rather than O(N). Immutable once built; safe to share between threads.
class Plan {
 public:
  static constexpr std::uint32_t kFromPrevious = 0xFFFFFFFFu;  // member input: the previous member's result

  // Throws Error(kInvalidArgument) for an output id out of range or a cycle (naming the keys on it),
  // Error(kNotFound) for a dependency key that names no task. Resolves the graph's key references first.
  static Plan build(Graph& graph, std::span<const TaskId> outputs, const PlanOptions& options = {});

  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(member_begin_.size() - 1); }
  // Graph tasks run by plan task p, in the order they run (several when a chain was fused). A rereadable root
  // read again for far readers (PlanOptions::reread_copies) is a member of several plan tasks.
  std::span<const TaskId> members(std::uint32_t p) const noexcept {
    return {members_.data() + member_begin_[p], members_.data() + member_begin_[p + 1]};
  }
  // Inputs of the member at position m of members_ (m in [member_begin(p), member_begin(p+1))): a plan task
  // id, or kFromPrevious.
  std::span<const std::uint32_t> member_inputs(std::size_t m) const noexcept {
    return {member_inputs_.data() + member_input_begin_[m],
            member_inputs_.data() + member_input_begin_[m + 1]};
  }
  std::uint32_t member_begin(std::uint32_t p) const noexcept { return member_begin_[p]; }
  // Plan tasks whose results p reads, with multiplicity (a task reading x twice lists x twice).
  std::span<const std::uint32_t> dependencies(std::uint32_t p) const noexcept {
    return {deps_.data() + dep_begin_[p], deps_.data() + dep_begin_[p + 1]};
  }
  // Plan tasks that read p's result, with multiplicity.
  std::span<const std::uint32_t> dependents(std::uint32_t p) const noexcept {
    return {dependents_.data() + dependent_begin_[p], dependents_.data() + dependent_begin_[p + 1]};
  }
  // Plan tasks without dependencies, ascending.
  std::span<const std::uint32_t> roots() const noexcept { return roots_; }
  // The plan task producing each requested output, in the order requested.
  std::span<const std::uint32_t> outputs() const noexcept { return outputs_; }
  // How many times p was requested as an output (its result is kept that many extra times).
  std::uint32_t output_holds(std::uint32_t p) const noexcept;
  // The graph task whose result plan task p produces (its last member).
  TaskId result_task(std::uint32_t p) const noexcept { return members_[member_begin_[p + 1] - 1]; }
  // Graph tasks the plan runs (after culling, before fusion; a root read again counts each time).
  std::size_t graph_tasks() const noexcept { return members_.size(); }
  // result_task(p) for p = 0, 1, ..., shared with the plan (PodVector::pin) so that it outlives it, when
  // every plan task runs one graph task (an unfused plan); null otherwise or when empty.
  std::shared_ptr<const TaskId> result_tasks_shared() const;
  std::size_t memory_bytes() const noexcept;

 private:
  // A copy of a rereadable chain (graph tasks, the root first, each reading the one before), whose last
  // result `readers` (graph tasks) read instead of the original's.
  struct Reread {
    std::vector<TaskId> chain;
    std::vector<TaskId> readers;
  };
  static Plan build_pass(const Graph& graph, std::span<const TaskId> outputs, const PlanOptions& options,
                         std::span<const Reread> rereads, std::vector<Reread>* found);

  std::vector<std::uint32_t> member_begin_;  // size() + 1
  detail::PodVector<TaskId> members_;
  std::vector<std::uint32_t> member_input_begin_;  // members_.size() + 1
  std::vector<std::uint32_t> member_inputs_;
  std::vector<std::uint32_t> dep_begin_;  // size() + 1
  std::vector<std::uint32_t> deps_;
  std::vector<std::uint32_t> dependent_begin_;  // size() + 1
  std::vector<std::uint32_t> dependents_;
  std::vector<std::uint32_t> roots_;
  std::vector<std::uint32_t> outputs_;
  std::vector<std::uint32_t> sorted_outputs_;  // for output_holds()
};

}  // namespace tessera
