// Runtime: the entry point. Owns the executor and runs graphs, delayed calls and futures.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tessera/runtime/dashboard.h"
#include "tessera/runtime/delayed.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"

namespace tessera {

// kAuto: the MPI executor when launched by mpirun/srun with 2 or more ranks, else the local thread pool.
enum class ExecutorKind { kAuto, kThreads, kSync, kMpi };

struct RuntimeOptions {
  ExecutorKind executor = ExecutorKind::kAuto;
  int threads =
      0;  // local: threads (0: every CPU this process may use); MPI: threads per worker (0: its cores)
  PlanOptions plan;
  bool track_live = false;
  RecordOptions record;      // record events for last_trace() (tessera/runtime/trace.h); overrides mpi.record
  ProgressOptions progress;  // progress calls while a run goes on (rank 0); overrides mpi.progress
  MpiExecutorOptions mpi;    // `threads` above overrides mpi.threads when set
  // A memory limit per worker (thread pool: the process; MPI: each worker rank), with spilling
  // (docs/memory.md); overrides mpi.memory when its limit is set. Every executor honours it.
  MemoryOptions memory;
  // A live dashboard over HTTP while runs go on (tessera/runtime/dashboard.h, docs/dashboard.md), served by
  // rank 0 from the Runtime's construction to its destruction; off (no thread, no socket) while
  // dashboard.listen is empty. On, it turns recording on (the page's samples) and publishes live snapshots to
  // progress.live (one is made when none is given).
  DashboardOptions dashboard;

  // Defaults overridden by the environment: TESSERA_EXECUTOR=auto|threads|sync|mpi, TESSERA_THREADS=N,
  // TESSERA_BIND=0|1 (MPI workers pin themselves with hwloc), TESSERA_SHOW_BINDING=0|1 (rank 0 prints where
  // every worker runs), TESSERA_MEMORY_LIMIT=SIZE (4GiB, 512MB, bytes), TESSERA_SPILL_DIR=DIR,
  // TESSERA_DASHBOARD=[HOST:]PORT. Throws
  // Error(kInvalidArgument) naming the variable and its value when one is malformed.
  static RuntimeOptions from_environment();
};

class Runtime;

namespace detail {
struct FutureState {
  NodePtr node;  // after completion: a literal node holding the result
  Value result;
  std::exception_ptr error;
  bool done = false;
};
}  // namespace detail

// A result of Runtime::submit/map. Futures are batched: the first result() or Runtime::gather computes every
// future submitted so far in one graph, so independent submissions run in parallel. A future can be passed as
// an argument to further submit() or delayed calls.
template <class T>
class Future {
 public:
  Future(Runtime* runtime, std::shared_ptr<detail::FutureState> state)
      : runtime_(runtime), state_(std::move(state)) {}
  // The value; computes pending futures first. Rethrows the TaskError of a failed batch.
  const T& result() const;
  bool done() const noexcept { return state_->done; }
  Delayed<T> as_delayed() const { return Delayed<T>(state_->node); }

 private:
  Runtime* runtime_;
  std::shared_ptr<detail::FutureState> state_;
};

namespace detail {
template <class U>
struct BinderFor<Future<U>> {
  struct type : DelayedBinder<U> {
    type(const Future<U>& f, std::size_t& next, std::vector<NodePtr>& deps)
        : DelayedBinder<U>(f.as_delayed(), next, deps) {}
  };
};
}  // namespace detail

class Runtime {
 public:
  explicit Runtime(const RuntimeOptions& options = RuntimeOptions::from_environment());
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Executor& executor() noexcept { return *executor_; }
  // This process's rank and the number of ranks (0 and 1 without MPI). Rank 0 is the one that prints.
  int rank() const noexcept { return executor_->rank(); }
  int ranks() const noexcept { return executor_->ranks(); }
  const RuntimeOptions& options() const noexcept { return options_; }
  // Collective under MPI: see Executor::agree.
  void agree(std::exception_ptr mine) { executor_->agree(std::move(mine)); }
  // The live dashboard this process serves (RuntimeOptions::dashboard; rank 0 only), else null.
  const Dashboard* dashboard() const noexcept { return dashboard_.get(); }
  // Statistics of the most recent run.
  const RunStats& last_stats() const noexcept { return last_stats_; }
  // What the most recent run recorded (RuntimeOptions::record): on rank 0 under MPI; null when not recording,
  // on other ranks, or before the first run. The first call after a run assembles the trace from the raw
  // recording (the run itself only kept it).
  std::shared_ptr<const RunTrace> last_trace() const { return last_trace_.get(); }

  // Plans `graph` for `outputs` and runs it; returns one value per output. Errors: see Plan::build and
  // Executor::run.
  std::vector<Value> run(Graph& graph, std::span<const TaskId> outputs);

  // Computes delayed values in one graph (shared work runs once): one argument returns its T, several a
  // tuple.
  template <class... T>
  auto compute(const Delayed<T>&... d) {
    static_assert(sizeof...(T) >= 1, "compute needs at least one value");
    std::vector<detail::NodePtr> roots{d.node()...};
    std::vector<Value> values = compute_nodes(roots);
    if constexpr (sizeof...(T) == 1) {
      return (values[0].template get<T>(), ...);
    } else {
      return unpack<T...>(values, std::index_sequence_for<T...>{});
    }
  }
  template <class T>
  std::vector<T> compute(const std::vector<Delayed<T>>& ds) {
    std::vector<detail::NodePtr> roots;
    roots.reserve(ds.size());
    for (const auto& d : ds) roots.push_back(d.node());
    std::vector<Value> values = compute_nodes(roots);
    std::vector<T> out;
    out.reserve(values.size());
    for (const auto& v : values) out.push_back(v.template get<T>());
    return out;
  }

  template <class F, class... Args>
  auto submit(F&& f, Args&&... args) {
    auto d = delayed(std::forward<F>(f), "submit")(std::forward<Args>(args)...);
    using T = typename decltype(d)::value_type;
    return Future<T>(this, enqueue(d.node()));
  }
  template <class F, class Range>
  auto map(F&& f, const Range& items) {
    auto fn = delayed(std::forward<F>(f), "map");
    using T = typename decltype(fn(*std::begin(items)))::value_type;
    std::vector<Future<T>> out;
    for (const auto& item : items) out.emplace_back(this, enqueue(fn(item).node()));
    return out;
  }
  template <class T>
  std::vector<T> gather(const std::vector<Future<T>>& futures) {
    std::vector<T> out;
    out.reserve(futures.size());
    for (const auto& f : futures) out.push_back(f.result());
    return out;
  }
  // Computes every submitted future that is not done yet.
  void flush();

 private:
  template <class... T, std::size_t... I>
  static std::tuple<T...> unpack(const std::vector<Value>& values, std::index_sequence<I...>) {
    return std::tuple<T...>(values[I].template get<T>()...);
  }
  std::vector<Value> compute_nodes(std::span<const detail::NodePtr> roots);
  std::shared_ptr<detail::FutureState> enqueue(detail::NodePtr node);

  RuntimeOptions options_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Dashboard> dashboard_;  // stopped before the executor goes
  RunStats last_stats_;
  TraceRef last_trace_;
  std::vector<std::weak_ptr<detail::FutureState>> pending_;
};

template <class T>
const T& Future<T>::result() const {
  if (!state_->done) runtime_->flush();
  if (state_->error) std::rethrow_exception(state_->error);
  return state_->result.template get<T>();
}

}  // namespace tessera
