// Reductions and what is built on them: grouped, weighted, rolling, quantiles, scans, blocks, stencils.
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

// Tasks of the graph computing `arrays` together, and how many of them are named "<something><suffix>".
std::pair<std::size_t, std::size_t> graph_tasks(const std::vector<Array>& arrays, std::string_view suffix) {
  Graph g;
  std::vector<std::vector<TaskId>> outs;
  build_graph(arrays, g, outs);
  std::size_t named = 0;
  for (TaskId t = 0; t < g.size(); ++t) named += g.name_of(t).ends_with(suffix) ? 1 : 0;
  return {g.size(), named};
}

TEST(Reductions, MeanVarAndStdOfOneArrayShareOnePass) {
  // 12 x 7 x 5 in 3 x 3 x 1 chunks (irregular) = 9 chunks per output chunk along axis 0 with fan-in 8: a
  // combine tree of two levels. F = output chunks, P = partials (input chunks).
  Chunk xd = data({12, 7, 5}, DType::kFloat32, 81), nd = data({12, 7, 5}, DType::kFloat64, 82, true);
  const ChunkGrid grid(Shape{12, 7, 5}, {{2, 2, 1, 2, 1, 1, 1, 1, 1}, {3, 3, 1}, {5}});
  Array x = from_chunk(xd, {12, 7, 5}).rechunk(grid), n = from_chunk(nd, {12, 7, 5}).rechunk(grid);
  const std::size_t outputs = 3, elementwise = 27;

  // The anomaly's mean and std: one pass (partials and combines), two finishing tasks per output chunk.
  const auto [std_alone, std_partials] = graph_tasks({x.std(0)}, "-partial");
  const auto [mean_alone, mean_partials] = graph_tasks({x.mean(0)}, "-partial");
  EXPECT_EQ(std_partials, 27u);
  EXPECT_EQ(mean_partials, 27u);
  Array anom = (x - x.mean(0)) / x.std(0);
  const auto [anom_tasks, anom_partials] = graph_tasks({anom}, "-partial");
  EXPECT_EQ(anom_partials, 27u);  // separate passes: 54
  EXPECT_EQ(anom_tasks, std_alone + outputs + elementwise);
  // Any number of them (var, std with ddof, mean with keepdims) and the nan forms among themselves.
  const auto [all_tasks, all_partials] =
      graph_tasks({x.mean(0), x.var(0), x.std(0, {}, 1), x.mean(0, {.keepdims = true})}, "-partial");
  EXPECT_EQ(all_partials, 27u);
  EXPECT_EQ(all_tasks, std_alone + 3 * outputs);
  EXPECT_EQ(graph_tasks({n.nanmean(0), n.nanstd(0), n.nanvar(0)}, "-partial").second, 27u);
  // Two means of one array: one pass too.
  EXPECT_EQ(graph_tasks({x.mean(0), x.mean(0) * 2}, "-partial").second, 27u);
  // Not shared: other axes, other split_every, NaN-skipping with not, other arrays, other reductions.
  EXPECT_EQ(graph_tasks({x.mean(0), x.std(1)}, "-partial").second, 54u);
  EXPECT_EQ(graph_tasks({x.mean(0), x.std(0, {.split_every = 4})}, "-partial").second, 54u);
  EXPECT_EQ(graph_tasks({n.mean(0), n.nanstd(0)}, "-partial").second, 54u);
  EXPECT_EQ(graph_tasks({x.mean(0), (x + 1).std(0)}, "-partial").second, 54u);
  EXPECT_EQ(graph_tasks({x.sum(0), x.std(0)}, "-partial").second, 54u);
  EXPECT_EQ(mean_alone, std_alone);

  // Values: the same bits as each reduction computed alone (its own pass), for any thread count, and NumPy's
  // values.
  const std::vector<Array> shared = {x.mean(0),
                                     x.std(0),
                                     x.var(0, {}, 1),
                                     x.mean({0, 2}),
                                     x.std({0, 2}),
                                     n.nanmean(0),
                                     n.nanstd(0, {}, 1),
                                     n.nanvar(0),
                                     (x - x.mean(0)) / x.std(0),
                                     n.mean(0, {.keepdims = true}),
                                     n.var(0)};
  const std::vector<Chunk> together = compute(rt(), shared);
  for (std::size_t i = 0; i < shared.size(); ++i) {
    EXPECT_TRUE(bit_equal(together[i], compute(rt(), shared[i]))) << i;
  }
  // Moments over leading axes go a tile of columns at a time; over the last axis element by element: the
  // same operations in the same order, so the same bits.
  for (const Array& a : {x, n}) {
    const Array last = a.transpose({1, 2, 0});
    EXPECT_TRUE(bit_equal(compute(rt(), a.std(0)), compute(rt(), last.std(2))));
    EXPECT_TRUE(bit_equal(compute(rt(), a.nanvar(0, {}, 1)), compute(rt(), last.nanvar(2, {}, 1))));
    EXPECT_TRUE(bit_equal(compute(rt(), a.var({0, 1})), compute(rt(), a.transpose({2, 0, 1}).var({1, 2}))));
  }
  Runtime sync(RuntimeOptions{.executor = ExecutorKind::kSync});
  for (int threads : {1, 3}) {
    Runtime t(RuntimeOptions{.executor = ExecutorKind::kThreads, .threads = threads});
    const std::vector<Chunk> again = compute(t, shared);
    for (std::size_t i = 0; i < shared.size(); ++i) EXPECT_TRUE(bit_equal(together[i], again[i])) << i;
  }
  const std::vector<Chunk> in_sync = compute(sync, shared);
  for (std::size_t i = 0; i < shared.size(); ++i) EXPECT_TRUE(bit_equal(together[i], in_sync[i])) << i;

  NumpyOracle np;
  np.input("x", xd);
  np.input("n", nd);
  const Tolerance t32{1e-5, 1e-5}, t64{1e-12, 1e-12};
  const char* expect[] = {"x.mean(axis=0)",
                          "x.std(axis=0)",
                          "x.var(axis=0, ddof=1)",
                          "x.mean(axis=(0, 2))",
                          "x.std(axis=(0, 2))",
                          "np.nanmean(n, axis=0)",
                          "np.nanstd(n, axis=0, ddof=1)",
                          "np.nanvar(n, axis=0)",
                          "(x - x.mean(axis=0)) / x.std(axis=0)",
                          "n.mean(axis=0, keepdims=True)",
                          "n.var(axis=0)"};
  for (std::size_t i = 0; i < shared.size(); ++i) {
    np.expect("shared_" + std::to_string(i), expect[i], together[i],
              shared[i].dtype() == DType::kFloat32 ? t32 : t64);
  }
  np.verify();
}

TEST(Reductions, GroupedMeanAndStdShareOnePass) {
  Chunk xd = data({10, 3}, DType::kFloat64, 72, true);
  const std::vector<std::int64_t> labels = {0, 1, 0, 1, 1, 2, 2, 0, 2, 1},
                                  other = {0, 1, 0, 1, 1, 2, 2, 0, 2, 2};
  Array x = from_chunk(xd, {4, 3});
  // 3 partials each; the same labels share, other labels do not.
  EXPECT_EQ(graph_tasks({group_reduce(x, 0, labels, 3, "nanmean"), group_reduce(x, 0, labels, 3, "nanstd")},
                        "-partial")
                .second,
            3u);
  EXPECT_EQ(graph_tasks({group_reduce(x, 0, labels, 3, "nanmean"), group_reduce(x, 0, other, 3, "nanstd")},
                        "-partial")
                .second,
            6u);
  const std::vector<Array> both = {group_reduce(x, 0, labels, 3, "nanmean"),
                                   group_reduce(x, 0, labels, 3, "nanstd"),
                                   group_reduce(x, 0, labels, 3, "nanvar")};
  const std::vector<Chunk> together = compute(rt(), both);
  NumpyOracle np;
  np.input("x", xd);
  const char* f[] = {"np.nanmean", "np.nanstd", "np.nanvar"};
  for (std::size_t i = 0; i < both.size(); ++i) {
    EXPECT_TRUE(bit_equal(together[i], compute(rt(), both[i]))) << i;
    const std::string g = f[i];
    np.expect("grouped_" + std::to_string(i),
              "np.stack([" + g + "(x[[0, 2, 7]], axis=0), " + g + "(x[[1, 3, 4, 9]], axis=0), " + g +
                  "(x[[5, 6, 8]], axis=0)])",
              together[i], Tolerance{1e-12, 1e-12});
  }
  np.verify();
}

TEST(Reductions, GroupsThatFollowTheChunksReduceChunkByChunk) {
  // Labels in order, each group inside one chunk (resampling to periods the chunks are cut at): one output
  // chunk per input chunk, holding that chunk's groups, and the same numbers as NumPy.
  Chunk xd = data({10, 3}, DType::kFloat64, 71, true);
  const std::vector<std::int64_t> labels = {0, 0, 0, 1, 1, 2, 2, 2, 2, 3};
  Array xs = from_chunk(xd, {3, 3}).rechunk(ChunkGrid(Shape{10, 3}, {{3, 2, 5}, {3}}));
  NumpyOracle np;
  np.input("x", xd);
  for (const char* op : {"mean", "nanmax", "nansum", "std"}) {
    Array r = group_reduce(xs, 0, labels, 4, op);
    EXPECT_EQ(r.chunks().chunks(0), (std::vector<std::int64_t>{1, 1, 2})) << op;
    const std::string f = std::string("np.") + op;
    np.expect(std::string("local_") + op,
              "np.stack([" + f + "(x[[0, 1, 2]], axis=0), " + f + "(x[[3, 4]], axis=0), " + f +
                  "(x[[5, 6, 7, 8]], axis=0), " + f + "(x[[9]], axis=0)])",
              compute(rt(), r), Tolerance{1e-12, 1e-12});
    // Chunks that cut a group: every partial holds all groups, one output chunk; the same values.
    Array whole = group_reduce(from_chunk(xd, {4, 3}), 0, labels, 4, op);
    EXPECT_EQ(whole.chunks().chunks(0), (std::vector<std::int64_t>{4})) << op;
    np.expect(std::string("whole_") + op,
              "np.stack([" + f + "(x[[0, 1, 2]], axis=0), " + f + "(x[[3, 4]], axis=0), " + f +
                  "(x[[5, 6, 7, 8]], axis=0), " + f + "(x[[9]], axis=0)])",
              compute(rt(), whole), Tolerance{1e-12, 1e-12});
  }
  np.verify();
}

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

TEST(Rolling, RollingMeanIsExactAndChunkingIndependent) {
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
