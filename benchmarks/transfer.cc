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

// Raw MPI_Rget from rank 2's memory into rank 1's, through a dynamic window as the chunk arenas use. As in a
// pipeline (and in tessera's case below), the source bytes are freshly written by their owner before each
// get; "raw-warm" gets bytes written long before, the machine's best case.
void raw(const std::vector<std::size_t>& sizes, int reps, int rank) {
  const std::size_t largest = sizes.back();
  MPI_Win win;
  MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win);
  // The same kind of memory tessera uses for chunks (2 MiB aligned, transparent huge pages requested), so the
  // floor is the best this machine does, not a naive allocation.
  std::unique_ptr<std::byte, decltype(&std::free)> block(
      static_cast<std::byte*>(std::aligned_alloc(std::size_t{2} << 20, largest)), &std::free);
  madvise(block.get(), largest, MADV_HUGEPAGE);
  std::span<std::byte> memory(block.get(), largest);
  std::memset(memory.data(), 1, largest);
  MPI_Aint address = 0;
  if (rank == 2) {
    MPI_Win_attach(win, memory.data(), static_cast<MPI_Aint>(largest));
    MPI_Get_address(memory.data(), &address);
  }
  MPI_Bcast(&address, 1, MPI_AINT, 2, MPI_COMM_WORLD);
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
  for (bool fresh : {true, false}) {
    for (std::size_t bytes : sizes) {
      std::vector<double> times;
      for (int r = 0; r < reps + 1; ++r) {
        if (fresh && rank == 2) std::memset(memory.data(), r, bytes);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank != 1) continue;
        const double t0 = MPI_Wtime();
        MPI_Request req;
        MPI_Rget(memory.data(), static_cast<int>(bytes), MPI_BYTE, 2, address, static_cast<int>(bytes),
                 MPI_BYTE, win, &req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        if (r > 0) times.push_back(MPI_Wtime() - t0);  // the first get warms the path
      }
      if (rank == 1) report(fresh ? "raw" : "raw-warm", bytes, bench::median(times));
    }
  }
  MPI_Win_unlock_all(win);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 2) MPI_Win_detach(win, memory.data());
  MPI_Win_free(&win);
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
  raw(sizes, reps, exec->rank());
  for (std::size_t bytes : sizes) {
    std::vector<double> times;
    for (int r = 0; r < reps + 1; ++r) {
      Graph g;
      const TaskId make = g.add(
          TaskKey{"make", {r}},
          [bytes](const TaskContext&) {
            Buffer b = Buffer::allocate(bytes);
            std::memset(b.data(), 7, bytes);
            return Value::of(std::move(b));
          },
          {}, TaskOptions{.rank = 2});
      const TaskId use = g.add(
          TaskKey{"use", {r}},
          [](const TaskContext& ctx) {
            const Buffer& b = ctx.input<Buffer>(0);
            return Value::of(static_cast<int>(b.data()[b.size() - 1]));
          },
          {make}, TaskOptions{.rank = 1});
      const TaskId outs[] = {use};
      RunResult result = exec->run(g, Plan::build(g, outs));
      if (result.outputs[0].get<int>() != 7) {
        std::fprintf(stderr, "transfer: wrong data arrived\n");
        return 1;
      }
      const WorkerStats& w = result.stats.workers[0];  // rank 1
      if (w.gets == 0) {
        std::fprintf(stderr, "transfer: rank 1 fetched nothing\n");
        return 1;
      }
      if (r > 0) times.push_back(w.fetch_seconds);
    }
    if (exec->rank() == 0) report("tessera-mpi-3", bytes, bench::median(times));
  }
  return 0;
}
