// The sync executor's compact recording: clock reads only, events made when the trace is looked at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "thread_recorder.h"

namespace tessera::detail {

// The sync executor's recording. Tasks run one at a time in plan order, so a task's number and its start (the
// previous task's end) are implied: while the run goes on the recorder keeps only its clock reads, one (next
// task, TSC) pair per read, and the bytes of tasks whose result has an encoded size. As in ThreadRecorder,
// runs of tiny tasks of one name share reads (up to 16 per read; a task of another name always starts at a
// read, so every name's totals stay exact). Each read decides where the next one falls (the batch: up to
// `limit` tasks of the next task's name), so that per task the run pays only two compares; no event is
// written. The events are made when the trace is looked at (Compact::replay), with the event cap and sampling
// of a ThreadRecorder; only a run with more reads than the cap turns them into events as it goes (into
// `out`), so that its memory stays bounded.
class SyncRecorder {
 public:
  struct Read {
    std::uint32_t task;  // the first task after the read
    std::uint64_t at;    // TSC
  };
  // What a run recorded, to be replayed into events later.
  struct Compact {
    std::vector<Read> reads;
    std::vector<ThreadRecorder::TaskBytes> bytes;  // run-length coded, as ThreadRecorder::span takes them
    std::shared_ptr<const TaskId> graph_task;  // per plan task (Plan::result_task), or index into keys_of()
    std::uint64_t start = 0;                   // the read before the first task
    std::size_t cap = 0;
    // The events, as ThreadRecorder::take() gives them, named from `keys`.
    ThreadRecorder::Result replay(const Graph::Keys& keys, double seconds_per_tick,
                                  RecordingPool* pool) const;
  };

  // `out` (begun on this graph and plan) receives the events of a run with more reads than `cap`. Reads the
  // clock last: the first task starts there.
  void begin(const Graph& graph, const Plan& plan, std::size_t cap, ThreadRecorder* out);
  // Plan task p (the one after the previous call's; the first call's is 0) ran; `bytes`: its result's encoded
  // size. Sizes are kept only where they change: results of one size in a row (most runs) cost no memory and
  // no stores. The last task of the plan always ends at a read.
  void done(std::uint32_t p, std::uint64_t bytes) {
    if (bytes != last_bytes_) [[unlikely]] {
      bytes_.push_back({p, bytes});
      last_bytes_ = bytes;
    }
    if (p + 1 < until_) return;  // in the batch: the read comes later
    close(p + 1);
  }
  // Whether the run's reads are all still here (else they went to `out` as events; call flush() then).
  bool compact() const noexcept { return !flushed_; }
  // The reads into `out` as events.
  void flush();
  // The reads for a later replay; graph_task from `graph_task` when given (a renumbering), else the plan's.
  Compact take(std::vector<TaskId>* graph_task = nullptr);

 private:
  // Reads the clock after the tasks before `next`, and sets the next batch.
  void close(std::uint32_t next);

  const Plan* plan_ = nullptr;
  TaskNames names_;
  ThreadRecorder* out_ = nullptr;
  std::uint32_t n_ = 0;
  std::size_t cap_ = 0;
  bool flushed_ = false;
  std::vector<Read> reads_;
  std::vector<ThreadRecorder::TaskBytes> bytes_;    // where result sizes change (run-length)
  std::uint64_t last_bytes_ = 0;                    // the size in effect after bytes_ (0 before any)
  std::uint64_t flushed_bytes_ = 0;                 // the size in effect after what flush() passed on
  std::uint64_t mark_ = 0;                          // the read the reads_ list starts after
  std::uint32_t first_ = 0;                         // the first task after mark_
  std::uint32_t from_ = 0;                          // the first task after the last read
  std::uint64_t until_ = 0;                         // the batch: tasks from_ to until_ - 1 end at one read
  std::uint32_t limit_ = 1;                         // tasks one read may end
  std::uint64_t at_ = 0;                            // the last read
  static constexpr std::uint64_t kTinyTicks = 600;  // as ThreadRecorder's
  static constexpr std::uint32_t kMaxBatch = 16;
};

}  // namespace tessera::detail
