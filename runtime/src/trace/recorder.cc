#include "recorder.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

namespace tessera {

std::string task_kind(std::string_view name) {
  // Drop trailing "-word"/"_word" segments that are numbers or hashes (hex with a digit, 4+ characters).
  auto is_suffix = [](std::string_view w) {
    if (w.empty()) return false;
    bool digit = false;
    bool hex = true;
    for (char c : w) {
      if (c >= '0' && c <= '9') {
        digit = true;
      } else if (!((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
        hex = false;
      }
    }
    const bool number = std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
    return number || (hex && digit && w.size() >= 4);
  };
  std::string_view s = name;
  while (true) {
    const auto cut = s.find_last_of("-_");
    if (cut == std::string_view::npos || cut == 0) break;
    if (!is_suffix(s.substr(cut + 1))) break;
    s = s.substr(0, cut);
  }
  return std::string(s.empty() ? name : s);
}

std::string RunTrace::key_of(const TaskEvent& e) const {
  std::string out = "('";
  out += e.name < names.size() ? names[e.name] : std::string("?");
  out += "'";
  for (std::uint32_t i = 0; i < e.index_size && e.index_begin + i < index_pool.size(); ++i) {
    out += ", ";
    out += std::to_string(index_pool[e.index_begin + i]);
  }
  out += ")";
  return out;
}

namespace detail {

namespace {

struct FirstReading {
  std::uint64_t ticks;
  TraceClock::time_point time;
};

const FirstReading& first_reading() {
  static const FirstReading first{ticks(), TraceClock::now()};
  return first;
}

}  // namespace

void TickScale::start() noexcept {
  (void)first_reading();
  origin_time = TraceClock::now();
  origin = ticks();
}

void TickScale::finish() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  const std::uint64_t t = ticks();
  const TraceClock::time_point now = TraceClock::now();
  const FirstReading& first = first_reading();
  const double since_first = std::chrono::duration<double>(now - first.time).count();
  const double since_origin = std::chrono::duration<double>(now - origin_time).count();
  if (since_first >= since_origin && since_first > 1e-4 && t > first.ticks) {
    seconds_per_tick = since_first / static_cast<double>(t - first.ticks);
  } else if (since_origin > 1e-6 && t > origin) {
    seconds_per_tick = since_origin / static_cast<double>(t - origin);
  }
#endif
}

void ThreadRecorder::begin(const Graph& graph, const Plan& plan, int thread, std::size_t cap,
                           std::size_t expected) {
  graph_ = &graph;
  plan_ = &plan;
  thread_ = thread;
  cap_ = std::max<std::size_t>(cap, 1);
  seen_ = 0;
  idle_ = 0;
  rng_ = 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(thread + 1);
  folded_ = false;
  events_.clear();
  by_name_.clear();
  last_name_ = nullptr;
  last_totals_ = nullptr;
  events_.reserve(std::min(cap_, expected));
}

void ThreadRecorder::fold(const RawTask& e) {
  const char* name = graph_->name_of(plan_->result_task(e.task)).data();
  if (name != last_name_) {  // runs of one kind are common: skip the hash lookup for them
    last_name_ = name;
    last_totals_ = &by_name_[name];  // references into an unordered_map stay valid as it grows
  }
  KindTotals& k = *last_totals_;
  const double s = e.end > e.start ? static_cast<double>(e.end - e.start) : 0.0;  // ticks for now
  ++k.count;
  k.seconds += s;
  k.max_seconds = std::max(k.max_seconds, s);
  k.bytes += e.bytes;
}

void ThreadRecorder::overflow(const RawTask& e) {
  if (!folded_) {
    for (const RawTask& x : events_) fold(x);
    folded_ = true;
  }
  fold(e);
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const std::uint64_t j = rng_ % seen_;
  if (j < cap_) events_[j] = e;
}

ThreadRecorder::Result ThreadRecorder::finish(const TickScale& scale, int rank) {
  Result r;
  r.sampled = folded_;
  double busy = 0;
  if (folded_) {
    for (auto& [name, k] : by_name_) {
      KindTotals& into = r.totals[std::string(name)];
      into.count += k.count;
      into.seconds += k.seconds * scale.seconds_per_tick;
      into.max_seconds = std::max(into.max_seconds, k.max_seconds * scale.seconds_per_tick);
      into.bytes += k.bytes;
      busy += k.seconds * scale.seconds_per_tick;
    }
    std::sort(events_.begin(), events_.end(),
              [](const RawTask& a, const RawTask& b) { return a.start < b.start; });
  }
  const double ns_per_tick = scale.seconds_per_tick * 1e9;
  std::uint64_t ticks_busy = 0;
  for (RawTask& e : events_) {
    if (!folded_) ticks_busy += e.end > e.start ? e.end - e.start : 0;
    e.start = e.start > scale.origin
                  ? static_cast<std::uint64_t>(static_cast<double>(e.start - scale.origin) * ns_per_tick)
                  : 0;
    e.end = e.end > scale.origin
                ? static_cast<std::uint64_t>(static_cast<double>(e.end - scale.origin) * ns_per_tick)
                : 0;
  }
  if (!folded_) busy = static_cast<double>(ticks_busy) * scale.seconds_per_tick;
  r.events = std::move(events_);
  events_ = {};
  r.time.rank = rank;
  r.time.thread = thread_;
  r.time.tasks = seen_;
  r.time.busy = busy;
  r.time.idle = static_cast<double>(idle_) * scale.seconds_per_tick;
  by_name_.clear();
  last_name_ = nullptr;
  last_totals_ = nullptr;
  return r;
}

std::string iso_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string slurm_job_id() {
  const char* id = std::getenv("SLURM_JOB_ID");
  return id != nullptr ? std::string(id) : std::string();
}

ResourceSample sample_resources(int rank, double time, std::uint64_t live_bytes) {
  ResourceSample s;
  s.rank = rank;
  s.time = time;
  s.live_bytes = live_bytes;
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[128];
    const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
    ::close(fd);
    if (n > 0) {
      buf[n] = '\0';
      char* p = buf;
      std::strtoull(p, &p, 10);  // total program size
      const unsigned long long resident = std::strtoull(p, &p, 10);
      s.rss = static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    }
  }
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0) {
    s.cpu_seconds = static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return s;
}

RankRecording collect(std::vector<ThreadRecorder>& threads, const TickScale& scale, int rank) {
  RankRecording out;
  out.rank = rank;
  std::unordered_map<std::string, KindTotals> totals;
  for (ThreadRecorder& t : threads) {
    ThreadRecorder::Result r = t.finish(scale, rank);
    out.tasks.push_back(std::move(r.events));
    out.sampled.push_back(r.sampled ? 1 : 0);
    for (auto& [name, k] : r.totals) {
      KindTotals& into = totals[name];
      into.count += k.count;
      into.seconds += k.seconds;
      into.max_seconds = std::max(into.max_seconds, k.max_seconds);
      into.bytes += k.bytes;
    }
    out.thread_times.push_back(r.time);
  }
  out.totals.assign(totals.begin(), totals.end());
  return out;
}

void give_back(std::vector<ThreadRecorder>& threads, RankRecording& recording) {
  for (std::size_t i = 0; i < threads.size() && i < recording.tasks.size(); ++i) {
    threads[i].restore(std::move(recording.tasks[i]));
  }
}

void assemble(RunTrace& trace, const Graph& graph, const Plan& plan, std::vector<RankRecording>& ranks) {
  std::unordered_map<const char*, std::uint32_t> name_of_ptr;
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
  std::size_t n = 0;
  for (const RankRecording& r : ranks) {
    for (const auto& list : r.tasks) n += list.size();
  }
  trace.tasks.reserve(trace.tasks.size() + n);
  trace.index_pool.reserve(trace.index_pool.size() + 2 * n);  // chunk indexes are mostly 1-2-d
  // Exact totals by name id, from every list that is not a sample.
  std::vector<KindTotals> by_name;
  const char* last_ptr = nullptr;
  std::uint32_t last_id = 0;
  for (RankRecording& r : ranks) {
    for (std::size_t l = 0; l < r.tasks.size(); ++l) {
      const bool counted = l >= r.sampled.size() || r.sampled[l] == 0;
      for (const RawTask& raw : r.tasks[l]) {
        const TaskId g = plan.result_task(raw.task);
        const std::string_view name = graph.name_of(g);
        if (name.data() != last_ptr) {
          auto it = name_of_ptr.find(name.data());
          if (it == name_of_ptr.end()) it = name_of_ptr.emplace(name.data(), name_id(name)).first;
          last_ptr = name.data();
          last_id = it->second;
        }
        TaskEvent e;
        e.task = raw.task;
        e.name = last_id;
        e.kind = kind_of_name[last_id];
        e.rank = r.rank;
        e.thread = raw.thread;
        const auto index = graph.index_of(g);
        e.index_begin = static_cast<std::uint32_t>(trace.index_pool.size());
        e.index_size = static_cast<std::uint32_t>(index.size());
        trace.index_pool.insert(trace.index_pool.end(), index.begin(), index.end());
        e.start = static_cast<double>(raw.start) * 1e-9;
        e.end = static_cast<double>(std::max(raw.end, raw.start)) * 1e-9;
        e.bytes = raw.bytes;
        trace.tasks.push_back(e);
        if (counted) {
          if (by_name.size() <= last_id) by_name.resize(last_id + 1);
          KindTotals& k = by_name[last_id];
          const double s = e.end - e.start;
          ++k.count;
          k.seconds += s;
          k.max_seconds = std::max(k.max_seconds, s);
          k.bytes += e.bytes;
        }
      }
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
  }
  for (std::size_t id = 0; id < by_name.size(); ++id) {
    KindSummary& s = kinds[kind_of_name[id]];
    s.count += by_name[id].count;
    s.seconds += by_name[id].seconds;
    s.max_seconds = std::max(s.max_seconds, by_name[id].max_seconds);
    s.bytes += by_name[id].bytes;
  }
  // Lists arrive in (rank, thread) order and in time order, so this is usually sorted already.
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

struct Ticker::State {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;
};

void Ticker::start(double seconds, std::function<void()> fn) {
  stop();
  state_ = std::make_shared<State>();
  const auto period = std::chrono::duration<double>(std::max(seconds, 1e-3));
  State* s = state_.get();
  s->thread = std::thread([s, period, fn = std::move(fn)] {
    std::unique_lock lock(s->mu);
    while (!s->stop) {
      if (s->cv.wait_for(lock, period, [s] { return s->stop; })) break;
      lock.unlock();
      fn();
      lock.lock();
    }
  });
}

void Ticker::stop() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
  state_.reset();
}

}  // namespace detail
}  // namespace tessera
