#include "run_observer.h"

#include <algorithm>

#include "process_info.h"

namespace tessera::detail {

double RunObserver::period() const noexcept {
  double p = progress_.callback || progress_.live ? progress_.seconds : 1.0;
  if (record_.enabled) p = std::min(p, record_.sample_seconds);
  return p;
}

void RunObserver::begin(const Graph& graph, const Plan& plan, int threads, std::string executor) {
  graph_ = &graph;
  plan_ = &plan;
  executor_ = std::move(executor);
  ++runs_;
  samples_ = SampleSeries<SchedulerSample>(record_.sample_seconds);
  resources_ = SampleSeries<ResourceSample>(record_.sample_seconds);
  group_samples_ = SampleSeries<std::vector<std::uint64_t>>(record_.sample_seconds);
  groups_.begin(graph, plan, threads);
  next_progress_ = progress_.seconds;
  recent_.clear();
  recent_next_ = 0;
  names_.clear();
  if (record_.enabled) resources_.add(0, sample_resources(0, 0, 0));
}

std::uint32_t RunObserver::kind_of(std::uint32_t task) const {
  return graph_->name_id_of(plan_->result_task(task));
}

void RunObserver::tick(double t, const SchedulerSample& state, std::uint64_t bytes,
                       const std::function<void(LiveSnapshot&)>& more) {
  if (record_.enabled) {
    if (resources_.due(t)) resources_.add(t, sample_resources(0, t, 0));
    if (samples_.due(t)) {
      samples_.add(t, state);
      if (!groups_.empty()) group_samples_.add(t, groups_.read());
    }
  }
  if ((progress_.callback || progress_.live) && t >= next_progress_) {
    next_progress_ = t + progress_.seconds;
    const Progress p{state.done, plan_->size(), bytes, t, false, groups_.progress(groups_.read())};
    if (progress_.callback) progress_.callback(p);
    if (progress_.live) publish(p, false, more);
  }
}

void RunObserver::close(double t, std::uint64_t tasks) {
  if (!record_.enabled) return;
  samples_.add(t, SchedulerSample{t, tasks, 0, 0});
  resources_.add(t, sample_resources(0, t, 0));
  if (!groups_.empty()) group_samples_.add(t, groups_.read(true));
}

void RunObserver::describe(RunTrace& trace) {
  trace.scheduler = take_samples();
  if (!groups_.empty()) {
    groups_.describe(trace);
    trace.group_done = take_group_samples();
  }
}

void RunObserver::finish(double seconds, std::uint64_t tasks, std::uint64_t bytes,
                         const std::function<void(LiveSnapshot&)>& more) {
  if (!progress_.callback && !progress_.live) return;
  const Progress p{tasks, tasks, bytes, seconds, true, final_groups()};
  if (progress_.callback) progress_.callback(p);
  if (progress_.live) publish(p, true, more);
}

void RunObserver::publish(const Progress& progress, bool finished,
                          const std::function<void(LiveSnapshot&)>& more) {
  auto s = std::make_shared<LiveSnapshot>();
  s->executor = executor_;
  s->run = runs_;
  s->finished = finished;
  s->progress = progress;
  s->scheduler = samples_.samples();
  s->group_done = group_samples_.samples();
  s->resources = resources_.samples();
  if (names_.empty() && graph_ != nullptr) names_ = graph_->names();
  s->names = names_;
  s->recent.reserve(recent_.size());
  s->recent.insert(s->recent.end(), recent_.begin() + static_cast<std::ptrdiff_t>(recent_next_),
                   recent_.end());
  s->recent.insert(s->recent.end(), recent_.begin(),
                   recent_.begin() + static_cast<std::ptrdiff_t>(recent_next_));
  if (more) more(*s);
  progress_.live->publish(std::move(s));
}

}  // namespace tessera::detail
