// How a result moves from the worker holding it to a worker that reads it: one Transport per fetch path,
// under the worker's fetch bookkeeping (fetches.h). The paths:
//   - RMA get (rma_transport.h): MPI_Rget from the owner's chunk arena, where both ranks share its window;
//   - request (two_sided_transport.h): the reader asks, the owner's communication thread sends the bytes;
//   - push (two_sided_transport.h): the owner sends a small result unasked, as the scheduler told both sides;
//     a push of a result no longer in the owner's memory arrives empty, and the reader then requests it;
//   - inline: a result of at most MpiExecutorOptions::inline_bytes comes inside the assignment itself.
//   Nothing
//     is in flight, so it has no Transport: the worker copies it out of the message (Worker::start_fetch).
// Which path a fetch takes is the worker's choice (the executor fixes RMA or two-sided per pair of ranks at
// start-up, the scheduler's orders say what is pushed or inline); a transport only moves bytes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mpi_env.h"
#include "protocol.h"
#include "tessera/runtime/value.h"

namespace tessera::mpi {

// MPI counts are int: big results move in pieces of 1 GiB.
constexpr std::size_t kMaxGet = std::size_t{1} << 30;

class Transport;

// The path that brings an input the scheduler says lives elsewhere (pushes are the scheduler's choice,
// announced before the assignment, and not chosen here).
enum class FetchPath : std::uint8_t {
  kInline,   // its bytes came with the assignment
  kRma,      // read from the owner's arena
  kRequest,  // asked of the owner
};

// An inline result is copied; one whose owner shares a window with this rank (rma_target[owner] >= 0) is read
// from its arena, unless it was spilled to the owner's disk, which only the owner reads; else it is asked
// for. rem.rank must index rma_target.
inline FetchPath fetch_path(const Remote& rem, const std::vector<int>& rma_target) {
  if (rem.inline_bytes != nullptr) return FetchPath::kInline;
  if (rma_target[static_cast<std::size_t>(rem.rank)] < 0 || (rem.where.flags & kSpilled) != 0) {
    return FetchPath::kRequest;
  }
  return FetchPath::kRma;
}

// One result on its way to this worker.
struct Fetch {
  std::uint32_t dep = 0;                 // the plan task whose result it is
  const detail::TypeOps* ops = nullptr;  // its type
  std::shared_ptr<const void> object;    // in-place receive target (the codec's receive), or
  std::vector<std::byte> buffer;         // bytes to decode
  std::byte* destination = nullptr;      // where the bytes land: into object, or buffer
  std::vector<MPI_Request> requests;     // the transport's requests moving them
  Transport* transport = nullptr;        // the path moving it
  std::chrono::steady_clock::time_point started;
  bool two_sided = false;  // the owner sends it (request or push), as recorded in the transfer events
  bool pushed = false;     // its owner sends it unasked (kChunkPushTag)
  bool discard = false;    // a push of something this worker had already: received only to be dropped
  int owner = 0;
  std::uint64_t bytes = 0;
};

// One fetch path. Called by the worker's communication thread only.
class Transport {
 public:
  virtual ~Transport() = default;
  // Starts moving f.bytes of result f.dep from rank f.owner into f.destination; `address` is where the owner
  // published them in its chunk arena (for the paths that read them from there). Throws Failure if MPI fails.
  virtual void start(Fetch& f, std::uint64_t address) = 0;
  // Whether f's transfer has ended. If so, `received` is the bytes that arrived: f.bytes, or fewer on the
  // paths where the owner sends (it answers with empty messages what it does not hold in memory).
  virtual bool test(Fetch& f, std::uint64_t& received) = 0;
};

}  // namespace tessera::mpi
