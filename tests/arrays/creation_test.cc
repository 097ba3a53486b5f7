// Making arrays: creation, random numbers, generators fused into readers, persist, Eigen, graphs outliving
// arrays.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

#include "array_test_util.h"
#include "numpy_oracle.h"
#include "tessera/arrays/array.h"
#include "tessera/arrays/eigen.h"
#include "tessera/runtime/error.h"

namespace tessera {
namespace {

using test::bit_equal;
using test::data;
using test::rt;
using ::testing::HasSubstr;
using testing::NumpyOracle;
using testing::Tolerance;

TEST(Array, ReprLikeDask) {
  Array t = zeros({730, 360, 720}, {73, 90, 180}, DType::kFloat32);
  EXPECT_EQ(t.repr(),
            "tessera.Array<shape=(730, 360, 720), dtype=float32, chunksize=(73, 90, 180), chunks=160, "
            "bytes=757 MB>");
}

TEST(Array, CreationMatchesNumpy) {
  NumpyOracle np;
  np.expect("arange", "np.arange(23)", compute(rt(), arange(23, 5)));
  np.expect("arange_float", "np.arange(0.5, 3.0, 0.25)", compute(rt(), arange(0.5, 3.0, 0.25, 3)));
  np.expect("linspace", "np.linspace(-1, 2, 17)", compute(rt(), linspace(-1, 2, 17, 4)),
            Tolerance{1e-15, 1e-15});
  np.expect("linspace_open", "np.linspace(0, 1, 10, endpoint=False)",
            compute(rt(), linspace(0, 1, 10, 3, false)), Tolerance{1e-15, 1e-15});
  np.expect("zeros", "np.zeros((4, 5), dtype=np.int16)", compute(rt(), zeros({4, 5}, {3, 2}, DType::kInt16)));
  np.expect("ones", "np.ones((3,), dtype=np.float32)", compute(rt(), ones({3}, {1}, DType::kFloat32)));
  np.expect("full", "np.full((2, 3), 7.5)", compute(rt(), full({2, 3}, {2, 2}, 7.5)));
  Chunk x = data({5, 6}, DType::kInt32, 3);
  np.input("x", x);
  np.expect("from_chunk", "x", compute(rt(), from_chunk(x, {2, 4})));
  np.verify();
}

TEST(Array, RandomNumbersDependOnlyOnSeedAndPosition) {
  const Chunk a = compute(rt(), random_normal({40, 30}, {7, 30}, 42));
  const Chunk b = compute(rt(), random_normal({40, 30}, {40, 4}, 42));
  EXPECT_TRUE(bit_equal(a, b));
  EXPECT_FALSE(bit_equal(a, compute(rt(), random_normal({40, 30}, {7, 30}, 43))));
  // Moments of a large sample are where they should be.
  Array u = random_uniform({200000}, {30000}, 7, DType::kFloat64, 2.0, 4.0);
  Array n = random_normal({200000}, {30000}, 7, DType::kFloat32, 1.0, 3.0);
  auto got = compute(rt(), std::vector<Array>{u.mean(), u.min(), u.max(), n.mean(), n.std()});
  EXPECT_NEAR(got[0].flat(0), 3.0, 0.01);
  EXPECT_GE(got[1].flat(0), 2.0);
  EXPECT_LT(got[2].flat(0), 4.0);
  EXPECT_NEAR(got[3].flat(0), 1.0, 0.03);
  EXPECT_NEAR(got[4].flat(0), 3.0, 0.03);
}

TEST(Array, PersistKeepsChunksForLaterGraphs) {
  int calls = 0;
  Array src = from_function(ChunkGrid::regular({6}, {2}), DType::kInt64,
                            [&calls](const ChunkGrid& g, std::span<const std::int64_t> idx) {
                              ++calls;
                              Chunk c(DType::kInt64, g.chunk_shape(idx));
                              for (std::int64_t i = 0; i < c.size(); ++i)
                                c.data<std::int64_t>()[static_cast<std::size_t>(i)] = g.offset(0, idx[0]) + i;
                              return c;
                            });
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  Array kept = persist(sync, src);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(compute(sync, kept.sum()).flat(0), 15);
  EXPECT_EQ(compute(sync, (kept * 2).max()).flat(0), 10);
  EXPECT_EQ(calls, 3);
}

TEST(Array, FromEigenKeepsLayoutAndValues) {
  Eigen::MatrixXd m(3, 4);  // column-major in Eigen
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) m(i, j) = 10 * i + j;
  }
  Chunk c = compute(rt(), from_eigen(m, {2, 3}));
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  EXPECT_EQ(c.at({2, 1}), 21);
  EXPECT_EQ(compute(rt(), from_eigen(m.transpose() * 2.0, {4, 1}).sum()).flat(0), 2 * m.sum());
  Eigen::Matrix<float, 2, 2> f;
  f << 1, 2, 3, 4;
  EXPECT_EQ(from_eigen(f, {1, 1}).dtype(), DType::kFloat32);
}

TEST(Array, EdgeArgumentsAndGraphsOutlivingArrays) {
  EXPECT_THAT(
      [] {
        group_reduce(zeros({6}, {3}), 0, {0, 0, 0, 1, 1, 1}, 2, "mean", {.split_every = 1});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("split_every is 1")));
  Array r = arange(8, 4);
  EXPECT_EQ(compute(rt(), r[{Slice::range(0, {}, std::numeric_limits<std::int64_t>::max())}]).size(), 1);
  EXPECT_EQ(compute(rt(), r[{Slice::range({}, {}, -std::numeric_limits<std::int64_t>::max())}]).flat(0), 7);
  EXPECT_THAT([&] { r[{Slice::range({}, {}, std::numeric_limits<std::int64_t>::min())}]; },
              ::testing::ThrowsMessage<Error>(HasSubstr("out of range")));
  Graph g;
  std::vector<std::vector<TaskId>> outs;
  {
    Array gone = (arange(10, 3) * 2).sum();
    build_graph(std::vector<Array>{gone}, g, outs);
  }
  EXPECT_EQ(rt().run(g, outs[0])[0].get<Chunk>().flat(0), 90);  // the graph keeps its nodes alive
}

TEST(Generators, FusedIntoReadersGiveTheSameBitsAsStoredChunks) {
  // Random numbers, ranges and constants are made inside the tasks reading them (and transposes of them made
  // directly in transposed order); persist() gives the same values as stored chunks, read the ordinary way.
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  const std::vector<Array> generated = {
      random_uniform({13, 8, 6}, {4, 3, 6}, 7, DType::kFloat32, -2.0, 3.0),
      random_normal({13, 8, 6}, {5, 8, 1}, 8),
      reshape(arange(13 * 8 * 6, 7, DType::kInt32), {13, 8, 6}),
      full({13, 8, 6}, {13, 2, 2}, 2.5),
  };
  for (std::size_t k = 0; k < generated.size(); ++k) {
    const Array& g = generated[k];
    const Array stored = persist(sync, g);
    auto exprs = [](const Array& x) {
      return std::vector<Array>{x,
                                x.transpose({2, 0, 1}),
                                moveaxis(x, 0, 1) * 2,
                                (x + x.transpose({0, 1, 2})).sum(0),
                                (x.transpose({1, 0, 2}) - x.mean(1)[{Slice::all(), Slice::all()}]).max(),
                                x[{Slice::range(1, 9, 2)}].T()};
    };
    const std::vector<Chunk> want = compute(rt(), exprs(stored));
    const std::vector<Chunk> got = compute(rt(), exprs(g));
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(bit_equal(want[i], got[i])) << "generator " << k << ", expression " << i;
    }
  }
  // The uniform generator's definition, element by element in plain scalar code: the vectorised row loop (an
  // AVX-512 version where the CPU has it) must give exactly these bits, also transposed.
  auto mix64 = [](std::uint64_t v) {
    v += 0x9e3779b97f4a7c15ULL;
    v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
    v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
    return v ^ (v >> 31);
  };
  const Shape us{37, 29};
  Chunk want_u(DType::kFloat64, us), want_ut(DType::kFloat64, {29, 37});
  for (std::int64_t r = 0; r < 37; ++r) {
    for (std::int64_t c = 0; c < 29; ++c) {
      const auto e = static_cast<std::uint64_t>(r * 29 + c);
      const double u = static_cast<double>(mix64(mix64(11) + e) >> 11) * (1.0 / 9007199254740992.0);
      want_u.data<double>()[static_cast<std::size_t>(r * 29 + c)] = 2.0 + 3.0 * u;
      want_ut.data<double>()[static_cast<std::size_t>(c * 37 + r)] = 2.0 + 3.0 * u;
    }
  }
  Array u = random_uniform(us, {10, 7}, 11, DType::kFloat64, 2.0, 5.0);
  EXPECT_TRUE(bit_equal(compute(rt(), u), want_u));
  EXPECT_TRUE(bit_equal(compute(rt(), u.T() * 1), want_ut));

  // seed-expr's graph: X and X.T are never tasks; the mean's and the sum's partials make their chunks.
  Array x = random_uniform({8, 8}, {2, 2}, 1);
  Graph graph;
  std::vector<std::vector<TaskId>> outs;
  build_graph(std::vector<Array>{((x + x.T()) - x.mean(0)).sum()}, graph, outs);
  // mean: 16 partials, 4 column combines, 4 finishes; sum: 16 partials (the elementwise expression fused
  // in), 2 combine levels of 2 + 1 tasks, 1 finish.
  EXPECT_EQ(graph.size(), 16u + 4u + 4u + 16u + 3u + 1u);
}

TEST(Generators, ReductionsFoldFusedInputsByRowsWithTheSameBits) {
  // 400 x 400 chunks of 200 x 200: a reduction folds a fused chunk 81 rows at a time (3 blocks), reading
  // generated rows (also transposed), rows cut from stored chunks and broadcast operands whole. Folding an
  // expression stored first must give the same bits.
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  Array x = random_normal({400, 400}, {200, 200}, 3);
  Array y = from_chunk(data({400, 400}, DType::kFloat64, 71), {200, 200});
  Array nan = where(x > 1.0, x, std::numeric_limits<double>::quiet_NaN());
  const std::vector<std::pair<Array, std::function<Array(const Array&)>>> cases = {
      {(x + x.T()) - x.mean(0), [](const Array& e) { return e.sum(); }},
      {x * y, [](const Array& e) { return e.sum(0); }},
      {x - y.mean(0), [](const Array& e) { return e.mean(1); }},
      {y - x.mean(0, {.keepdims = true}), [](const Array& e) { return e.max(); }},
      {abs(x - y), [](const Array& e) { return e.min(0); }},
      {(x > 0) && (y > 0), [](const Array& e) { return e.any(0); }},
      {(x > -3) || (y > 0), [](const Array& e) { return e.all(); }},
      {nan, [](const Array& e) { return e.count(0); }},
      {nan * 2, [](const Array& e) { return e.nansum(1); }},
      {nan + y, [](const Array& e) { return e.nanmax(); }},
      {x * 0.01 + 1, [](const Array& e) { return e.prod(0); }},
      {x + y, [](const Array& e) { return e.var(0); }},  // two passes: read whole
      {x.T() - y, [](const Array& e) { return e.argmax(1); }},
      {x, [](const Array& e) { return e.sum(1, {.keepdims = true}); }},
      {x.T(), [](const Array& e) { return e.mean(); }},
  };
  std::vector<Array> fused, stored;
  for (const auto& [e, reduce] : cases) {
    fused.push_back(reduce(e));
    stored.push_back(reduce(persist(sync, e)));
  }
  const std::vector<Chunk> want = compute(rt(), stored);
  const std::vector<Chunk> got = compute(rt(), fused);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(bit_equal(want[i], got[i])) << "case " << i;
}

}  // namespace
}  // namespace tessera
