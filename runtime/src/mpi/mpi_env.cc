#include "mpi_env.h"

#include <cstdio>
#include <cstdlib>

namespace tessera::mpi {

bool launched_by_mpi() noexcept {
  // Open MPI's mpirun, PMIx-based launchers (srun --mpi=pmix, prterun), MPICH's hydra and PMI-1/2 launchers.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

std::string error_string(int code) {
  char buffer[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buffer, static_cast<std::size_t>(length));
}

void abort_job(MPI_Comm comm, const std::string& why) noexcept {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "tessera: rank %d: unrecoverable MPI failure, ending the job: %s\n", rank,
               why.c_str());
  std::fflush(stderr);
  MPI_Abort(comm, 70);
  std::abort();
}

Environment& Environment::get() {
  static Environment env;
  return env;
}

Environment::Environment() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = 0;
  if (!initialized) {
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
      throw_error(ErrorCode::kInternal, "MPI_Init_thread failed");
    }
    owns_ = true;
  } else {
    MPI_Query_thread(&provided);
  }
  // Errors come back as return codes (checked by TESSERA_MPI_CHECK) instead of aborting the job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  if (provided < MPI_THREAD_MULTIPLE) {
    throw_error(ErrorCode::kResourceExhausted, "the MPI library provides thread level ", provided,
                " but tessera's MPI executor needs "
                "MPI_THREAD_MULTIPLE (",
                MPI_THREAD_MULTIPLE, "); use an MPI built with thread support");
  }
}

Environment::~Environment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

Comm Comm::dup(MPI_Comm c) {
  MPI_Comm out = MPI_COMM_NULL;
  TESSERA_MPI_CHECK(MPI_Comm_dup(c, &out));
  MPI_Comm_set_errhandler(out, MPI_ERRORS_RETURN);
  return Comm(out);
}

int Comm::rank() const {
  int r = 0;
  TESSERA_MPI_CHECK(MPI_Comm_rank(comm_, &r));
  return r;
}

int Comm::size() const {
  int s = 0;
  TESSERA_MPI_CHECK(MPI_Comm_size(comm_, &s));
  return s;
}

void Comm::reset() noexcept {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
}

}  // namespace tessera::mpi
