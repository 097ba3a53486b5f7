// Arrays on the MPI executor: the same results, bit for bit, as the local executors.
#include <mpi.h>

#include <gtest/gtest.h>

#include <cstring>

#include "tessera/arrays/array.h"

namespace tessera {
namespace {

int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

bool bit_equal(const Chunk& a, const Chunk& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

TEST(MpiArrays, AnomalyAndReductionsMatchTheLocalExecutor) {
  if (world_size() < 2) GTEST_SKIP() << "needs the MPI executor";
  Array t = random_normal({48, 20, 30}, {8, 10, 15}, 3, DType::kFloat32);
  Array anom = (t - t.mean(0)) / t.std(0);
  std::vector<Array> arrays{anom, anom.sum({1, 2}, {.split_every = 2}), t.nanmax(0), t.argmin(2),
                            t[{Slice::range(5, 40, 3), Slice::at(-1)}].T()};
  Runtime local(RuntimeOptions{.executor = ExecutorKind::kSync});
  std::vector<Chunk> expected = compute(local, arrays);
  Runtime mpi;  // kAuto: MPI under mpiexec
  ASSERT_EQ(mpi.executor().name(), "mpi");
  std::vector<Chunk> got = compute(mpi, arrays);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(bit_equal(got[i], expected[i])) << "array " << i;
}

TEST(MpiArrays, TensordotAndReshapeMatchTheLocalExecutor) {
  if (world_size() < 2) GTEST_SKIP() << "needs the MPI executor";
  // 10 x 12 contracted block pairs per output block: a two-level summation tree spread over the ranks.
  Array a = random_normal({30, 50, 36}, {7, 5, 3}, 8), b = random_normal({50, 36, 9}, {10, 9, 4}, 9);
  std::vector<Array> arrays{tensordot(a, b, 2), tensordot(a, a, {0}, {0}).sum(),
                            matmul(a[{Slice::at(0)}].T(), b[{Slice::all(), Slice::all(), Slice::at(2)}]),
                            reshape(a, {-1, 36}).sum(0, {.split_every = 3}),
                            moveaxis(reshape(a, {30, 5, 10, 36}), 0, -1)};
  Runtime local(RuntimeOptions{.executor = ExecutorKind::kSync});
  std::vector<Chunk> expected = compute(local, arrays);
  Runtime mpi;
  ASSERT_EQ(mpi.executor().name(), "mpi");
  std::vector<Chunk> got = compute(mpi, arrays);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(bit_equal(got[i], expected[i])) << "array " << i;
}

}  // namespace
}  // namespace tessera
