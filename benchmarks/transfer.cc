// transfer: how fast a worker pulls another worker's result, on each data-plane path, against raw MPI of the
// same bytes in the same run. Needs 3 ranks (scheduler + 2 workers). For each size, a graph makes a Buffer on
// rank 2 and reads it on rank 1; the figure is rank 1's fetch time (issuing the fetch until the executor sees
// the bytes in the final Buffer).
//   tessera-mpi-3            the executor's automatic choice (one-sided MPI_Rget where RMA windows work)
//   tessera-mpi-3-two-sided  forced two-sided: a result of at most 64 KiB (MpiExecutorOptions::push_bytes) is
//                            pushed: the scheduler orders rank 2 to send it while rank 1's assignment
//                            travels, so rank 1 waits only for what is left of that send when it starts the
//                            fetch (nothing if the bytes came first); larger ones rank 1 asks for and rank
//                            2's communication thread MPI_Isends
//   tessera-mpi-3-two-sided-requested  forced two-sided with push_bytes = 0: always ask, then receive
//   raw, raw-warm            rank 1 MPI_Rget + MPI_Wait from a window attached on rank 2 (skipped where the
//                            MPI library cannot make the window, e.g. between nodes over TCP)
//   raw-sendrecv             rank 1 MPI_Send of an 8-byte request, rank 2 (waiting in MPI_Recv) answers with
//                            MPI_Send of the bytes, rank 1 MPI_Recv: the floor of any pull over two-sided MPI
// The fetch rows use MpiExecutorOptions::inline_bytes = 0, so that even 8 bytes are fetched. By default a
// result of at most 1 KiB is not fetched at all: it travels with the owner's completion to the scheduler and
// with the assignment to its reader. The "handoff" rows (8 bytes) show what that changes end to end: the time
// from the producer task's end (on rank 2) to the consumer task's start (on rank 1), read on one clock (the
// ranks share the machine), beside
//   raw-relay                rank 2 MPI_Send's the 8 bytes to rank 0, which (waiting in MPI_Recv) MPI_Send's
//                            them to rank 1: the floor of any hand-off through a central scheduler
// and the same hand-off forced two-sided, pushed ("two-sided-fetched") and requested ("two-sided-requested"):
// since a pushed fetch can be over before the reader starts waiting, these show what the push saves end to
// end.
// --impl-suffix S appends S to every impl name (benchmarks/transfer_cluster.sh runs ranks 1 and 2 on
// different simulated nodes and names its rows "...-cross-node").
#include <mpi.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "tessera/runtime/buffer.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/plan.h"

namespace {

using namespace tessera;

std::string size_name(std::size_t bytes) {
  if (bytes >= (1u << 20)) return std::to_string(bytes >> 20) + "MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

std::string g_suffix;  // --impl-suffix

void report(const char* name, std::size_t bytes, double seconds) {
  const std::string impl = name + g_suffix;
  if (bytes >= (1u << 20)) {
    bench::emit("transfer", impl, size_name(bytes), "throughput", static_cast<double>(bytes) / seconds / 1e9,
                "GB/s");
  }
  bench::emit("transfer", impl, size_name(bytes), "latency", seconds * 1e6, "us");
}

// Raw MPI_Rget from rank 2's memory into rank 1's, through a dynamic window as the chunk arenas use, in the
// same kind of memory tessera uses for chunks (2 MiB aligned, transparent huge pages requested). Collective.
class RawGet {
 public:
  RawGet(std::size_t largest, int rank)
      : rank_(rank),
        block_(static_cast<std::byte*>(std::aligned_alloc(std::size_t{2} << 20, largest)), &std::free) {
    madvise(block_.get(), largest, MADV_HUGEPAGE);
    std::memset(block_.get(), 1, largest);
    const int rc = MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win_);
    int ok = rc == MPI_SUCCESS ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    available_ = ok == 1;
    if (!available_) {
      win_ = MPI_WIN_NULL;  // made on some ranks at most: cannot be freed collectively
      return;
    }
    if (rank == 2) {
      MPI_Win_attach(win_, block_.get(), static_cast<MPI_Aint>(largest));
      MPI_Get_address(block_.get(), &address_);
    }
    MPI_Bcast(&address_, 1, MPI_AINT, 2, MPI_COMM_WORLD);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win_);
  }
  ~RawGet() {
    if (!available_) return;
    MPI_Win_unlock_all(win_);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 2) MPI_Win_detach(win_, block_.get());
    MPI_Win_free(&win_);
  }
  // Seconds rank 1 spends getting `bytes` (the same on every rank). `fresh`: the owner rewrites them first,
  // as a producer would; otherwise they were written long ago.
  bool available() const { return available_; }
  double measure(std::size_t bytes, bool fresh) {
    if (!available_) return 0;
    if (fresh && rank_ == 2) std::memset(block_.get(), 7, bytes);
    MPI_Barrier(MPI_COMM_WORLD);
    double seconds = 0;
    if (rank_ == 1) {
      const double t0 = MPI_Wtime();
      MPI_Request req;
      MPI_Rget(block_.get(), static_cast<int>(bytes), MPI_BYTE, 2, address_, static_cast<int>(bytes),
               MPI_BYTE, win_, &req);
      MPI_Wait(&req, MPI_STATUS_IGNORE);
      seconds = MPI_Wtime() - t0;
    }
    MPI_Bcast(&seconds, 1, MPI_DOUBLE, 1, MPI_COMM_WORLD);
    return seconds;
  }

 private:
  int rank_;
  std::unique_ptr<std::byte, decltype(&std::free)> block_;

  MPI_Win win_ = MPI_WIN_NULL;
  MPI_Aint address_ = 0;
  bool available_ = false;
};

// Raw two-sided pull of the same bytes, in the same kind of memory on both sides. Collective.
class RawSendRecv {
 public:
  RawSendRecv(std::size_t largest, int rank)
      : rank_(rank),
        block_(static_cast<std::byte*>(std::aligned_alloc(std::size_t{2} << 20, largest)), &std::free) {
    madvise(block_.get(), largest, MADV_HUGEPAGE);
    std::memset(block_.get(), 1, largest);
  }
  // Seconds rank 1 spends between sending its request and holding `bytes` freshly written by rank 2.
  double measure(std::size_t bytes) {
    if (rank_ == 2) std::memset(block_.get(), 7, bytes);
    MPI_Barrier(MPI_COMM_WORLD);
    double seconds = 0;
    std::uint64_t ask = bytes;
    if (rank_ == 1) {
      const double t0 = MPI_Wtime();
      MPI_Send(&ask, 1, MPI_UINT64_T, 2, 1, MPI_COMM_WORLD);
      MPI_Recv(block_.get(), static_cast<int>(bytes), MPI_BYTE, 2, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      seconds = MPI_Wtime() - t0;
    } else if (rank_ == 2) {
      MPI_Recv(&ask, 1, MPI_UINT64_T, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(block_.get(), static_cast<int>(ask), MPI_BYTE, 1, 2, MPI_COMM_WORLD);
    }
    MPI_Bcast(&seconds, 1, MPI_DOUBLE, 1, MPI_COMM_WORLD);
    return seconds;
  }

 private:
  int rank_;
  std::unique_ptr<std::byte, decltype(&std::free)> block_;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Seconds from the end of an 8-byte-result task on rank 2 to the start of its reader on rank 1.
double tessera_handoff(Executor& exec, int rep) {
  Graph g;
  const TaskId make = g.add(
      TaskKey{"make", {rep}},
      [](const TaskContext&) {
        Buffer b = Buffer::allocate(sizeof(std::int64_t));
        const std::int64_t t = now_ns();
        std::memcpy(b.data(), &t, sizeof t);
        return Value::of(std::move(b));
      },
      {}, TaskOptions{.rank = 2});
  const TaskId use = g.add(
      TaskKey{"use", {rep}},
      [](const TaskContext& ctx) {
        const std::int64_t now = now_ns();
        std::int64_t t = 0;
        std::memcpy(&t, ctx.input<Buffer>(0).data(), sizeof t);
        return Value::of(now - t);
      },
      {make}, TaskOptions{.rank = 1});
  const TaskId outs[] = {use};
  RunResult result = exec.run(g, Plan::build(g, outs));
  return static_cast<double>(result.outputs[0].get<std::int64_t>()) * 1e-9;
}

// Seconds from rank 2 sending 8 bytes to rank 0 until rank 1 holds them, relayed by rank 0. Collective.
double raw_relay(int rank) {
  MPI_Barrier(MPI_COMM_WORLD);
  std::int64_t t = 0;
  double seconds = 0;
  if (rank == 2) {
    t = now_ns();
    MPI_Send(&t, 1, MPI_INT64_T, 0, 3, MPI_COMM_WORLD);
  } else if (rank == 0) {
    MPI_Recv(&t, 1, MPI_INT64_T, 2, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(&t, 1, MPI_INT64_T, 1, 3, MPI_COMM_WORLD);
  } else if (rank == 1) {
    MPI_Recv(&t, 1, MPI_INT64_T, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    seconds = static_cast<double>(now_ns() - t) * 1e-9;
  }
  MPI_Bcast(&seconds, 1, MPI_DOUBLE, 1, MPI_COMM_WORLD);
  return seconds;
}

// Seconds rank 1's executor spent fetching a `bytes`-sized Buffer made on rank 2.
double tessera_fetch(Executor& exec, std::size_t bytes, int rep) {
  Graph g;
  const TaskId make = g.add(
      TaskKey{"make", {rep}},
      [bytes](const TaskContext&) {
        Buffer b = Buffer::allocate(bytes);
        std::memset(b.data(), 7, bytes);
        return Value::of(std::move(b));
      },
      {}, TaskOptions{.rank = 2});
  const TaskId use = g.add(
      TaskKey{"use", {rep}},
      [](const TaskContext& ctx) {
        const Buffer& b = ctx.input<Buffer>(0);
        return Value::of(static_cast<int>(b.data()[b.size() - 1]));
      },
      {make}, TaskOptions{.rank = 1});
  const TaskId outs[] = {use};
  RunResult result = exec.run(g, Plan::build(g, outs));
  const WorkerStats& w = result.stats.workers[0];  // rank 1
  if (result.outputs[0].get<int>() != 7 || w.bytes_fetched != bytes) {
    std::fprintf(stderr, "transfer: the data did not travel from rank 2 to rank 1\n");
    std::exit(1);
  }
  return w.fetch_seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 5 : 15));
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--impl-suffix") g_suffix = argv[i + 1];
  }
  // 128 KiB: the smallest size two-sided fetches request by default (push_bytes is 64 KiB).
  std::vector<std::size_t> sizes = {
      8, 4096, std::size_t{128} << 10, std::size_t{1} << 20, std::size_t{16} << 20, std::size_t{64} << 20};
  // --max-bytes N: only the sizes up to N (e.g. --max-bytes 8 for the latency row alone).
  const auto max_bytes = static_cast<std::size_t>(bench::flag_value(argc, argv, "--max-bytes", 0));
  if (max_bytes > 0) std::erase_if(sizes, [max_bytes](std::size_t b) { return b > max_bytes; });
  auto exec = make_mpi_executor();
  if (exec->ranks() < 3) {
    if (exec->rank() == 0) std::fprintf(stderr, "transfer needs 3 ranks (a scheduler and two workers)\n");
    return 2;
  }
  // The fetch rows: every result fetched, however small.
  auto fetching = make_mpi_executor({.inline_bytes = 0});
  auto two_sided = make_mpi_executor({.transfer = TransferMode::kTwoSided, .inline_bytes = 0});
  auto requested =
      make_mpi_executor({.transfer = TransferMode::kTwoSided, .inline_bytes = 0, .push_bytes = 0});
  // Interleaved rep by rep, so that the machine's noise falls on all of them alike.
  RawGet raw(std::max<std::size_t>(sizes.back(), 4096), exec->rank());
  RawSendRecv raw_sr(std::max<std::size_t>(sizes.back(), 4096), exec->rank());
  for (std::size_t bytes : sizes) {
    std::vector<double> fresh, warm, sendrecv, ours, ours_two_sided, ours_requested;
    for (int r = 0; r < reps + 1; ++r) {
      const double a = raw.measure(bytes, true);
      const double b = raw.measure(bytes, false);
      const double c = raw_sr.measure(bytes);
      const double d = tessera_fetch(*fetching, bytes, r);
      const double e = tessera_fetch(*two_sided, bytes, r);
      const double f = tessera_fetch(*requested, bytes, r);
      if (r == 0) continue;  // the first round warms the paths
      fresh.push_back(a);
      warm.push_back(b);
      sendrecv.push_back(c);
      ours.push_back(d);
      ours_two_sided.push_back(e);
      ours_requested.push_back(f);
    }
    if (exec->rank() == 0) {
      if (raw.available()) {
        report("raw", bytes, bench::median(fresh));
        report("raw-warm", bytes, bench::median(warm));
      }
      report("raw-sendrecv", bytes, bench::median(sendrecv));
      report("tessera-mpi-3", bytes, bench::median(ours));
      report("tessera-mpi-3-two-sided", bytes, bench::median(ours_two_sided));
      report("tessera-mpi-3-two-sided-requested", bytes, bench::median(ours_requested));
    }
  }
  // Hand-off of an 8-byte result from a task on rank 2 to its reader on rank 1.
  std::vector<double> relay, inlined, fetched, pushed, asked;
  for (int r = 0; r < reps + 1; ++r) {
    const double a = raw_relay(exec->rank());
    const double b = tessera_handoff(*exec, r);
    const double c = tessera_handoff(*fetching, r);
    const double d = tessera_handoff(*two_sided, r);
    const double e = tessera_handoff(*requested, r);
    if (r == 0) continue;
    relay.push_back(a);
    inlined.push_back(b);
    fetched.push_back(c);
    pushed.push_back(d);
    asked.push_back(e);
  }
  if (exec->rank() == 0) {
    auto handoff = [](const char* name, double seconds) {
      bench::emit("transfer", name + g_suffix, "8B", "handoff", seconds * 1e6, "us");
    };
    handoff("raw-relay", bench::median(relay));
    handoff("tessera-mpi-3", bench::median(inlined));
    handoff("tessera-mpi-3-fetched", bench::median(fetched));
    handoff("tessera-mpi-3-two-sided-fetched", bench::median(pushed));
    handoff("tessera-mpi-3-two-sided-requested", bench::median(asked));
  }
  return 0;
}
