// Memory for results that other ranks read: a few large regions, attached to one MPI dynamic window when the
// MPI library can make one (Open MPI's osc rdma allows 64 attachments by default, so never one region per
// chunk). Without a window, owners send the bytes from here on request (two-sided path).
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

  // An arena without a window. Regions start at `first_region_bytes` and double as the arena grows.
  explicit ChunkArena(std::size_t first_region_bytes);
  // Collective over the window's communicator if there is one: waits until every rank stopped using the
  // window, then frees it; then unmaps the regions.
  ~ChunkArena();
  ChunkArena(const ChunkArena&) = delete;
  ChunkArena& operator=(const ChunkArena&) = delete;

  // Thread-safe. Throws Error(kResourceExhausted) when memory or attach slots run out.
  Block allocate(std::size_t bytes);
  void release(const Block& block) noexcept;

  // Collective over `comm`; call before the first allocate(). Creates the dynamic window regions are attached
  // to and returns MPI_SUCCESS, or returns the MPI error code and leaves the arena without a window (the call
  // runs with MPI_ERRORS_RETURN on `comm`, so a library without usable RMA does not end the job).
  int open_window(MPI_Comm comm) noexcept;
  // Forgets a window that some other rank of its group failed to create: it can never be freed collectively,
  // so it is left to MPI_Finalize.
  void abandon_window() noexcept;
  bool has_window() const noexcept { return win_ != MPI_WIN_NULL; }
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

  MPI_Comm win_comm_ = MPI_COMM_NULL;
  MPI_Win win_ = MPI_WIN_NULL;
  std::mutex mu_;
  std::vector<Region> regions_;
  std::size_t next_region_bytes_;
  std::size_t in_use_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace tessera::mpi
