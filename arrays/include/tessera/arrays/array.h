// Array: a lazy, chunked N-d array whose NumPy-style expressions become task graphs (like dask.array).
//
//   tessera::Runtime rt;
//   auto t = tessera::random_normal({730, 360, 720}, {73, 90, 180}, /*seed=*/1, tessera::DType::kFloat32);
//   auto anom = (t - t.mean(0)) / t.std(0);        // nothing runs yet
//   tessera::Chunk result = tessera::compute(rt, anom.sum());
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/arrays/chunk.h"
#include "tessera/arrays/dtype.h"
#include "tessera/runtime/runtime.h"

namespace tessera {

namespace detail {
struct ArrayNode;
}

// A number used as an operand; "weak" in NumPy's sense (see promote_with_scalar).
struct Scalar {
  double f = 0;
  std::int64_t i = 0;
  ScalarKind kind = ScalarKind::kFloat;

  template <class T>
  requires std::is_arithmetic_v<T> Scalar(
      T v) {  // NOLINT: implicit on purpose, so that `a + 2` and `2.5 * a` read naturally
    if constexpr (std::is_same_v<T, bool>) {
      kind = ScalarKind::kBool;
      i = v ? 1 : 0;
      f = static_cast<double>(i);
    } else if constexpr (std::is_integral_v<T>) {
      kind = ScalarKind::kInt;
      i = static_cast<std::int64_t>(v);
      f = static_cast<double>(v);
    } else {
      kind = ScalarKind::kFloat;
      f = static_cast<double>(v);
      // Only when it is exact and in range: converting NaN, infinities or huge values would be undefined.
      i = (f >= -9.2e18 && f <= 9.2e18) ? static_cast<std::int64_t>(f) : 0;
    }
  }
};

// Axes to reduce over. Default: all of them. Negative axes count from the end, as in NumPy.
struct Axes {
  std::vector<int> list;
  bool all = true;
  Axes() = default;
  Axes(int axis) : list{axis}, all(false) {}  // NOLINT: t.mean(0)
  Axes(std::initializer_list<int> axes) : list(axes), all(false) {}
  Axes(std::vector<int> axes) : list(std::move(axes)), all(false) {}  // NOLINT
};

struct ReduceOptions {
  bool keepdims = false;
  int split_every =
      0;  // fan-in of the combine tree per reduced axis; 0: 8 chunks per task overall, like Dask
};

// One axis of a selection: a slice start:stop:step (NumPy semantics, negative values count from the end,
// missing ends take the whole axis in the step's direction), or a single index (which drops the axis).
struct Slice {
  std::optional<std::int64_t> start, stop;
  std::int64_t step = 1;
  std::optional<std::int64_t> index;
  static Slice all() { return {}; }
  static Slice at(std::int64_t i) {
    Slice s;
    s.index = i;
    return s;
  }
  static Slice range(std::optional<std::int64_t> start, std::optional<std::int64_t> stop,
                     std::int64_t step = 1) {
    Slice s;
    s.start = start;
    s.stop = stop;
    s.step = step;
    return s;
  }
};

class Array {
 public:
  Array() = default;
  explicit Array(std::shared_ptr<const detail::ArrayNode> node) : node_(std::move(node)) {}

  const Shape& shape() const;
  DType dtype() const;
  const ChunkGrid& chunks() const;
  int ndim() const { return static_cast<int>(shape().size()); }
  std::int64_t size() const { return num_elements(shape()); }
  std::size_t nbytes() const { return static_cast<std::size_t>(size()) * size_of(dtype()); }
  // Like Dask's repr: tessera.Array<shape=(730, 360, 720), dtype=float32, chunksize=(73, 90, 180),
  // chunks=160, bytes=757 MB>.
  std::string repr() const;
  const std::shared_ptr<const detail::ArrayNode>& node() const noexcept { return node_; }

  // Reductions. Errors name the axis and ndim when an axis is out of range or repeated.
  Array sum(Axes axes = {}, ReduceOptions o = {}) const;
  Array prod(Axes axes = {}, ReduceOptions o = {}) const;
  Array mean(Axes axes = {}, ReduceOptions o = {}) const;
  Array min(Axes axes = {}, ReduceOptions o = {}) const;
  Array max(Axes axes = {}, ReduceOptions o = {}) const;
  Array var(Axes axes = {}, ReduceOptions o = {}, int ddof = 0) const;
  Array std(Axes axes = {}, ReduceOptions o = {}, int ddof = 0) const;
  Array count(Axes axes = {}, ReduceOptions o = {}) const;  // non-NaN elements
  Array any(Axes axes = {}, ReduceOptions o = {}) const;
  Array all(Axes axes = {}, ReduceOptions o = {}) const;
  Array nansum(Axes axes = {}, ReduceOptions o = {}) const;
  Array nanmean(Axes axes = {}, ReduceOptions o = {}) const;
  Array nanmin(Axes axes = {}, ReduceOptions o = {}) const;
  Array nanmax(Axes axes = {}, ReduceOptions o = {}) const;
  Array nanvar(Axes axes = {}, ReduceOptions o = {}, int ddof = 0) const;
  Array nanstd(Axes axes = {}, ReduceOptions o = {}, int ddof = 0) const;
  // Index of the first minimum/maximum along one axis (int64).
  Array argmin(int axis, ReduceOptions o = {}) const;
  Array argmax(int axis, ReduceOptions o = {}) const;

  // Shape and selection.
  Array operator[](std::initializer_list<Slice> selection) const { return select(selection); }
  Array select(std::span<const Slice> selection) const;
  Array transpose(std::vector<int> axes = {}) const;  // default: reverse the axes
  Array T() const { return transpose(); }
  Array astype(DType to) const;
  // New chunking; -1 (or 0) on an axis: one chunk along it.
  Array rechunk(const Shape& chunk_shape) const;
  Array rechunk(const ChunkGrid& grid) const;

 private:
  std::shared_ptr<const detail::ArrayNode> node_;
};

// Creation. `chunks` is a chunk shape (the last chunk along an axis may be shorter; -1: the whole axis).
Array zeros(const Shape& shape, const Shape& chunks, DType dtype = DType::kFloat64);
Array ones(const Shape& shape, const Shape& chunks, DType dtype = DType::kFloat64);
Array full(const Shape& shape, const Shape& chunks, Scalar value, DType dtype = DType::kFloat64);
Array arange(std::int64_t stop, std::int64_t chunk, DType dtype = DType::kInt64);
Array arange(double start, double stop, double step, std::int64_t chunk, DType dtype = DType::kFloat64);
Array linspace(double start, double stop, std::int64_t num, std::int64_t chunk, bool endpoint = true);
// Counter-based random numbers: element values depend only on the seed and the element's position in the
// array, never on the chunking, the executor or the worker (so rechunking does not change them).
Array random_uniform(const Shape& shape, const Shape& chunks, std::uint64_t seed,
                     DType dtype = DType::kFloat64, double low = 0.0, double high = 1.0);
Array random_normal(const Shape& shape, const Shape& chunks, std::uint64_t seed,
                    DType dtype = DType::kFloat64, double mean = 0.0, double stddev = 1.0);
// An in-memory chunk cut into chunks (copies the needed pieces into each task's result).
Array from_chunk(Chunk data, const Shape& chunks);
// Each chunk made by `make(grid, chunk_index)`; it must return a chunk of the right shape and dtype
// (checked).
using ChunkMaker = std::function<Chunk(const ChunkGrid& grid, std::span<const std::int64_t> chunk_index)>;
Array from_function(const ChunkGrid& grid, DType dtype, ChunkMaker make, std::string name = "from_function");
// The same for chunks `make` reads from storage (a file): making one again costs a read, so the plan reads it
// again for readers far apart instead of holding it in between (TaskOptions::rereadable).
Array from_storage(const ChunkGrid& grid, DType dtype, ChunkMaker make, std::string name);

// Elementwise operations (NumPy broadcasting and type promotion). A chain of them becomes one task per chunk.
Array operator+(const Array& a, const Array& b);
Array operator-(const Array& a, const Array& b);
Array operator*(const Array& a, const Array& b);
Array operator/(const Array& a, const Array& b);  // true division: integers give float64
Array operator+(const Array& a, Scalar b);
Array operator-(const Array& a, Scalar b);
Array operator*(const Array& a, Scalar b);
Array operator/(const Array& a, Scalar b);
Array operator+(Scalar a, const Array& b);
Array operator-(Scalar a, const Array& b);
Array operator*(Scalar a, const Array& b);
Array operator/(Scalar a, const Array& b);
Array operator-(const Array& a);
Array operator==(const Array& a, const Array& b);
Array operator!=(const Array& a, const Array& b);
Array operator<(const Array& a, const Array& b);
Array operator<=(const Array& a, const Array& b);
Array operator>(const Array& a, const Array& b);
Array operator>=(const Array& a, const Array& b);
Array operator==(const Array& a, Scalar b);
Array operator!=(const Array& a, Scalar b);
Array operator<(const Array& a, Scalar b);
Array operator<=(const Array& a, Scalar b);
Array operator>(const Array& a, Scalar b);
Array operator>=(const Array& a, Scalar b);
Array operator&&(const Array& a, const Array& b);
Array operator||(const Array& a, const Array& b);
Array operator!(const Array& a);
Array power(const Array& a, const Array& b);
Array power(const Array& a, Scalar b);
Array maximum(const Array& a, const Array& b);
Array minimum(const Array& a, const Array& b);
Array logical_xor(const Array& a, const Array& b);
Array where(const Array& condition, const Array& a, const Array& b);
Array where(const Array& condition, const Array& a, Scalar b);
Array where(const Array& condition, Scalar a, const Array& b);
Array clip(const Array& a, Scalar low, Scalar high);
Array abs(const Array& a);
Array sqrt(const Array& a);
Array exp(const Array& a);
Array log(const Array& a);
Array sin(const Array& a);
Array cos(const Array& a);
Array floor(const Array& a);
Array isnan(const Array& a);

// Reductions within groups along one axis (the core of a monthly climatology): element i of `axis` belongs to
// group labels[i] (0 <= label < groups; -1 leaves it out). The result has `groups` elements along `axis`, in
// one chunk. `op` is one of "sum", "mean", "min", "max", "count", "var", "std", "nansum", "nanmean",
// "nanmin", "nanmax", "nanvar", "nanstd". Groups without members give NaN (mean, var, std, min, max) or 0.
Array group_reduce(const Array& a, int axis, std::vector<std::int64_t> labels, std::int64_t groups,
                   const std::string& op, ReduceOptions o = {});

// sum(a * w) / sum(w) over `axes`, with `w` broadcast against `a` (e.g. cos(latitude) weights over a grid).
// NaNs in `a` are skipped together with their weights.
Array weighted_mean(const Array& a, const Array& w, Axes axes = {});

// Running sum / product along an axis (NumPy's cumsum/cumprod dtypes: integers accumulate in int64).
Array cumsum(const Array& a, int axis);
Array cumprod(const Array& a, int axis);

// `f` makes one output chunk from the corresponding chunks of `inputs` (which must be chunked alike) and its
// chunk index; the output has `inputs[0]`'s grid unless `grid` is given, and dtype `dtype` (both checked).
using BlockFunction =
    std::function<Chunk(std::span<const Chunk* const> inputs, std::span<const std::int64_t> index)>;
Array map_blocks(BlockFunction f, std::span<const Array> inputs, DType dtype,
                 std::optional<ChunkGrid> grid = {}, std::string name = "map_blocks");

// Trailing moving average over `window` elements along `axis` (like xarray's rolling(...).mean()): element i
// is the mean of elements i-window+1 .. i; the first window-1 elements, and windows holding a NaN, are NaN.
// Chunks read the window-1 elements before them from their neighbours. Integers give float64.
Array rolling_mean(const Array& a, int axis, std::int64_t window);

// The q-th quantile (0 <= q <= 1) along `axis`, NumPy's default linear interpolation; NaN where a lane holds
// a NaN (nanquantile skips them). The axis is gathered into one chunk first. Integers give float64.
Array quantile(const Array& a, double q, int axis, bool keepdims = false);
Array nanquantile(const Array& a, double q, int axis, bool keepdims = false);
Array median(const Array& a, int axis, bool keepdims = false);

// Matrix product of 2-d float arrays (Eigen GEMM on each pair of blocks; partial products summed in a fixed
// tree, so results do not depend on placement). b's row chunks follow a's column chunks.
Array matmul(const Array& a, const Array& b);

// numpy.tensordot of float arrays: sums over a's axes `a_axes[i]` paired with b's `b_axes[i]`; the result's
// axes are a's remaining axes, then b's. One Eigen GEMM per pair of blocks (blocks whose contracted axes are
// not already leading or trailing are transposed first) and the partial products of an output block summed
// in a fixed tree of fan-in 8, so results are bit-identical on any executor. b is rechunked along the
// contracted axes to follow a. Errors name both shapes and the axes that disagree.
Array tensordot(const Array& a, const Array& b, std::vector<int> a_axes, std::vector<int> b_axes);
// The last `axes` axes of a against the first `axes` axes of b (numpy's integer form; 2 by default).
Array tensordot(const Array& a, const Array& b, int axes = 2);

// How map_overlap extends chunks at the array's edges.
enum class Boundary {
  kNone,      // no halo at the array's edges: edge chunks get smaller blocks
  kPeriodic,  // wrap around
  kReflect,   // mirror, the edge element included (numpy.pad mode "symmetric", Dask's "reflect")
  kConstant,  // fill with a constant
};
struct Overlap {
  std::vector<std::int64_t> depth;  // halo width per axis (0: none)
  Boundary boundary = Boundary::kNone;
  double constant = 0;  // for kConstant
};
// Like Dask's map_overlap: each chunk is extended by `depth` elements from its neighbours (and the boundary
// rule at the array's edges), `f` maps the extended block to a block of the same shape, and the halo is
// trimmed off again. For stencils and rolling windows. Depth must not exceed the array's extent along an
// axis.
Array map_overlap(BlockFunction f, const Array& a, const Overlap& overlap, DType dtype,
                  std::string name = "map_overlap");

// Elements at `indices` along `axis`, in that order (repeats allowed; negative indices count from the end),
// like numpy.take. Output chunks along the axis hold as many indices as the input's largest chunk there.
Array take(const Array& a, std::vector<std::int64_t> indices, int axis);
// The same with the output's chunk lengths along `axis` given (they add up to the number of indices).
Array take(const Array& a, std::vector<std::int64_t> indices, int axis, std::vector<std::int64_t> chunks);

// Remove an axis of length 1 / insert one (NumPy's squeeze and expand_dims).
Array squeeze(const Array& a, int axis);
Array expand_dims(const Array& a, int axis);

// The same elements in row-major order under `new_shape` (numpy.reshape; one extent may be -1, inferred).
// Blockwise where the chunks allow, one output chunk per input chunk, as in dask.array.reshape: merged axes
// need every axis after the one carrying several chunks to be a single chunk (and those before it chunks of
// 1); a split axis needs every chunk to be a block of the output axes (whole rows of the trailing ones, or,
// the same pattern in every row, pieces of one row: (240,) in chunks of 5 -> (6, 4, 10) in (1, 1, 5) blocks,
// where Dask would rechunk). Otherwise the input is rechunked first, like Dask: the axes being merged keep
// chunks only along the leading one (its chunks cut finer so the chunk count stays about the same), an axis
// being split is cut at multiples of the trailing output extents. Reshapes that both merge and split (e.g.
// (6, 4) -> (4, 6), which Dask refuses) merge, then split.
// Errors name both shapes.
Array reshape(const Array& a, const Shape& new_shape);

// Axes moved to new positions, the others keeping their order (numpy.moveaxis); a transpose.
Array moveaxis(const Array& a, int source, int destination);
Array moveaxis(const Array& a, std::vector<int> source, std::vector<int> destination);

// Joining. Chunks along the other axes must match (same chunking), as in Dask.
Array concatenate(std::span<const Array> arrays, int axis = 0);
Array stack(std::span<const Array> arrays, int axis = 0);

// Computing. Collective under MPI: every rank calls it and gets the full result.
Chunk compute(Runtime& runtime, const Array& array);
std::vector<Chunk> compute(Runtime& runtime, std::span<const Array> arrays);
// Computes the array and returns one that holds its chunks (on the workers under MPI... here: in memory), so
// later graphs reuse them instead of recomputing.
Array persist(Runtime& runtime, const Array& array);
// The graph computing `arrays` (one task per output chunk, keys (name, chunk index...)); the ids of their
// output chunks, row-major per array, go to `outputs`.
void build_graph(std::span<const Array> arrays, Graph& graph, std::vector<std::vector<TaskId>>& outputs);

}  // namespace tessera
