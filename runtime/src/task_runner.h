// Runs one plan task (every member of a fused chain) and turns exceptions into TaskError.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/value.h"

namespace tessera::detail {

class TaskRunner {
 public:
  TaskRunner(const Graph& graph, const Plan& plan) : graph_(graph), plan_(plan) {}

  // Runs plan task p reading its inputs from `values` (indexed by plan task) and returns its result.
  // Each member is retried as its TaskOptions::retries allow. Throws TaskError naming the failing member.
  Value run(std::uint32_t p, const Value* values, int thread);

  std::uint64_t attempts() const noexcept { return attempts_; }
  std::uint64_t members_run() const noexcept { return members_run_; }

 private:
  const Graph& graph_;
  const Plan& plan_;
  std::vector<const Value*> inputs_;
  std::uint64_t attempts_ = 0;
  std::uint64_t members_run_ = 0;
};

// The TaskError for the exception being handled (call inside a catch block).
[[noreturn]] void rethrow_as_task_error(const Graph& graph, TaskId task, int attempts, int rank = -1);

}  // namespace tessera::detail
