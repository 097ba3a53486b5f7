#include "tessera/runtime/buffer.h"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <string_view>
#include <vector>

namespace tessera {
namespace {

constexpr std::size_t kAlign = 64;
constexpr std::size_t kCachedFrom = std::size_t{64} << 10;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

// Blocks of 2 MiB and more are mappings of their own, 2 MiB aligned (so that huge pages can back them) and
// unmapped when freed: huge-page advice given to one (allocate_for_receive) ends with it, instead of staying
// on heap memory that malloc would hand out again. Null when the system refuses.
std::byte* map_block(std::size_t capacity) {
  const std::size_t length = capacity + kHugePage;
  void* raw = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = aligned + capacity;
  if (aligned > start) munmap(raw, aligned - start);
  if (start + length > end) munmap(reinterpret_cast<void*>(end), start + length - end);
  return reinterpret_cast<std::byte*>(aligned);
}

void release_block(std::byte* p, std::size_t capacity) noexcept {
  if (capacity >= kHugePage) {
    munmap(p, capacity);
  } else {
    std::free(p);
  }
}

// Freed blocks of 64 KiB and more, by size class (capacity_for), reused before asking the system for more.
class BlockCache {
 public:
  std::byte* take(std::size_t capacity) {
    std::lock_guard lock(mu_);
    auto it = free_.find(capacity);
    if (it == free_.end() || it->second.empty()) return nullptr;
    std::byte* p = it->second.back();
    it->second.pop_back();
    cached_ -= capacity;
    return p;
  }
  bool give(std::byte* p, std::size_t capacity) {
    std::lock_guard lock(mu_);
    if (cached_ + capacity > limit_) return false;
    free_[capacity].push_back(p);
    cached_ += capacity;
    return true;
  }
  void set_limit(std::size_t bytes) {
    std::lock_guard lock(mu_);
    limit_ = bytes;
    for (auto& [capacity, blocks] : free_) {
      while (cached_ > limit_ && !blocks.empty()) {
        release_block(blocks.back(), capacity);
        blocks.pop_back();
        cached_ -= capacity;
      }
    }
  }
  std::size_t cached() {
    std::lock_guard lock(mu_);
    return cached_;
  }

 private:
  std::mutex mu_;
  std::map<std::size_t, std::vector<std::byte*>> free_;
  std::size_t cached_ = 0;
  std::size_t limit_ = std::size_t{1} << 30;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: buffers may be freed during static destruction
  return *c;
}

// Whether fresh chunk blocks of 2 MiB and more ask for transparent huge pages (TESSERA_HUGE_PAGES=0: no).
bool chunk_huge_pages() {
  static const bool on = [] {
    const char* env = std::getenv("TESSERA_HUGE_PAGES");
    return !(env != nullptr && std::string_view(env) == "0");
  }();
  return on;
}

// Size classes of cached blocks: eight per power of two (a 19 MB chunk takes a 20 MiB block, not 32), so
// that the cache's byte limit holds as many blocks as their sizes allow and a block wastes at most 1/8.
std::size_t capacity_for(std::size_t bytes) {
  if (bytes < kCachedFrom) return (bytes + kAlign - 1) / kAlign * kAlign;
  const std::size_t step = std::bit_floor(bytes) / 8;
  return (bytes + step - 1) / step * step;
}

}  // namespace

Buffer Buffer::allocate(std::size_t bytes) {
  return make(bytes, false);
}

Buffer Buffer::allocate_for_receive(std::size_t bytes) {
  return make(bytes, true);
}

Buffer Buffer::make(std::size_t bytes, bool huge_pages) {
  Buffer b;
  if (bytes == 0) return b;
  const std::size_t capacity = capacity_for(bytes);
  std::byte* p = capacity >= kCachedFrom ? cache().take(capacity) : nullptr;
  if (p == nullptr) {
    // Fresh blocks ask for transparent huge pages. On this project's VM (a 6.18 kernel in THP "madvise"
    // mode, under a hypervisor that makes every 4 KiB fault and TLB miss expensive) first touch of a 47 MB
    // chunk took 130 ms in 4 KiB pages and 3-33 ms in huge pages; the anomaly job went from 2.1 to 1.4 s
    // (user 0.95 -> 0.5 s, system 1.05 -> 0.4 s) and seed-expr 20000 from 0.6-1.0 to 0.42 s (2026-12-08).
    // An earlier measurement here (seed-expr, 2026-11) had found the opposite, compaction on first touch
    // costing more system time than the TLB saved: where memory is fragmented that can come back, and
    // TESSERA_HUGE_PAGES=0 turns the advice off (except for MPI receives, allocate_for_receive).
    const bool huge = capacity >= kHugePage;
    p = huge ? map_block(capacity) : static_cast<std::byte*>(std::aligned_alloc(kAlign, capacity));
    if (p == nullptr) throw std::bad_alloc();
    // Only the huge pages the bytes fill: a tail page would make up to 2 MiB resident that nothing writes
    // (capacities are rounded up to a size class). Advice only: failure changes nothing.
    if (huge && (huge_pages || chunk_huge_pages())) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  }
  b.data_ = p;
  b.size_ = bytes;
  b.capacity_ = capacity;
  return b;
}

Buffer Buffer::copy_of(const void* data, std::size_t bytes) {
  Buffer b = allocate(bytes);
  if (bytes > 0) std::memcpy(b.data_, data, bytes);
  return b;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    this->~Buffer();
    new (this) Buffer(std::move(other));
  }
  return *this;
}

Buffer::~Buffer() {
  if (data_ == nullptr) return;
  if (capacity_ < kCachedFrom || !cache().give(data_, capacity_)) release_block(data_, capacity_);
  data_ = nullptr;
}

void set_buffer_cache_limit(std::size_t bytes) {
  cache().set_limit(bytes);
}
std::size_t buffer_cache_bytes() noexcept {
  return cache().cached();
}

}  // namespace tessera
