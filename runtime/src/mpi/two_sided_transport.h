// The paths where the owner sends: the reader's side (RequestTransport: ask, then receive; PushTransport:
// receive what the owner sends unasked) and the owner's (ChunkSends: the answers and pushes in flight). Used
// where two ranks share no RMA window, for results spilled to their owner's disk, and for small results the
// scheduler has their owner push (MpiExecutorOptions::push_bytes).
//
// Ordering: MPI matches messages between two ranks on one tag in the order they were sent, so a reader's
// receives on kChunkDataTag meet its owner's answers in the order of its requests, and its receives on
// kChunkPushTag meet the owner's pushes in the order of the scheduler's orders; both sides keep that order
// (Worker::serve, Worker::expect_push).
#pragma once

#include <cstdint>
#include <vector>

#include "messenger.h"
#include "tessera/runtime/worker_stats.h"
#include "transport.h"

namespace tessera::mpi {

// Asks the owner for a result (a kRequest control message) after posting the receives, so that the answer
// lands in place instead of in MPI's unexpected-message buffers. Counts its requests in stats.requests.
class RequestTransport final : public Transport {
 public:
  RequestTransport(MPI_Comm comm, Messenger& msg, WorkerStats& stats)
      : comm_(comm), msg_(msg), stats_(stats) {}

  void start(Fetch& f, std::uint64_t address) override;
  bool test(Fetch& f, std::uint64_t& received) override;

 private:
  MPI_Comm comm_;
  Messenger& msg_;
  WorkerStats& stats_;
  std::vector<MPI_Status> statuses_;
};

// Receives a result its owner sends unasked (one message of at most kMaxInlineBytes on kChunkPushTag).
class PushTransport final : public Transport {
 public:
  explicit PushTransport(MPI_Comm comm) : comm_(comm) {}

  void start(Fetch& f, std::uint64_t address) override;
  bool test(Fetch& f, std::uint64_t& received) override;

 private:
  MPI_Comm comm_;
  std::vector<MPI_Status> statuses_;
};

// The owner's side: bytes being sent to readers, kept (with the bytes when they do not live in the arena)
// until MPI lets go of them. Counts the bytes sent in stats.bytes_served.
class ChunkSends {
 public:
  ChunkSends(MPI_Comm comm, WorkerStats& stats) : comm_(comm), stats_(stats) {}

  // Answers a request: sends `bytes` of result `dep` from `data` to `reader`, in kMaxGet pieces as the reader
  // posted its receives. data == nullptr: empty messages, "not here" (the reader fails the run rather than
  // use them). `staging` owns the bytes when they are not in the arena (read from a spill file); data is then
  // ignored.
  void answer(std::uint32_t dep, std::uint64_t bytes, int reader, const std::byte* data,
              std::vector<std::byte> staging);
  // Pushes result `dep` to `reader` unasked: one message of `bytes` from `data`, of 0 bytes if it is not in
  // memory here (the reader then requests it).
  void push(std::uint32_t dep, int reader, const std::byte* data, std::uint64_t bytes);

  bool empty() const noexcept { return sends_.empty(); }
  // Forgets the sends MPI has finished with.
  void progress();
  // Completes the sends of result `dep`. They end quickly: a result is released only after its readers
  // received it.
  void wait(std::uint32_t dep);
  // Completes every send (at the end of a run every fetch has completed).
  void wait_all();

 private:
  struct Send {
    std::uint32_t dep = 0;
    std::vector<MPI_Request> requests;
    std::vector<std::byte> staging;  // bytes read from a spill file (else they are in the arena)
  };
  void wait_at(std::size_t i);

  MPI_Comm comm_;
  WorkerStats& stats_;
  std::vector<Send> sends_;
};

}  // namespace tessera::mpi
