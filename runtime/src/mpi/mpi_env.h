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
#include "wire.h"

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

}  // namespace tessera::mpi
