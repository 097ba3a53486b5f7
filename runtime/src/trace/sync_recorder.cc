#include "sync_recorder.h"

#include <algorithm>
#include <cassert>

namespace tessera::detail {

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

}  // namespace tessera::detail
