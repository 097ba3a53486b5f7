#include "tessera/runtime/runtime.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mpi/mpi_env.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/live_view.h"

namespace tessera {

namespace {

std::optional<bool> env_flag(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  std::string_view s(v);
  if (s == "1" || s == "yes" || s == "true" || s == "on") return true;
  if (s == "0" || s == "no" || s == "false" || s == "off") return false;
  throw_error(ErrorCode::kInvalidArgument, name, " is \"", s, "\"; expected 1 or 0");
}

// Ranks in this job as the launcher announced them, without initialising MPI; 0 when it did not say.
int announced_ranks() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(var); v != nullptr) return std::atoi(v);
  }
  return 0;
}

}  // namespace

RuntimeOptions RuntimeOptions::from_environment() {
  RuntimeOptions options;
  if (const char* kind = std::getenv("TESSERA_EXECUTOR"); kind != nullptr && *kind != '\0') {
    std::string_view k(kind);
    if (k == "auto") {
      options.executor = ExecutorKind::kAuto;
    } else if (k == "threads") {
      options.executor = ExecutorKind::kThreads;
    } else if (k == "sync") {
      options.executor = ExecutorKind::kSync;
    } else if (k == "mpi") {
      options.executor = ExecutorKind::kMpi;
    } else {
      throw_error(ErrorCode::kInvalidArgument, "TESSERA_EXECUTOR is \"", k,
                  "\"; expected auto, threads, sync or mpi");
    }
  }
  if (auto bind = env_flag("TESSERA_BIND")) options.mpi.bind = *bind;
  if (auto show = env_flag("TESSERA_SHOW_BINDING")) options.mpi.show_binding = *show;
  if (const char* threads = std::getenv("TESSERA_THREADS"); threads != nullptr && *threads != '\0') {
    std::string_view t(threads);
    int value = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc() || end != t.data() + t.size() || value < 0) {
      throw_error(ErrorCode::kInvalidArgument, "TESSERA_THREADS is \"", t,
                  "\"; expected a whole number of threads (0 = all CPUs)");
    }
    options.threads = value;
  }
  if (const char* limit = std::getenv("TESSERA_MEMORY_LIMIT"); limit != nullptr && *limit != '\0') {
    options.memory.limit = parse_size(limit, "TESSERA_MEMORY_LIMIT");
  }
  if (const char* dir = std::getenv("TESSERA_SPILL_DIR"); dir != nullptr && *dir != '\0') {
    options.memory.spill_dir = dir;
  }
  if (const char* d = std::getenv("TESSERA_DASHBOARD"); d != nullptr && *d != '\0') {
    parse_listen_address(d);  // a mistake is reported here, naming the variable's text
    options.dashboard.listen = d;
  }
  return options;
}

Runtime::Runtime(const RuntimeOptions& options) : options_(options) {
  ExecutorKind kind = options.executor;
  if (kind == ExecutorKind::kAuto) {
    kind = ExecutorKind::kThreads;
    if (mpi::launched_by_mpi()) {
      const int announced = announced_ranks();
      if (announced >= 2 || (announced == 0 && mpi::Environment::get().world_size() >= 2))
        kind = ExecutorKind::kMpi;
    }
  }
  const bool dashboard = !options.dashboard.listen.empty();
  if (dashboard) {
    // Checked on every rank before any starts, so a mistake stops them all alike.
    parse_listen_address(options.dashboard.listen);
    if (!options_.progress.live) options_.progress.live = std::make_shared<LiveView>();
    options_.progress.seconds = std::min(options_.progress.seconds, 1.0);
    options_.record.enabled = true;
  }
  ExecutorOptions eo;
  eo.threads = options.threads;
  eo.track_live = options.track_live;
  eo.record = options_.record;
  eo.progress = options_.progress;
  eo.memory = options.memory;
  switch (kind) {
    case ExecutorKind::kSync:
      executor_ = make_sync_executor(eo);
      break;
    case ExecutorKind::kMpi: {
      MpiExecutorOptions mo = options.mpi;
      if (options.threads > 0) mo.threads = options.threads;
      if (options_.record.enabled) mo.record = options_.record;
      if (options_.progress.callback || options_.progress.live) mo.progress = options_.progress;
      if (options.memory.limit > 0) mo.memory = options.memory;
      executor_ = make_mpi_executor(mo);
      break;
    }
    default:
      executor_ = make_thread_pool_executor(eo);
  }
  if (!dashboard) return;
  // Rank 0 serves; every rank learns whether it could (a port in use stops them all with its message).
  std::exception_ptr failure;
  if (executor_->rank() == 0) {
    try {
      dashboard_ = std::make_unique<Dashboard>(options_.dashboard, options_.progress.live);
      if (options_.dashboard.announce) {
        std::fprintf(stderr,
                     "tessera: dashboard at %s\n"
                     "tessera: from elsewhere, tunnel through the login node: %s\n"
                     "tessera:   then open http://localhost:%d/?token=%s\n",
                     dashboard_->url().c_str(), dashboard_->tunnel().c_str(), dashboard_->port(),
                     dashboard_->token().c_str());
        std::fflush(stderr);
      }
    } catch (...) {
      failure = std::current_exception();
    }
  }
  executor_->agree(failure);
}

Runtime::~Runtime() = default;

std::vector<Value> Runtime::run(Graph& graph, std::span<const TaskId> outputs) {
  Plan plan = Plan::build(graph, outputs, options_.plan);
  RunResult result = executor_->run(graph, plan);
  last_stats_ = result.stats;
  last_trace_ = std::move(result.trace);
  return std::move(result.outputs);
}

namespace detail {

std::vector<TaskId> add_delayed(Graph& graph, std::span<const NodePtr> roots) {
  std::unordered_map<const DelayedNode*, TaskId> added;
  std::vector<TaskId> deps;
  std::int32_t counter = static_cast<std::int32_t>(graph.size());
  // Iterative post-order walk: a node is added once all its dependencies are.
  std::vector<std::pair<const DelayedNode*, std::size_t>> stack;
  for (const NodePtr& root : roots) {
    if (!root)
      throw_error(ErrorCode::kInvalidArgument, "compute() was given an empty Delayed (never assigned)");
    if (added.count(root.get())) continue;
    stack.emplace_back(root.get(), 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->deps.size()) {
        const DelayedNode* dep = node->deps[next++].get();
        if (!added.count(dep)) stack.emplace_back(dep, 0);
        continue;
      }
      if (!added.count(node)) {
        deps.clear();
        for (const NodePtr& d : node->deps) deps.push_back(added.at(d.get()));
        const NameId name = graph.name(node->name);
        // The kernel refers to the node, which the caller keeps alive for the whole run.
        const KernelId kernel = graph.kernel([node](const TaskContext& ctx) { return node->kernel(ctx); });
        const std::int32_t index[] = {counter++};
        added.emplace(node, graph.add(name, index, kernel, deps, node->options));
      }
      stack.pop_back();
    }
  }
  std::vector<TaskId> ids;
  ids.reserve(roots.size());
  for (const NodePtr& root : roots) ids.push_back(added.at(root.get()));
  return ids;
}

}  // namespace detail

std::vector<Value> Runtime::compute_nodes(std::span<const detail::NodePtr> roots) {
  Graph graph;
  std::vector<TaskId> outputs = detail::add_delayed(graph, roots);
  return run(graph, outputs);
}

std::shared_ptr<detail::FutureState> Runtime::enqueue(detail::NodePtr node) {
  auto state = std::make_shared<detail::FutureState>();
  state->node = std::move(node);
  pending_.push_back(state);
  return state;
}

void Runtime::flush() {
  std::vector<std::shared_ptr<detail::FutureState>> states;
  std::vector<detail::NodePtr> roots;
  for (auto& weak : pending_) {
    if (auto s = weak.lock(); s && !s->done) {
      roots.push_back(s->node);
      states.push_back(std::move(s));
    }
  }
  pending_.clear();
  if (states.empty()) return;
  try {
    std::vector<Value> values = compute_nodes(roots);
    for (std::size_t i = 0; i < states.size(); ++i) {
      auto& s = *states[i];
      s.result = values[i];
      // Later calls that use this future read the stored result instead of recomputing it.
      auto literal_node = std::make_shared<detail::DelayedNode>();
      literal_node->name = s.node->name;
      literal_node->kernel = [v = values[i]](const TaskContext&) { return v; };
      s.node = std::move(literal_node);
      s.done = true;
    }
  } catch (...) {
    for (auto& s : states) {
      s->error = std::current_exception();
      s->done = true;
    }
    throw;
  }
}

}  // namespace tessera
