#include <chrono>
#include <memory>

#include "task_runner.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/stop.h"

namespace tessera {
namespace {

class SyncExecutor final : public Executor {
 public:
  explicit SyncExecutor(const ExecutorOptions& options) : track_live_(options.track_live) {}

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
    // Plan order is a topological order, so running by number is valid and follows the static priorities.
    for (std::uint32_t p = 0; p < n; ++p) {
      if (stop_requested()) {
        throw Error(ErrorCode::kCancelled, str_cat("stopped on request (", signal_name(stop_signal()), ") with ", p,
                                                   " of ", n, " tasks done"));
      }
      Value out = runner.run(p, values.get(), 0);
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
    return result;
  }

  int concurrency() const noexcept override { return 1; }
  std::string_view name() const noexcept override { return "sync"; }

 private:
  bool track_live_;
};

}  // namespace

std::unique_ptr<Executor> make_sync_executor(const ExecutorOptions& options) {
  return std::make_unique<SyncExecutor>(options);
}

}  // namespace tessera
