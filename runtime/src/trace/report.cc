// The HTML performance report: the run's data as one embedded JSON object, drawn by the page's inline script
// (report_page.cc, the dashboard's page too). No network access: everything is in the file.
#include <algorithm>
#include <cstdio>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "json_text.h"
#include "report_page.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/trace.h"

namespace tessera {

namespace {

constexpr std::size_t kMaxShownTasks = 150000;  // about 4 MB of embedded data, drawn in well under a second
constexpr std::size_t kMaxShownTransfers = 30000;

std::string human_seconds(double s) {
  char buf[32];
  if (s >= 1) {
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f us", s * 1e6);
  }
  return buf;
}

// The report's data. Times in microseconds (integers) since the run started.
std::string report_data(const RunTrace& t) {
  std::string s;
  s.reserve(1 << 20);
  auto num = [&s](double v, int d = 6) { detail::append_number(s, v, d); };
  auto str = [&s](std::string_view v) { detail::append_json_string(s, v); };
  s += "{\"config\":{\"executor\":";
  str(t.executor);
  s += ",\"ranks\":" + std::to_string(t.ranks) + ",\"threads\":";
  detail::append_json_array(s, t.threads, [](std::string& o, int v) { o += std::to_string(v); });
  s += ",\"bindings\":";
  detail::append_json_array(s, t.bindings,
                            [](std::string& o, const std::string& v) { detail::append_json_string(o, v); });
  s += ",\"transfer\":";
  str(t.transfer);
  s += ",\"slurm_job_id\":";
  str(t.slurm_job_id);
  s += ",\"started\":";
  str(t.started);
  s += "},\"seconds\":";
  num(t.seconds);
  s += ",\"tasks_total\":" + std::to_string(t.tasks_total) +
       ",\"graph_tasks\":" + std::to_string(t.graph_tasks);
  s += ",\"tasks_recorded\":" + std::to_string(t.tasks.size());
  s += ",\"sampled\":";
  s += t.tasks_sampled ? "true" : "false";
  s += ",\"where\":{\"compute\":";
  num(t.compute_seconds);
  s += ",\"transfer\":";
  num(t.transfer_seconds);
  s += ",\"idle\":";
  num(t.idle_seconds);
  s += ",\"overhead\":";
  num(t.overhead_seconds);
  s += ",\"scheduler\":";
  num(t.scheduler_seconds);
  s += "},\"kinds\":";
  detail::append_json_array(s, t.kind_summary, [](std::string& o, const KindSummary& k) {
    o += "{\"kind\":";
    detail::append_json_string(o, k.kind);
    o += ",\"count\":" + std::to_string(k.count) + ",\"seconds\":";
    detail::append_number(o, k.seconds, 9);
    o += ",\"max\":";
    detail::append_number(o, k.max_seconds, 9);
    o += ",\"bytes\":" + std::to_string(k.bytes) + "}";
  });

  // Rows of the task stream: every compute thread, then a transfers row for each rank that fetched.
  std::map<std::pair<int, int>, int> row_of;
  std::vector<std::pair<std::string, int>> rows;  // label, rank
  std::vector<bool> fetched(static_cast<std::size_t>(t.ranks), false);
  for (const TransferEvent& x : t.transfers) {
    if (x.rank >= 0 && x.rank < t.ranks) fetched[static_cast<std::size_t>(x.rank)] = true;
  }
  std::vector<bool> spilled(static_cast<std::size_t>(t.ranks), false);
  for (const SpillEvent& x : t.spills) {
    if (x.rank >= 0 && x.rank < t.ranks) spilled[static_cast<std::size_t>(x.rank)] = true;
  }
  const bool mpi = t.executor == "mpi";
  for (int r = 0; r < t.ranks; ++r) {
    const int threads = r < static_cast<int>(t.threads.size()) ? t.threads[static_cast<std::size_t>(r)] : 0;
    for (int th = 0; th < threads; ++th) {
      row_of[{r, th}] = static_cast<int>(rows.size());
      rows.emplace_back(mpi ? "rank " + std::to_string(r) + " thread " + std::to_string(th)
                            : "thread " + std::to_string(th),
                        r);
    }
    if (fetched[static_cast<std::size_t>(r)]) {
      row_of[{r, -1}] = static_cast<int>(rows.size());
      rows.emplace_back("rank " + std::to_string(r) + " transfers in", r);
    }
    if (spilled[static_cast<std::size_t>(r)]) {
      row_of[{r, -2}] = static_cast<int>(rows.size());
      rows.emplace_back(mpi ? "rank " + std::to_string(r) + " spill files" : "spill files", r);
    }
  }
  s += ",\"rows\":";
  detail::append_json_array(s, rows, [](std::string& o, const std::pair<std::string, int>& r) {
    o += "[";
    detail::append_json_string(o, r.first);
    o += "," + std::to_string(r.second) + "]";
  });

  const std::size_t stride = std::max<std::size_t>(1, (t.tasks.size() + kMaxShownTasks - 1) / kMaxShownTasks);
  std::string row, kind, start, dur;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < t.tasks.size(); i += stride) {
    const TaskEvent& e = t.tasks[i];
    auto it = row_of.find({e.rank, e.thread});
    if (it == row_of.end()) continue;
    if (shown++) {
      row += ',';
      kind += ',';
      start += ',';
      dur += ',';
    }
    row += std::to_string(it->second);
    kind += std::to_string(e.kind);
    detail::append_number(start, e.start * 1e6, 0);
    detail::append_number(dur, (e.end - e.start) * 1e6, 1);
  }
  s += ",\"shown\":" + std::to_string(shown);
  s += ",\"t\":{\"row\":[" + row + "],\"kind\":[" + kind + "],\"s\":[" + start + "],\"d\":[" + dur + "]}";

  const std::size_t xstride =
      std::max<std::size_t>(1, (t.transfers.size() + kMaxShownTransfers - 1) / kMaxShownTransfers);
  std::string xrow, xsrc, xs, xd, xb;
  std::size_t xshown = 0;
  for (std::size_t i = 0; i < t.transfers.size(); i += xstride) {
    const TransferEvent& x = t.transfers[i];
    auto it = row_of.find({x.rank, -1});
    if (it == row_of.end()) continue;
    if (xshown++) {
      xrow += ',';
      xsrc += ',';
      xs += ',';
      xd += ',';
      xb += ',';
    }
    xrow += std::to_string(it->second);
    xsrc += std::to_string(x.source);
    detail::append_number(xs, x.start * 1e6, 0);
    detail::append_number(xd, (x.end - x.start) * 1e6, 1);
    xb += std::to_string(x.bytes);
  }
  s += ",\"x\":{\"row\":[" + xrow + "],\"src\":[" + xsrc + "],\"s\":[" + xs + "],\"d\":[" + xd + "],\"b\":[" +
       xb + "]}";
  s += ",\"transfers_recorded\":" + std::to_string(t.transfers.size());

  // Spill files written (w) and read back (r): every one, or a uniform sample, as a task-stream row per rank.
  std::string prow, ps, pd, pb, pr;
  std::size_t pshown = 0;
  const std::size_t pstride =
      std::max<std::size_t>(1, (t.spills.size() + kMaxShownTransfers - 1) / kMaxShownTransfers);
  for (std::size_t i = 0; i < t.spills.size(); i += pstride) {
    const SpillEvent& x = t.spills[i];
    auto it = row_of.find({x.rank, -2});
    if (it == row_of.end()) continue;
    if (pshown++) {
      prow += ',';
      ps += ',';
      pd += ',';
      pb += ',';
      pr += ',';
    }
    prow += std::to_string(it->second);
    detail::append_number(ps, x.start * 1e6, 0);
    detail::append_number(pd, (x.end - x.start) * 1e6, 1);
    pb += std::to_string(x.bytes);
    pr += x.read ? '1' : '0';
  }
  s += ",\"spill\":{\"bytes\":" + std::to_string(t.bytes_spilled) +
       ",\"read_bytes\":" + std::to_string(t.bytes_unspilled) + ",\"seconds\":";
  num(t.spill_seconds);
  s += ",\"read_seconds\":";
  num(t.unspill_seconds);
  s += ",\"files\":" + std::to_string(t.spills.size());
  s += ",\"sampled\":";
  s += t.spills_sampled ? "true" : "false";
  s += ",\"row\":[" + prow + "],\"s\":[" + ps + "],\"d\":[" + pd + "],\"b\":[" + pb + "],\"r\":[" + pr + "]}";

  s += ",\"mem\":[";
  for (int r = 0, n = 0; r < t.ranks; ++r) {
    std::string ts, rss, live, cpu;
    std::size_t k = 0;
    for (const ResourceSample& m : t.resources) {
      if (m.rank != r) continue;
      if (k++) {
        ts += ',';
        rss += ',';
        live += ',';
        cpu += ',';
      }
      detail::append_number(ts, m.time, 4);
      detail::append_number(rss, static_cast<double>(m.rss) / 1e6, 2);
      detail::append_number(live, static_cast<double>(m.live_bytes) / 1e6, 2);
      detail::append_number(cpu, m.cpu_seconds, 4);
    }
    if (k == 0) continue;
    if (n++) s += ',';
    s += "{\"rank\":" + std::to_string(r) + ",\"t\":[" + ts + "],\"rss\":[" + rss + "],\"live\":[" + live +
         "],\"cpu\":[" + cpu + "]}";
  }
  s += "],\"sched\":{\"t\":";
  detail::append_json_array(
      s, t.scheduler, [](std::string& o, const SchedulerSample& q) { detail::append_number(o, q.time, 4); });
  s += ",\"done\":";
  detail::append_json_array(s, t.scheduler,
                            [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.done); });
  s += ",\"ready\":";
  detail::append_json_array(s, t.scheduler,
                            [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.ready); });
  s += ",\"running\":";
  detail::append_json_array(s, t.scheduler,
                            [](std::string& o, const SchedulerSample& q) { o += std::to_string(q.running); });
  s += "},\"groups\":[";
  for (std::size_t g = 0; g < t.group_labels.size(); ++g) {
    if (g) s += ',';
    s += "{\"label\":";
    str(t.group_labels[g]);
    s += ",\"total\":" + std::to_string(g < t.group_totals.size() ? t.group_totals[g] : 0) + ",\"done\":";
    detail::append_json_array(s, t.group_done, [g](std::string& o, const std::vector<std::uint64_t>& d) {
      o += std::to_string(g < d.size() ? d[g] : 0);
    });
    s += "}";
  }
  // The worker table: what each rank ran (the thread pool: one row).
  s += "],\"workers\":[";
  for (int r = mpi ? 1 : 0, n = 0; r < t.ranks; ++r) {
    std::uint64_t done = 0;
    for (const ThreadTime& th : t.thread_times) done += th.rank == r ? th.tasks : 0;
    if (n++) s += ',';
    s += "{\"rank\":" + std::to_string(r) + ",\"binding\":";
    str(r < static_cast<int>(t.bindings.size()) ? t.bindings[static_cast<std::size_t>(r)] : "");
    s += ",\"threads\":" +
         std::to_string(r < static_cast<int>(t.threads.size()) ? t.threads[static_cast<std::size_t>(r)] : 0) +
         ",\"done\":" + std::to_string(done) + ",\"queued\":null,\"held\":0}";
  }
  s += "],\"matrix\":";
  detail::append_json_array(s, t.bytes_between,
                            [](std::string& o, std::uint64_t v) { o += std::to_string(v); });
  s += "}";
  return s;
}

}  // namespace

void write_html_report(const RunTrace& trace, std::ostream& out) {
  detail::write_report_page(out, report_data(trace));
  if (!out) throw Error(ErrorCode::kIo, "writing the report failed");
}

void write_html_report(const RunTrace& trace, const std::string& path) {
  detail::write_file_atomically(path, "report", [&](std::ostream& out) { write_html_report(trace, out); });
}

std::string summarize(const RunTrace& t, std::size_t top_kinds) {
  std::string s;
  char buf[256];
  double thread_seconds = 0;
  for (int n : t.threads) thread_seconds += n * t.seconds;
  auto pct = [&](double v) { return thread_seconds > 0 ? 100.0 * v / thread_seconds : 0.0; };
  std::snprintf(buf, sizeof(buf),
                "%llu tasks in %s: compute %.0f%%, idle %.0f%%, scheduling %.0f%% of %s thread time\n",
                static_cast<unsigned long long>(t.tasks_total), human_seconds(t.seconds).c_str(),
                pct(t.compute_seconds), pct(t.idle_seconds), pct(t.overhead_seconds),
                human_seconds(thread_seconds).c_str());
  s += buf;
  std::size_t shown = 0;
  for (const KindSummary& k : t.kind_summary) {
    if (shown++ >= top_kinds) break;
    std::snprintf(buf, sizeof(buf), "  %-24s %8llu tasks  %10s total  %10s mean  %10s out\n", k.kind.c_str(),
                  static_cast<unsigned long long>(k.count), human_seconds(k.seconds).c_str(),
                  human_seconds(k.count ? k.seconds / static_cast<double>(k.count) : 0).c_str(),
                  format_bytes(static_cast<double>(k.bytes)).c_str());
    s += buf;
  }
  if (t.kind_summary.size() > top_kinds) {
    s += "  ... " + std::to_string(t.kind_summary.size() - top_kinds) + " more kinds\n";
  }
  if (t.bytes_spilled > 0 || t.bytes_unspilled > 0) {
    std::snprintf(buf, sizeof(buf), "  spilled: %s written in %s, %s read back in %s\n",
                  format_bytes(static_cast<double>(t.bytes_spilled)).c_str(),
                  human_seconds(t.spill_seconds).c_str(),
                  format_bytes(static_cast<double>(t.bytes_unspilled)).c_str(),
                  human_seconds(t.unspill_seconds).c_str());
    s += buf;
  }
  std::uint64_t moved = 0;
  for (std::uint64_t b : t.bytes_between) moved += b;
  if (t.executor == "mpi") {
    std::snprintf(buf, sizeof(buf), "  transfers: %s between workers (%s), %s fetching\n",
                  format_bytes(static_cast<double>(moved)).c_str(), t.transfer.c_str(),
                  human_seconds(t.transfer_seconds).c_str());
    s += buf;
  }
  return s;
}

}  // namespace tessera
