// MPI access for the runtime: initialisation, launcher detection, checked calls and RAII handles.
// mpi.h stays inside runtime/src.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tessera/runtime/error.h"

namespace tessera::mpi {

// True when this process was started by an MPI launcher (mpirun/mpiexec, srun with PMI/PMIx), judged from the
// environment the launchers set; MPI is not touched.
bool launched_by_mpi() noexcept;

// The process's MPI state. MPI may be initialised once per process, so this outlives every Runtime: created
// on first use (MPI_Init_thread with MPI_THREAD_MULTIPLE, unless the program initialised MPI itself) and
// finalised at exit if tessera initialised it. Throws Error(kResourceExhausted) if MPI cannot provide
// MPI_THREAD_MULTIPLE.
class Environment {
 public:
  static Environment& get();
  int world_rank() const noexcept { return rank_; }
  int world_size() const noexcept { return size_; }
  ~Environment();

 private:
  Environment();
  bool owns_ = false;
  int rank_ = 0;
  int size_ = 1;
};

std::string error_string(int code);

// A failed MPI call. The executor cannot recover from one (peers may be stuck in the same collective), so its
// loops end the job with MPI_Abort when they catch it; elsewhere it is an ordinary Error(kInternal).
class Failure : public Error {
 public:
  explicit Failure(const std::string& message) : Error(ErrorCode::kInternal, message) {}
};

// Ends the whole job (every rank) after printing why: for states the ranks cannot agree their way out of.
[[noreturn]] void abort_job(MPI_Comm comm, const std::string& why) noexcept;

// Throws Failure naming the call when an MPI call fails (communicators use MPI_ERRORS_RETURN).
#define TESSERA_MPI_CHECK(call)                                                                   \
  do {                                                                                            \
    const int tessera_mpi_rc_ = (call);                                                           \
    if (tessera_mpi_rc_ != MPI_SUCCESS) {                                                         \
      throw ::tessera::mpi::Failure(                                                              \
          ::tessera::str_cat(#call, " failed: ", ::tessera::mpi::error_string(tessera_mpi_rc_))); \
    }                                                                                             \
  } while (false)

// A communicator this object owns (freed on destruction).
class Comm {
 public:
  Comm() = default;
  explicit Comm(MPI_Comm c) : comm_(c) {}
  Comm(Comm&& o) noexcept : comm_(std::exchange(o.comm_, MPI_COMM_NULL)) {}
  Comm& operator=(Comm&& o) noexcept {
    if (this != &o) {
      reset();
      comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
    }
    return *this;
  }
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm() { reset(); }

  static Comm dup(MPI_Comm c);
  MPI_Comm get() const noexcept { return comm_; }
  int rank() const;
  int size() const;

 private:
  void reset() noexcept;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

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
