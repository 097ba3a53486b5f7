// Buffer: an owned, 64-byte aligned block of bytes, the storage chunks are made of.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <type_traits>

#include "tessera/runtime/value.h"

namespace tessera {

// Blocks of 64 KiB and more come from a process-wide cache of recently freed blocks (bounded; see
// set_buffer_cache_limit), so that a pipeline allocating chunk after chunk of the same size, and one-sided
// receives into them, do not pay for fresh pages every time. Copying a Buffer copies its bytes.
class Buffer {
 public:
  Buffer() noexcept = default;
  // Uninitialised bytes. A fresh block of 2 MiB or more asks for transparent huge pages (first touch and
  // TLB misses cost far less; TESSERA_HUGE_PAGES=0 turns this off). Throws std::bad_alloc.
  static Buffer allocate(std::size_t bytes);
  // allocate() for bytes that MPI will write (a fetch's destination): a fresh block of 2 MiB or more asks for
  // transparent huge pages even with TESSERA_HUGE_PAGES=0, since the single-copy transfer pins and walks
  // every page of it (a 16 MiB get into 4 KiB pages ran at 0.66x of one into huge pages here). Cached blocks
  // are reused as they are.
  static Buffer allocate_for_receive(std::size_t bytes);
  static Buffer copy_of(const void* data, std::size_t bytes);

  Buffer(const Buffer& other) : Buffer(copy_of(other.data_, other.size_)) {}
  Buffer& operator=(const Buffer& other) {
    if (this != &other) *this = copy_of(other.data_, other.size_);
    return *this;
  }
  Buffer(Buffer&& other) noexcept : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
    other.data_ = nullptr;
    other.size_ = other.capacity_ = 0;
  }
  Buffer& operator=(Buffer&& other) noexcept;
  ~Buffer();

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // The bytes viewed as elements of a trivially copyable T (size() must be a multiple of sizeof(T)).
  template <class T>
  std::span<T> as() noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    return {reinterpret_cast<T*>(data_), size_ / sizeof(T)};
  }
  template <class T>
  std::span<const T> as() const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    return {reinterpret_cast<const T*>(data_), size_ / sizeof(T)};
  }

 private:
  static Buffer make(std::size_t bytes, bool huge_pages);
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // bytes actually reserved (a size class for cached blocks)
};

// Bytes the process keeps in freed blocks for reuse (default 1 GiB: with 256 MiB, a climate anomaly job whose
// chunks of 19 MB come and go in dozens mapped and faulted in 5.8 GB afresh, half its time). Blocks only
// return there once used, so the cache holds memory the job had in use. 0 disables the cache.
void set_buffer_cache_limit(std::size_t bytes);
std::size_t buffer_cache_bytes() noexcept;

template <>
struct Codec<Buffer> {
  static constexpr bool kDefined = true;
  static constexpr bool kInPlace = true;
  static std::size_t size(const Buffer& b) { return b.size(); }
  static void encode(const Buffer& b, std::byte* out) {
    if (!b.empty()) std::memcpy(out, b.data(), b.size());
  }
  static Buffer decode(const std::byte* in, std::size_t n) { return Buffer::copy_of(in, n); }
  static Buffer make_for_receive(std::size_t n) { return Buffer::allocate_for_receive(n); }
  static std::byte* receive_bytes(Buffer& b) { return b.data(); }
};

}  // namespace tessera
