#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "spill_policy.h"
#include "spill_store.h"
#include "task_runner.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/stop.h"
#include "trace/pending_trace.h"
#include "trace/process_info.h"
#include "trace/run_observer.h"
#include "trace/spill_log.h"
#include "trace/sync_recorder.h"
#include "trace/ticker.h"

namespace tessera {
namespace {

class SyncExecutor final : public Executor {
 public:
  explicit SyncExecutor(const ExecutorOptions& options)
      : track_live_(options.track_live), record_(options.record), memory_(options.memory) {
    observer_.configure(options.record, options.progress);
  }

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
    const bool observed = observer_.active();
    const bool publishing = observer_.live();
    detail::TickScale scale;
    std::string started;
    std::uint64_t bytes = 0;
    if (observed) observer_.begin(graph, plan, 1, "sync");
    if (record_.enabled) {
      recorder_.resize(1);
      recorder_[0].begin(graph, plan, 0, record_.max_events, n, pool_.get());
      scale.start();
      started = detail::iso_time_now();
      sync_recorder_.begin(graph, plan, record_.max_events, &recorder_[0]);  // reads the clock last
    }
    Memory memory(memory_, plan);
    detail::SpillLog spill_log;  // spill files written and read back, when recording
    if (record_.enabled) {
      spill_log.begin(record_.max_transfers);
      memory.record_to(&spill_log);
    }
    // Held in locals: the task calls between uses are opaque, so members would be reloaded on every task.
    detail::SyncRecorder* const rec = record_.enabled ? &sync_recorder_ : nullptr;
    detail::ProgressGroups& groups = observer_.groups();
    const bool grouped = observed && !groups.empty();
    // Plan order is a topological order, so running by number is valid and follows the static priorities.
    for (std::uint32_t p = 0; p < n; ++p) {
      if (stop_requested()) {
        throw Error(ErrorCode::kCancelled, str_cat("stopped on request (", signal_name(stop_signal()),
                                                   ") with ", p, " of ", n, " tasks done"));
      }
      if (memory.on()) memory.read_back(p, values.get());
      Value out = runner.run(p, values.get(), 0);
      if (observed) {
        const std::uint64_t b = detail::result_bytes(out);
        bytes += b;
        if (rec != nullptr) rec->done(p, b);
        if (grouped) groups.done(0, p);
        // Every 64 tasks, not after each: reading the clock costs more than a small task.
        if ((p & 63) == 63) {
          const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (publishing) observer_.completed(p, 0, t, 0, b);
          observer_.tick(t, SchedulerSample{t, p + 1ULL, 0, 1}, bytes, [&](LiveSnapshot& snap) {
            snap.workers = {WorkerRow{0, 1, "", p + 1ULL, 0, 0, 0}};
          });
        }
      }
      if (uses[p] > 0) {
        values[p] = std::move(out);
        if (track_live_ && ++live > peak) peak = live;
        if (memory.on()) memory.hold(p, values[p], graph);
      }
      for (std::uint32_t d : plan.dependencies(p)) {
        if (--uses[d] == 0) {
          values[d].reset();
          if (memory.on()) memory.drop(d);
          if (track_live_) --live;
        }
      }
      if (memory.on()) {
        memory.read_by(p);
        memory.spill_past_limit(p, values.get());
      }
    }
    RunResult result;
    result.outputs.reserve(plan.outputs().size());
    for (std::uint32_t o : plan.outputs()) result.outputs.push_back(values[o]);
    result.stats.plan_tasks = n;
    result.stats.graph_tasks = runner.members_run();
    result.stats.attempts = runner.attempts();
    result.stats.peak_live = peak;
    result.stats.peak_held_bytes = memory.peak();
    result.stats.bytes_spilled = memory.spilled();
    result.stats.bytes_unspilled = memory.unspilled();
    result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (observed) observer_.close(result.stats.seconds, n);
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
      spill_log.take(scale.origin_time, trace);
      observer_.describe(trace);
      // Assembled when first looked at: the run keeps its clock reads (or, past the cap, its events) and the
      // graph's keys.
      if (sync_recorder_.compact()) {
        result.trace = make_pending_trace_ref(detail::defer_sync(
            std::move(trace), graph, plan, sync_recorder_, scale, observer_.take_resources(), pool_));
      } else {
        sync_recorder_.flush();
        result.trace = make_pending_trace_ref(
            detail::defer(std::move(trace), graph, recorder_, scale, observer_.take_resources(), pool_));
      }
    }
    if (observed) {
      observer_.finish(result.stats.seconds, n, bytes, [&](LiveSnapshot& snap) {
        snap.workers = {WorkerRow{0, 1, "", n, 0, 0, 0}};
      });
    }
    return result;
  }

  int concurrency() const noexcept override { return 1; }

 private:
  // A memory limit in one thread (docs/memory.md): held results are counted by encoded size; past
  // spill_fraction the ones read furthest in the future (plan order is run order here) go to spill files, and
  // come back before the task that reads them. Outputs and values without a codec stay in memory.
  class Memory {
   public:
    Memory(const MemoryOptions& o, const Plan& plan)
        : plan_(plan),
          spill_at_(o.limit > 0 && o.spill
                        ? std::max<std::uint64_t>(
                              1, static_cast<std::uint64_t>(static_cast<double>(o.limit) * o.spill_fraction))
                        : 0),
          counted_(o.limit > 0 ? plan.size() : 0, 0),
          candidates_(spill_at_ > 0 ? plan.size() : 0) {
      if (spill_at_ > 0) store_.emplace(o.spill_dir);
    }
    bool on() const noexcept { return !counted_.empty(); }
    std::uint64_t peak() const noexcept { return peak_; }
    std::uint64_t spilled() const noexcept { return store_ ? store_->bytes_written() : 0; }
    std::uint64_t unspilled() const noexcept { return store_ ? store_->bytes_read() : 0; }
    void record_to(detail::SpillLog* log) noexcept {
      if (store_) store_->record_to(log);
    }

    void hold(std::uint32_t p, const Value& v, const Graph& graph) {
      std::uint64_t b = detail::result_bytes(v);
      if (b == 0) b = graph.options(plan_.result_task(p)).output_bytes;
      counted_[p] = b;
      held_ += b;
      peak_ = std::max(peak_, held_);
      may_spill(p, v, p);
    }
    void drop(std::uint32_t d) {
      held_ -= counted_[d];
      counted_[d] = 0;
      if (spill_at_ > 0) candidates_.remove(d);
      if (store_ && on_disk_.erase(d) > 0) store_->remove(d);
    }
    // Task p read its inputs: each one still held is next needed by a later reader.
    void read_by(std::uint32_t p) {
      if (spill_at_ == 0) return;
      for (std::uint32_t d : plan_.dependencies(p)) {
        if (candidates_.contains(d))
          candidates_.add(d, detail::SpillCandidates::next_reader(plan_.dependents(d), p));
      }
    }
    // Before task p: its inputs that are on disk come back (their files stay: spilling them again is free).
    void read_back(std::uint32_t p, Value* values) {
      if (on_disk_.empty()) return;
      for (std::uint32_t d : plan_.dependencies(p)) {
        if (values[d].has_value()) continue;
        auto it = on_disk_.find(d);
        if (it == on_disk_.end()) continue;
        values[d] = store_->read(d, *it->second.ops, it->second.bytes);
        counted_[d] = it->second.bytes;
        held_ += counted_[d];
        peak_ = std::max(peak_, held_);
        may_spill(d, values[d], p);
      }
    }
    // After task p: the results needed furthest in the future go to disk until the held bytes are back under
    // the threshold (spill_policy.h).
    void spill_past_limit(std::uint32_t p, Value* values) {
      while (spill_at_ > 0 && held_ > spill_at_ && !candidates_.empty()) {
        const std::uint32_t d = candidates_.take_victim();
        if (!values[d].has_value() || counted_[d] == 0) continue;
        if (!on_disk_.count(d)) {
          store_->prepare();
          const std::uint64_t bytes = store_->write(d, values[d]);
          on_disk_.emplace(d, OnDisk{values[d].ops(), bytes});
        }
        values[d].reset();
        held_ -= counted_[d];
        counted_[d] = 0;
      }
    }

   private:
    struct OnDisk {
      const detail::TypeOps* ops;
      std::uint64_t bytes;
    };
    const Plan& plan_;
    const std::uint64_t spill_at_;
    // Results that may leave memory, if held: outputs and values without a codec stay. `after`: the plan task
    // that made or last read it.
    void may_spill(std::uint32_t d, const Value& v, std::uint32_t after) {
      if (spill_at_ == 0 || plan_.output_holds(d) > 0 || v.ops() == nullptr || v.ops()->encode == nullptr)
        return;
      candidates_.add(d, detail::SpillCandidates::next_reader(plan_.dependents(d), after));
    }

    std::vector<std::uint64_t> counted_;  // bytes counted for each held result (0: not in memory)
    detail::SpillCandidates candidates_;  // held results that may go to disk, by next reader
    std::unordered_map<std::uint32_t, OnDisk> on_disk_;
    std::optional<detail::SpillStore> store_;  // removes its files when the run ends, however it ends
    std::uint64_t held_ = 0;
    std::uint64_t peak_ = 0;
  };

 public:
  std::string_view name() const noexcept override { return "sync"; }

 private:
  bool track_live_;
  RecordOptions record_;
  MemoryOptions memory_;
  detail::RunObserver observer_;                  // samples, progress groups, progress calls, live snapshots
  std::vector<detail::ThreadRecorder> recorder_;  // the events of a run with more clock reads than the cap
  detail::SyncRecorder sync_recorder_;            // the clock reads
  std::shared_ptr<detail::RecordingPool> pool_ = std::make_shared<detail::RecordingPool>();
};

}  // namespace

std::unique_ptr<Executor> make_sync_executor(const ExecutorOptions& options) {
  return std::make_unique<SyncExecutor>(options);
}

}  // namespace tessera
