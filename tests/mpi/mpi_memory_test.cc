// Memory limits and failures of memory under the MPI executor: the scheduler counts each worker's bytes and
// holds root tasks back; results stay bit-identical; a kernel's std::bad_alloc names the task on every rank.
#include <mpi.h>
#include <stdlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>

#include "tessera/arrays/array.h"
#include "tessera/runtime/runtime.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int workers() {
  return std::max(1, world_size() - 1);
}

// float64 in chunks of 128 x 1024 (1 MiB), made by tasks, so that the anomaly has to hold them; 64 MiB by
// default. Past 4 workers the chunks get fewer rows (at 16 and 32 ranks, 256 KiB), so that every worker
// still gets several: the tests' limits only bite when a worker's share is more than a chunk or two.
Array input(std::int64_t cols = 8192) {
  std::int64_t rows = 128;
  while (rows > 16 && 1024 / rows * 8 < 8 * workers()) rows /= 2;
  const ChunkGrid grid = ChunkGrid::regular({1024, cols}, {rows, 1024});
  return from_function(
      grid, DType::kFloat64,
      [](const ChunkGrid& g, std::span<const std::int64_t> idx) {
        Chunk c(DType::kFloat64, g.chunk_shape(idx));
        double k = static_cast<double>(idx[0] * 97 + idx[1]);
        for (double& e : c.data<double>()) e = (k = k * 1.000001 + 0.25);
        return c;
      },
      "input");
}

// A limit per worker that holds for 2 workers (2 workers with 16 MiB each through 64 MiB of input), scaled
// so that the whole job has as little room as with 2 workers: with 31 workers a third of the data would
// otherwise fit and nothing would be withheld or spilled.
std::uint64_t limit_for(std::uint64_t two_workers) {
  return workers() <= 2 ? two_workers : two_workers * 2 / static_cast<std::uint64_t>(workers());
}

TEST(MpiMemory, WithoutSpillingTheLimitWithholdsRootsAndResultsAreBitIdentical) {
  if (world_size() < 2) GTEST_SKIP() << "needs the MPI executor";
  Array x = input();
  std::vector<Array> arrays{x.sum(), (x - x.mean(0)).sum(1)};
  Runtime local(RuntimeOptions{.executor = ExecutorKind::kSync});
  const std::vector<Chunk> expected = compute(local, arrays);
  RuntimeOptions o;
  o.memory.limit = limit_for(std::uint64_t{16} << 20);
  o.memory.spill = false;  // withholding alone (spilling keeps workers under pause_fraction)
  Runtime mpi(o);
  ASSERT_EQ(mpi.executor().name(), "mpi");
  const std::vector<Chunk> got = compute(mpi, arrays);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(std::memcmp(got[i].bytes(), expected[i].bytes(), expected[i].nbytes()), 0) << "array " << i;
  }
  if (world_rank() == 0) {
    EXPECT_GT(mpi.last_stats().roots_withheld, 0u);
    EXPECT_GT(mpi.last_stats().peak_held_bytes, 0u);
  }
}

// Every rank's spill directory for one test: made by rank 0, shared (one machine, or simulated nodes sharing
// a file system), removed at the end.
std::string shared_temp_dir() {
  std::string dir(256, '\0');
  if (world_rank() == 0) {
    std::string pattern = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : "/tmp") +
                          "/tessera-mpi-spill-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) pattern.clear();
    dir.replace(0, pattern.size(), pattern);
  }
  MPI_Bcast(dir.data(), static_cast<int>(dir.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  dir.resize(std::strlen(dir.c_str()));
  return dir;
}

// Files and folders left in dir (spill directories are made inside it per worker and run).
int entries_in(const std::string& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::recursive_directory_iterator(dir)) ++n;
  return n;
}

TEST(MpiMemory, WorkersSpillToDiskServeSpilledChunksAndResultsAreBitIdentical) {
  // 64 MiB of chunks made by tasks through 12 MiB per worker (with 2 workers; less with more, the same in
  // all): the anomaly must hold every chunk of a column
  // between the mean and the subtraction, so workers write chunks to disk, read their own back, and serve
  // them to peers on request (whatever the data plane). Results match a run without MPI bit for bit.
  if (world_size() < 3) GTEST_SKIP() << "needs two workers";
  const std::string dir = shared_temp_dir();
  ASSERT_FALSE(dir.empty());
  Array x = input();
  std::vector<Array> arrays{(x - x.mean(0)).sum(1), (x * x).sum(0)};
  Runtime local(RuntimeOptions{.executor = ExecutorKind::kSync});
  const std::vector<Chunk> expected = compute(local, arrays);
  RuntimeOptions o;
  o.memory.limit = limit_for(std::uint64_t{12} << 20);
  o.memory.spill_dir = dir;
  o.record.enabled = true;
  Runtime mpi(o);
  const std::vector<Chunk> got = compute(mpi, arrays);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(std::memcmp(got[i].bytes(), expected[i].bytes(), expected[i].nbytes()), 0) << "array " << i;
  }
  const RunStats& stats = mpi.last_stats();
  std::uint64_t spilled = 0;
  std::uint64_t unspilled = 0;
  std::uint64_t served = 0;
  std::uint64_t requested = 0;
  for (const WorkerStats& w : stats.workers) {
    spilled += w.bytes_spilled;
    unspilled += w.bytes_unspilled;
    served += w.bytes_served;
    requested += w.bytes_two_sided;
  }
  EXPECT_EQ(stats.bytes_spilled, spilled);
  EXPECT_EQ(stats.bytes_unspilled, unspilled);
  EXPECT_GT(spilled, std::uint64_t{16} << 20) << "64 MiB through 24 MiB over all workers must spill";
  EXPECT_GT(unspilled + served, 0u) << "spilled chunks were never needed again?";
  EXPECT_EQ(served, requested);
  if (world_rank() == 0) {  // the recording counts the same spill files, event by event
    const std::shared_ptr<const RunTrace> t = mpi.last_trace();
    ASSERT_TRUE(t);
    EXPECT_EQ(t->bytes_spilled, spilled);
    // Files read back: for the worker's own tasks, and to serve peers that asked for a spilled result.
    EXPECT_GE(t->bytes_unspilled, unspilled);
    EXPECT_LE(t->bytes_unspilled, unspilled + served);
    std::uint64_t written = 0;
    for (const SpillEvent& e : t->spills) {
      EXPECT_GE(e.rank, 1);
      if (!e.read) written += e.bytes;
    }
    if (!t->spills_sampled) EXPECT_EQ(written, spilled);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(entries_in(dir), 0) << "spill files left in " << dir;
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::filesystem::remove_all(dir);
}

TEST(MpiMemory, SpillFilesAreRemovedAfterAFailure) {
  if (world_size() < 3) GTEST_SKIP() << "needs two workers";
  const std::string dir = shared_temp_dir();
  ASSERT_FALSE(dir.empty());
  // The last chunk fails after many chunks were spilled.
  Array x = from_function(
      ChunkGrid::regular({1024, 8192}, {128, 1024}), DType::kFloat64,
      [](const ChunkGrid& g, std::span<const std::int64_t> idx) -> Chunk {
        if (idx[0] == 7 && idx[1] == 7) throw std::runtime_error("disk on fire");
        Chunk c(DType::kFloat64, g.chunk_shape(idx));
        for (double& e : c.data<double>()) e = static_cast<double>(idx[0] + idx[1]);
        return c;
      },
      "fragile");
  RuntimeOptions o;
  o.memory.limit = std::uint64_t{12} << 20;
  o.memory.spill_dir = dir;
  Runtime mpi(o);
  EXPECT_THAT([&] { compute(mpi, (x - x.mean(0)).sum(1)); },
              ::testing::ThrowsMessage<TaskError>(HasSubstr("disk on fire")));
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(entries_in(dir), 0) << "spill files left in " << dir;
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::filesystem::remove_all(dir);
}

TEST(MpiMemory, AnUnwritableSpillDirectoryIsAClearErrorOnEveryRank) {
  if (world_size() < 3) GTEST_SKIP() << "needs two workers";
  Array x = input();
  RuntimeOptions o;
  o.memory.limit = limit_for(std::uint64_t{12} << 20);
  o.memory.spill_dir = "/nonexistent/tessera-spill-parent";
  Runtime mpi(o);
  try {
    compute(mpi, (x - x.mean(0)).sum(1));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("spilling to disk: cannot create a directory in "
                                    "\"/nonexistent/tessera-spill-parent\""));
  }
}

// This process's peak resident set (VmHWM), in bytes.
std::uint64_t peak_rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// The fixed overhead allowed over the limit per rank: MPI and its shared-memory segments, code, thread
// stacks, the chunks running tasks read and write, allocator slack (docs/memory.md, "Choosing it").
constexpr std::uint64_t kRssOverhead = std::uint64_t{80} << 20;

TEST(MpiMemory, PeakRssOfEveryWorkerStaysUnderLimitPlusOverhead) {
  // Peak RSS only means something in a fresh process: CTest runs this alone (mpi.memory.peak_rss.3ranks).
  if (std::getenv("TESSERA_MPI_RSS_TEST") == nullptr) {
    GTEST_SKIP() << "measured alone, in fresh processes, by the CTest entry mpi.memory.peak_rss.3ranks";
  }
  if (world_size() < 3) GTEST_SKIP() << "needs two workers";
  const std::string dir = shared_temp_dir();
  // 256 MiB of float64 in 1 MiB chunks made by tasks; the anomaly holds every chunk of a column at once.
  Array x = input(32768);
  std::vector<Array> arrays{(x - x.mean(0)).sum(1)};
  const std::uint64_t limit = std::uint64_t{32} << 20;
  RuntimeOptions o;
  o.memory.limit = limit;
  o.memory.spill_dir = dir;
  std::vector<Chunk> got;
  std::uint64_t spilled = 0;
  {
    Runtime mpi(o);
    got = compute(mpi, arrays);
    spilled = mpi.last_stats().bytes_spilled;
  }
  const std::uint64_t mine = peak_rss();  // before anything else runs in this process
  std::vector<std::uint64_t> all(static_cast<std::size_t>(world_size()));
  MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  if (world_rank() == 0) {
    for (int r = 1; r < world_size(); ++r) {
      std::printf("rank %d: peak RSS %.1f MiB (limit %.0f MiB + overhead %.0f MiB)\n", r,
                  static_cast<double>(all[static_cast<std::size_t>(r)]) / (1 << 20),
                  static_cast<double>(limit) / (1 << 20), static_cast<double>(kRssOverhead) / (1 << 20));
      EXPECT_LE(all[static_cast<std::size_t>(r)], limit + kRssOverhead) << "rank " << r;
    }
    std::printf("spilled %.1f MiB\n", static_cast<double>(spilled) / (1 << 20));
    EXPECT_GT(spilled, std::uint64_t{64} << 20);
  }
  Runtime local(RuntimeOptions{.executor = ExecutorKind::kThreads});
  const std::vector<Chunk> expected = compute(local, arrays);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(std::memcmp(got[0].bytes(), expected[0].bytes(), expected[0].nbytes()), 0);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) std::filesystem::remove_all(dir);
}

TEST(MpiMemory, BadAllocInAKernelNamesTheTaskOnEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs the MPI executor";
  Array x = from_function(
      ChunkGrid::regular({8, 8}, {4, 4}), DType::kFloat64,
      [](const ChunkGrid&, std::span<const std::int64_t> idx) -> Chunk {
        if (idx[0] == 1 && idx[1] == 1) throw std::bad_alloc();
        return Chunk::zeros(DType::kFloat64, {4, 4});
      },
      "alloc");
  Runtime mpi;
  try {
    compute(mpi, x.sum());
    ADD_FAILURE() << "expected a TaskError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted);
    EXPECT_THAT(e.what(), HasSubstr(", 1, 1) on rank "));
    EXPECT_THAT(e.what(), HasSubstr("out of memory"));
  }
}

}  // namespace
}  // namespace tessera
