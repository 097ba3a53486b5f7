#include "tessera/arrays/array.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

#include "numpy_oracle.h"
#include "tessera/arrays/eigen.h"
#include "tessera/runtime/error.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using testing::NumpyOracle;
using testing::Tolerance;

Runtime& rt() {
  static Runtime runtime(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = 2});
  return runtime;
}

// Deterministic test data: values in [-10, 10) with a few NaNs when asked.
Chunk data(const Shape& shape, DType dtype, std::uint32_t seed, bool with_nans = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-10, 10);
  Chunk c(DType::kFloat64, shape);
  auto v = c.data<double>();
  for (double& x : v) x = u(rng);
  if (with_nans) {
    for (std::size_t i = 0; i < v.size(); i += 7) v[i] = std::numeric_limits<double>::quiet_NaN();
  }
  if (dtype == DType::kBool) {
    Chunk b(DType::kBool, shape);
    for (std::size_t i = 0; i < v.size(); ++i) b.data<bool>()[i] = v[i] > 0;
    return b;
  }
  if (!is_float(dtype)) {
    for (double& x : v) x = std::floor(x) + (dtype == DType::kUint8 ? 10 : 0);
  }
  return c.astype(dtype);
}

bool bit_equal(const Chunk& a, const Chunk& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.bytes(), b.bytes(), a.nbytes()) == 0;
}

TEST(Chunk, ShapesGridsAndEncoding) {
  EXPECT_EQ(format_shape({730, 360, 720}), "(730, 360, 720)");
  EXPECT_EQ(format_shape({5}), "(5,)");
  ChunkGrid g = ChunkGrid::regular({10, 7}, {4, -1});
  EXPECT_EQ(g.chunks(0), (std::vector<std::int64_t>{4, 4, 2}));
  EXPECT_EQ(g.chunks(1), (std::vector<std::int64_t>{7}));
  EXPECT_EQ(g.offset(0, 2), 8);
  EXPECT_EQ(g.chunk_of(0, 7), 1);
  EXPECT_EQ(g.total_chunks(), 3);
  EXPECT_EQ(g.describe(), "(4, 7)");
  EXPECT_THAT(
      [] {
        ChunkGrid({10, 7}, {{4, 4, 1}, {7}});
      },
      ::testing::ThrowsMessage<Error>(
          HasSubstr("chunks along axis 0 add up to 9, but the axis has length 10")));
  EXPECT_THAT(
      [] {
        ChunkGrid({10}, {{10, 0}});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("chunks must be positive")));

  Chunk c = data({3, 4}, DType::kFloat32, 1);
  Value v = Value::of(c);
  std::vector<std::byte> bytes(v.ops()->encoded_size(v.data()));
  v.ops()->encode(v.data(), bytes.data());
  std::byte* dest = nullptr;
  auto object = v.ops()->receive(bytes.size(), &dest);
  std::memcpy(dest, bytes.data(), bytes.size());
  v.ops()->finish_receive(const_cast<void*>(object.get()));
  EXPECT_TRUE(bit_equal(Value::adopt(object, *v.ops()).get<Chunk>(), c));
  EXPECT_TRUE(bit_equal(Value::decode(*v.ops(), bytes.data(), bytes.size()).get<Chunk>(), c));
  EXPECT_THAT([&] { c.data<double>(); },
              ::testing::ThrowsMessage<Error>(HasSubstr("holds float32 elements, not float64")));
}

TEST(DType, NumpyPromotion) {
  EXPECT_EQ(promote(DType::kInt32, DType::kFloat32), DType::kFloat64);
  EXPECT_EQ(promote(DType::kInt16, DType::kFloat32), DType::kFloat32);
  EXPECT_EQ(promote(DType::kUint8, DType::kInt16), DType::kInt16);
  EXPECT_EQ(promote(DType::kBool, DType::kUint8), DType::kUint8);
  EXPECT_EQ(promote(DType::kInt64, DType::kInt32), DType::kInt64);
  EXPECT_EQ(promote_with_scalar(DType::kFloat32, ScalarKind::kFloat), DType::kFloat32);
  EXPECT_EQ(promote_with_scalar(DType::kInt16, ScalarKind::kInt), DType::kInt16);
  EXPECT_EQ(promote_with_scalar(DType::kInt16, ScalarKind::kFloat), DType::kFloat64);
  EXPECT_EQ(parse_dtype("float32"), DType::kFloat32);
  EXPECT_THAT([] { parse_dtype("float16"); },
              ::testing::ThrowsMessage<Error>(HasSubstr("unknown dtype \"float16\"")));
}

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

class Reductions : public ::testing::TestWithParam<std::tuple<std::vector<std::int64_t>, int>> {};

TEST_P(Reductions, MatchNumpy) {
  const auto& [c, split] = GetParam();
  NumpyOracle np;
  Chunk xd = data({6, 5, 4}, DType::kFloat64, 11), nd = data({6, 5, 4}, DType::kFloat32, 12, true);
  Chunk id = data({6, 5, 4}, DType::kInt32, 13), ud = data({6, 5, 4}, DType::kUint8, 14);
  Chunk bd = data({6, 5, 4}, DType::kBool, 15);
  np.input("x", xd);
  np.input("n", nd);
  np.input("i", id);
  np.input("u", ud);
  np.input("b", bd);
  Array x = from_chunk(xd, c), n = from_chunk(nd, c), i = from_chunk(id, c), u = from_chunk(ud, c);
  Array b = from_chunk(bd, c);
  const ReduceOptions o{.keepdims = false, .split_every = split};
  const ReduceOptions k{.keepdims = true, .split_every = split};
  const Tolerance t64{1e-12, 1e-12};
  const Tolerance t32{1e-5, 1e-5};
  std::vector<std::tuple<std::string, std::string, Array, Tolerance, std::optional<std::string>>> cases = {
      {"sum_all", "x.sum()", x.sum({}, o), t64, {}},
      {"sum_0", "x.sum(axis=0)", x.sum(0, o), t64, {}},
      {"sum_12_keep", "x.sum(axis=(1, 2), keepdims=True)", x.sum({1, 2}, k), t64, {}},
      {"sum_neg", "x.sum(axis=-1)", x.sum(-1, o), t64, {}},
      {"sum_none", "x.sum(axis=())", x.sum(Axes(std::vector<int>{}), o), t64, {}},
      {"sum_int", "i.sum(axis=1)", i.sum(1, o), {}, {}},
      {"sum_uint8", "u.sum(axis=0)", u.sum(0, o), {}, std::string("int64")},  // NumPy: uint64
      {"sum_bool", "b.sum()", b.sum({}, o), {}, {}},
      {"prod", "(x / 5).prod(axis=2)", (x / 5).prod(2, o), t64, {}},
      {"mean", "x.mean(axis=(0, 2))", x.mean({0, 2}, o), t64, {}},
      {"mean_int", "i.mean(axis=0)", i.mean(0, o), t64, {}},
      {"mean_f32", "n.mean(axis=1)", n.mean(1, o), t32, {}},
      {"min", "x.min(axis=1)", x.min(1, o), {}, {}},
      {"max_keep", "i.max(axis=0, keepdims=True)", i.max(0, k), {}, {}},
      {"min_nan", "n.min(axis=2)", n.min(2, o), {}, {}},
      {"var", "x.var(axis=0)", x.var(0, o), t64, {}},
      {"var_ddof", "x.var(axis=(0, 1), ddof=1)", x.var({0, 1}, o, 1), t64, {}},
      {"std", "x.std()", x.std({}, o), t64, {}},
      {"std_int", "i.std(axis=2)", i.std(2, o), t64, {}},
      {"count", "(~np.isnan(n)).sum(axis=1)", n.count(1, o), {}, {}},
      {"any", "(x > 9).any(axis=0)", (x > 9).any(0, o), {}, {}},
      {"all", "(x > -9.5).all(axis=(1, 2))", (x > -9.5).all({1, 2}, o), {}, {}},
      {"nansum", "np.nansum(n, axis=0)", n.nansum(0, o), t32, {}},
      {"nanmean", "np.nanmean(n, axis=(0, 2))", n.nanmean({0, 2}, o), t32, {}},
      {"nanmin", "np.nanmin(n, axis=1)", n.nanmin(1, o), {}, {}},
      {"nanmax", "np.nanmax(n)", n.nanmax({}, o), {}, {}},
      {"nanvar", "np.nanvar(n, axis=0)", n.nanvar(0, o), t32, {}},
      {"nanstd", "np.nanstd(n, axis=2, ddof=1)", n.nanstd(2, o, 1), t32, {}},
      {"argmin", "x.argmin(axis=0)", x.argmin(0, o), {}, {}},
      {"argmax", "i.argmax(axis=1)", i.argmax(1, o), {}, {}},
      {"argmax_nan", "n.argmax(axis=2)", n.argmax(2, o), {}, {}},
      {"argmin_keep", "np.expand_dims(x.argmin(axis=2), 2)", x.argmin(2, k), {}, {}},
  };
  std::vector<Array> arrays;
  for (const auto& cs : cases) arrays.push_back(std::get<2>(cs));
  std::vector<Chunk> results = compute(rt(), arrays);
  for (std::size_t q = 0; q < cases.size(); ++q) {
    np.expect(std::get<0>(cases[q]), std::get<1>(cases[q]), results[q], std::get<3>(cases[q]),
              std::get<4>(cases[q]));
  }
  np.verify();
}

INSTANTIATE_TEST_SUITE_P(ChunkingsAndFanIn, Reductions,
                         ::testing::Values(std::make_tuple(std::vector<std::int64_t>{6, 5, 4}, 0),
                                           std::make_tuple(std::vector<std::int64_t>{2, 2, 3}, 2),
                                           std::make_tuple(std::vector<std::int64_t>{1, 5, 1}, 3),
                                           std::make_tuple(std::vector<std::int64_t>{4, 1, 2}, 0)));

TEST(Reductions, BitIdenticalAcrossExecutorsForAChunking) {
  Array x = random_normal({300, 70}, {23, 9}, 5);
  Array r = ((x - x.mean(0)) / x.std(0)).sum(1, {.split_every = 3});
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  const Chunk a = compute(sync, r);
  for (int threads : {1, 2, 4}) {
    Runtime t(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = threads});
    EXPECT_TRUE(bit_equal(a, compute(t, r))) << threads << " threads";
  }
}

TEST(Shape, SlicingTransposeRechunkJoiningMatchNumpy) {
  NumpyOracle np;
  Chunk xd = data({9, 8}, DType::kFloat64, 21), yd = data({4, 8}, DType::kInt32, 22);
  np.input("x", xd);
  np.input("y", yd);
  for (const Shape& c : {Shape{9, 8}, Shape{2, 3}, Shape{1, 5}}) {
    Array x = from_chunk(xd, c), y = from_chunk(yd, {3, c[1]});
    const std::string s = "[" + format_shape(c) + "]";
    using S = Slice;
    std::vector<std::tuple<std::string, std::string, Array>> cases = {
        {"slice", "x[1:7, 2:]", x[{S::range(1, 7), S::range(2, std::nullopt)}]},
        {"step", "x[::2, 1::3]", x[{S::range({}, {}, 2), S::range(1, {}, 3)}]},
        {"negative", "x[-3:, -1]", x[{S::range(-3, {}), S::at(-1)}]},
        {"reverse", "x[::-1, 6:1:-2]", x[{S::range({}, {}, -1), S::range(6, 1, -2)}]},
        {"index", "x[4]", x[{S::at(4)}]},
        {"empty", "x[5:2]", x[{S::range(5, 2)}]},
        {"transpose", "x.T", x.T()},
        {"moveaxis", "np.transpose(x[np.newaxis], (1, 0, 2))",
         stack(std::vector<Array>{x}, 0).transpose({1, 0, 2})},
        {"rechunk", "x", x.rechunk({4, -1})},
        {"rechunk_irregular", "x * 1", x.rechunk(ChunkGrid({9, 8}, {{1, 7, 1}, {5, 3}})) * 1},
        {"concatenate", "np.concatenate([x, y], axis=0)", concatenate(std::vector<Array>{x, y}, 0)},
        {"concatenate_1", "np.concatenate([x, x * 2], axis=1)", concatenate(std::vector<Array>{x, x * 2}, 1)},
        {"stack", "np.stack([x, x + 1], axis=1)", stack(std::vector<Array>{x, x + 1}, 1)},
        {"seed", "((x + x.T) - x.mean(axis=0)).sum()", Array()},
    };
    std::vector<Array> arrays;
    for (auto& cs : cases) {
      if (std::get<0>(cs) == "seed") {
        Array sq = x[{S::range(0, 8), S::all()}];  // square, for X + X.T
        std::get<2>(cs) = ((sq + sq.T()) - sq.mean(0)).sum();
        std::get<1>(cs) = "((x[:8] + x[:8].T) - x[:8].mean(axis=0)).sum()";
      }
      arrays.push_back(std::get<2>(cs));
    }
    std::vector<Chunk> results = compute(rt(), arrays);
    for (std::size_t k = 0; k < cases.size(); ++k) {
      np.expect(std::get<0>(cases[k]) + s, std::get<1>(cases[k]), results[k],
                std::get<0>(cases[k]) == "seed" ? Tolerance{1e-12, 1e-9} : Tolerance{});
    }
    EXPECT_EQ(x.rechunk({4, -1}).chunks().chunks(0), (std::vector<std::int64_t>{4, 4, 1}));
  }
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

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(Pipelines, GroupedReductionsWeightedMeansScansAndBlocksMatchNumpy) {
  NumpyOracle np;
  // A small "climate" cube: 40 days x 3 lat x 4 lon with missing values, labels = a 10-day "month".
  Chunk td = data({40, 3, 4}, DType::kFloat32, 31, true);
  Chunk lat = Chunk::from<double>({3}, std::vector<double>{-30.0, 0.0, 45.0});
  np.input("t", td);
  np.input("lat", lat);
  std::vector<std::int64_t> month(40);
  for (int d = 0; d < 40; ++d) month[static_cast<std::size_t>(d)] = d / 10;
  month[3] = -1;  // left out
  std::vector<std::int32_t> month32(month.begin(), month.end());
  np.input("month", Chunk::from<std::int32_t>({40}, month32));
  const std::string groups = "np.stack([{f}(t[month == g], axis=0) for g in range(4)])";
  auto grouped = [&](const std::string& f) {
    std::string s = groups;
    s.replace(s.find("{f}"), 3, f);
    return s;
  };
  for (const Shape& c : {Shape{40, 3, 4}, Shape{7, 2, 3}, Shape{1, 3, 1}}) {
    Array t = from_chunk(td, c);
    // (3, 1) weights broadcast over (day, lat, lon) like NumPy's lat[:, None].
    Array w = cos(from_chunk(Chunk::from<double>({3, 1}, lat.data<double>()), {c[1], 1}) *
                  (3.141592653589793 / 180.0));
    const std::string s = format_shape(c);
    std::vector<std::tuple<std::string, std::string, Array, Tolerance>> cases = {
        {"group_nanmean" + s, grouped("np.nanmean"), group_reduce(t, 0, month, 4, "nanmean"),
         Tolerance{1e-5, 1e-6}},
        {"group_nanmax" + s, grouped("np.nanmax"), group_reduce(t, 0, month, 4, "nanmax"), Tolerance{}},
        {"group_count" + s, "np.stack([(~np.isnan(t[month == g])).sum(axis=0) for g in range(4)])",
         group_reduce(t, 0, month, 4, "count"), Tolerance{}},
        {"group_nanstd" + s, grouped("np.nanstd"), group_reduce(t, 0, month, 4, "nanstd"),
         Tolerance{1e-5, 1e-6}},
        {"anomaly" + s, "t - " + grouped("np.nanmean") + "[np.minimum(np.maximum(month, 0), 3)]", Array(),
         Tolerance{1e-5, 1e-5}},
        {"weighted_mean" + s,
         "np.nansum(t * np.cos(np.deg2rad(lat))[None, :, None], axis=(1, 2)) / np.sum(np.where(np.isnan(t), "
         "0, "
         "np.cos(np.deg2rad(lat))[None, :, None]), axis=(1, 2))",
         weighted_mean(t, w, {1, 2}), Tolerance{1e-5, 1e-6}},
        {"cumsum" + s, "np.cumsum(np.nan_to_num(t), axis=0)", cumsum(where(isnan(t), 0.0f, t), 0),
         Tolerance{1e-5, 1e-4}},
        {"cumprod_int" + s, "np.cumprod((t > 0).astype(np.int32) + 1, axis=2)",
         cumprod((t > 0).astype(DType::kInt32) + 1, 2), Tolerance{}},
        {"map_blocks" + s, "t * 2",
         map_blocks(
             [](std::span<const Chunk* const> in, std::span<const std::int64_t>) {
               Chunk out = *in[0];
               for (float& v : out.data<float>()) v *= 2;
               return out;
             },
             std::vector<Array>{t}, DType::kFloat32),
         Tolerance{}},
    };
    std::vector<Array> arrays;
    for (auto& cs : cases) {
      if (std::get<0>(cs).rfind("anomaly", 0) == 0) {
        // Monthly anomaly: subtract each day's month climatology (day 3 belongs to month 0 here).
        std::vector<std::int64_t> m = month;
        m[3] = 0;
        Array clim = group_reduce(t, 0, month, 4, "nanmean");
        std::vector<Array> per_day;
        for (int d = 0; d < 40; ++d)
          per_day.push_back(
              clim[{Slice::range(m[static_cast<std::size_t>(d)], m[static_cast<std::size_t>(d)] + 1)}]);
        std::get<2>(cs) = t - concatenate(per_day, 0);
      }
      arrays.push_back(std::get<2>(cs));
    }
    std::vector<Chunk> results = compute(rt(), arrays);
    for (std::size_t k = 0; k < cases.size(); ++k) {
      np.expect(std::get<0>(cases[k]), std::get<1>(cases[k]), results[k], std::get<3>(cases[k]));
    }
  }
  np.verify();
}

TEST(Pipelines, ErrorsForGroupsScansAndBlocks) {
  Array t = zeros({6, 2}, {3, 2});
  EXPECT_THAT(
      [&] {
        group_reduce(t, 0, {0, 1}, 2, "mean");
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("2 labels for axis 0 of length 6")));
  EXPECT_THAT(
      [&] {
        group_reduce(t, 0, {0, 1, 2, 0, 0, 0}, 2, "mean");
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("label 2 at position 2 is not a group in [0, 2)")));
  EXPECT_THAT(
      [&] {
        group_reduce(t, 0, {0, 0, 0, 0, 0, 0}, 1, "median");
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("unknown operation \"median\"")));
  EXPECT_THAT([&] { cumsum(t, 2); }, ::testing::ThrowsMessage<Error>(HasSubstr("axis 2 is out of range")));
  EXPECT_THAT(
      [&] {
        map_blocks([](std::span<const Chunk* const> in, std::span<const std::int64_t>) { return *in[0]; },
                   std::vector<Array>{t, t.rechunk({2, 2})}, DType::kFloat64);
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("is not chunked like input 0")));
  Array wrong = map_blocks([](std::span<const Chunk* const>,
                              std::span<const std::int64_t>) { return Chunk::zeros(DType::kFloat64, {1}); },
                           std::vector<Array>{t}, DType::kFloat64, std::nullopt, "shrink");
  // Every chunk fails; with several threads any of them may be the first reported.
  EXPECT_THAT([&] { compute(rt(), wrong); },
              ::testing::ThrowsMessage<TaskError>(
                  ::testing::AllOf(HasSubstr("the block function returned float64 (1,) for chunk ("),
                                   HasSubstr("expected float64 (3, 2)"))));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(Pipelines, RollingQuantilesMatmulAndAxesMatchNumpy) {
  NumpyOracle np;
  Chunk td = data({30, 4, 3}, DType::kFloat64, 41, true), id = data({30, 4}, DType::kInt32, 42);
  Chunk ad = data({9, 7}, DType::kFloat64, 43), bd = data({7, 5}, DType::kFloat32, 44);
  np.input("t", td);
  np.input("i", id);
  np.input("a", ad);
  np.input("b", bd);
  const std::string rolling =
      "np.concatenate([np.full((6,) + t.shape[1:], np.nan), "
      "np.lib.stride_tricks.sliding_window_view(t, 7, axis=0).mean(axis=-1)])";
  for (const Shape& c : {Shape{30, 4, 3}, Shape{4, 3, 2}, Shape{1, 4, 3}}) {
    Array t = from_chunk(td, c), i = from_chunk(id, {c[0], c[1]});
    Array a = from_chunk(ad, {c[0], c[1]}), b = from_chunk(bd, {c[1] + 1, c[2]});
    const std::string s = format_shape(c);
    std::vector<std::tuple<std::string, std::string, Array, Tolerance>> cases = {
        {"rolling" + s, rolling, rolling_mean(t, 0, 7), Tolerance{1e-12, 1e-12}},
        {"rolling_int" + s,
         "np.concatenate([np.full((2, 4), np.nan), np.lib.stride_tricks.sliding_window_view(i, 3, "
         "axis=0).mean(axis=-1)])",
         rolling_mean(i, 0, 3), Tolerance{1e-12, 1e-12}},
        {"rolling_last_axis" + s,
         "np.concatenate([np.full(t.shape[:2] + (1,), np.nan), np.lib.stride_tricks.sliding_window_view(t, "
         "2, axis=2).mean(axis=-1)], axis=2)",
         rolling_mean(t, 2, 2), Tolerance{1e-12, 1e-12}},
        {"quantile" + s, "np.quantile(t, 0.3, axis=0)", quantile(t, 0.3, 0), Tolerance{1e-12, 1e-12}},
        {"nanquantile" + s, "np.nanquantile(t, 0.9, axis=1, keepdims=True)", nanquantile(t, 0.9, 1, true),
         Tolerance{1e-12, 1e-12}},
        {"median_int" + s, "np.median(i, axis=0)", median(i, 0), Tolerance{1e-12, 1e-12}},
        {"matmul" + s, "a[:, :7] @ b", matmul(a[{Slice::all(), Slice::range(0, 7)}], b),
         Tolerance{1e-12, 1e-12}},
        {"matmul_t" + s, "a.T @ a", matmul(a.T(), a), Tolerance{1e-12, 1e-10}},
        {"squeeze" + s, "np.squeeze(t[:, :1], axis=1)", squeeze(t[{Slice::all(), Slice::range(0, 1)}], 1),
         Tolerance{}},
        {"expand_dims" + s, "np.expand_dims(i, 1)", expand_dims(i, 1), Tolerance{}},
    };
    std::vector<Array> arrays;
    for (const auto& cs : cases) arrays.push_back(std::get<2>(cs));
    std::vector<Chunk> results = compute(rt(), arrays);
    for (std::size_t k = 0; k < cases.size(); ++k) {
      np.expect(std::get<0>(cases[k]), std::get<1>(cases[k]), results[k], std::get<3>(cases[k]));
    }
  }
  np.verify();
  EXPECT_THAT(
      [] {
        matmul(zeros({3, 4}, {2, 2}), zeros({5, 2}, {5, 2}));
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("shapes (3, 4) and (5, 2) do not align (4 != 5)")));
  EXPECT_THAT(
      [] {
        matmul(zeros({3, 4}, {2, 2}, DType::kInt32), zeros({4, 2}, {2, 2}, DType::kInt32));
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("tessera multiplies float32 or float64")));
  EXPECT_THAT([] { quantile(zeros({3}, {3}), 1.5, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("q is 1.5")));
  EXPECT_THAT([] { rolling_mean(zeros({3}, {3}), 0, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("window is 0")));
  EXPECT_THAT(
      [] {
        squeeze(zeros({3, 2}, {3, 2}), 1);
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("axis 1 has length 2, not 1")));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(ReviewRegressions, SharedSubexpressionsStayLinearAndCorrect) {
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

TEST(ReviewRegressions, IntegerScalarsWidenLikeNumpyAndConversionsAreDefined) {
  NumpyOracle np;
  Chunk ud = data({4, 5}, DType::kUint8, 52), id = data({4, 5}, DType::kInt16, 53);
  Chunk nd = data({4, 5}, DType::kFloat32, 54, true);
  np.input("u", ud);
  np.input("i", id);
  np.input("n", nd);
  Array u = from_chunk(ud, {2, 5}), i = from_chunk(id, {2, 5}), n = from_chunk(nd, {2, 5});
  np.expect("uint8_lt_minus1", "u < -1", compute(rt(), u < -1));
  np.expect("uint8_eq_256", "u == 256", compute(rt(), u == 256));
  np.expect("int16_plus_big", "i + 100000", compute(rt(), i + 100000));
  np.expect("nan_to_int", "n.astype(np.int32)", compute(rt(), n.astype(DType::kInt32)));
  np.verify();
  EXPECT_NO_THROW(where(n > 0, n, std::numeric_limits<double>::quiet_NaN()));
}

TEST(ReviewRegressions, RollingMeanIsExactAndChunkingIndependent) {
  std::vector<double> v{std::numeric_limits<double>::infinity(), 1, 2, 3, 1e16, 1, 1, 1, -5, 7};
  Chunk c = Chunk::from<double>({10}, v);
  const Chunk a = compute(rt(), rolling_mean(from_chunk(c, {10}), 0, 2));
  const Chunk b = compute(rt(), rolling_mean(from_chunk(c, {3}), 0, 2));
  EXPECT_TRUE(bit_equal(a, b));
  EXPECT_TRUE(std::isnan(a.flat(0)));
  EXPECT_EQ(a.flat(1), std::numeric_limits<double>::infinity());
  EXPECT_EQ(a.flat(2), 1.5);
  EXPECT_EQ(a.flat(6), 1.0);  // (1 + 1) / 2 after 1e16 left the window
  EXPECT_EQ(compute(rt(), weighted_mean(from_chunk(c, {4}), ones({10}, {5}))).flat(0),
            std::numeric_limits<double>::infinity());
}

TEST(ReviewRegressions, EdgeArgumentsAndGraphsOutlivingArrays) {
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

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(Shape, TakeMatchesNumpy) {
  NumpyOracle np;
  Chunk xd = data({9, 6}, DType::kFloat64, 61);
  np.input("x", xd);
  for (const Shape& c : {Shape{9, 6}, Shape{2, 4}, Shape{1, 1}}) {
    Array x = from_chunk(xd, c);
    const std::string s = format_shape(c);
    np.expect("take0" + s, "np.take(x, [8, 0, 3, 3, -1, 5, 2], axis=0)",
              compute(rt(), take(x, {8, 0, 3, 3, -1, 5, 2}, 0)));
    np.expect("take1" + s, "np.take(x, [5, 1], axis=1)", compute(rt(), take(x, {5, 1}, -1)));
    np.expect("take_empty" + s, "np.take(x, [], axis=0)", compute(rt(), take(x, {}, 0)));
  }
  np.verify();
  EXPECT_THAT([] { take(zeros({4}, {2}), {4}, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("index 4 is out of bounds for axis 0 with size 4")));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// A 5-point Laplacian on the interior of an extended block (its halo rows and columns are left at 0).
Chunk laplacian(std::span<const Chunk* const> in, std::span<const std::int64_t>) {
  const Chunk& e = *in[0];
  const std::int64_t r = e.shape()[0], c = e.shape()[1];
  Chunk out = Chunk::zeros(DType::kFloat64, e.shape());
  auto x = e.data<double>();
  auto o = out.data<double>();
  for (std::int64_t i = 1; i + 1 < r; ++i) {
    for (std::int64_t j = 1; j + 1 < c; ++j) {
      const auto k = static_cast<std::size_t>(i * c + j);
      o[k] = x[k - static_cast<std::size_t>(c)] + x[k + static_cast<std::size_t>(c)] + x[k - 1] + x[k + 1] -
             4 * x[k];
    }
  }
  return out;
}

TEST(Pipelines, MapOverlapStencilsMatchNumpy) {
  NumpyOracle np;
  Chunk xd = data({8, 7}, DType::kFloat64, 71);
  np.input("x", xd);
  const std::string stencil = "(p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1])";
  auto padded = [&](const std::string& pad) {
    std::string s = stencil;
    for (std::size_t i; (i = s.find("p[")) != std::string::npos;) s.replace(i, 1, "(" + pad + ")");
    return s;
  };
  for (const Shape& c : {Shape{8, 7}, Shape{3, 2}, Shape{1, 7}}) {
    Array x = from_chunk(xd, c);
    const std::string s = format_shape(c);
    np.expect("periodic" + s, padded("np.pad(x, 1, mode='wrap')"),
              compute(rt(), map_overlap(laplacian, x, {{1, 1}, Boundary::kPeriodic}, DType::kFloat64)),
              Tolerance{1e-13, 1e-13});
    np.expect("reflect" + s, padded("np.pad(x, 1, mode='symmetric')"),
              compute(rt(), map_overlap(laplacian, x, {{1, 1}, Boundary::kReflect}, DType::kFloat64)),
              Tolerance{1e-13, 1e-13});
    np.expect("constant" + s, padded("np.pad(x, 1, mode='constant', constant_values=2.5)"),
              compute(rt(), map_overlap(laplacian, x, {{1, 1}, Boundary::kConstant, 2.5}, DType::kFloat64)),
              Tolerance{1e-13, 1e-13});
    np.expect("none_identity" + s, "x",
              compute(rt(), map_overlap([](std::span<const Chunk* const> in,
                                           std::span<const std::int64_t>) { return *in[0]; },
                                        x, {{2, 1}, Boundary::kNone}, DType::kFloat64)));
  }
  np.verify();
  EXPECT_THAT(
      [] {
        map_overlap(laplacian, zeros({3, 3}, {2, 2}), {{4, 1}, Boundary::kPeriodic}, DType::kFloat64);
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("depth 4 on axis 0 (length 3)")));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

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

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(ErrorPaths, ChunksRejectBadShapesIndexesAndBytes) {
  EXPECT_THAT(
      [] {
        Chunk(DType::kFloat64, {3, -1});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("shape (3, -1) has a negative extent on axis 1")));
  EXPECT_THAT(
      [] {
        Chunk::from<int>({2, 2}, std::vector<int>{1, 2, 3});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("3 values do not fill a chunk of shape (2, 2)")));
  Chunk c = Chunk::zeros(DType::kInt32, {2, 3});
  EXPECT_THAT([&] { c.at({1}); },
              ::testing::ThrowsMessage<Error>(HasSubstr("index with 1 components for a 2-d chunk")));
  EXPECT_THAT(
      [&] {
        c.at({1, 3});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("index 3 is out of range for axis 1 of size 3")));
  std::vector<std::byte> bytes(c.encoded_size());
  c.encode(bytes.data());
  bytes[4] = std::byte{99};  // dtype byte
  EXPECT_THAT([&] { Chunk::decode(bytes.data(), bytes.size()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("encoded chunk header is damaged")));
  EXPECT_THAT([&] { Chunk::decode(bytes.data(), 3); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not an encoded chunk")));
  c.encode(bytes.data());
  EXPECT_THAT([&] { Chunk::decode(bytes.data(), bytes.size() - 4); },
              ::testing::ThrowsMessage<Error>(HasSubstr("expected")));
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

namespace tessera {
namespace {

// Chunkings of a (6, 4, 10) array: one chunk, regular, irregular, chunks of 1, and mixtures that force
// reshape to rechunk (or not).
std::vector<ChunkGrid> reshape_chunkings() {
  const Shape s{6, 4, 10};
  return {ChunkGrid::regular(s, {6, 4, 10}),
          ChunkGrid::regular(s, {2, 2, 3}),
          ChunkGrid::regular(s, {1, 4, 5}),
          ChunkGrid::regular(s, {1, 1, 1}),
          ChunkGrid(s, {{1, 4, 1}, {3, 1}, {2, 7, 1}}),
          ChunkGrid(s, {{6}, {1, 1, 1, 1}, {10}})};
}

TEST(Shape, ReshapeMatchesNumpy) {
  NumpyOracle np;
  Chunk xd = data({6, 4, 10}, DType::kFloat64, 61), id = data({6, 4, 10}, DType::kInt32, 62);
  np.input("x", xd);
  np.input("i", id);
  int k = 0;
  for (const ChunkGrid& grid : reshape_chunkings()) {
    Array x = from_chunk(xd, {6, 4, 10}).rechunk(grid), i = from_chunk(id, {6, 4, 10}).rechunk(grid);
    const std::string s = "[" + std::to_string(k++) + " " + grid.describe() + "]";
    std::vector<std::tuple<std::string, std::string, Array>> cases = {
        {"merge_leading", "x.reshape(24, 10)", reshape(x, {24, 10})},
        {"merge_trailing", "x.reshape(6, 40)", reshape(x, {6, 40})},
        {"flatten", "x.reshape(-1)", reshape(x, {-1})},
        {"split_leading", "x.reshape(3, 2, 4, 10)", reshape(x, {3, 2, 4, 10})},
        {"split_trailing", "x.reshape(6, 4, 2, 5)", reshape(x, {6, 4, -1, 5})},
        {"merge_and_split", "x.reshape(4, 6, 10)", reshape(x, {4, 6, 10})},
        {"all_in_one_group", "x.reshape(12, 4, 5)", reshape(x, {12, -1, 5})},
        {"ones_added", "x.reshape(1, 6, 1, 4, 10, 1)", reshape(x, {1, 6, 1, 4, 10, 1})},
        {"row", "x.reshape(1, 240)", reshape(x, {1, 240})},
        {"round_trip", "x", reshape(reshape(x, {24, 10}), {6, 4, 10})},
        {"flat_to_grid", "x.reshape(-1).reshape(20, 12)", reshape(reshape(x, {-1}), {20, 12})},
        {"then_elementwise", "x.reshape(24, 10) * 2 + x.reshape(24, 10).T.T",
         reshape(x, {24, 10}) * 2 + reshape(x, {24, 10}).T().T()},
        {"int", "i.reshape(2, 3, 40)", reshape(i, {2, 3, 40})},
        {"sliced", "x[1:5, ::-1].reshape(4, 2, 2, 10)",
         reshape(x[{Slice::range(1, 5), Slice::range({}, {}, -1)}], {4, 2, 2, 10})},
        {"reduced", "x.reshape(24, 10).sum(axis=0)", reshape(x, {24, 10}).sum(0)},
    };
    std::vector<Array> arrays;
    for (auto& cs : cases) arrays.push_back(std::get<2>(cs));
    std::vector<Chunk> results = compute(rt(), arrays);
    for (std::size_t c = 0; c < cases.size(); ++c) {
      np.expect(std::get<0>(cases[c]) + s, std::get<1>(cases[c]), results[c],
                std::get<0>(cases[c]) == "reduced" ? Tolerance{1e-12, 1e-12} : Tolerance{});
    }
  }
  Array z = zeros({0, 4}, {1, 2});
  np.expect("empty", "np.zeros((0, 4)).reshape(2, 0, 2)", compute(rt(), reshape(z, {2, -1, 2})));
  np.expect("scalar", "np.full((1, 1), 3.0).reshape(())",
            compute(rt(), reshape(full({1, 1}, {1, 1}, 3.0), {})));
  np.verify();
}

TEST(Shape, ReshapeIsBlockwiseWhereChunksAllowAndRechunksLikeDask) {
  const Shape s{6, 4, 10};
  auto chunks_of = [](const Array& a, int axis) { return a.chunks().chunks(axis); };
  using V = std::vector<std::int64_t>;
  // Chunks of 1 on the leading merged axis, the trailing one whole: one output chunk per input chunk.
  Array a = zeros(s, {1, 4, 5});
  EXPECT_EQ(chunks_of(reshape(a, {24, 10}), 0), V(6, 4));
  EXPECT_EQ(reshape(a, {24, 10}).chunks().total_chunks(), a.chunks().total_chunks());
  // Only the last merged axis chunked, the ones before it in chunks of 1.
  Array b = zeros(s, {1, 2, 10});
  EXPECT_EQ(chunks_of(reshape(b, {24, 10}), 0), V(12, 2));
  // Dask's rechunk: the trailing merged axis becomes one chunk, the leading one is cut finer (here (2, 2, 2)
  // into six 1s) so the number of chunks stays the same.
  Array c = zeros(s, {2, 2, 10});
  EXPECT_EQ(chunks_of(reshape(c, {24, 10}), 0), V(6, 4));
  EXPECT_EQ(chunks_of(reshape(c, {24, 10}), 1), V{10});
  // Splitting: chunks that are whole multiples of the trailing output extent stay as they are.
  Array d = zeros({240}, {40});
  Array ds = reshape(d, {6, 4, 10});
  EXPECT_EQ(chunks_of(ds, 0), V(6, 1));
  EXPECT_EQ(chunks_of(ds, 1), V{4});
  // Chunks within one row of the trailing axes split along the axis that holds them.
  Array e = reshape(zeros({240}, {5}), {6, 4, 10});
  EXPECT_EQ(chunks_of(e, 0), V(6, 1));
  EXPECT_EQ(chunks_of(e, 1), V(4, 1));
  EXPECT_EQ(chunks_of(e, 2), (V{5, 5}));
  // Otherwise the axis is cut at multiples of the trailing extent, each remainder carried into the next chunk
  // (Dask's contract_tuple): 70, 70, 70, 30 -> 40, 80, 80, 40.
  Array f = reshape(zeros({240}, {70}), {6, 40});
  EXPECT_EQ(chunks_of(f, 0), (V{1, 2, 2, 1}));
  EXPECT_EQ(chunks_of(f, 1), V{40});
}

TEST(Shape, MoveaxisMatchesNumpy) {
  NumpyOracle np;
  Chunk xd = data({3, 4, 5, 2}, DType::kFloat32, 63);
  np.input("x", xd);
  for (const Shape& c : {Shape{3, 4, 5, 2}, Shape{2, 3, 2, 1}, Shape{1, 1, 1, 1}}) {
    Array x = from_chunk(xd, c);
    const std::string s = format_shape(c);
    np.expect("move_first_last" + s, "np.moveaxis(x, 0, -1)", compute(rt(), moveaxis(x, 0, -1)));
    np.expect("move_last_first" + s, "np.moveaxis(x, -1, 0)", compute(rt(), moveaxis(x, -1, 0)));
    np.expect("move_several" + s, "np.moveaxis(x, [0, 1], [-1, 0])",
              compute(rt(), moveaxis(x, {0, 1}, {-1, 0})));
    np.expect("move_three" + s, "np.moveaxis(x, [3, 0, 2], [1, 2, 0]) + 1",
              compute(rt(), moveaxis(x, {3, 0, 2}, {1, 2, 0}) + 1));
    np.expect("move_none" + s, "np.moveaxis(x, [], [])", compute(rt(), moveaxis(x, {}, {})));
  }
  np.verify();
}

TEST(Products, TensordotMatchesNumpy) {
  NumpyOracle np;
  Chunk ad = data({6, 5, 4}, DType::kFloat64, 64), bd = data({5, 4, 3}, DType::kFloat32, 65);
  Chunk vd = data({7}, DType::kFloat32, 66), wd = data({7}, DType::kFloat32, 67);
  np.input("a", ad);
  np.input("b", bd);
  np.input("v", vd);
  np.input("w", wd);
  const Tolerance f64{1e-12, 1e-10}, f32{1e-5, 1e-4};
  const std::vector<std::pair<ChunkGrid, Shape>> chunkings = {
      {ChunkGrid::regular({6, 5, 4}, {6, 5, 4}), {5, 4, 3}},
      {ChunkGrid::regular({6, 5, 4}, {2, 2, 3}), {3, 1, 2}},
      {ChunkGrid::regular({6, 5, 4}, {1, 1, 1}), {5, 4, 3}},
      {ChunkGrid({6, 5, 4}, {{1, 4, 1}, {2, 1, 2}, {3, 1}}), {1, 2, 1}},
  };
  for (const auto& [grid, b_chunks] : chunkings) {
    Array a = from_chunk(ad, {6, 5, 4}).rechunk(grid), b = from_chunk(bd, b_chunks);
    Array v = from_chunk(vd, {grid.max_chunk_shape()[0]}), w = from_chunk(wd, {3});
    const std::string s = "[" + grid.describe() + "]";
    std::vector<std::tuple<std::string, std::string, Array, Tolerance>> cases = {
        {"int2", "np.tensordot(a, b, 2)", tensordot(a, b, 2), f64},
        {"int1", "np.tensordot(a, b[:, :, 0].T, 1)",
         tensordot(a, b[{Slice::all(), Slice::all(), Slice::at(0)}].T(), 1), f64},
        {"pairs", "np.tensordot(a, b, axes=([1], [0]))", tensordot(a, b, {1}, {0}), f64},
        {"pairs_crossed", "np.tensordot(a, b, axes=([2, 1], [1, 0]))", tensordot(a, b, {2, 1}, {1, 0}), f64},
        {"leading_contracted", "np.tensordot(a, a, axes=([0], [0]))", tensordot(a, a, {0}, {0}), f64},
        {"b_first", "np.tensordot(b, a, axes=([0, 1], [1, 2]))", tensordot(b, a, {0, 1}, {1, 2}), f64},
        {"middle_axes", "np.tensordot(a, a, axes=([1], [1]))", tensordot(a, a, {-2}, {1}), f64},
        {"all_axes", "np.tensordot(a, a, 3)", tensordot(a, a, 3), f64},
        {"float32", "np.tensordot(b, b, axes=([0, 2], [0, 2]))", tensordot(b, b, {0, 2}, {0, 2}), f32},
        {"outer", "np.tensordot(v, w, 0)", tensordot(v, w, 0), f32},
        {"inner", "np.tensordot(v, w, 1)", tensordot(v, w, 1), f32},
        {"matmul", "a[:, :, 0] @ b[:, :, 1]",
         matmul(a[{Slice::all(), Slice::all(), Slice::at(0)}], b[{Slice::all(), Slice::all(), Slice::at(1)}]),
         f64},
    };
    std::vector<Array> arrays;
    for (const auto& cs : cases) arrays.push_back(std::get<2>(cs));
    std::vector<Chunk> results = compute(rt(), arrays);
    for (std::size_t k = 0; k < cases.size(); ++k) {
      np.expect(std::get<0>(cases[k]) + s, std::get<1>(cases[k]), results[k], std::get<3>(cases[k]));
    }
  }
  np.expect("empty_contraction", "np.tensordot(np.zeros((3, 0)), np.zeros((0, 2)), 1)",
            compute(rt(), tensordot(zeros({3, 0}, {2, 1}), zeros({0, 2}, {1, 1}), 1)));
  np.verify();
}

TEST(Products, TensordotAndReshapeBitIdenticalAcrossExecutors) {
  // 12 x 10 contracted chunk pairs per output block: a two-level summation tree.
  Array a = random_normal({30, 50, 36}, {7, 5, 3}, 8), b = random_normal({50, 36, 9}, {10, 9, 4}, 9);
  std::vector<Array> arrays{tensordot(a, b, 2), tensordot(a, a, {0}, {0}).sum(),
                            reshape(a, {-1, 36}).sum(0, {.split_every = 3})};
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  const std::vector<Chunk> want = compute(sync, arrays);
  for (int threads : {1, 2, 4}) {
    Runtime t(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = threads});
    const std::vector<Chunk> got = compute(t, arrays);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(bit_equal(want[i], got[i])) << "array " << i << ", " << threads << " threads";
    }
  }
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

TEST(ErrorPaths, ReshapeMoveaxisAndTensordotNameWhatDisagrees) {
  Array x = zeros({6, 4, 10}, {2, 2, 5});
  auto throws = [](auto f, const std::string& text) {
    EXPECT_THAT(f, ::testing::ThrowsMessage<Error>(HasSubstr(text))) << text;
  };
  throws(
      [&] {
        reshape(x, {5, 5});
      },
      "reshape: cannot reshape an array of shape (6, 4, 10) (240 elements) into shape (5, 5)");
  throws(
      [&] {
        reshape(x, {7, -1});
      },
      "cannot reshape an array of shape (6, 4, 10) (240 elements) into shape (7, -1)");
  throws([&] { reshape(x, {-1, -1}); }, "can only infer one extent, but shape (-1, -1) has several -1");
  throws([&] { reshape(x, {-2, -120}); }, "reshape: extent -2 of shape (-2, -120) is negative");
  throws([&] { reshape(zeros({0, 3}, {1, 3}), {-1, 0}); }, "into shape (-1, 0)");
  throws([&] { reshape(Array(), {1}); }, "this Array is empty");
  throws([&] { moveaxis(x, {0, 1}, {2}); }, "moveaxis: 2 source axes but 1 destinations");
  throws([&] { moveaxis(x, 3, 0); }, "moveaxis: axis 3 is out of range for an array with 3 dimensions");
  throws([&] { moveaxis(x, {0, -3}, {1, 2}); }, "moveaxis: source axis 0 repeated");
  throws([&] { moveaxis(x, {0, 1}, {2, 2}); }, "moveaxis: destination axis 2 repeated");
  Array y = zeros({4, 10, 3}, {2, 5, 3});
  throws(
      [&] { tensordot(x, y, 1); },
      "tensordot: shapes (6, 4, 10) and (4, 10, 3) do not align: axis 2 of a has length 10, axis 0 of b has "
      "length 4");
  throws([&] { tensordot(x, y, {0}, {0}); }, "axis 0 of a has length 6, axis 0 of b has length 4");
  throws([&] { tensordot(x, zeros({3}, {3}), 2); }, "tensordot: axes=2 for shapes (6, 4, 10) and (3,)");
  throws([&] { tensordot(x, y, -1); }, "tensordot: axes=-1");
  throws([&] { tensordot(x, y, {1, 2}, {0}); }, "tensordot: 2 axes of a (shape (6, 4, 10)) but 1 of b");
  throws([&] { tensordot(x, y, {3}, {0}); }, "tensordot: axis 3 of a is out of range for an array with 3");
  throws([&] { tensordot(x, y, {1, -2}, {0, 1}); }, "tensordot: axis 1 of a given twice");
  throws([&] { tensordot(x, y, {1, 2}, {0, 0}); }, "tensordot: axis 0 of b given twice");
  throws([&] { tensordot(x.astype(DType::kInt32), y.astype(DType::kInt16), 2); },
         "tensordot of int32 and int16");
  throws([&] { tensordot(Array(), y, 1); }, "tensordot: an operand is an empty Array");
}

}  // namespace
}  // namespace tessera
