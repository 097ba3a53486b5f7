#include "recorder.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
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

EventList RecordingPool::take_events() {
  std::lock_guard lock(mu_);
  if (events_.empty()) return {};
  EventList v = std::move(events_.back());
  events_.pop_back();
  return v;
}

void RecordingPool::give_events(EventList&& events) {
  if (events.capacity() == 0) return;
  events.resize(events.capacity());  // no writes (UninitAllocator): the next run sizes it without zeroing
  std::lock_guard lock(mu_);
  if (events_.size() < kKeep) events_.push_back(std::move(events));
}

std::vector<std::byte> RecordingPool::take_bytes() {
  std::lock_guard lock(mu_);
  if (bytes_.empty()) return {};
  std::vector<std::byte> v = std::move(bytes_.back());
  bytes_.pop_back();
  return v;
}

void RecordingPool::give_bytes(std::vector<std::byte>&& bytes) {
  if (bytes.capacity() == 0 || bytes.capacity() > kKeepBytes) return;
  std::lock_guard lock(mu_);
  if (bytes_.size() < 2) bytes_.push_back(std::move(bytes));
}

void ThreadRecorder::begin(const Graph& graph, const Plan& plan, int thread, std::size_t cap,
                           std::size_t expected, RecordingPool* pool) {
  graph_ = &graph;
  names_.begin(graph, plan);
  keys_ = nullptr;
  plan_ = &plan;
  thread_ = thread;
  reset(cap, expected, pool);
}

void ThreadRecorder::reset(std::size_t cap, std::size_t expected, RecordingPool* pool) {
  cap_ = std::max<std::size_t>(cap, 1);
  stride_ = 1;
  phase_ = 0;
  dropped_ = 0;
  idle_ = 0;
  if (pool != nullptr && events_.capacity() == 0) events_ = pool->take_events();
  by_name_.clear();
  // Sized, not reserved, so that the fast path stores without a capacity check; a pooled buffer keeps its
  // size, so only what it lacks is zeroed.
  if (events_.size() < std::min(cap_, expected)) events_.resize(std::min(cap_, expected));
  data_ = events_.data();
  n_ = 0;
  room_ = std::min(cap_, events_.size());
  batch_ = 0;
  limit_ = 1;
}

void ThreadRecorder::close(std::uint64_t now) {
  const std::uint64_t span = now > mark_ ? now - mark_ : 0;
  const std::uint64_t each = span / batch_;
  RawTask* e = data_ + n_;
  // The lines the next batches will write, fetched for writing ahead of time (they are not in any cache).
  if (n_ + batch_ + 32 < room_) {
    for (std::size_t i = 0; i < batch_; i += 2) __builtin_prefetch(e + 32 + i, 1, 0);
  }
  std::uint64_t t = mark_;
  for (std::size_t i = 0; i < batch_; ++i, ++e, t += each) {
    const Staged& s = staged_[i];
    const std::uint64_t end = i + 1 == batch_ ? now : t + each;  // the last one takes the rounding
    e->task = s.task;
    e->graph_task = s.graph_task;
    e->start = t;
    e->end = end;
    e->bytes = s.bytes;
  }
  n_ += batch_;
  limit_ = each < kTinyTicks ? std::min(2 * limit_, kMaxBatch) : 1;
  mark_ = now;
  batch_ = 0;
}

void ThreadRecorder::begin_replay(const Graph::Keys& keys, std::size_t cap, std::size_t expected,
                                  RecordingPool* pool) {
  graph_ = nullptr;
  keys_ = &keys;
  plan_ = nullptr;
  thread_ = 0;
  reset(cap, expected, pool);
}

void ThreadRecorder::span(std::uint32_t first, std::uint32_t last, std::uint64_t start, std::uint64_t end,
                          const TaskBytes*& bytes, const TaskBytes* bytes_end, std::uint64_t& current,
                          const TaskId* graph_task) {
  if (last <= first) return;
  const std::uint64_t each = (end > start ? end - start : 0) / (last - first);
  std::uint64_t t = start;
  for (std::uint32_t p = first; p < last; ++p) {
    while (bytes != bytes_end && bytes->task <= p) current = (bytes++)->bytes;
    const std::uint64_t e = p + 1 == last ? end : t + each;  // the last one takes the rounding
    put(p, graph_task != nullptr ? graph_task[p] : plan_->result_task(p), t, e, current);
    t = e;
  }
}

void SyncRecorder::begin(const Graph& graph, const Plan& plan, std::size_t cap, ThreadRecorder* out) {
  plan_ = &plan;
  names_.begin(graph, plan);
  out_ = out;
  n_ = static_cast<std::uint32_t>(plan.size());
  cap_ = std::max<std::size_t>(cap, 1);
  flushed_ = false;
  reads_.clear();
  bytes_.clear();
  last_bytes_ = 0;
  flushed_bytes_ = 0;
  first_ = from_ = 0;
  until_ = 1;  // the first task ends at a read
  limit_ = 1;
  mark_ = at_ = ticks();
}

void SyncRecorder::close(std::uint32_t next) {
  const std::uint64_t now = ticks();
  const std::uint64_t span = now > at_ ? now - at_ : 0;
  // Tiny on average (no division): the next batch may be longer.
  limit_ = span < kTinyTicks * (next - from_) ? std::min(2 * limit_, kMaxBatch) : 1;
  reads_.push_back(Read{next, now});
  at_ = now;
  from_ = next;
  // The next batch: up to limit_ tasks that share the name of the first. Looking the names up here, in one
  // short loop, keeps them off the per-task path (and brings the records the tasks will read into cache).
  std::uint64_t end = std::uint64_t{next} + 1;
  if (limit_ > 1 && next < n_) {
    const std::uint64_t stop = std::min<std::uint64_t>(n_, std::uint64_t{next} + limit_);
    const NameId name = names_.name(names_.task(next));
    while (end < stop && names_.name(names_.task(static_cast<std::uint32_t>(end))) == name) ++end;
  }
  until_ = end;
  if (reads_.size() >= cap_) {  // bounded memory: events (sampled past the cap) from here on
    flushed_ = true;
    flush();
  }
}

void SyncRecorder::flush() {
  const ThreadRecorder::TaskBytes* b = bytes_.data();
  const ThreadRecorder::TaskBytes* const b_end = b + bytes_.size();
  for (const Read& r : reads_) {
    // Named from the plan: the run goes on.
    out_->span(first_, r.task, mark_, r.at, b, b_end, flushed_bytes_, nullptr);
    first_ = r.task;
    mark_ = r.at;
  }
  reads_.clear();
  bytes_.clear();  // every task up to the last read is passed, and no task is pending at a read
}

SyncRecorder::Compact SyncRecorder::take(std::vector<TaskId>* graph_task) {
  assert(!flushed_ && "a flushed recording's reads are events already: use flush()");
  Compact c;
  c.reads = std::move(reads_);
  c.bytes = std::move(bytes_);
  c.start = mark_;
  c.cap = cap_;
  if (graph_task == nullptr) c.graph_task = plan_->result_tasks_shared();  // an unfused plan: shared
  if (!c.graph_task) {
    auto owned = std::make_shared<std::vector<TaskId>>();
    if (graph_task != nullptr) {
      *owned = std::move(*graph_task);
    } else {
      owned->resize(n_);
      for (std::uint32_t p = 0; p < n_; ++p) (*owned)[p] = plan_->result_task(p);
    }
    c.graph_task = std::shared_ptr<const TaskId>(owned, owned->data());
  }
  reads_ = {};
  bytes_ = {};
  return c;
}

ThreadRecorder::Result SyncRecorder::Compact::replay(const Graph::Keys& keys, double seconds_per_tick,
                                                     RecordingPool* pool) const {
  ThreadRecorder r;
  const std::size_t tasks = reads.empty() ? 0 : reads.back().task;
  r.begin_replay(keys, cap, tasks, pool);
  const ThreadRecorder::TaskBytes* b = bytes.data();
  const ThreadRecorder::TaskBytes* const b_end = b + bytes.size();
  std::uint64_t current = 0;
  std::uint32_t first = 0;
  std::uint64_t from = start;
  for (const Read& read : reads) {
    r.span(first, read.task, from, read.at, b, b_end, current, graph_task.get());
    first = read.task;
    from = read.at;
  }
  return r.take(seconds_per_tick, 0);
}

void ThreadRecorder::slow(const RawTask& e) {
  if (stride_ == 1 && n_ < cap_) {  // more tasks than expected: grow the buffer
    events_.resize(std::min(cap_, std::max<std::size_t>(2 * events_.size(), 1024)));
    data_ = events_.data();
    room_ = std::min(cap_, events_.size());
    data_[n_++] = e;
    return;
  }
  room_ = 0;  // sampling from now on: every event comes here
  if (++phase_ < stride_) {
    fold(e.graph_task, e.start, e.end, e.bytes);
    return;
  }
  phase_ = 0;
  if (n_ == cap_) halve();
  data_[n_++] = e;
}

void ThreadRecorder::fold(TaskId g, std::uint64_t start, std::uint64_t end, std::uint64_t bytes) {
  const NameId name = name_of(g);
  if (name >= by_name_.size()) by_name_.resize(name + 1);
  TickTotals& k = by_name_[name];
  const std::uint64_t t = end > start ? end - start : 0;
  ++k.count;
  k.ticks += t;
  k.max_ticks = std::max(k.max_ticks, t);
  k.bytes += bytes;
  ++dropped_;
}

void ThreadRecorder::halve() {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n_; ++i) {
    const RawTask& e = data_[i];
    if (i % 2 == 0) {
      data_[kept++] = e;
    } else {
      fold(e.graph_task, e.start, e.end, e.bytes);
    }
  }
  n_ = kept;
  stride_ *= 2;
}

ThreadRecorder::Result ThreadRecorder::take(double seconds_per_tick, int rank) {
  if (batch_ != 0) close(ticks());  // the thread did not stop() (a failed run): end the batch now
  Result r;
  r.sampled = stride_ > 1;
  double busy = 0;
  for (NameId id = 0; id < by_name_.size(); ++id) {
    const TickTotals& k = by_name_[id];
    if (k.count == 0) continue;
    const double seconds = static_cast<double>(k.ticks) * seconds_per_tick;
    r.dropped.emplace_back(
        (graph_ != nullptr ? graph_->names() : keys_->names())[id],
        KindTotals{k.count, seconds, static_cast<double>(k.max_ticks) * seconds_per_tick, k.bytes});
    busy += seconds;
  }
  r.time.rank = rank;
  r.time.thread = thread_;
  events_.resize(n_);
  r.time.tasks = n_ + dropped_;
  r.time.busy = busy;
  r.time.idle = static_cast<double>(idle_) * seconds_per_tick;
  r.events = std::move(events_);
  events_ = {};
  data_ = nullptr;
  n_ = room_ = 0;
  by_name_.clear();
  return r;
}

ThreadRecorder::Result ThreadRecorder::finish(const TickScale& scale, int rank) {
  Result r = take(scale.seconds_per_tick, rank);
  const double ns_per_tick = scale.seconds_per_tick * 1e9;
  if (scale.origin == 0 && ns_per_tick == 1.0) return r;  // recorded in nanoseconds already (MPI workers)
  for (RawTask& e : r.events) {
    e.start = e.start > scale.origin
                  ? static_cast<std::uint64_t>(static_cast<double>(e.start - scale.origin) * ns_per_tick)
                  : 0;
    e.end = e.end > scale.origin
                ? static_cast<std::uint64_t>(static_cast<double>(e.end - scale.origin) * ns_per_tick)
                : 0;
  }
  return r;
}

void ProgressGroups::begin(const Graph& graph, const Plan& plan, int threads) {
  labels_ = graph.progress_groups();
  totals_.assign(labels_.size(), 0);
  if (labels_.empty()) {
    group_of_.clear();
    counts_.reset();
    return;
  }
  group_of_.resize(plan.size());
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    const std::uint16_t g = graph.options(plan.result_task(p)).progress_group;
    group_of_[p] = g <= labels_.size() ? g : 0;
    if (group_of_[p] != 0) ++totals_[group_of_[p] - 1];
  }
  threads_ = static_cast<std::size_t>(std::max(threads, 1));
  stride_ = (labels_.size() + 1 + 7) / 8 * 8;
  counts_.reset(new std::atomic<std::uint64_t>[threads_ * stride_]);
  for (std::size_t i = 0; i < threads_ * stride_; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

std::vector<std::uint64_t> ProgressGroups::read(bool final) const {
  if (final) return totals_;
  std::vector<std::uint64_t> done(labels_.size(), 0);
  for (std::size_t t = 0; t < threads_ && counts_; ++t) {
    for (std::size_t g = 0; g < labels_.size(); ++g) {
      done[g] += counts_[t * stride_ + g + 1].load(std::memory_order_relaxed);
    }
  }
  return done;
}

std::vector<GroupProgress> ProgressGroups::progress(const std::vector<std::uint64_t>& done) const {
  std::vector<GroupProgress> out(labels_.size());
  for (std::size_t g = 0; g < labels_.size(); ++g) {
    out[g].label = labels_[g];
    out[g].done = g < done.size() ? done[g] : 0;
    out[g].total = totals_[g];
  }
  return out;
}

void SpillLog::begin(std::size_t cap) {
  std::lock_guard lock(mu_);
  events_ = Reservoir<Raw>(cap);
  bytes_[0] = bytes_[1] = 0;
  seconds_[0] = seconds_[1] = 0;
}

void SpillLog::add(std::uint32_t task, TraceClock::time_point start, TraceClock::time_point end,
                   std::uint64_t bytes, bool read) {
  std::lock_guard lock(mu_);
  events_.add(Raw{task, read, start, end, bytes});
  bytes_[read ? 1 : 0] += bytes;
  seconds_[read ? 1 : 0] += std::chrono::duration<double>(end - start).count();
}

void SpillLog::take(TraceClock::time_point origin, RankRecording& into) {
  std::lock_guard lock(mu_);
  for (const Raw& r : events_.items()) {
    into.spills.push_back(SpillEvent{r.task, into.rank,
                                     std::chrono::duration<double>(r.start - origin).count(),
                                     std::chrono::duration<double>(r.end - origin).count(), r.bytes, r.read});
  }
  into.spills_sampled = events_.sampled();
  into.bytes_spilled = bytes_[0];
  into.bytes_unspilled = bytes_[1];
  into.spill_seconds = seconds_[0];
  into.unspill_seconds = seconds_[1];
  events_ = Reservoir<Raw>(0);
}

void SpillLog::take(TraceClock::time_point origin, RunTrace& into) {
  RankRecording spills;
  take(origin, spills);
  into.spills = std::move(spills.spills);
  into.spills_sampled = spills.spills_sampled;
  into.bytes_spilled = spills.bytes_spilled;
  into.bytes_unspilled = spills.bytes_unspilled;
  into.spill_seconds = spills.spill_seconds;
  into.unspill_seconds = spills.unspill_seconds;
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
  // /proc/self/statm, opened once per process and read with pread: opening it costs about 8 us (a path walk
  // through /proc), reading it about 2. A child of fork() has its own /proc/self: it opens its own each time.
  // If the first open fails (no descriptors left), a later call tries again.
  static const pid_t opener = ::getpid();
  static std::atomic<int> statm{-1};
  const bool own = ::getpid() != opener;
  int fd = own ? ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC) : statm.load(std::memory_order_acquire);
  if (!own && fd < 0) {
    fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    int none = -1;
    if (fd >= 0 && !statm.compare_exchange_strong(none, fd, std::memory_order_acq_rel)) {
      ::close(fd);  // another thread opened it first
      fd = none;
    }
  }
  if (fd >= 0) {
    char buf[128];
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    if (own) ::close(fd);
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

Ticker::~Ticker() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ticker::start(double seconds, std::function<void()> fn) {
  stop();
  {
    std::lock_guard lock(mu_);
    fn_ = std::move(fn);
    period_ = std::chrono::duration<double>(std::max(seconds, 1e-3));
    running_ = true;
    ++started_;
  }
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { loop(); });
  } else {
    cv_.notify_all();
  }
}

void Ticker::stop() {
  std::unique_lock lock(mu_);
  if (running_) {
    running_ = false;
    cv_.notify_all();
  }
  cv_.wait(lock, [this] { return !calling_; });  // also when another thread's stop() cleared running_
  fn_ = nullptr;
}

void Ticker::loop() {
  std::unique_lock lock(mu_);
  while (!quit_) {
    if (!running_) {
      cv_.wait(lock, [this] { return quit_ || running_; });
      continue;
    }
    const std::uint64_t run = started_;
    if (cv_.wait_for(lock, period_, [this, run] { return quit_ || !running_ || started_ != run; })) continue;
    calling_ = true;
    lock.unlock();
    fn_();  // stop() waits for calling_ to drop before it touches fn_
    lock.lock();
    calling_ = false;
    cv_.notify_all();
  }
}

}  // namespace detail

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
