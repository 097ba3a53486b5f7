// Chrome trace-event JSON (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "json_text.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/trace.h"

namespace tessera {

namespace {

constexpr int kTransferTid = 1000;  // first transfer lane of a rank (lanes keep slices on a track nested)
constexpr int kSpillTid = 2000;     // first spill-file lane of a rank
// Points of the per-output progress counter at most (besides the zero at the start): a million-task run
// keeps a small file and Perfetto still draws a smooth line.
constexpr std::size_t kMaxProgressPoints = 2000;

// Buffered writing into the stream, flushed in large pieces.
class Sink {
 public:
  explicit Sink(std::ostream& out) : out_(out) { buf_.reserve(kFlush + 4096); }
  ~Sink() = default;
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlush) flush();
  }
  void flush() {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
    if (!out_) throw Error(ErrorCode::kIo, "writing the trace failed");
  }

 private:
  static constexpr std::size_t kFlush = std::size_t{1} << 20;
  std::ostream& out_;
  std::string buf_;
};

void us(std::string& s, double seconds) {
  detail::append_number(s, seconds * 1e6, 3);
}

}  // namespace

void write_chrome_trace(const RunTrace& trace, std::ostream& out) {
  Sink sink(out);
  std::string& s = sink.buf();
  s += "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"executor\":";
  detail::append_json_string(s, trace.executor);
  s += ",\"ranks\":" + std::to_string(trace.ranks);
  s += ",\"transfer\":";
  detail::append_json_string(s, trace.transfer);
  s += ",\"slurm_job_id\":";
  detail::append_json_string(s, trace.slurm_job_id);
  s += ",\"started\":";
  detail::append_json_string(s, trace.started);
  s += ",\"seconds\":";
  detail::append_number(s, trace.seconds, 6);
  s += ",\"tasks\":" + std::to_string(trace.tasks_total);
  s += ",\"tasks_recorded\":" + std::to_string(trace.tasks.size());
  s += ",\"sampled\":";
  s += trace.tasks_sampled ? "true" : "false";
  s += ",\"transfers_sampled\":";
  s += trace.transfers_sampled ? "true" : "false";
  s += ",\"bytes_spilled\":" + std::to_string(trace.bytes_spilled);
  s += ",\"bytes_read_back\":" + std::to_string(trace.bytes_unspilled);
  s += ",\"spill_files\":" + std::to_string(trace.spills.size());
  s += ",\"spills_sampled\":";
  s += trace.spills_sampled ? "true" : "false";
  s += "},\"traceEvents\":[\n";
  bool first = true;
  auto open = [&] {
    if (!first) s += ",\n";
    first = false;
  };
  auto meta = [&](const char* what, int pid, int tid, const std::string& name, int sort) {
    open();
    s += "{\"ph\":\"M\",\"name\":\"";
    s += what;
    s += "\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) + ",\"args\":{\"name\":";
    detail::append_json_string(s, name);
    s += "}}";
    open();
    s += std::string("{\"ph\":\"M\",\"name\":\"") +
         (std::string(what) == "process_name" ? "process_sort_index" : "thread_sort_index") +
         "\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) +
         ",\"args\":{\"sort_index\":" + std::to_string(sort) + "}}";
  };
  const bool mpi = trace.executor == "mpi";
  for (int r = 0; r < trace.ranks; ++r) {
    std::string name;
    if (mpi) {
      name = r == 0 ? "rank 0 (scheduler)" : "rank " + std::to_string(r) + " (worker)";
      if (r < static_cast<int>(trace.bindings.size()) && r > 0 && !trace.bindings[r].empty()) {
        name += ": " + trace.bindings[r];
      }
    } else {
      name = "tessera (" + trace.executor + ")";
    }
    meta("process_name", r, 0, name, r);
    const int threads = r < static_cast<int>(trace.threads.size()) ? trace.threads[r] : 0;
    for (int t = 0; t < threads; ++t) meta("thread_name", r, t + 1, "thread " + std::to_string(t), t + 1);
  }

  // Transfers and spill files into lanes per rank so that slices on one track never overlap (both are sorted
  // by rank and start); each lane a track of its own, named once.
  auto into_lanes = [&](const auto& events, int first_tid, const std::string& label) {
    std::vector<int> lane(events.size(), 0);
    std::unordered_map<int, std::vector<double>> lane_end;  // per rank
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& x = events[i];
      std::vector<double>& ends = lane_end[x.rank];
      std::size_t l = 0;
      while (l < ends.size() && ends[l] > x.start) ++l;
      if (l == ends.size()) {
        std::string name = label;
        if (l > 0) name.append(1, ' ').append(std::to_string(l));
        meta("thread_name", x.rank, first_tid + static_cast<int>(l), name, first_tid + static_cast<int>(l));
        ends.push_back(0);
      }
      ends[l] = x.end;
      lane[i] = static_cast<int>(l);
    }
    return lane;
  };
  const std::vector<int> lane = into_lanes(trace.transfers, kTransferTid, "transfers in");
  const std::vector<int> spill_lane = into_lanes(trace.spills, kSpillTid, "spill files");

  for (const TaskEvent& e : trace.tasks) {
    open();
    s += "{\"ph\":\"X\",\"cat\":\"task\",\"name\":";
    detail::append_json_string(s, trace.kinds[e.kind]);
    s += ",\"pid\":" + std::to_string(e.rank) + ",\"tid\":" + std::to_string(e.thread + 1) + ",\"ts\":";
    us(s, e.start);
    s += ",\"dur\":";
    us(s, e.end - e.start);
    s += ",\"args\":{\"key\":";
    detail::append_json_string(s, trace.key_of(e));
    s += ",\"task\":" + std::to_string(e.task) + ",\"bytes\":" + std::to_string(e.bytes) + "}}";
    sink.maybe_flush();
  }

  std::unordered_map<std::uint32_t, std::size_t> producer;  // plan task -> its event
  if (!trace.transfers.empty() || !trace.spills.empty()) {
    producer.reserve(trace.tasks.size());
    for (std::size_t i = 0; i < trace.tasks.size(); ++i) producer.emplace(trace.tasks[i].task, i);
  }
  for (std::size_t i = 0; i < trace.transfers.size(); ++i) {
    const TransferEvent& x = trace.transfers[i];
    const int tid = kTransferTid + lane[i];
    open();
    s += "{\"ph\":\"X\",\"cat\":\"transfer\",\"name\":\"fetch from rank " + std::to_string(x.source) +
         "\",\"pid\":" + std::to_string(x.rank) + ",\"tid\":" + std::to_string(tid) + ",\"ts\":";
    us(s, x.start);
    s += ",\"dur\":";
    us(s, x.end - x.start);
    s += ",\"args\":{\"task\":" + std::to_string(x.task) + ",\"source\":" + std::to_string(x.source) +
         ",\"bytes\":" + std::to_string(x.bytes) + ",\"path\":\"" + (x.two_sided ? "two-sided" : "rma") +
         "\"}}";
    auto it = producer.find(x.task);
    if (it != producer.end()) {
      const TaskEvent& p = trace.tasks[it->second];
      const std::string id = std::to_string(i + 1);
      open();
      s += "{\"ph\":\"s\",\"cat\":\"transfer\",\"name\":\"transfer\",\"id\":" + id +
           ",\"pid\":" + std::to_string(p.rank) + ",\"tid\":" + std::to_string(p.thread + 1) + ",\"ts\":";
      us(s, 0.5 * (p.start + p.end));
      s += "}";
      open();
      s += "{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"transfer\",\"name\":\"transfer\",\"id\":" + id +
           ",\"pid\":" + std::to_string(x.rank) + ",\"tid\":" + std::to_string(tid) + ",\"ts\":";
      us(s, x.start);
      s += "}";
    }
    sink.maybe_flush();
  }

  // Spill files: the result's key (when its task's event was kept), plan task, bytes and direction.
  for (std::size_t i = 0; i < trace.spills.size(); ++i) {
    const SpillEvent& x = trace.spills[i];
    const char* direction = x.read ? "read back" : "spill";
    open();
    s += std::string("{\"ph\":\"X\",\"cat\":\"spill\",\"name\":\"") + direction +
         "\",\"pid\":" + std::to_string(x.rank) + ",\"tid\":" + std::to_string(kSpillTid + spill_lane[i]) +
         ",\"ts\":";
    us(s, x.start);
    s += ",\"dur\":";
    us(s, x.end - x.start);
    s += ",\"args\":{";
    auto it = producer.find(x.task);
    if (it != producer.end()) {
      s += "\"key\":";
      detail::append_json_string(s, trace.key_of(trace.tasks[it->second]));
      s += ",";
    }
    s += "\"task\":" + std::to_string(x.task) + ",\"bytes\":" + std::to_string(x.bytes) +
         ",\"direction\":\"" + direction + "\"}}";
    sink.maybe_flush();
  }

  for (const ResourceSample& m : trace.resources) {
    open();
    s += "{\"ph\":\"C\",\"name\":\"memory (MB)\",\"pid\":" + std::to_string(m.rank) + ",\"ts\":";
    us(s, m.time);
    s += ",\"args\":{\"rss\":";
    detail::append_number(s, static_cast<double>(m.rss) / 1e6, 3);
    s += ",\"live results\":";
    detail::append_number(s, static_cast<double>(m.live_bytes) / 1e6, 3);
    s += "}}";
  }
  for (const SchedulerSample& q : trace.scheduler) {
    open();
    s += "{\"ph\":\"C\",\"name\":\"scheduler\",\"pid\":0,\"ts\":";
    us(s, q.time);
    s += ",\"args\":{\"ready\":" + std::to_string(q.ready) + ",\"running\":" + std::to_string(q.running) +
         "}}";
    open();
    s += "{\"ph\":\"C\",\"name\":\"tasks done\",\"pid\":0,\"ts\":";
    us(s, q.time);
    s += ",\"args\":{\"done\":" + std::to_string(q.done) + "}}";
    sink.maybe_flush();
  }

  // Progress per output (Graph::progress_group): one counter, a series per label, tasks done so far. Task by
  // task (at most kMaxProgressPoints points) where the trace has every task and knows its group; otherwise at
  // the scheduler samples (group_done).
  const std::size_t groups = trace.group_labels.size();
  if (groups > 0) {
    std::vector<std::uint64_t> done(groups, 0);
    double last_ts = 0;
    auto point = [&](double t) {
      last_ts = std::max(last_ts, t);  // never back, whatever the clocks did
      open();
      s += "{\"ph\":\"C\",\"name\":\"progress\",\"pid\":0,\"ts\":";
      us(s, last_ts);
      s += ",\"args\":{";
      for (std::size_t g = 0; g < groups; ++g) {
        if (g) s += ',';
        detail::append_json_string(s, trace.group_labels[g]);
        s += ':' + std::to_string(done[g]);
      }
      s += "}}";
      sink.maybe_flush();
    };
    if (!trace.tasks_sampled && trace.tasks.size() == trace.tasks_total &&
        trace.task_groups.size() == trace.tasks_total) {
      std::vector<std::pair<double, std::uint16_t>> ends;  // (end, group id) of the tasks in a group
      for (const TaskEvent& e : trace.tasks) {
        const std::uint16_t g = e.task < trace.task_groups.size() ? trace.task_groups[e.task] : 0;
        if (g != 0 && g <= groups) ends.emplace_back(e.end, g);
      }
      std::sort(ends.begin(), ends.end());
      const std::size_t stride =
          std::max<std::size_t>(1, (ends.size() + kMaxProgressPoints - 1) / kMaxProgressPoints);
      point(0);
      for (std::size_t i = 0; i < ends.size(); ++i) {
        ++done[ends[i].second - 1];
        if ((i + 1) % stride == 0 || i + 1 == ends.size()) point(ends[i].first);
      }
    } else {
      const std::size_t n = std::min(trace.group_done.size(), trace.scheduler.size());
      const std::size_t stride = std::max<std::size_t>(1, (n + kMaxProgressPoints - 1) / kMaxProgressPoints);
      for (std::size_t i = 0; i < n; ++i) {
        if (i % stride != 0 && i + 1 != n) continue;
        for (std::size_t g = 0; g < groups; ++g) {
          done[g] = g < trace.group_done[i].size() ? trace.group_done[i][g] : 0;
        }
        point(trace.scheduler[i].time);
      }
    }
  }
  s += "\n]}\n";
  sink.flush();
}

namespace detail {

void write_file_atomically(const std::string& path, const char* what,
                           const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(ErrorCode::kIo, str_cat("cannot create the ", what, " \"", path, "\""));
    try {
      write(f);
      f.flush();
      if (!f) throw Error(ErrorCode::kIo, "write failed");
    } catch (const Error& e) {
      f.close();
      std::remove(tmp.c_str());
      throw Error(ErrorCode::kIo, str_cat("writing the ", what, " \"", path, "\" failed: ", e.what()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::kIo,
                str_cat("cannot move the ", what, " into place as \"", path, "\": ", ec.message()));
  }
}

}  // namespace detail

void write_chrome_trace(const RunTrace& trace, const std::string& path) {
  detail::write_file_atomically(path, "trace", [&](std::ostream& out) { write_chrome_trace(trace, out); });
}

}  // namespace tessera
