#include "live_data.h"

#include <algorithm>
#include <map>
#include <string_view>

#include "json_text.h"
#include "process_info.h"
#include "tessera/runtime/trace.h"

namespace tessera::detail {

std::string live_data(const LiveSnapshot& snap, double window_seconds) {
  std::string s;
  s.reserve(std::size_t{64} << 10);
  auto num = [&s](double v, int d = 6) { append_number(s, v, d); };
  auto str = [&s](std::string_view v) { append_json_string(s, v); };
  const bool mpi = snap.executor == "mpi";
  const double elapsed = snap.progress.elapsed;

  // Configuration: under MPI the worker table has one row per worker (ranks 1..N), rank 0 schedules.
  std::vector<int> threads;
  std::vector<std::string> bindings;
  if (mpi) {
    threads.push_back(0);
    bindings.emplace_back("scheduler");
  }
  for (const WorkerRow& w : snap.workers) {
    threads.push_back(w.threads);
    bindings.push_back(w.binding);
  }
  const int ranks = mpi ? static_cast<int>(snap.workers.size()) + 1 : 1;
  s += "{\"config\":{\"executor\":";
  str(snap.executor);
  s += ",\"ranks\":" + std::to_string(ranks) + ",\"threads\":";
  append_json_array(s, threads, [](std::string& o, int v) { o += std::to_string(v); });
  s += ",\"bindings\":";
  append_json_array(s, bindings, [](std::string& o, const std::string& v) { append_json_string(o, v); });
  s += ",\"transfer\":\"\",\"slurm_job_id\":";
  str(slurm_job_id());
  s += ",\"started\":\"\"},\"seconds\":";
  num(elapsed);
  s += ",\"tasks_total\":" + std::to_string(snap.progress.tasks_total) +
       ",\"graph_tasks\":" + std::to_string(snap.progress.tasks_total);

  // Where time went so far: the workers' reported task time under MPI, else the process's CPU time.
  double capacity = 0, compute = 0;
  for (const WorkerRow& w : snap.workers) {
    capacity += w.threads * elapsed;
    compute += w.busy_seconds;
  }
  std::string where_note;
  if (mpi) {
    where_note =
        "so far: task time the workers reported, of their threads' time; the rest is idle, scheduling "
        "and transfers (told apart in the report when the run ends)";
  } else {
    if (!snap.resources.empty()) compute = snap.resources.back().cpu_seconds;
    where_note =
        "so far: the process's CPU time, of its compute threads' time (told apart in the report when "
        "the run ends)";
  }
  compute = std::min(compute, capacity);
  s += ",\"where\":{\"compute\":";
  num(compute);
  s += ",\"transfer\":0,\"idle\":";
  num(std::max(0.0, capacity - compute));
  s += ",\"overhead\":0,\"scheduler\":0},\"where_note\":";
  str(where_note);

  // Kinds: every kind of the graph's names, in their order (stable colours from one fetch to the next),
  // counted over the recent tasks shown.
  std::vector<std::string> kinds;
  std::map<std::string, std::uint32_t, std::less<>> kind_id;
  std::vector<std::uint32_t> kind_of_name(snap.names.size());
  for (std::size_t n = 0; n < snap.names.size(); ++n) {
    std::string k = task_kind(snap.names[n]);
    auto [it, added] = kind_id.emplace(k, static_cast<std::uint32_t>(kinds.size()));
    if (added) kinds.push_back(std::move(k));
    kind_of_name[n] = it->second;
  }
  struct KindTotals {
    std::uint64_t count = 0, bytes = 0;
    double seconds = 0, max = 0;
  };
  std::vector<KindTotals> totals(kinds.size());

  // Rows of the task stream: one per worker (its threads are not told apart while running).
  std::map<std::int32_t, int> row_of;
  s += ",\"rows\":[";
  if (mpi) {
    for (std::size_t i = 0; i < snap.workers.size(); ++i) {
      if (i) s += ',';
      row_of[snap.workers[i].rank] = static_cast<int>(i);
      s += "[";
      str("rank " + std::to_string(snap.workers[i].rank));
      s += "," + std::to_string(snap.workers[i].rank) + "]";
    }
  } else {
    row_of[0] = 0;
    s += "[\"tasks finished\",0]";
  }
  s += "]";

  const double t0 = std::max(0.0, elapsed - window_seconds);
  std::string row, kind, start, dur;
  std::size_t shown = 0;
  // The local executors learn of finished tasks at their samples, without run times: those noted at one
  // sample are spread over the interval since the previous one, so the stream shows the rate.
  double previous_end = t0;
  for (std::size_t i = 0; i < snap.recent.size();) {
    std::size_t j = i;
    while (j < snap.recent.size() && snap.recent[j].end == snap.recent[i].end) ++j;
    const double end = snap.recent[i].end;
    const double from = std::max(previous_end, t0);
    for (std::size_t k = i; k < j; ++k) {
      const RecentTask& r = snap.recent[k];
      const std::uint32_t kd = r.name < kind_of_name.size() ? kind_of_name[r.name] : 0;
      if (kd < totals.size()) {
        KindTotals& kt = totals[kd];
        ++kt.count;
        kt.seconds += r.seconds;
        kt.max = std::max(kt.max, r.seconds);
        kt.bytes += r.bytes;
      }
      double task_start = r.end - r.seconds, task_seconds = r.seconds;
      if (r.seconds <= 0) {
        const double slot = (end - from) / static_cast<double>(j - i);
        task_start = from + slot * static_cast<double>(k - i);
        task_seconds = slot;
      }
      auto it = row_of.find(r.rank);
      if (it == row_of.end() || r.end < t0) continue;
      if (shown++) {
        row += ',';
        kind += ',';
        start += ',';
        dur += ',';
      }
      row += std::to_string(it->second);
      kind += std::to_string(kd);
      append_number(start, std::max(task_start, t0) * 1e6, 0);
      append_number(dur, task_seconds * 1e6, 1);
    }
    previous_end = end;
    i = j;
  }
  s += ",\"t0\":";
  num(t0 * 1e6, 0);
  s += ",\"stream_note\":";
  str(mpi ? "the latest " + std::to_string(snap.recent.size()) +
                " finished tasks, as their workers timed them, in the last " +
                std::to_string(static_cast<int>(window_seconds)) + " s"
          : "the latest " + std::to_string(snap.recent.size()) +
                " finished tasks, each drawn in the sampling interval in which it finished");
  s += ",\"shown\":" + std::to_string(shown) + ",\"tasks_recorded\":" + std::to_string(shown) +
       ",\"sampled\":false";
  s += ",\"t\":{\"row\":[" + row + "],\"kind\":[" + kind + "],\"s\":[" + start + "],\"d\":[" + dur + "]}";
  s += ",\"kinds\":[";
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    if (k) s += ',';
    s += "{\"kind\":";
    str(kinds[k]);
    s += ",\"count\":" + std::to_string(totals[k].count) + ",\"seconds\":";
    num(totals[k].seconds, 9);
    s += ",\"max\":";
    num(totals[k].max, 9);
    s += ",\"bytes\":" + std::to_string(totals[k].bytes) + "}";
  }
  s += "],\"kinds_note\":";
  str("over the " + std::to_string(snap.recent.size()) + " latest finished tasks" +
      (mpi ? "" : " (the local executors do not time tasks while running: the report does)"));
  s += ",\"x\":{\"row\":[],\"src\":[],\"s\":[],\"d\":[],\"b\":[]},\"transfers_recorded\":0";
  s +=
      ",\"spill\":{\"bytes\":" + std::to_string(snap.bytes_spilled) +
      ",\"read_bytes\":" + std::to_string(snap.bytes_unspilled) +
      ",\"seconds\":0,\"read_seconds\":0,\"files\":0,\"sampled\":false,\"row\":[],\"s\":[],\"d\":[],\"b\":[],"
      "\"r\":[]}";

  s += ",\"mem\":[";
  std::map<std::int32_t, std::vector<const ResourceSample*>> by_rank;
  for (const ResourceSample& m : snap.resources) by_rank[m.rank].push_back(&m);
  bool first = true;
  for (const auto& [rank, samples] : by_rank) {
    if (!first) s += ',';
    first = false;
    s += "{\"rank\":" + std::to_string(rank);
    s += ",\"t\":";
    append_json_array(s, samples,
                      [](std::string& o, const ResourceSample* m) { append_number(o, m->time, 4); });
    s += ",\"rss\":";
    append_json_array(s, samples, [](std::string& o, const ResourceSample* m) {
      append_number(o, static_cast<double>(m->rss) / 1e6, 2);
    });
    s += ",\"live\":";
    append_json_array(s, samples, [](std::string& o, const ResourceSample* m) {
      append_number(o, static_cast<double>(m->live_bytes) / 1e6, 2);
    });
    s += ",\"cpu\":";
    append_json_array(s, samples,
                      [](std::string& o, const ResourceSample* m) { append_number(o, m->cpu_seconds, 4); });
    s += "}";
  }
  s += "],\"mem_note\":";
  str(mpi ? "while running: rank 0 (the scheduler); the report has every rank's" : "");
  s += ",\"sched\":{\"t\":";
  append_json_array(s, snap.scheduler,
                    [](std::string& o, const SchedulerSample& q) { append_number(o, q.time, 4); });
  s += ",\"done\":";
  append_json_array(s, snap.scheduler,
                    [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.done); });
  s += ",\"ready\":";
  append_json_array(s, snap.scheduler,
                    [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.ready); });
  s += ",\"running\":";
  append_json_array(s, snap.scheduler,
                    [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.running); });
  s += "},\"groups\":[";
  const std::vector<GroupProgress>& groups = snap.progress.groups;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (g) s += ',';
    s += "{\"label\":";
    str(groups[g].label);
    s += ",\"total\":" + std::to_string(groups[g].total) + ",\"now\":" + std::to_string(groups[g].done) +
         ",\"done\":";
    append_json_array(s, snap.group_done, [g](std::string& o, const std::vector<std::uint64_t>& d) {
      o += std::to_string(g < d.size() ? d[g] : 0);
    });
    s += "}";
  }
  s += "],\"workers\":";
  append_json_array(s, snap.workers, [](std::string& o, const WorkerRow& w) {
    o += "{\"rank\":" + std::to_string(w.rank) + ",\"node\":";
    append_json_string(o, w.node);
    o += ",\"binding\":";
    append_json_string(o, w.binding);
    o += ",\"threads\":" + std::to_string(w.threads) + ",\"done\":" + std::to_string(w.tasks_done) +
         ",\"queued\":" + std::to_string(w.tasks_queued) + ",\"held\":" + std::to_string(w.bytes_held) + "}";
  });
  s += ",\"matrix\":[],\"live\":{\"run\":" + std::to_string(snap.run) +
       ",\"done\":" + std::to_string(snap.progress.tasks_done) +
       ",\"total\":" + std::to_string(snap.progress.tasks_total) +
       ",\"finished\":" + (snap.finished ? "true" : "false") + "}}";
  return s;
}

}  // namespace tessera::detail
