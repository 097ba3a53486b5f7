// The MPI executor: rank 0 schedules, every other rank is a worker (docs/design.md, "MPI executor").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tessera/runtime/executor.h"
#include "tessera/runtime/trace.h"

namespace tessera {

// How MPI workers move results between them.
enum class TransferMode : std::uint8_t {
  kAuto,  // one-sided gets where the MPI library can make RMA windows: between all ranks, else between the
          // ranks of each node where it can; two-sided everywhere else. Never fails for lack of RMA.
  kRma,   // one-sided gets between all workers; construction throws Error(kResourceExhausted) on every
          // rank when the MPI library cannot make the window
  kTwoSided,  // the owner's communication thread sends the bytes on request (MPI_Isend/MPI_Irecv)
};

struct MpiExecutorOptions {
  int threads = 0;            // compute threads per worker; 0: one per core of the worker's binding
  bool bind = true;           // pin each worker to its NUMA domain(s) and its threads to cores (hwloc)
  bool show_binding = false;  // rank 0 prints every worker's binding once, at start-up
  int tasks_per_thread = 4;   // runnable tasks the scheduler keeps queued per worker thread
  std::size_t arena_bytes = std::size_t{64} << 20;  // first arena region per worker (later ones double)
  // kAuto lets the environment decide: TESSERA_TRANSFER=auto|rma|two-sided (unset: auto), so that tests and
  // users can force a path without rebuilding. Any other value of TESSERA_TRANSFER is
  // Error(kInvalidArgument).
  TransferMode transfer = TransferMode::kAuto;
  // A result of at most this many encoded bytes travels to its readers inside the scheduler's messages (with
  // its completion, then with each reader's assignment) instead of being fetched from its owner: a fetch is
  // a round trip between two workers, which costs more than the bytes. 0: every input is fetched. At most
  // 64 KiB (construction throws Error(kInvalidArgument) otherwise).
  std::size_t inline_bytes = 1024;
  // Between ranks that fetch two-sided (across nodes without RMA, or TransferMode::kTwoSided), a result of
  // at most this many encoded bytes is pushed: the scheduler has its owner send it to the reader while the
  // reader's assignment travels, instead of the reader asking for it afterwards (a round trip). 0: readers
  // always ask. At most 64 KiB (construction throws Error(kInvalidArgument) otherwise).
  std::size_t push_bytes = std::size_t{64} << 10;
  // Every rank must pass the same `record.enabled`; the trace is assembled on rank 0. Progress calls happen
  // on rank 0 only.
  RecordOptions record;
  ProgressOptions progress;
  // The limit per worker: the scheduler counts the bytes each worker holds, has a worker past spill_fraction
  // write results to its spill directory (peers then get them on request) and assigns no new root task to a
  // worker past pause_fraction (docs/memory.md).
  MemoryOptions memory;
};

// Rank 0 schedules, every other rank is a worker; run() is collective: every rank calls it with the same
// graph and plan (checked: a mismatch throws Error(kInvalidArgument) on every rank) and every rank gets the
// outputs. A task's failure throws the same TaskError on every rank. Initialises MPI (MPI_THREAD_MULTIPLE) if
// needed. Needs at least 2 ranks. Construction and destruction are collective too.
std::unique_ptr<Executor> make_mpi_executor(const MpiExecutorOptions& options = {});

}  // namespace tessera
