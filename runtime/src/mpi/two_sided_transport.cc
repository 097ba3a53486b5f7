#include "two_sided_transport.h"

#include <algorithm>

#include "protocol.h"

namespace tessera::mpi {
namespace {

// Whether the requests completed; if so, the bytes their receives got.
bool test_receives(std::vector<MPI_Request>& requests, std::vector<MPI_Status>& statuses,
                   std::uint64_t& received) {
  int done = 0;
  statuses.resize(requests.size());
  TESSERA_MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, statuses.data()));
  if (!done) return false;
  received = 0;
  for (const MPI_Status& st : statuses) {
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    received += static_cast<std::uint64_t>(count);
  }
  return true;
}

}  // namespace

void RequestTransport::start(Fetch& f, std::uint64_t /*address*/) {
  for (std::size_t off = 0; off < f.bytes; off += kMaxGet) {
    const auto n = static_cast<int>(std::min<std::uint64_t>(kMaxGet, f.bytes - off));
    MPI_Request req;
    TESSERA_MPI_CHECK(MPI_Irecv(f.destination + off, n, MPI_BYTE, f.owner, kChunkDataTag, comm_, &req));
    f.requests.push_back(req);
  }
  WireWriter ask;
  ask.put(static_cast<std::uint8_t>(Msg::kRequest));
  ask.put(f.dep);
  ask.put(f.bytes);
  msg_.send(f.owner, std::move(ask.bytes()));
  ++stats_.requests;
}

bool RequestTransport::test(Fetch& f, std::uint64_t& received) {
  return test_receives(f.requests, statuses_, received);
}

void PushTransport::start(Fetch& f, std::uint64_t /*address*/) {
  MPI_Request req;
  TESSERA_MPI_CHECK(
      MPI_Irecv(f.destination, static_cast<int>(f.bytes), MPI_BYTE, f.owner, kChunkPushTag, comm_, &req));
  f.requests.push_back(req);
}

bool PushTransport::test(Fetch& f, std::uint64_t& received) {
  return test_receives(f.requests, statuses_, received);
}

void ChunkSends::answer(std::uint32_t dep, std::uint64_t bytes, int reader, const std::byte* data,
                        std::vector<std::byte> staging) {
  Send s;
  s.dep = dep;
  s.staging = std::move(staging);
  if (!s.staging.empty()) data = s.staging.data();
  for (std::size_t off = 0; off < bytes; off += kMaxGet) {
    const auto n = static_cast<int>(std::min<std::uint64_t>(kMaxGet, bytes - off));
    MPI_Request req;
    TESSERA_MPI_CHECK(MPI_Isend(data != nullptr ? data + off : nullptr, data != nullptr ? n : 0, MPI_BYTE,
                                reader, kChunkDataTag, comm_, &req));
    s.requests.push_back(req);
  }
  if (data != nullptr) stats_.bytes_served += bytes;
  sends_.push_back(std::move(s));
}

void ChunkSends::push(std::uint32_t dep, int reader, const std::byte* data, std::uint64_t bytes) {
  Send s;
  s.dep = dep;
  MPI_Request req;
  TESSERA_MPI_CHECK(MPI_Isend(data, static_cast<int>(bytes), MPI_BYTE, reader, kChunkPushTag, comm_, &req));
  s.requests.push_back(req);
  sends_.push_back(std::move(s));
  stats_.bytes_served += bytes;
}

void ChunkSends::progress() {
  for (std::size_t i = 0; i < sends_.size();) {
    int done = 0;
    TESSERA_MPI_CHECK(MPI_Testall(static_cast<int>(sends_[i].requests.size()), sends_[i].requests.data(),
                                  &done, MPI_STATUSES_IGNORE));
    if (done) {
      sends_[i] = std::move(sends_.back());
      sends_.pop_back();
    } else {
      ++i;
    }
  }
}

void ChunkSends::wait_at(std::size_t i) {
  TESSERA_MPI_CHECK(MPI_Waitall(static_cast<int>(sends_[i].requests.size()), sends_[i].requests.data(),
                                MPI_STATUSES_IGNORE));
  sends_[i] = std::move(sends_.back());
  sends_.pop_back();
}

void ChunkSends::wait(std::uint32_t dep) {
  for (std::size_t i = 0; i < sends_.size();) {
    if (sends_[i].dep != dep) {
      ++i;
      continue;
    }
    wait_at(i);
  }
}

void ChunkSends::wait_all() {
  while (!sends_.empty()) wait_at(0);
}

}  // namespace tessera::mpi
