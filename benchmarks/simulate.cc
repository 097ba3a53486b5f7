// simulate: the MPI scheduler at scale, by simulation around the real scheduling core (cluster_sim.h). For
// each graph and each cluster of W workers x 16 threads (4 workers per node), rank 0's cost per task (the
// core's time measured here plus a modelled MPI cost per message), the makespan against the lower bound
// max(critical path, total work / threads), the bytes moved and the peak bytes held per worker.
//
// Graphs (the ones users run):
//   seed     ((X + X.T) - X.mean(axis=0)).sum(), n = 200,000, 1000 x 1000 chunks (the arrays layer's graph)
//   climate  a monthly climatology and the daily anomalies from it, 40 years of daily 0.25-degree data
//            (14,610 x 721 x 1,440 float32, chunks 30 x 181 x 360), read by tasks
//   tree     a reduction of fan-in 8 over 8.75M leaves (10M tasks; --quick 1M)
//   stencil  Task Bench's stencil_1d, width = threads, 50 steps (--quick 10)
// Task times: per kind, what the same kind of task took on this machine on one thread at the same chunk size
// (seed: sum partial 2.9 ms, mean partial 1.2 ms, combines 4-20 us; climate: read 3.0 ms, group partial
// 6.0 ms, group combine 8.6 ms, take 0.4 ms, rechunk 1.1 ms, subtract 1.0 ms; measured 2026-12 with a traced
// local run), each times a log-normal factor (sigma 0.25, fixed per task); tree leaves 5 ms and nodes 20 us,
// stencil tasks 2 ms. Result bytes likewise (tree and stencil: 8 bytes).
//
// Flags: --quick, --graphs seed,climate,tree,stencil, --workers 16,64,..., --threads 16, --tasks-per-thread
// 4,
// --max-messages N (per scheduler round), --gbps-net G, --gbps-node G (default 12.5 and 8), --trace-us T (a
// timeline on stderr).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_graphs.h"
#include "bench_util.h"
#include "cluster_sim.h"
#include "tessera/arrays/array.h"
#include "tessera/runtime/plan.h"

namespace {

using namespace tessera;

struct KindCost {
  const char* prefix;    // the task name starts with this ...
  const char* contains;  // ... and contains this ("" for anything)
  double seconds;
  std::uint64_t bytes;
};

// A log-normal factor with median 1, fixed per task.
double jitter(std::uint32_t t, double sigma) {
  std::uint64_t x = (static_cast<std::uint64_t>(t) + 1) * 0x9e3779b97f4a7c15ULL;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  const double u1 = (static_cast<double>(x >> 11) + 0.5) / 9007199254740992.0;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 29;
  const double u2 = (static_cast<double>(x >> 11) + 0.5) / 9007199254740992.0;
  const double z = std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return std::exp(sigma * z);
}

sim::Costs costs_by_kind(const Graph& g, const Plan& plan, const std::vector<KindCost>& table,
                         double default_seconds, std::uint64_t default_bytes) {
  sim::Costs c;
  c.seconds.resize(plan.size());
  c.bytes.resize(plan.size());
  // Per name, which rule applies (names are few).
  std::vector<int> rule(g.names().size(), -2);
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    const TaskId t = plan.result_task(p);
    int& r = rule[g.name_id_of(t)];
    if (r == -2) {
      r = -1;
      const std::string_view name = g.name_of(t);
      for (std::size_t i = 0; i < table.size(); ++i) {
        if (name.rfind(table[i].prefix, 0) == 0 && name.find(table[i].contains) != std::string_view::npos) {
          r = static_cast<int>(i);
          break;
        }
      }
    }
    const double s = r >= 0 ? table[static_cast<std::size_t>(r)].seconds : default_seconds;
    c.seconds[p] = static_cast<float>(s * jitter(p, 0.25));
    c.bytes[p] = r >= 0 ? table[static_cast<std::size_t>(r)].bytes : default_bytes;
  }
  return c;
}

struct Workload {
  std::string name;
  std::unique_ptr<Graph> graph;
  std::unique_ptr<Plan> plan;
  sim::Costs costs;
};

void plan_arrays(Workload& w, std::span<const Array> arrays) {
  w.graph = std::make_unique<Graph>();
  std::vector<std::vector<TaskId>> outputs;
  build_graph(arrays, *w.graph, outputs);
  std::vector<TaskId> all;
  for (const auto& o : outputs) all.insert(all.end(), o.begin(), o.end());
  w.plan = std::make_unique<Plan>(Plan::build(*w.graph, all));
}

Workload seed_graph(std::int64_t n) {
  Workload w;
  w.name = "seed";
  Array x = random_uniform({n, n}, {1000, 1000}, 42);
  Array e = ((x + x.T()) - x.mean(0)).sum();
  plan_arrays(w, std::span<const Array>(&e, 1));
  w.costs = costs_by_kind(*w.graph, *w.plan,
                          {{"sum", "partial", 2.9e-3, 88},
                           {"mean", "partial", 1.19e-3, 16152},
                           {"sum", "combine", 4e-6, 88},
                           {"mean", "combine", 20e-6, 16152},
                           {"mean", "", 20e-6, 8064},
                           {"sum", "", 3e-6, 72}},
                          10e-6, 64);
  return w;
}

Workload climate_graph() {
  Workload w;
  w.name = "climate";
  const std::int64_t days = 14610;  // 40 years
  ChunkGrid grid = ChunkGrid::regular({days, 721, 1440}, {30, 181, 360});
  // The reads never run here: the simulation only needs the graph.
  Array t = from_function(
      grid, DType::kFloat32,
      [](const ChunkGrid& g, std::span<const std::int64_t> i) {
        return Chunk::zeros(DType::kFloat32, g.chunk_shape(i));
      },
      "read-t2m");
  std::vector<std::int64_t> month(static_cast<std::size_t>(days));
  for (std::int64_t d = 0; d < days; ++d) month[static_cast<std::size_t>(d)] = (d * 12 / 365) % 12;
  Array clim = group_reduce(t, 0, month, 12, "mean");
  Array anom = t - take(clim, month, 0).rechunk(t.chunks());
  std::vector<Array> outs = {clim, anom};
  plan_arrays(w, outs);
  w.costs = costs_by_kind(*w.graph, *w.plan,
                          {{"read", "", 2.99e-3, 7819264},
                           {"group_mean", "partial", 6.02e-3, 12510872},
                           {"group_mean", "combine", 8.6e-3, 12510872},
                           {"group_mean", "", 4.7e-3, 3127744},
                           {"take", "", 0.41e-3, 3127744},
                           {"rechunk", "", 1.12e-3, 7819264},
                           {"sub", "", 1.04e-3, 7819264}},
                          1e-3, 7819264);
  return w;
}

Workload tree_graph(long tasks) {
  Workload w;
  w.name = "tree";
  bench::Built b;
  bench::build_tree(b, static_cast<int>(tasks * 7 / 8), 8);
  w.graph = std::make_unique<Graph>(std::move(b.graph));
  w.plan = std::make_unique<Plan>(Plan::build(*w.graph, b.outputs, {.cull = true, .fuse = false}));
  w.costs = costs_by_kind(*w.graph, *w.plan, {{"leaf", "", 5e-3, 8}, {"sum", "", 20e-6, 8}}, 20e-6, 8);
  return w;
}

Workload stencil_graph(int width, int steps) {
  Workload w;
  w.name = "stencil";
  w.graph = std::make_unique<Graph>();
  Graph& g = *w.graph;
  const KernelId noop = g.kernel([](const TaskContext&) { return Value(); });
  const NameId name = g.name("stencil_1d");
  std::vector<TaskId> prev(static_cast<std::size_t>(width)), cur(static_cast<std::size_t>(width));
  std::vector<TaskId> deps;
  for (int s = 0; s < steps; ++s) {
    for (int i = 0; i < width; ++i) {
      deps.clear();
      if (s > 0) {
        for (int j = std::max(0, i - 1); j <= std::min(width - 1, i + 1); ++j)
          deps.push_back(prev[static_cast<std::size_t>(j)]);
      }
      cur[static_cast<std::size_t>(i)] = g.add(name, {s, i}, noop, deps);
    }
    std::swap(prev, cur);
  }
  w.plan = std::make_unique<Plan>(Plan::build(g, prev, {.cull = true, .fuse = false}));
  w.costs = costs_by_kind(g, *w.plan, {}, 2e-3, 8);
  return w;
}

std::vector<long> list_flag(int argc, char** argv, const char* name, std::vector<long> fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) != 0) continue;
    std::vector<long> out;
    std::stringstream ss(argv[i + 1]);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::stol(item));
    return out;
  }
  return fallback;
}

std::vector<std::string> graphs_flag(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--graphs") != 0) continue;
    std::vector<std::string> out;
    std::stringstream ss(argv[i + 1]);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(item);
    return out;
  }
  return {"seed", "climate", "tree", "stencil"};
}

void report(const std::string& graph, const sim::Result& r) {
  const std::string impl = "tessera-sim-" + std::to_string(r.workers);
  const double tasks = static_cast<double>(r.tasks);
  bench::emit("simulate", impl, graph, "per_task", 1e6 * (r.core_seconds + r.message_seconds) / tasks, "us");
  bench::emit("simulate", impl, graph, "core_per_task", 1e6 * r.core_seconds / tasks, "us");
  bench::emit("simulate", impl, graph, "makespan", r.makespan, "s");
  bench::emit("simulate", impl, graph, "bound", r.bound(), "s");
  bench::emit("simulate", impl, graph, "makespan_vs_bound", r.makespan / r.bound(), "x");
  bench::emit("simulate", impl, graph, "rank0_busy", r.busy_fraction, "");
  bench::emit("simulate", impl, graph, "messages_per_task",
              static_cast<double>(r.messages_in + r.messages_out) / tasks, "");
  bench::emit("simulate", impl, graph, "bytes_moved",
              static_cast<double>(r.bytes_node + r.bytes_net + r.bytes_inline) / 1e9, "GB");
  bench::emit("simulate", impl, graph, "bytes_between_nodes", static_cast<double>(r.bytes_net) / 1e9, "GB");
  bench::emit("simulate", impl, graph, "peak_worker_bytes", static_cast<double>(r.peak_worker_bytes) / 1e6,
              "MB");
  std::fprintf(stderr,
               "simulate: %-8s %5d workers x %d threads: %9llu tasks, rank 0 %.3f us/task (core %.3f), "
               "makespan %.3f s, bound %.3f s (%.3fx), rank 0 busy %.0f%%, %llu rounds\n",
               graph.c_str(), r.workers, r.threads, static_cast<unsigned long long>(r.tasks),
               1e6 * (r.core_seconds + r.message_seconds) / tasks, 1e6 * r.core_seconds / tasks, r.makespan,
               r.bound(), r.makespan / r.bound(), 100 * r.busy_fraction,
               static_cast<unsigned long long>(r.rounds));
  std::string moved;
  for (std::size_t i = 0; i < r.bytes_by_name.size() && i < 4; ++i) {
    char item[128];
    std::snprintf(item, sizeof(item), "%s%s %.1f GB", i ? ", " : "", r.bytes_by_name[i].first.c_str(),
                  static_cast<double>(r.bytes_by_name[i].second) / 1e9);
    moved += item;
  }
  std::fprintf(
      stderr, "          moved %.1f GB (%.1f GB between nodes); most: %s; peak %.0f MB on one worker\n",
      static_cast<double>(r.bytes_node + r.bytes_net + r.bytes_inline) / 1e9,
      static_cast<double>(r.bytes_net) / 1e9, moved.c_str(), static_cast<double>(r.peak_worker_bytes) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int threads = static_cast<int>(bench::flag_value(argc, argv, "--threads", 16));
  const std::vector<long> workers =
      list_flag(argc, argv, "--workers",
                quick ? std::vector<long>{16, 256, 4096} : std::vector<long>{16, 64, 256, 1024, 4096});
  const long tree_tasks = bench::flag_value(argc, argv, "--tree-tasks", quick ? 1000000 : 10000000);
  const int steps = static_cast<int>(bench::flag_value(argc, argv, "--steps", quick ? 10 : 50));
  // --gbps-net, --gbps-node: the network model's bandwidths in GB/s (what-if runs: a network 100x faster
  // separates scheduling from data movement).
  sim::Network network;
  if (long g = bench::flag_value(argc, argv, "--gbps-net", 0); g > 0) network.bandwidth_net = 1e9 * g;
  if (long g = bench::flag_value(argc, argv, "--gbps-node", 0); g > 0) network.bandwidth_node = 1e9 * g;
  mpi::SchedulerConfig base;
  base.tasks_per_thread = static_cast<int>(bench::flag_value(argc, argv, "--tasks-per-thread", 4));
  for (const std::string& name : graphs_flag(argc, argv)) {
    Workload fixed;
    if (name == "seed") fixed = seed_graph(bench::flag_value(argc, argv, "--n", 200000));
    if (name == "climate") fixed = climate_graph();
    if (name == "tree") fixed = tree_graph(tree_tasks);
    for (long w : workers) {
      sim::Cluster cluster;
      cluster.workers = static_cast<int>(w);
      cluster.threads = threads;
      cluster.max_messages_per_round =
          static_cast<int>(bench::flag_value(argc, argv, "--max-messages", 1 << 30));
      cluster.trace_every = static_cast<double>(bench::flag_value(argc, argv, "--trace-us", 0)) * 1e-6;
      if (name == "stencil") {
        Workload s = stencil_graph(static_cast<int>(w) * threads, steps);
        report(name, sim::simulate(*s.graph, *s.plan, s.costs, cluster, network, {}, base));
      } else if (fixed.plan) {
        report(name, sim::simulate(*fixed.graph, *fixed.plan, fixed.costs, cluster, network, {}, base));
      } else {
        std::fprintf(stderr, "simulate: unknown graph %s (seed, climate, tree, stencil)\n", name.c_str());
        return 2;
      }
    }
  }
  return 0;
}
