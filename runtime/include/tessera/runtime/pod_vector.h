// PodVector: a growable array of trivially copyable elements kept in malloc'd memory and grown with realloc.
//
// Graphs of millions of tasks keep a few such arrays. A std::vector grows by allocating a new block, copying
// and freeing the old one; for blocks of megabytes glibc serves each from fresh mmap'd pages, so every
// doubling copies the array and takes a page fault for each of its pages again: at 4M tasks that was most of
// the time spent building a graph. realloc grows large blocks with mremap, which moves the page tables
// instead of the bytes, so growth costs (almost) nothing beyond the first touch of the new pages.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace tessera::detail {

template <typename T>
class PodVector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  PodVector() = default;
  PodVector(const PodVector& other) { append(other.span()); }
  PodVector(PodVector&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        pin_(std::move(other.pin_)) {}
  PodVector& operator=(const PodVector& other) {
    if (this != &other) {
      clear();
      append(other.span());
    }
    return *this;
  }
  PodVector& operator=(PodVector&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
      pin_ = std::move(other.pin_);
    }
    return *this;
  }
  ~PodVector() { release(); }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  T& back() noexcept { return data_[size_ - 1]; }
  std::span<const T> span() const noexcept { return {data_, size_}; }

  void push_back(const T& v) {
    if (size_ == capacity_) grow(size_ + 1);
    data_[size_++] = v;
  }
  void append(std::span<const T> values) {
    if (values.empty()) return;
    if (size_ + values.size() > capacity_) grow(size_ + values.size());
    std::memcpy(static_cast<void*>(data_ + size_), values.data(), values.size() * sizeof(T));
    size_ += values.size();
  }
  void reserve(std::size_t n) {
    if (n > capacity_) reallocate(n);
  }
  // Empties the vector (a pinned block stays with its pins: later elements go to a new one).
  void clear() noexcept {
    if (pin_) release();
    size_ = 0;
  }
  void shrink_to_fit() {
    if (pin_) return;  // the block is shared: leave it as it is
    if (size_ == 0) {
      std::free(std::exchange(data_, nullptr));
      capacity_ = 0;
    } else if (size_ < capacity_) {
      reallocate(size_);
    }
  }

  // Shares the current block with what must keep the elements so far while the vector goes on (a run's
  // recording keeps the graph's keys so, without copying them): the pin holds the block, and the vector
  // never moves, frees or rewrites it again. Appending still fills the block's spare room (elements past
  // the ones the pin was taken for, which no pin reads); growing past it or clearing moves the vector to a
  // new block. Elements before size() must not be written in place while pinned. Null when the vector has
  // no block. Not thread-safe (callers serialise).
  std::shared_ptr<const T> pin() const {
    if (!pin_ && data_ != nullptr) pin_ = std::shared_ptr<T>(data_, [](T* p) { std::free(p); });
    return pin_;
  }

 private:
  void grow(std::size_t at_least) {
    std::size_t n = capacity_ < 16 ? 16 : capacity_ * 2;
    if (n < at_least) n = at_least;
    reallocate(n);
  }
  void reallocate(std::size_t n) {
    if (pin_) {  // a pinned block is never moved: copy to a new one and leave the old to its pins
      void* p = std::malloc(n * sizeof(T));
      if (p == nullptr) throw std::bad_alloc();
      if (size_ > 0) std::memcpy(p, static_cast<const void*>(data_), size_ * sizeof(T));
      pin_.reset();
      data_ = static_cast<T*>(p);
      capacity_ = n;
      return;
    }
    void* p = std::realloc(static_cast<void*>(data_), n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
    capacity_ = n;
  }
  // Lets go of the block: frees it, or leaves it to its pins.
  void release() noexcept {
    if (pin_) {
      pin_.reset();
    } else {
      std::free(data_);
    }
    data_ = nullptr;
    capacity_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  mutable std::shared_ptr<T> pin_;  // owns the block once pinned (frees it when the last holder lets go)
};

}  // namespace tessera::detail
