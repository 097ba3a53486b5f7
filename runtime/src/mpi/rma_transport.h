// The RMA get path: a worker reads a result straight out of its owner's chunk arena with MPI_Rget, where the
// arena is attached to a dynamic window both ranks share (MpiExecutor::choose_transfer). The owner's CPU
// takes no part.
#pragma once

#include <cstdint>
#include <vector>

#include "chunk_arena.h"
#include "tessera/runtime/worker_stats.h"
#include "transport.h"

namespace tessera::mpi {

class RmaTransport final : public Transport {
 public:
  // rma_target[r]: the rank naming world rank r in the arena's window (>= 0 for every owner fetched from
  // here). Counts its gets in stats.gets.
  RmaTransport(ChunkArena& arena, const std::vector<int>& rma_target, WorkerStats& stats)
      : arena_(arena), rma_target_(rma_target), stats_(stats) {}

  void start(Fetch& f, std::uint64_t address) override;
  bool test(Fetch& f, std::uint64_t& received) override;

 private:
  ChunkArena& arena_;
  const std::vector<int>& rma_target_;
  WorkerStats& stats_;
};

}  // namespace tessera::mpi
