// Memory limits and failures of memory under the MPI executor: the scheduler counts each worker's bytes and
// holds root tasks back; results stay bit-identical; a kernel's std::bad_alloc names the task on every rank.
#include <mpi.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <new>

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

// 64 MiB of float64 in 1 MiB chunks, made by tasks, so that the anomaly has to hold them.
Array input() {
  const ChunkGrid grid = ChunkGrid::regular({1024, 8192}, {128, 1024});
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

TEST(MpiMemory, LimitWithholdsRootsAndResultsAreBitIdentical) {
  if (world_size() < 2) GTEST_SKIP() << "needs the MPI executor";
  Array x = input();
  std::vector<Array> arrays{x.sum(), (x - x.mean(0)).sum(1)};
  Runtime local(RuntimeOptions{.executor = ExecutorKind::kSync});
  const std::vector<Chunk> expected = compute(local, arrays);
  RuntimeOptions o;
  o.memory.limit = std::uint64_t{16} << 20;
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
