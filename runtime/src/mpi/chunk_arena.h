// Memory for results that other ranks read with one-sided gets: a few large regions attached to one MPI
// dynamic window (Open MPI's osc rdma allows 64 attachments by default, so never one region per chunk).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace tessera::mpi {

class ChunkArena {
 public:
  struct Block {
    std::byte* data = nullptr;
    std::size_t bytes = 0;
    MPI_Aint address = 0;  // what a remote MPI_Get names as target displacement in the dynamic window
    std::uint32_t region = 0;
  };

  // Creates the dynamic window over `comm` (collective) with nothing attached yet. Regions start at
  // `first_region_bytes` and double as the arena grows.
  ChunkArena(MPI_Comm comm, std::size_t first_region_bytes);
  // Collective: waits until every rank stopped using the window, then frees it and the regions.
  ~ChunkArena();
  ChunkArena(const ChunkArena&) = delete;
  ChunkArena& operator=(const ChunkArena&) = delete;

  // Thread-safe. Throws Error(kResourceExhausted) when memory or attach slots run out.
  Block allocate(std::size_t bytes);
  void release(const Block& block) noexcept;

  MPI_Win window() const noexcept { return win_; }
  std::size_t bytes_in_use() const noexcept { return in_use_; }
  std::size_t bytes_reserved() const noexcept { return reserved_; }
  std::size_t regions() const noexcept { return regions_.size(); }

 private:
  struct Region {
    std::byte* base = nullptr;
    std::size_t size = 0;
    MPI_Aint address = 0;
    std::map<std::size_t, std::size_t> free;  // offset -> length, coalesced
    std::size_t used = 0;
  };
  bool try_allocate(std::uint32_t r, std::size_t bytes, Block& out);
  void add_region(std::size_t min_bytes);

  MPI_Comm comm_;
  MPI_Win win_ = MPI_WIN_NULL;
  std::mutex mu_;
  std::vector<Region> regions_;
  std::size_t next_region_bytes_;
  std::size_t in_use_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace tessera::mpi
