// spill: a larger-than-memory reduction on the local thread pool. The anomaly x - x.mean(0) reduced per row,
// over float64 chunks made by tasks, reads every input chunk twice (for the mean, then for itself), so the
// whole input is held between the two reads: with a memory limit of a quarter of the input, most of it goes
// to disk and comes back. Figures: wall time and peak held bytes with enough memory (tessera-local) and
// with the limit (tessera-local-spill), bytes spilled, the limited run's peak RSS, and the results must be
// bit-identical. Under mpiexec the MPI executor runs both (impl tessera-mpi-N and tessera-mpi-N-spill; the
// limit is per worker, a quarter of the input each, and peak RSS is the largest over worker ranks).
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tessera/arrays/array.h"
#include "tessera/runtime/runtime.h"

namespace {

using namespace tessera;

Array input(std::int64_t rows, std::int64_t cols) {
  const ChunkGrid grid = ChunkGrid::regular({rows, cols}, {256, 1024});
  return from_function(
      grid, DType::kFloat64,
      [](const ChunkGrid& g, std::span<const std::int64_t> idx) {
        Chunk c(DType::kFloat64, g.chunk_shape(idx));
        std::uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(idx[0] * 100000 + idx[1] + 1);
        for (double& e : c.data<double>()) {
          x ^= x >> 12;
          x ^= x << 25;
          x ^= x >> 27;
          e = static_cast<double>((x * 2685821657736338717ull) >> 11) * 0x1.0p-53;
        }
        return c;
      },
      "input");
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = bench::has_flag(argc, argv, "--quick");
  const std::int64_t mib = bench::flag_value(argc, argv, "--mib", quick ? 256 : 1024);
  const std::int64_t cols = 8192;
  const std::int64_t rows = mib * (1 << 20) / 8 / cols;
  const std::uint64_t limit = static_cast<std::uint64_t>(mib) * (1 << 20) / 4;
  const int reps = quick ? 1 : 3;
  const std::string case_name = std::to_string(mib) + "MiB-limit" + std::to_string(mib / 4) + "MiB";
  const bool mpi = bench::under_mpi();
  Array x = input(rows, cols);
  Array result = (x - x.mean(0)).sum(1);
  std::vector<Chunk> outputs;
  // The limited run goes first, so that the process's high-water mark after it is that run's peak RSS.
  for (bool limited : {true, false}) {
    RuntimeOptions o;
    o.executor = mpi ? ExecutorKind::kMpi : ExecutorKind::kThreads;
    if (limited) o.memory.limit = limit;
    Runtime rt(o);
    const std::string base = mpi ? "tessera-mpi-" + std::to_string(rt.executor().ranks()) : "tessera-local";
    const bool root = rt.executor().rank() == 0;
    std::vector<double> wall;
    for (int r = 0; r < reps; ++r) {
      const double t0 = bench::now_seconds();
      Chunk c = compute(rt, result);
      wall.push_back(bench::now_seconds() - t0);
      if (r == 0) outputs.push_back(std::move(c));
    }
    const RunStats& s = rt.last_stats();
    const std::string impl = limited ? base + "-spill" : base;
    double rss_mb = static_cast<double>(bench::proc_status_kb("VmHWM")) / 1024.0;
    if (mpi) MPI_Allreduce(MPI_IN_PLACE, &rss_mb, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (!root) continue;
    bench::emit("spill", impl, case_name, "wall", bench::median(wall), "s");
    if (limited) {
      bench::emit("spill", impl, case_name, "bytes_spilled", static_cast<double>(s.bytes_spilled) / 1048576.0,
                  "MB");
      bench::emit("spill", impl, case_name, "peak_held", static_cast<double>(s.peak_held_bytes) / 1048576.0,
                  "MB");
      bench::emit("spill", impl, case_name, "peak_rss", rss_mb, "MB");
    }
  }
  // outputs[0]: with the limit; outputs[1]: without (on every rank: compute() broadcasts outputs).
  const bool same = outputs[0].nbytes() == outputs[1].nbytes() &&
                    std::memcmp(outputs[0].bytes(), outputs[1].bytes(), outputs[0].nbytes()) == 0;
  if (!same) {
    std::fprintf(stderr, "spill: results with and without the memory limit differ\n");
    return 1;
  }
  return 0;
}
