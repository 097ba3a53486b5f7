// Runs one plan task (every member of a fused chain) and turns exceptions into TaskError.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/runtime/error.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/value.h"

namespace tessera::detail {

class TaskRunner {
 public:
  // `rank` goes into TaskError (-1 for the local executors).
  TaskRunner(const Graph& graph, const Plan& plan, int rank = -1) : graph_(graph), plan_(plan), rank_(rank) {}

  // Runs plan task p reading its inputs from `values` (indexed by plan task) and returns its result.
  // Each member is retried as its TaskOptions::retries allow, unless it failed with an Error that a retry
  // cannot cure (may_pass_on_retry). Throws TaskError naming the failing member.
  Value run(std::uint32_t p, const Value* values, int thread) {
    return run_impl(p, thread, [values](std::size_t, std::uint32_t in) { return &values[in]; });
  }
  // The same with the results of p's dependencies given in the order of plan.dependencies(p).
  Value run_with_inputs(std::uint32_t p, std::span<const Value> inputs, int thread) {
    return run_impl(p, thread, [inputs](std::size_t j, std::uint32_t) { return &inputs[j]; });
  }

  std::uint64_t attempts() const noexcept { return attempts_; }
  std::uint64_t members_run() const noexcept { return members_run_; }

 private:
  // resolve(j, plan_id): the j-th input of the chain's first member, produced by plan task plan_id.
  template <class Resolve>
  Value run_impl(std::uint32_t p, int thread, Resolve resolve);
  Value call(TaskId task, int thread);

  const Graph& graph_;
  const Plan& plan_;
  const int rank_;
  std::vector<const Value*> inputs_;
  std::uint64_t attempts_ = 0;
  std::uint64_t members_run_ = 0;
};

// Whether a task that threw Error(code) may succeed when tried again: kIo and kResourceExhausted. Other
// exceptions (user code) always may.
bool may_pass_on_retry(ErrorCode code) noexcept;

// The TaskError for the exception being handled (call inside a catch block).
[[noreturn]] void rethrow_as_task_error(const Graph& graph, TaskId task, int attempts, int rank = -1);

template <class Resolve>
Value TaskRunner::run_impl(std::uint32_t p, int thread, Resolve resolve) {
  Value previous;
  const std::uint32_t first = plan_.member_begin(p);
  std::span<const TaskId> members = plan_.members(p);
  for (std::size_t i = 0; i < members.size(); ++i) {
    inputs_.clear();
    std::size_t j = 0;
    for (std::uint32_t in : plan_.member_inputs(first + i)) {
      inputs_.push_back(in == Plan::kFromPrevious ? &previous : resolve(j++, in));
    }
    previous = call(members[i], thread);
  }
  return previous;
}

}  // namespace tessera::detail
