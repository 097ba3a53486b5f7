// The worker's fetch bookkeeping (FetchesInFlight) against a fake transport, and its choice of path
// (fetch_path): no MPI call, no mpirun. The transports themselves are exercised by the MPI tests
// (tests/mpi/mpi_transfer_test.cc).
#include "../../runtime/src/mpi/fetches.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <vector>

namespace tessera::mpi {
namespace {

// A transport whose transfers end when the test says so, with the bytes the test says arrived.
class FakeTransport final : public Transport {
 public:
  struct Started {
    std::uint32_t dep;
    std::uint64_t address;
  };

  void start(Fetch& f, std::uint64_t address) override {
    if (fail_start) throw std::runtime_error("start failed");
    started.push_back(Started{f.dep, address});
  }
  bool test(Fetch& f, std::uint64_t& received) override {
    ++tests;
    auto it = arrived.find(f.dep);
    if (it == arrived.end()) return false;
    received = it->second;
    return true;
  }

  std::vector<Started> started;
  std::map<std::uint32_t, std::uint64_t> arrived;  // dep -> bytes received, once its transfer ended
  int tests = 0;
  bool fail_start = false;
};

Fetch fetch_of(std::uint32_t dep, std::uint64_t bytes, bool discard = false) {
  Fetch f;
  f.dep = dep;
  f.bytes = bytes;
  f.discard = discard;
  return f;
}

struct Ended {
  std::uint32_t dep;
  std::uint64_t received;
  Transport* transport;
};

TEST(FetchesInFlight, KeepsAFetchUntilItsTransferEnds) {
  FakeTransport t;
  FetchesInFlight fetches;
  EXPECT_TRUE(fetches.empty());
  fetches.start(fetch_of(7, 100), t, 4096);
  ASSERT_EQ(t.started.size(), 1u);
  EXPECT_EQ(t.started[0].dep, 7u);
  EXPECT_EQ(t.started[0].address, 4096u);
  EXPECT_TRUE(fetches.fetching(7));
  EXPECT_FALSE(fetches.fetching(8));

  std::vector<Ended> ended;
  auto on_end = [&](Fetch& f, std::uint64_t received) { ended.push_back({f.dep, received, f.transport}); };
  EXPECT_FALSE(fetches.progress(on_end));
  EXPECT_TRUE(ended.empty());
  EXPECT_EQ(fetches.size(), 1u);

  t.arrived[7] = 100;
  EXPECT_TRUE(fetches.progress(on_end));
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].dep, 7u);
  EXPECT_EQ(ended[0].received, 100u);
  EXPECT_EQ(ended[0].transport, &t);
  EXPECT_TRUE(fetches.empty());
  // Still on its way until the worker has taken it (it may decide to fetch it again).
  EXPECT_TRUE(fetches.fetching(7));
  fetches.arrived(7);
  EXPECT_FALSE(fetches.fetching(7));
  EXPECT_FALSE(fetches.progress(on_end));
  EXPECT_EQ(ended.size(), 1u);
}

TEST(FetchesInFlight, EndsOnlyTheFetchesWhoseTransfersEnded) {
  FakeTransport t;
  FetchesInFlight fetches;
  for (std::uint32_t d = 0; d < 10; ++d) fetches.start(fetch_of(d, d + 1), t);
  for (std::uint32_t d : {1u, 4u, 9u}) t.arrived[d] = d + 1;
  std::vector<std::uint32_t> ended;
  EXPECT_TRUE(fetches.progress([&](Fetch& f, std::uint64_t received) {
    EXPECT_EQ(received, f.bytes);
    ended.push_back(f.dep);
  }));
  std::sort(ended.begin(), ended.end());
  EXPECT_EQ(ended, (std::vector<std::uint32_t>{1, 4, 9}));
  EXPECT_EQ(fetches.size(), 7u);
  for (std::uint32_t d = 0; d < 10; ++d) EXPECT_TRUE(fetches.fetching(d)) << d;
}

TEST(FetchesInFlight, DropsAPushReceivedOnlyToBeDropped) {
  FakeTransport t;
  FetchesInFlight fetches;
  fetches.start(fetch_of(3, 8, /*discard=*/true), t);
  EXPECT_FALSE(fetches.fetching(3));  // this worker holds or fetches result 3 another way
  EXPECT_EQ(fetches.size(), 1u);      // but the owner's send must still be received
  t.arrived[3] = 8;
  int ended = 0;
  EXPECT_TRUE(fetches.progress([&](Fetch&, std::uint64_t) { ++ended; }));
  EXPECT_EQ(ended, 0);
  EXPECT_TRUE(fetches.empty());
}

TEST(FetchesInFlight, AFetchWhoseHandlingThrowsIsNotMetAgain) {
  FakeTransport t;
  FetchesInFlight fetches;
  fetches.start(fetch_of(1, 8), t);
  fetches.start(fetch_of(2, 8), t);
  t.arrived[1] = 8;
  auto throwing = [](Fetch& f, std::uint64_t) {
    if (f.dep == 1) throw std::runtime_error("cannot decode");
  };
  EXPECT_THROW(fetches.progress(throwing), std::runtime_error);
  EXPECT_EQ(fetches.size(), 1u);
  std::vector<std::uint32_t> ended;
  t.arrived[2] = 8;
  EXPECT_TRUE(fetches.progress([&](Fetch& f, std::uint64_t) { ended.push_back(f.dep); }));
  EXPECT_EQ(ended, (std::vector<std::uint32_t>{2}));
}

// A push of a result its owner no longer holds in memory arrives empty: the worker asks for it over the
// request path, from within on_end, and the new fetch is tested in the same round.
TEST(FetchesInFlight, OnEndMayStartTheFetchAgainOverAnotherTransport) {
  FakeTransport push;
  FakeTransport request;
  FetchesInFlight fetches;
  Fetch f = fetch_of(5, 64);
  f.pushed = true;
  fetches.start(std::move(f), push);
  push.arrived[5] = 0;
  request.arrived[5] = 64;
  std::vector<Ended> ended;
  EXPECT_TRUE(fetches.progress([&](Fetch& g, std::uint64_t received) {
    ended.push_back({g.dep, received, g.transport});
    if (g.pushed && received == 0) {
      g.pushed = false;
      g.requests.clear();
      fetches.start(std::move(g), request);
    }
  }));
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[0].transport, &push);
  EXPECT_EQ(ended[0].received, 0u);
  EXPECT_EQ(ended[1].transport, &request);
  EXPECT_EQ(ended[1].received, 64u);
  EXPECT_EQ(request.started.size(), 1u);
  EXPECT_TRUE(fetches.empty());
  EXPECT_TRUE(fetches.fetching(5));
}

TEST(FetchesInFlight, KeepsNothingWhenTheTransportCannotStart) {
  FakeTransport t;
  t.fail_start = true;
  FetchesInFlight fetches;
  EXPECT_THROW(fetches.start(fetch_of(4, 8), t), std::runtime_error);
  EXPECT_TRUE(fetches.empty());
  EXPECT_FALSE(fetches.fetching(4));
}

TEST(FetchesInFlight, DropCompletedForgetsOnlyEndedTransfers) {
  FakeTransport t;
  FetchesInFlight fetches;
  fetches.start(fetch_of(1, 8), t);
  fetches.start(fetch_of(2, 8, /*discard=*/true), t);
  fetches.start(fetch_of(3, 8), t);
  EXPECT_FALSE(fetches.drop_completed());
  EXPECT_EQ(fetches.size(), 3u);
  t.arrived[2] = 8;
  t.arrived[3] = 8;
  EXPECT_TRUE(fetches.drop_completed());
  EXPECT_EQ(fetches.size(), 1u);
  t.arrived[1] = 8;
  EXPECT_TRUE(fetches.drop_completed());
  EXPECT_TRUE(fetches.empty());
}

}  // namespace
}  // namespace tessera::mpi

namespace tessera::mpi {
namespace {

Remote remote_on(std::int32_t rank, std::uint8_t flags = 0, const std::byte* inline_bytes = nullptr) {
  Remote rem;
  rem.dep = 1;
  rem.rank = rank;
  rem.where.bytes = 8;
  rem.where.tag = 1;
  rem.where.flags = flags;
  rem.inline_bytes = inline_bytes;
  return rem;
}

TEST(FetchPath, ReadsFromTheArenaWhereTheOwnerSharesAWindow) {
  const std::vector<int> rma_target = {-1, 0, 1, -1};  // ranks 1 and 2 share a window, rank 3 does not
  EXPECT_EQ(fetch_path(remote_on(1), rma_target), FetchPath::kRma);
  EXPECT_EQ(fetch_path(remote_on(2), rma_target), FetchPath::kRma);
  EXPECT_EQ(fetch_path(remote_on(3), rma_target), FetchPath::kRequest);
}

TEST(FetchPath, AsksForASpilledResultEvenWhereAWindowIsShared) {
  const std::vector<int> rma_target = {-1, 0, 1};
  EXPECT_EQ(fetch_path(remote_on(2, kSpilled), rma_target), FetchPath::kRequest);
}

TEST(FetchPath, CopiesAResultThatCameWithTheAssignment) {
  const std::vector<int> rma_target = {-1, 0, -1};
  const std::byte bytes[8] = {};
  EXPECT_EQ(fetch_path(remote_on(1, 0, bytes), rma_target), FetchPath::kInline);
  EXPECT_EQ(fetch_path(remote_on(2, 0, bytes), rma_target), FetchPath::kInline);
}

}  // namespace
}  // namespace tessera::mpi
