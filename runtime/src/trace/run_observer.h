// What every executor tells about a run besides the per-task events (ThreadRecorder): samples of the
// scheduler and of memory/CPU, tasks done per progress group, progress calls, live snapshots. One object per
// executor; the executor calls it, its loops stay about scheduling:
//   begin()      at the start of a run (the executor's thread)
//   groups()     per finished task, from the thread that finished it (a counter in that thread's lines)
//   completed()  per finished task the observer learns of one by one with its numbers (MPI rank 0)
//   tick()       periodically from one runtime thread (the pool's ticker, the sync loop every 64 tasks, the
//   MPI
//                scheduler loop every 16 rounds): takes the samples that are due, calls the progress hook and
//                publishes a live snapshot when their period has passed
//   close()      when the run's tasks are done: the last samples; then describe() into the trace and
//                finish() for the final progress call and snapshot
// Never called from a compute thread's path except groups().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "progress_groups.h"
#include "sampling.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/live_view.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"

namespace tessera::detail {

class RunObserver {
 public:
  void configure(const RecordOptions& record, const ProgressOptions& progress) {
    record_ = record;
    progress_ = progress;
  }
  // Recording, progress calls or a live view: otherwise the executor calls nothing here.
  bool active() const noexcept { return record_.enabled || progress_.callback || progress_.live; }
  bool recording() const noexcept { return record_.enabled; }
  bool live() const noexcept { return progress_.live != nullptr; }
  // How often tick() is worth calling: the shorter of the sample and progress periods that apply.
  double period() const noexcept;

  // A run starts: `threads` threads will count finished tasks in groups().
  void begin(const Graph& graph, const Plan& plan, int threads, std::string executor);
  ProgressGroups& groups() noexcept { return groups_; }

  // A finished task, for the live view's recent list (only when live()).
  void completed(std::uint32_t task, std::int32_t rank, double end, double seconds, std::uint64_t bytes) {
    if (recent_.size() == LiveView::kRecent) {
      recent_[recent_next_] = RecentTask{task, kind_of(task), rank, end, seconds, bytes};
      recent_next_ = (recent_next_ + 1) % LiveView::kRecent;
      return;
    }
    recent_.push_back(RecentTask{task, kind_of(task), rank, end, seconds, bytes});
  }

  // The run's state `t` seconds after it started. `more` adds what only the executor knows (the worker
  // table, recent tasks) to a snapshot being published.
  void tick(double t, const SchedulerSample& state, std::uint64_t bytes,
            const std::function<void(LiveSnapshot&)>& more = {});
  // The run's tasks are done `t` seconds after it started (`tasks` of them).
  void close(double t, std::uint64_t tasks);
  // The samples and progress groups into a trace (after close(); when recording).
  void describe(RunTrace& trace);
  std::vector<ResourceSample> take_resources() { return std::move(resources_.samples()); }
  std::vector<SchedulerSample> take_samples() { return std::move(samples_.samples()); }
  std::vector<std::vector<std::uint64_t>> take_group_samples() { return std::move(group_samples_.samples()); }
  // The progress groups at the end (all done).
  std::vector<GroupProgress> final_groups() const { return groups_.progress(groups_.read(true)); }
  // The run succeeded after `seconds` with `bytes` of results: the last progress call and live snapshot.
  void finish(double seconds, std::uint64_t tasks, std::uint64_t bytes,
              const std::function<void(LiveSnapshot&)>& more = {});

 private:
  std::uint32_t kind_of(std::uint32_t task) const;
  void publish(const Progress& progress, bool finished, const std::function<void(LiveSnapshot&)>& more);

  RecordOptions record_;
  ProgressOptions progress_;
  const Graph* graph_ = nullptr;
  const Plan* plan_ = nullptr;
  std::string executor_;
  std::uint64_t runs_ = 0;
  SampleSeries<SchedulerSample> samples_;
  SampleSeries<ResourceSample> resources_;
  ProgressGroups groups_;  // tasks done per Graph::progress_group
  SampleSeries<std::vector<std::uint64_t>> group_samples_;
  double next_progress_ = 0;
  std::vector<RecentTask> recent_;  // a ring once full (recent_next_ is the oldest)
  std::size_t recent_next_ = 0;
  std::vector<std::string> names_;  // the graph's names when the run began (live snapshots)
};

}  // namespace tessera::detail
