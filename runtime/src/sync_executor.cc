#include <chrono>
#include <memory>

#include "task_runner.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/stop.h"
#include "trace/recorder.h"

namespace tessera {
namespace {

class SyncExecutor final : public Executor {
 public:
  explicit SyncExecutor(const ExecutorOptions& options)
      : track_live_(options.track_live), record_(options.record), progress_(options.progress) {}

  RunResult run(const Graph& graph, const Plan& plan) override {
    const auto start = std::chrono::steady_clock::now();
    const std::uint32_t n = plan.size();
    std::unique_ptr<Value[]> values(new Value[n]);
    std::unique_ptr<std::uint32_t[]> uses(new std::uint32_t[n]);
    for (std::uint32_t p = 0; p < n; ++p) {
      uses[p] = static_cast<std::uint32_t>(plan.dependents(p).size()) + plan.output_holds(p);
    }
    detail::TaskRunner runner(graph, plan);
    std::uint64_t live = 0;
    std::uint64_t peak = 0;
    const bool observed = record_.enabled || progress_.callback != nullptr;
    detail::TickScale scale;
    detail::SampleSeries<ResourceSample> resources(record_.sample_seconds);
    detail::SampleSeries<SchedulerSample> samples(record_.sample_seconds);
    std::string started;
    std::uint64_t bytes = 0;
    double next_progress = progress_.seconds;
    std::uint64_t mark = 0;
    detail::ProgressGroups groups;
    detail::SampleSeries<std::vector<std::uint64_t>> group_samples(record_.sample_seconds);
    if (observed) groups.begin(graph, plan, 1);
    if (record_.enabled) {
      recorder_.resize(1);
      recorder_[0].begin(graph, plan, 0, record_.max_events, n, pool_.get());
      scale.start();
      started = detail::iso_time_now();
      resources.add(0, detail::sample_resources(0, 0, 0));
      mark = detail::ticks();
    }
    // Plan order is a topological order, so running by number is valid and follows the static priorities.
    for (std::uint32_t p = 0; p < n; ++p) {
      if (stop_requested()) {
        throw Error(ErrorCode::kCancelled, str_cat("stopped on request (", signal_name(stop_signal()),
                                                   ") with ", p, " of ", n, " tasks done"));
      }
      Value out = runner.run(p, values.get(), 0);
      if (observed) {
        const std::uint64_t end = record_.enabled ? detail::ticks() : 0;
        const std::uint64_t b = detail::result_bytes(out);
        bytes += b;
        if (record_.enabled) {
          recorder_[0].task(p, mark, end, b);
          mark = end;
        }
        if (!groups.empty()) groups.done(0, p);
        // Every 64 tasks, not after each: reading the clock costs more than a small task.
        if ((p & 63) == 63) {
          const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (record_.enabled && resources.due(t)) resources.add(t, detail::sample_resources(0, t, 0));
          if (record_.enabled && samples.due(t)) {
            samples.add(t, SchedulerSample{t, p + 1ULL, 0, 1});
            if (!groups.empty()) group_samples.add(t, groups.read());
          }
          if (progress_.callback && t >= next_progress) {
            next_progress = t + progress_.seconds;
            progress_.callback(Progress{p + 1ULL, n, bytes, t, false, groups.progress(groups.read())});
          }
        }
      }
      if (uses[p] > 0) {
        values[p] = std::move(out);
        if (track_live_ && ++live > peak) peak = live;
      }
      for (std::uint32_t d : plan.dependencies(p)) {
        if (--uses[d] == 0) {
          values[d].reset();
          if (track_live_) --live;
        }
      }
    }
    RunResult result;
    result.outputs.reserve(plan.outputs().size());
    for (std::uint32_t o : plan.outputs()) result.outputs.push_back(values[o]);
    result.stats.plan_tasks = n;
    result.stats.graph_tasks = runner.members_run();
    result.stats.attempts = runner.attempts();
    result.stats.peak_live = peak;
    result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (record_.enabled) {
      scale.finish();
      RunTrace trace;
      trace.executor = "sync";
      trace.threads = {1};
      trace.bindings = {""};
      trace.started = started;
      trace.slurm_job_id = detail::slurm_job_id();
      trace.seconds = result.stats.seconds;
      trace.tasks_total = n;
      trace.graph_tasks = result.stats.graph_tasks;
      resources.add(result.stats.seconds, detail::sample_resources(0, result.stats.seconds, 0));
      samples.add(result.stats.seconds, SchedulerSample{result.stats.seconds, n, 0, 0});
      trace.scheduler = std::move(samples.samples());
      if (!groups.empty()) {
        group_samples.add(result.stats.seconds, groups.read(true));
        groups.describe(trace);
        trace.group_done = std::move(group_samples.samples());
      }
      // Assembled when first looked at; the run only keeps the raw events and a copy of the keys.
      result.trace = make_pending_trace_ref(
          detail::defer(std::move(trace), graph, recorder_, scale, std::move(resources.samples()), pool_));
    }
    if (progress_.callback) {
      progress_.callback(
          Progress{n, n, bytes, result.stats.seconds, true, groups.progress(groups.read(true))});
    }
    return result;
  }

  int concurrency() const noexcept override { return 1; }
  std::string_view name() const noexcept override { return "sync"; }

 private:
  bool track_live_;
  RecordOptions record_;
  ProgressOptions progress_;
  std::vector<detail::ThreadRecorder> recorder_;
  std::shared_ptr<detail::RecordingPool> pool_ = std::make_shared<detail::RecordingPool>();
};

}  // namespace

std::unique_ptr<Executor> make_sync_executor(const ExecutorOptions& options) {
  return std::make_unique<SyncExecutor>(options);
}

}  // namespace tessera
