#include "thread_recorder.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <unordered_map>

namespace tessera::detail {

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
  if (n_ == cap_) {  // a cap of one event (max_events over many threads): halving kept it, the new one folds
    fold(e.graph_task, e.start, e.end, e.bytes);
    return;
  }
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

}  // namespace tessera::detail
