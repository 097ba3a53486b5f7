// Length-prefixed little binary messages (the control protocol's encoding, protocol.h): a writer appends
// plain values, a reader takes them back in order. No MPI here: the scheduling core and its tests use it too.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "tessera/runtime/error.h"

namespace tessera::mpi {

// Length-prefixed little binary messages: a writer appends plain values, a reader takes them back in order.
class WireWriter {
 public:
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const std::byte*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  void put_string(const std::string& s) {
    put<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    put_bytes(s.data(), s.size());
  }
  std::vector<std::byte>& bytes() noexcept { return bytes_; }
  bool empty() const noexcept { return bytes_.empty(); }
  std::size_t size() const noexcept { return bytes_.size(); }
  void clear() noexcept { bytes_.clear(); }

 private:
  std::vector<std::byte> bytes_;
};

class WireReader {
 public:
  WireReader(const std::byte* data, std::size_t n) : p_(data), end_(data + n) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint32_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  // The next n bytes, in place (valid while the message is).
  const std::byte* get_view(std::size_t n) {
    need(n);
    const std::byte* p = p_;
    p_ += n;
    return p;
  }
  bool done() const noexcept { return p_ == end_; }

 private:
  void need(std::size_t n) const {
    if (static_cast<std::size_t>(end_ - p_) < n) {
      throw_error(ErrorCode::kInternal, "truncated control message (wanted ", n, " more bytes, ", end_ - p_,
                  " left)");
    }
  }
  const std::byte* p_;
  const std::byte* end_;
};

}  // namespace tessera::mpi
