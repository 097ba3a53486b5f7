#include "chunk_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

#include "mpi_env.h"

namespace tessera::mpi {
namespace {
constexpr std::size_t kAlign = 64;
constexpr std::size_t kMaxRegion = std::size_t{4} << 30;
std::size_t round_up(std::size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

ChunkArena::ChunkArena(std::size_t first_region_bytes) : next_region_bytes_(first_region_bytes) {}

int ChunkArena::open_window(MPI_Comm comm) noexcept {
  if (win_ != MPI_WIN_NULL || !regions_.empty()) return MPI_ERR_WIN;
  // Open MPI reports "no RMA over these transports" (e.g. --mca btl self,tcp) as MPI_ERR_WIN through the
  // communicator's error handler: make sure it returns instead of aborting, whatever the caller set.
  MPI_Errhandler previous = MPI_ERRHANDLER_NULL;
  MPI_Comm_get_errhandler(comm, &previous);
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Win win = MPI_WIN_NULL;
  const int rc = MPI_Win_create_dynamic(MPI_INFO_NULL, comm, &win);
  if (previous != MPI_ERRHANDLER_NULL) {
    MPI_Comm_set_errhandler(comm, previous);
    MPI_Errhandler_free(&previous);
  }
  if (rc != MPI_SUCCESS) return rc;
  MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
  win_ = win;
  win_comm_ = comm;
  return MPI_SUCCESS;
}

void ChunkArena::abandon_window() noexcept {
  win_ = MPI_WIN_NULL;
  win_comm_ = MPI_COMM_NULL;
}

ChunkArena::~ChunkArena() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && win_ != MPI_WIN_NULL) {
    // A peer may still be completing gets from our regions (after an abort, say): wait for everyone first.
    MPI_Barrier(win_comm_);
    for (Region& r : regions_) MPI_Win_detach(win_, r.base);
    MPI_Win_free(&win_);
  }
  for (Region& r : regions_) munmap(r.base, r.size);
}

void ChunkArena::add_region(std::size_t min_bytes) {
  if (win_ != MPI_WIN_NULL && regions_.size() >= 60) {
    throw_error(ErrorCode::kResourceExhausted, "chunk arena: 60 regions attached to the RMA window (",
                reserved_ >> 20, " MiB); Open MPI allows 64 by default (raise osc_rdma_max_attach)");
  }
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  const std::size_t size = (std::max(next_region_bytes_, round_up(min_bytes)) + kHuge - 1) / kHuge * kHuge;
  // Map 2 MiB more than needed and trim, so the region starts on a huge-page boundary: then every part of it,
  // small blocks at its start included, can be backed by transparent huge pages (fewer TLB misses, fewer
  // pages for MPI to pin when another process copies a chunk out).
  void* raw = mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    throw_error(ErrorCode::kResourceExhausted, "chunk arena: cannot map ", size >> 20, " MiB for results");
  }
  auto* base = static_cast<std::byte*>(raw);
  auto* aligned =
      reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(base) + kHuge - 1) & ~(kHuge - 1));
  if (aligned > base) munmap(base, static_cast<std::size_t>(aligned - base));
  const std::size_t tail = static_cast<std::size_t>((base + size + kHuge) - (aligned + size));
  if (tail > 0) munmap(aligned + size, tail);
  void* p = aligned;
  madvise(p, size, MADV_HUGEPAGE);
  Region r;
  r.base = static_cast<std::byte*>(p);
  r.size = size;
  const int rc =
      win_ == MPI_WIN_NULL ? MPI_SUCCESS : MPI_Win_attach(win_, r.base, static_cast<MPI_Aint>(size));
  if (rc != MPI_SUCCESS) {
    munmap(p, size);
    throw_error(ErrorCode::kResourceExhausted, "chunk arena: MPI_Win_attach of ", size >> 20,
                " MiB failed: ", error_string(rc));
  }
  TESSERA_MPI_CHECK(MPI_Get_address(r.base, &r.address));
  r.free.emplace(0, size);
  regions_.push_back(std::move(r));
  reserved_ += size;
  next_region_bytes_ = std::min(kMaxRegion, next_region_bytes_ * 2);
}

bool ChunkArena::try_allocate(std::uint32_t index, std::size_t bytes, Block& out) {
  Region& r = regions_[index];
  for (auto it = r.free.begin(); it != r.free.end(); ++it) {
    if (it->second < bytes) continue;
    const std::size_t offset = it->first;
    const std::size_t rest = it->second - bytes;
    r.free.erase(it);
    if (rest > 0) r.free.emplace(offset + bytes, rest);
    r.used += bytes;
    out = Block{r.base + offset, bytes, r.address + static_cast<MPI_Aint>(offset), index};
    return true;
  }
  return false;
}

ChunkArena::Block ChunkArena::allocate(std::size_t bytes) {
  const std::size_t want = round_up(std::max<std::size_t>(bytes, 1));
  std::lock_guard lock(mu_);
  Block block;
  bool ok = false;
  for (std::uint32_t r = 0; r < regions_.size() && !ok; ++r) ok = try_allocate(r, want, block);
  if (!ok) {
    add_region(want);
    ok = try_allocate(static_cast<std::uint32_t>(regions_.size() - 1), want, block);
  }
  if (!ok) throw_error(ErrorCode::kInternal, "chunk arena: a fresh region could not hold ", want, " bytes");
  in_use_ += want;
  block.bytes = bytes;
  return block;
}

void ChunkArena::release(const Block& block) noexcept {
  if (block.data == nullptr) return;
  const std::size_t length = round_up(std::max<std::size_t>(block.bytes, 1));
  std::lock_guard lock(mu_);
  Region& r = regions_[block.region];
  std::size_t offset = static_cast<std::size_t>(block.data - r.base);
  std::size_t size = length;
  auto next = r.free.lower_bound(offset);
  if (next != r.free.end() && offset + size == next->first) {
    size += next->second;
    next = r.free.erase(next);
  }
  if (next != r.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      size += prev->second;
      r.free.erase(prev);
    }
  }
  r.free.emplace(offset, size);
  r.used -= length;
  in_use_ -= length;
}

}  // namespace tessera::mpi
