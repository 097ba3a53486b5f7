// Tasks done per progress group while a run goes on.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"

namespace tessera::detail {

// Tasks done per progress group (Graph::progress_group) while a run goes on: each thread counts the tasks it
// finishes in its own cache lines; a sampler sums them. Without groups in the graph it is empty() and costs
// nothing.
class ProgressGroups {
 public:
  void begin(const Graph& graph, const Plan& plan, int threads);
  bool empty() const noexcept { return labels_.empty(); }
  // Thread `thread` finished plan task p.
  void done(int thread, std::uint32_t p) noexcept {
    const std::uint16_t g = group_of_[p];
    if (g == 0) return;
    std::atomic<std::uint64_t>& c = counts_[static_cast<std::size_t>(thread) * stride_ + g];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Done per group now (any thread), by group id - 1; `final`: every task of the run finished.
  std::vector<std::uint64_t> read(bool final = false) const;
  // The progress groups for a Progress call.
  std::vector<GroupProgress> progress(const std::vector<std::uint64_t>& done) const;
  // Labels, totals and each plan task's group into a trace. Call once the run's tasks are done: the per-task
  // groups move into the trace (the next begin() sizes them afresh).
  void describe(RunTrace& trace) {
    trace.group_labels = labels_;
    trace.group_totals = totals_;
    trace.task_groups = std::move(group_of_);
    group_of_.clear();
  }

 private:
  std::vector<std::string> labels_;
  std::vector<std::uint64_t> totals_;
  std::vector<std::uint16_t> group_of_;  // per plan task
  std::size_t threads_ = 0;
  std::size_t stride_ = 0;  // counters per thread, whole cache lines
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
};

}  // namespace tessera::detail
