// transfer: how fast a worker pulls another worker's result, against raw MPI_Get of the same bytes in the
// same run. Needs 3 ranks (scheduler + 2 workers). For each size, a graph makes a Buffer on rank 2 and reads
// it on rank 1; the figure is rank 1's fetch time (issuing MPI_Rget into the final Buffer until the executor
// sees it complete). The raw figure: rank 1 MPI_Rget + MPI_Wait from a window attached on rank 2, into a warm
// buffer.
#include <mpi.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tessera/runtime/buffer.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/plan.h"

namespace {

using namespace tessera;

std::string size_name(std::size_t bytes) {
  if (bytes >= (1u << 20)) return std::to_string(bytes >> 20) + "MiB";
  return std::to_string(bytes) + "B";
}

void report(const char* impl, std::size_t bytes, double seconds) {
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
    MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win_);
    if (rank == 2) {
      MPI_Win_attach(win_, block_.get(), static_cast<MPI_Aint>(largest));
      MPI_Get_address(block_.get(), &address_);
    }
    MPI_Bcast(&address_, 1, MPI_AINT, 2, MPI_COMM_WORLD);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win_);
  }
  ~RawGet() {
    MPI_Win_unlock_all(win_);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 2) MPI_Win_detach(win_, block_.get());
    MPI_Win_free(&win_);
  }
  // Seconds rank 1 spends getting `bytes` (the same on every rank). `fresh`: the owner rewrites them first,
  // as a producer would; otherwise they were written long ago.
  double measure(std::size_t bytes, bool fresh) {
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
};

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
  if (result.outputs[0].get<int>() != 7 || w.gets == 0) {
    std::fprintf(stderr, "transfer: the data did not travel from rank 2 to rank 1\n");
    std::exit(1);
  }
  return w.fetch_seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", quick ? 5 : 15));
  const std::vector<std::size_t> sizes = {8, std::size_t{1} << 20, std::size_t{16} << 20,
                                          std::size_t{64} << 20};
  auto exec = make_mpi_executor();
  if (exec->ranks() < 3) {
    if (exec->rank() == 0) std::fprintf(stderr, "transfer needs 3 ranks (a scheduler and two workers)\n");
    return 2;
  }
  // Interleaved rep by rep, so that the machine's noise falls on all three alike.
  RawGet raw(sizes.back(), exec->rank());
  for (std::size_t bytes : sizes) {
    std::vector<double> fresh, warm, ours;
    for (int r = 0; r < reps + 1; ++r) {
      const double a = raw.measure(bytes, true);
      const double b = raw.measure(bytes, false);
      const double c = tessera_fetch(*exec, bytes, r);
      if (r == 0) continue;  // the first round warms the paths
      fresh.push_back(a);
      warm.push_back(b);
      ours.push_back(c);
    }
    if (exec->rank() == 0) {
      report("raw", bytes, bench::median(fresh));
      report("raw-warm", bytes, bench::median(warm));
      report("tessera-mpi-3", bytes, bench::median(ours));
    }
  }
  return 0;
}
