// Chrome trace-event JSON (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
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

  // Transfers into lanes so that slices on one track never overlap.
  std::vector<int> lane(trace.transfers.size(), 0);
  {
    std::unordered_map<int, std::vector<double>> lane_end;  // per rank
    std::unordered_map<int, int> lanes_named;
    for (std::size_t i = 0; i < trace.transfers.size(); ++i) {
      const TransferEvent& x = trace.transfers[i];
      std::vector<double>& ends = lane_end[x.rank];
      std::size_t l = 0;
      while (l < ends.size() && ends[l] > x.start) ++l;
      if (l == ends.size()) ends.push_back(0);
      ends[l] = x.end;
      lane[i] = static_cast<int>(l);
      int& named = lanes_named[x.rank];
      while (named <= static_cast<int>(l)) {
        meta("thread_name", x.rank, kTransferTid + named,
             "transfers in" + (named ? " " + std::to_string(named) : ""), kTransferTid + named);
        ++named;
      }
    }
  }

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

  std::unordered_map<std::uint32_t, std::size_t> producer;
  if (!trace.transfers.empty()) {
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
