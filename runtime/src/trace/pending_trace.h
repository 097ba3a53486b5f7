// What the ranks recorded, kept raw until the trace is looked at, and its assembly into a RunTrace (on rank
// 0, where the graph names the tasks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clock.h"
#include "sync_recorder.h"
#include "tessera/runtime/graph.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/trace.h"
#include "thread_recorder.h"

namespace tessera::detail {

// What one rank recorded.
struct RankRecording {
  std::int32_t rank = 0;
  // How the task lists' start/end become seconds since the run's origin: (t - origin) * seconds_per_tick.
  std::uint64_t origin = 0;
  double seconds_per_tick = 1e-9;
  // One list per compute thread (list i is thread i), in time order.
  std::vector<EventList> tasks;
  std::vector<std::uint8_t> sampled;  // per list: a sample; the tasks it dropped are counted in `totals`
  std::vector<std::pair<std::string, KindTotals>> totals;  // of the dropped tasks, by key name
  bool transfers_sampled = false;
  std::vector<TransferEvent> transfers;
  std::vector<ResourceSample> resources;
  std::vector<ThreadTime> thread_times;  // per list; busy counts the dropped tasks only until assembled
  // Spill files written and read back (a memory limit), times in seconds since the origin, and exact totals.
  std::vector<SpillEvent> spills;
  bool spills_sampled = false;
  std::uint64_t bytes_spilled = 0;
  std::uint64_t bytes_unspilled = 0;
  double spill_seconds = 0;
  double unspill_seconds = 0;
};

// Takes the thread recorders' events, converted to nanoseconds since the scale's origin (the MPI wire).
RankRecording collect(std::vector<ThreadRecorder>& threads, const TickScale& scale, int rank);

// Names every recorded task from the keys, totals tasks by kind, sorts, and fills where time went. `trace`
// already carries the configuration, seconds, scheduler samples and bytes_between. Leaves the task lists
// empty (their memory kept).
void assemble(RunTrace& trace, const Graph::Keys& keys, std::vector<RankRecording>& ranks);

// A run's recording, assembled only when someone looks at it (TraceRef::get): the raw event lists as
// recorded (ticks; nanoseconds from MPI workers), the graph's keys (shared with it, Graph::keys), and the
// rest of the trace. At the end of a run this costs no per-task work. Its buffers go back to the pool when it
// is assembled or dropped.
struct PendingTrace {
  RunTrace base;  // everything but the task-level parts
  std::vector<RankRecording> ranks;
  Graph::Keys keys;
  std::shared_ptr<RecordingPool> pool;
  // Recordings still in their wire form (the MPI workers'), and what appends them to `ranks` (before
  // assembly; all or nothing).
  std::vector<std::byte> wire;
  std::function<void(PendingTrace&)> decode;

  PendingTrace() = default;
  PendingTrace(const PendingTrace&) = delete;
  PendingTrace& operator=(const PendingTrace&) = delete;
  ~PendingTrace();
};

// Takes the local recorders' events (raw) and the graph's keys (a copy of only the recorded tasks' keys when
// the plan runs a small part of the graph) into a pending trace.
std::unique_ptr<PendingTrace> defer(RunTrace&& base, const Graph& graph, std::vector<ThreadRecorder>& threads,
                                    const TickScale& scale, std::vector<ResourceSample>&& resources,
                                    const std::shared_ptr<RecordingPool>& pool);

// The same for the sync executor's compact recording (SyncRecorder, when compact()): the events are made from
// its reads when the trace is looked at.
std::unique_ptr<PendingTrace> defer_sync(RunTrace&& base, const Graph& graph, const Plan& plan,
                                         SyncRecorder& sync, const TickScale& scale,
                                         std::vector<ResourceSample>&& resources,
                                         const std::shared_ptr<RecordingPool>& pool);

}  // namespace tessera::detail

namespace tessera {
// A TraceRef that assembles `pending` when first looked at.
TraceRef make_pending_trace_ref(std::unique_ptr<detail::PendingTrace> pending);
}  // namespace tessera
