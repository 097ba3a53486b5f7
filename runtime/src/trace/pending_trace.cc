#include "pending_trace.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "process_info.h"

namespace tessera::detail {

namespace {

void merge(std::unordered_map<std::string, KindTotals>& into_map, const std::string& name,
           const KindTotals& k) {
  KindTotals& into = into_map[name];
  into.count += k.count;
  into.seconds += k.seconds;
  into.max_seconds = std::max(into.max_seconds, k.max_seconds);
  into.bytes += k.bytes;
}

}  // namespace

RankRecording collect(std::vector<ThreadRecorder>& threads, const TickScale& scale, int rank) {
  RankRecording out;
  out.rank = rank;
  std::unordered_map<std::string, KindTotals> totals;
  for (ThreadRecorder& t : threads) {
    ThreadRecorder::Result r = t.finish(scale, rank);
    out.tasks.push_back(std::move(r.events));
    out.sampled.push_back(r.sampled ? 1 : 0);
    for (const auto& [name, k] : r.dropped) merge(totals, name, k);
    out.thread_times.push_back(r.time);
  }
  out.totals.assign(totals.begin(), totals.end());
  return out;
}

namespace {

// A pending trace for a local run, and its one rank's recording (times in the scale's ticks).
std::unique_ptr<PendingTrace> pending_local(RunTrace&& base, const TickScale& scale,
                                            const std::shared_ptr<RecordingPool>& pool, RankRecording& rec) {
  auto pending = std::make_unique<PendingTrace>();
  pending->base = std::move(base);
  pending->pool = pool;
  rec.origin = scale.origin;
  rec.seconds_per_tick = scale.seconds_per_tick;
  return pending;
}

}  // namespace

std::unique_ptr<PendingTrace> defer(RunTrace&& base, const Graph& graph, std::vector<ThreadRecorder>& threads,
                                    const TickScale& scale, std::vector<ResourceSample>&& resources,
                                    const std::shared_ptr<RecordingPool>& pool) {
  RankRecording rec;
  auto pending = pending_local(std::move(base), scale, pool, rec);
  std::unordered_map<std::string, KindTotals> totals;
  std::size_t events = 0;
  for (ThreadRecorder& t : threads) {
    ThreadRecorder::Result r = t.take(scale.seconds_per_tick, 0);
    events += r.events.size();
    rec.tasks.push_back(std::move(r.events));
    rec.sampled.push_back(r.sampled ? 1 : 0);
    for (const auto& [name, k] : r.dropped) merge(totals, name, k);
    rec.thread_times.push_back(r.time);
  }
  rec.totals.assign(totals.begin(), totals.end());
  rec.resources = std::move(resources);
  if (events * 4 >= graph.size()) {
    pending->keys = graph.keys();  // shared with the graph: no per-task work
  } else {
    // The plan runs a small part of the graph: keep only the recorded tasks' keys (renumbered), not the
    // whole graph's.
    std::vector<TaskId> tasks;
    tasks.reserve(events);
    for (auto& list : rec.tasks) {
      for (RawTask& e : list) {
        tasks.push_back(e.graph_task);
        e.graph_task = static_cast<TaskId>(tasks.size() - 1);
      }
    }
    pending->keys = graph.keys_of(tasks);
  }
  pending->ranks.push_back(std::move(rec));
  return pending;
}

std::unique_ptr<PendingTrace> defer_sync(RunTrace&& base, const Graph& graph, const Plan& plan,
                                         SyncRecorder& sync, const TickScale& scale,
                                         std::vector<ResourceSample>&& resources,
                                         const std::shared_ptr<RecordingPool>& pool) {
  RankRecording rec;
  auto pending = pending_local(std::move(base), scale, pool, rec);
  rec.tasks.emplace_back();  // the replay fills the thread's list, sample flag, totals and time
  rec.sampled.push_back(0);
  rec.thread_times.push_back(ThreadTime{});
  rec.resources = std::move(resources);
  std::shared_ptr<const SyncRecorder::Compact> compact;
  if (std::size_t{plan.size()} * 4 >= graph.size()) {
    pending->keys = graph.keys();  // shared with the graph: no per-task work
    compact = std::make_shared<SyncRecorder::Compact>(sync.take());
  } else {
    // The plan runs a small part of the graph: keep only its tasks' keys, renumbered in plan order.
    std::vector<TaskId> tasks(plan.size());
    for (std::uint32_t p = 0; p < plan.size(); ++p) tasks[p] = plan.result_task(p);
    pending->keys = graph.keys_of(tasks);
    for (std::uint32_t p = 0; p < plan.size(); ++p) tasks[p] = p;
    compact = std::make_shared<SyncRecorder::Compact>(sync.take(&tasks));
  }
  pending->ranks.push_back(std::move(rec));
  const double seconds_per_tick = scale.seconds_per_tick;
  pending->decode = [compact, seconds_per_tick](PendingTrace& p) {
    ThreadRecorder::Result r = compact->replay(p.keys, seconds_per_tick, p.pool.get());
    RankRecording& into = p.ranks.front();
    into.tasks.front() = std::move(r.events);
    into.sampled.front() = r.sampled ? 1 : 0;
    into.totals = std::move(r.dropped);
    into.thread_times.front() = r.time;
  };
  return pending;
}

PendingTrace::~PendingTrace() {
  if (!pool) return;
  for (RankRecording& r : ranks) {
    for (auto& list : r.tasks) pool->give_events(std::move(list));
  }
  pool->give_bytes(std::move(wire));
}

void assemble(RunTrace& trace, const Graph::Keys& keys, std::vector<RankRecording>& ranks) {
  constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  std::unordered_map<std::string, std::uint32_t> name_ids;
  std::unordered_map<std::string, std::uint32_t> kind_ids;
  std::vector<std::uint32_t> kind_of_name;
  std::vector<KindSummary> kinds;
  auto kind_id = [&](const std::string& kind) {
    auto [it, added] = kind_ids.emplace(kind, static_cast<std::uint32_t>(kinds.size()));
    if (added) {
      KindSummary k;
      k.kind = kind;
      kinds.push_back(k);
    }
    return it->second;
  };
  auto name_id = [&](std::string_view name) {
    auto [it, added] = name_ids.emplace(std::string(name), static_cast<std::uint32_t>(trace.names.size()));
    if (added) {
      trace.names.emplace_back(name);
      kind_of_name.push_back(kind_id(task_kind(name)));
    }
    return it->second;
  };
  std::vector<std::uint32_t> trace_name(keys.names().size(), kNone);  // graph name id -> trace name id
  std::size_t n = 0;
  for (const RankRecording& r : ranks) {
    for (const auto& list : r.tasks) n += list.size();
  }
  trace.tasks.reserve(trace.tasks.size() + n);
  trace.index_pool.reserve(trace.index_pool.size() + 2 * n);  // chunk indexes are mostly 1-2-d
  std::vector<KindTotals> by_name;                            // exact totals by trace name id
  for (RankRecording& r : ranks) {
    for (std::size_t l = 0; l < r.tasks.size(); ++l) {
      double busy = 0;
      for (const RawTask& raw : r.tasks[l]) {
        const NameId gname = keys.name(raw.graph_task);
        std::uint32_t id = trace_name[gname];
        if (id == kNone) id = trace_name[gname] = name_id(keys.names()[gname]);
        TaskEvent e;
        e.task = raw.task;
        e.name = id;
        e.kind = kind_of_name[id];
        e.rank = r.rank;
        e.thread = static_cast<std::int32_t>(l);
        const auto index = keys.index(raw.graph_task);
        e.index_begin = static_cast<std::uint32_t>(trace.index_pool.size());
        e.index_size = static_cast<std::uint32_t>(index.size());
        trace.index_pool.insert(trace.index_pool.end(), index.begin(), index.end());
        // Whole nanoseconds, so that times written with nanosecond precision keep slices from overlapping.
        auto ns = [&r](std::uint64_t t) {
          return t > r.origin ? std::floor(static_cast<double>(t - r.origin) * r.seconds_per_tick * 1e9)
                              : 0.0;
        };
        e.start = ns(raw.start) * 1e-9;
        e.end = ns(std::max(raw.end, raw.start)) * 1e-9;
        e.bytes = raw.bytes;
        trace.tasks.push_back(e);
        if (by_name.size() <= id) by_name.resize(id + 1);
        KindTotals& k = by_name[id];
        const double s = e.end - e.start;
        ++k.count;
        k.seconds += s;
        k.max_seconds = std::max(k.max_seconds, s);
        k.bytes += e.bytes;
        busy += s;
      }
      if (l < r.thread_times.size()) r.thread_times[l].busy += busy;
      r.tasks[l].clear();
    }
    for (const auto& [name, k] : r.totals) {
      const std::uint32_t id = name_id(name);
      if (by_name.size() <= id) by_name.resize(id + 1);
      KindTotals& into = by_name[id];
      into.count += k.count;
      into.seconds += k.seconds;
      into.max_seconds = std::max(into.max_seconds, k.max_seconds);
      into.bytes += k.bytes;
    }
    trace.tasks_sampled |=
        std::any_of(r.sampled.begin(), r.sampled.end(), [](std::uint8_t s) { return s != 0; });
    trace.transfers_sampled |= r.transfers_sampled;
    trace.transfers.insert(trace.transfers.end(), r.transfers.begin(), r.transfers.end());
    trace.resources.insert(trace.resources.end(), r.resources.begin(), r.resources.end());
    trace.thread_times.insert(trace.thread_times.end(), r.thread_times.begin(), r.thread_times.end());
    trace.spills.insert(trace.spills.end(), r.spills.begin(), r.spills.end());
    trace.spills_sampled |= r.spills_sampled;
    trace.bytes_spilled += r.bytes_spilled;
    trace.bytes_unspilled += r.bytes_unspilled;
    trace.spill_seconds += r.spill_seconds;
    trace.unspill_seconds += r.unspill_seconds;
  }
  std::sort(trace.spills.begin(), trace.spills.end(), [](const SpillEvent& a, const SpillEvent& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.start < b.start;
  });
  for (std::size_t id = 0; id < by_name.size(); ++id) {
    KindSummary& s = kinds[kind_of_name[id]];
    s.count += by_name[id].count;
    s.seconds += by_name[id].seconds;
    s.max_seconds = std::max(s.max_seconds, by_name[id].max_seconds);
    s.bytes += by_name[id].bytes;
  }
  // Lists arrive in (rank, thread) order and, unless sampled, in time order: usually sorted already.
  auto by_track = [](const TaskEvent& a, const TaskEvent& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.thread != b.thread) return a.thread < b.thread;
    if (a.start != b.start) return a.start < b.start;
    return a.end < b.end;
  };
  if (!std::is_sorted(trace.tasks.begin(), trace.tasks.end(), by_track)) {
    std::sort(trace.tasks.begin(), trace.tasks.end(), by_track);
  }
  std::sort(trace.transfers.begin(), trace.transfers.end(),
            [](const TransferEvent& a, const TransferEvent& b) {
              return a.rank != b.rank ? a.rank < b.rank : a.start < b.start;
            });
  std::stable_sort(trace.resources.begin(), trace.resources.end(),
                   [](const ResourceSample& a, const ResourceSample& b) {
                     return a.rank != b.rank ? a.rank < b.rank : a.time < b.time;
                   });
  // Kinds by total time, descending; kind ids follow that order so that colours and tables agree.
  std::vector<std::uint32_t> order(kinds.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return kinds[a].seconds > kinds[b].seconds; });
  std::vector<std::uint32_t> remap(kinds.size());
  trace.kinds.clear();
  trace.kind_summary.clear();
  for (std::uint32_t i = 0; i < order.size(); ++i) {
    remap[order[i]] = i;
    trace.kinds.push_back(kinds[order[i]].kind);
    trace.kind_summary.push_back(kinds[order[i]]);
  }
  for (TaskEvent& e : trace.tasks) e.kind = remap[e.kind];

  double compute = 0;
  double idle = 0;
  for (const ThreadTime& t : trace.thread_times) {
    compute += t.busy;
    idle += t.idle;
  }
  double thread_seconds = 0;
  for (int t : trace.threads) thread_seconds += static_cast<double>(t) * trace.seconds;
  trace.compute_seconds = compute;
  trace.idle_seconds = idle;
  trace.overhead_seconds = std::max(0.0, thread_seconds - compute - idle);
}

}  // namespace tessera::detail

namespace tessera {

struct TraceRef::State {
  std::once_flag assembled;
  std::unique_ptr<detail::PendingTrace> pending;
  std::shared_ptr<const RunTrace> trace;
};

TraceRef::TraceRef(std::shared_ptr<const RunTrace> trace) {
  if (!trace) return;
  state_ = std::make_shared<State>();
  state_->trace = std::move(trace);
}

std::shared_ptr<const RunTrace> TraceRef::get() const {
  if (!state_) return nullptr;
  State& s = *state_;
  std::call_once(s.assembled, [&s] {
    if (!s.pending) return;
    if (s.pending->decode) {
      s.pending->decode(*s.pending);
      s.pending->decode = nullptr;
    }
    auto trace = std::make_shared<RunTrace>(s.pending->base);  // a copy: if assembly throws, a retry has it
    detail::assemble(*trace, s.pending->keys, s.pending->ranks);
    s.trace = std::move(trace);
    s.pending.reset();  // its buffers go back to the executor's pool
  });
  return s.trace;
}

TraceRef make_pending_trace_ref(std::unique_ptr<detail::PendingTrace> pending) {
  auto state = std::make_shared<TraceRef::State>();
  state->pending = std::move(pending);
  return TraceRef(std::move(state));
}

}  // namespace tessera
