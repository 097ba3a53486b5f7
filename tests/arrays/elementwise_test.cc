// Elementwise operations: NumPy semantics, fusion, shared subexpressions, argument errors.
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

// Elementwise expressions over several chunkings, including irregular ones and chunks of size 1.
class Elementwise : public ::testing::TestWithParam<std::vector<std::int64_t>> {};

TEST_P(Elementwise, MatchesNumpy) {
  const Shape c = GetParam();  // chunk shape for the (5, 7) operands
  NumpyOracle np;
  Chunk xd = data({5, 7}, DType::kFloat64, 1), yd = data({7}, DType::kFloat32, 2);
  Chunk id = data({5, 7}, DType::kInt16, 3), jd = data({5, 1}, DType::kInt32, 4);
  Chunk ud = data({5, 7}, DType::kUint8, 5), bd = data({5, 7}, DType::kBool, 6);
  Chunk nd = data({5, 7}, DType::kFloat32, 7, true);
  for (auto [name, chunk] :
       {std::pair{"x", &xd}, {"y", &yd}, {"i", &id}, {"j", &jd}, {"u", &ud}, {"b", &bd}, {"n", &nd}}) {
    np.input(name, *chunk);
  }
  Array x = from_chunk(xd, c), y = from_chunk(yd, {c[1]}), i = from_chunk(id, c),
        j = from_chunk(jd, {c[0], 1});
  Array u = from_chunk(ud, c), b = from_chunk(bd, c), n = from_chunk(nd, c);
  const Tolerance libm{1e-12, 1e-300};
  const Tolerance libm32{2e-6, 1e-30};
  std::vector<std::tuple<std::string, std::string, Array, Tolerance>> cases = {
      {"add_broadcast", "x + y", x + y, {}},
      {"mul_scalar", "x * 2.5", x * 2.5, {}},
      {"sub_div", "(x - y) / 3", (x - y) / 3, {}},
      {"rsub", "1 - x", 1 - x, {}},
      {"rdiv", "2 / x", 2.0 / x, {}},
      {"neg", "-x", -x, {}},
      {"pow", "x ** 2", power(x, 2), libm},
      {"pow_arrays", "np.abs(x) ** y", power(abs(x), y), libm},
      {"int_promote", "i + j", i + j, {}},
      {"uint8_int16", "u + i", u + i, {}},
      {"int_float32", "j + y", j + y, {}},
      {"int16_float32", "i * y", i * y, {}},
      {"int_truediv", "i / j", i / j, {}},
      {"int_scalar_stays", "i + 3", i + 3, {}},
      {"float32_scalar_stays", "y * 0.5", y * 0.5, {}},
      {"int_pow", "i ** 2", power(i, 2), {}},
      {"bool_add", "b + b", b + b, {}},
      {"compare", "x < y", x < y, {}},
      {"compare_scalar", "x >= 1.5", x >= 1.5, {}},
      {"equal_ints", "i == j", i == j, {}},
      {"logical", "(x > 0) & ~b", (x > 0) && !b, {}},
      {"logical_or_xor", "np.logical_xor(x > 0, b) | (i < 0)", logical_xor(x > 0, b) || (i < 0), {}},
      {"where", "np.where(b, x, y)", where(b, x, y), {}},
      {"where_scalar", "np.where(x > 0, x, 0.0)", where(x > 0, x, 0.0), {}},
      {"clip", "np.clip(x, -2, 3.5)", clip(x, -2, 3.5), {}},
      {"clip_int", "np.clip(i, -2, 3)", clip(i, -2, 3), {}},
      {"abs", "np.abs(i)", abs(i), {}},
      {"sqrt", "np.sqrt(np.abs(x))", sqrt(abs(x)), libm},
      {"exp", "np.exp(x / 4)", exp(x / 4), libm},
      {"log", "np.log(np.abs(x) + 1)", log(abs(x) + 1), libm},
      {"sin_cos", "np.sin(x) + np.cos(y)", sin(x) + cos(y),
       libm32},  // cos of float32 y: libm vs NumPy SIMD, 1 ulp
      {"floor", "np.floor(x)", floor(x), {}},
      {"float32_math", "np.sqrt(np.abs(n)) * n", sqrt(abs(n)) * n, libm32},
      {"int16_sqrt", "np.sqrt(np.abs(i))", sqrt(abs(i)), libm32},
      {"isnan", "np.isnan(n)", isnan(n), {}},
      {"maximum_nan", "np.maximum(n, 0)", maximum(n, zeros({5, 7}, c, DType::kFloat32)), {}},
      {"minimum", "np.minimum(x, y)", minimum(x, y), {}},
      {"astype", "x.astype(np.int32)", x.astype(DType::kInt32), {}},
      {"astype_bool", "i.astype(np.float32)", i.astype(DType::kFloat32), {}},
      {"chain", "((x - y) * 2 + 1) / (np.abs(x) + 1)", ((x - y) * 2 + 1) / (abs(x) + 1), libm},
  };
  std::vector<Array> arrays;
  for (const auto& cs : cases) arrays.push_back(std::get<2>(cs));
  std::vector<Chunk> results = compute(rt(), arrays);
  for (std::size_t k = 0; k < cases.size(); ++k) {
    np.expect(std::get<0>(cases[k]), std::get<1>(cases[k]), results[k], std::get<3>(cases[k]));
  }
  np.verify();
}
INSTANTIATE_TEST_SUITE_P(Chunkings, Elementwise,
                         ::testing::Values(std::vector<std::int64_t>{5, 7}, std::vector<std::int64_t>{2, 3},
                                           std::vector<std::int64_t>{1, 1}, std::vector<std::int64_t>{4, 6}));

TEST(Elementwise, BitIdenticalForAnyChunking) {
  Chunk xd = data({13, 11}, DType::kFloat64, 9);
  auto expr = [](const Array& x) { return sqrt(abs(x * 3.1 - 2)) / (x * x + 1) + sin(x); };
  const Chunk a = compute(rt(), expr(from_chunk(xd, {13, 11})));
  EXPECT_TRUE(bit_equal(a, compute(rt(), expr(from_chunk(xd, {1, 4})))));
  EXPECT_TRUE(bit_equal(a, compute(rt(), expr(from_chunk(xd, {5, 11})))));
}

TEST(Elementwise, ChainsFuseIntoOneTaskPerChunk) {
  Array t = random_normal({40, 30, 20}, {10, 15, 20}, 1);  // 8 chunks
  Array expr = ((t * 2 + 1) - t) / (abs(t) + 0.5);
  Graph g;
  std::vector<std::vector<TaskId>> outs;
  build_graph(std::vector<Array>{expr}, g, outs);
  EXPECT_EQ(g.size(), 8u);  // 8 fused elementwise chunks, each making its random chunk itself (a generator)
  // The anomaly costs O(chunks): sources, two reductions' trees, and one fused task per chunk.
  Array anom = (t - t.mean(0)) / t.std(0);
  Graph h;
  build_graph(std::vector<Array>{anom}, h, outs);
  EXPECT_LE(h.size(), 8u + 2 * (8u + 4u + 2u) + 8u);
  EXPECT_EQ(outs[0].size(), 8u);
}

TEST(Elementwise, SharedSubexpressionsStayLinearAndCorrect) {
  // Newton's iteration for sqrt(c): each step uses x twice; fusion must share, not copy, the subtree.
  Chunk cd = data({6, 5}, DType::kFloat64, 51);
  Array c = abs(from_chunk(cd, {3, 5})) + 1;
  Array x = c;
  for (int i = 0; i < 40; ++i) x = 0.5 * (x + c / x);
  Graph g;
  std::vector<std::vector<TaskId>> outs;
  build_graph(std::vector<Array>{x}, g, outs);
  EXPECT_LE(g.size(), 2u * 2u + 2u);  // sources and a bounded number of fused tasks per chunk
  Array y = from_chunk(cd, {2, 2});
  for (int i = 0; i < 30; ++i) y = y * 0.999 + y * 0.001;  // 2^30 copies if subtrees were duplicated
  NumpyOracle np;
  np.input("c", cd);
  np.expect("newton", "np.sqrt(np.abs(c) + 1)", compute(rt(), x), Tolerance{1e-14, 1e-14});
  np.input("y", cd);
  np.expect("shared", "y", compute(rt(), y), Tolerance{1e-12, 1e-12});
  np.verify();
}

TEST(Array, ErrorsNameWhatDisagrees) {
  Array a = zeros({3, 4}, {2, 2}), b = zeros({5}, {5});
  EXPECT_THAT([&] { a + b; }, ::testing::ThrowsMessage<Error>(HasSubstr(
                                  "operands could not be broadcast together with shapes (3, 4) (5,)")));
  EXPECT_THAT([&] { a.sum(2); }, ::testing::ThrowsMessage<Error>(
                                     HasSubstr("axis 2 is out of range for an array with 2 dimensions")));
  EXPECT_THAT([&] { a.mean({0, -2}); }, ::testing::ThrowsMessage<Error>(HasSubstr("given twice")));
  EXPECT_THAT([&] { -(a > 0); }, ::testing::ThrowsMessage<Error>(HasSubstr("negation of a bool array")));
  EXPECT_THAT([&] { a[{Slice::at(3)}]; },
              ::testing::ThrowsMessage<Error>(HasSubstr("index 3 is out of bounds for axis 0 with size 3")));
  EXPECT_THAT([&] { a.transpose({0, 0}); }, ::testing::ThrowsMessage<Error>(HasSubstr("axis 0 repeated")));
  EXPECT_THAT(
      [&] {
        concatenate(std::vector<Array>{a, b}, 0);
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("the number of dimensions differs")));
  EXPECT_THAT(
      [&] {
        a.rechunk(ChunkGrid({3, 4}, {{3}, {1, 2}}));
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("chunks along axis 1 add up to 3")));
  EXPECT_THAT([&] { zeros({0}, {1}).max(); }, ::testing::ThrowsMessage<Error>(HasSubstr("zero-size axis 0")));
  EXPECT_THAT([&] { random_normal({3}, {3}, 1, DType::kInt32); },
              ::testing::ThrowsMessage<Error>(HasSubstr("makes floats, not int32")));
  Array bad = from_function(
      ChunkGrid::regular({4}, {2}), DType::kFloat64,
      [](const ChunkGrid&, std::span<const std::int64_t>) { return Chunk::zeros(DType::kFloat64, {3}); });
  EXPECT_THAT([&] { compute(rt(), bad); },
              ::testing::ThrowsMessage<TaskError>(HasSubstr("expected float64 (2,)")));
}

TEST(ErrorPaths, ArrayArgumentsNameWhatIsWrong) {
  Array a = zeros({3, 4}, {2, 2});
  auto throws = [](auto f, const std::string& text) {
    EXPECT_THAT(f, ::testing::ThrowsMessage<Error>(HasSubstr(text))) << text;
  };
  throws(
      [&] {
        a[{Slice::all(), Slice::all(), Slice::all()}];
      },
      "too many indices: 3 for an array with 2 dimensions");
  throws([&] { a[{Slice::range(0, 2, 0)}]; }, "slice step cannot be zero (axis 0)");
  throws([&] { a.transpose({1}); }, "transpose: 1 axes given for an array with 2 dimensions");
  throws([&] { concatenate(std::vector<Array>{a, zeros({3, 5}, {3, 5})}, 0); }, "they differ on axis 1");
  throws([&] { stack(std::vector<Array>{a, zeros({4, 3}, {2, 2})}); }, "all must have the same shape");
  throws([&] { concatenate(std::vector<Array>{}); }, "no arrays given");
  throws([] { arange(0.0, 1.0, 0.0, 2); }, "arange: step cannot be zero");
  throws([] { linspace(0, 1, -1, 2); }, "linspace: num is -1");
  throws([] { from_function(ChunkGrid::regular({2}, {1}), DType::kFloat64, ChunkMaker()); },
         "needs a callable");
  throws([&] { group_reduce(a, 0, {0, 0, 0}, 0, "sum"); }, "groups is 0");
  throws(
      [&] {
        map_overlap([](std::span<const Chunk* const> in, std::span<const std::int64_t>) { return *in[0]; }, a,
                    {{1, 1, 1}}, DType::kFloat64);
      },
      "depth given for 3 axes of an array with 2");
  throws([&] { quantile(a, 0.5, 2); }, "quantile: axis 2 is out of range");
  throws(
      [&] {
        map_blocks([](std::span<const Chunk* const> in, std::span<const std::int64_t>) { return *in[0]; },
                   std::vector<Array>{a}, DType::kFloat64, ChunkGrid::regular({3, 4}, {3, 4}));
      },
      "there must be one per input chunk");
  throws([&] { a.sum({}, {.split_every = 1}); }, "split_every is 1");
  throws([&] { Array() + a; }, "an operand is an empty Array");
  throws(
      [&] {
        a.rechunk(ChunkGrid::regular({4, 3}, {2, 2}));
      },
      "rechunk: the new chunks describe shape (4, 3)");
}

}  // namespace
}  // namespace tessera
