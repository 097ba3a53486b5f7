// Shape operations and products: slicing, take, reshape, moveaxis, tensordot.
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
  // A small table spread along an axis with the chunks of the data it is combined with (a climatology over
  // the days): its chunks are made by their readers (an elementwise op, a reduction by rows, a transpose).
  Chunk dd = data({10, 6}, DType::kFloat64, 62);
  np.input("d", dd);
  const std::vector<std::int64_t> labels{0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
  for (const Shape& c : {Shape{9, 6}, Shape{2, 4}}) {
    Array x = from_chunk(xd, c);
    Array d = from_chunk(dd, {3, 4});
    Array spread = take(x, labels, 0, {3, 3, 4});
    EXPECT_EQ(spread.chunks().chunks(0), (std::vector<std::int64_t>{3, 3, 4}));
    const std::string s = format_shape(c);
    const std::string t = "np.take(x, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], axis=0)";
    np.expect("spread" + s, t, compute(rt(), spread));
    np.expect("minus" + s, "d - " + t, compute(rt(), d - spread));
    np.expect("summed" + s, "(d * " + t + ").sum(axis=0)", compute(rt(), (d * spread).sum({0})),
              Tolerance{1e-12, 1e-12});
    np.expect("transposed" + s, t + ".T", compute(rt(), spread.transpose()));
  }
  np.verify();
  EXPECT_THAT(
      [] {
        take(zeros({4}, {2}), {0, 1}, 0, {1, 2});
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("must add up to the 2 indices")));
  EXPECT_THAT([] { take(zeros({4}, {2}), {4}, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("index 4 is out of bounds for axis 0 with size 4")));
}

TEST(Shape, SameSlicesAndGroupReductionsAreOneNode) {
  // A climatology written out and the same one inside anomaly(): built once, so computed once.
  Array x = from_chunk(data({9, 6}, DType::kFloat64, 63), {2, 4});
  EXPECT_EQ((x[{Slice::range(1, 5)}]).node(), (x[{Slice::range(1, 5)}]).node());
  EXPECT_NE((x[{Slice::range(1, 5)}]).node(), (x[{Slice::range(1, 6)}]).node());
  EXPECT_NE((x[{Slice::range(1, 5)}]).node(), (x[{Slice::range(1, 5, 2)}]).node());
  EXPECT_EQ((x[{Slice::all(), Slice::all()}]).node(), x.node());  // everything: the array itself
  const std::vector<std::int64_t> labels{0, 1, 2, 0, 1, 2, 0, 1, 2};
  EXPECT_EQ(group_reduce(x, 0, labels, 3, "mean").node(), group_reduce(x, 0, labels, 3, "mean").node());
  EXPECT_NE(group_reduce(x, 0, labels, 3, "mean").node(), group_reduce(x, 0, labels, 3, "sum").node());
  std::vector<std::int64_t> other = labels;
  other[8] = 0;
  EXPECT_NE(group_reduce(x, 0, labels, 3, "mean").node(), group_reduce(x, 0, other, 3, "mean").node());
}

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
