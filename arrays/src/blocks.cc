// map_blocks, cumulative sums and products, weighted means.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "expr.h"
#include "kernels.h"
#include "node.h"

namespace tessera {
namespace detail {
namespace {

struct MapBlocksNode final : ArrayNode {
  BlockFunction f;
  std::vector<ArrayNodePtr> inputs;
  void operands(std::vector<const ArrayNode*>& out) const override {
    for (const ArrayNodePtr& in : inputs) out.push_back(in.get());
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    std::vector<const std::vector<TaskId>*> in_ids;
    for (const ArrayNodePtr& in : inputs) in_ids.push_back(&b.build(in));
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      Chunk out = f(inputs_as<Chunk>(ctx), index);
      const Shape want = grid.chunk_shape(index);
      if (out.shape() != want || out.dtype() != dtype) {
        throw_error(ErrorCode::kInvalidArgument, name, ": the block function returned ", name_of(out.dtype()),
                    " ", format_shape(out.shape()), " for chunk ",
                    format_shape(Shape(index.begin(), index.end())), ", expected ", name_of(dtype), " ",
                    format_shape(want));
      }
      return Value::of(std::move(out));
    });
    std::vector<TaskId> ids;
    std::vector<TaskId> deps;
    std::size_t i = 0;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      deps.clear();
      for (const auto* in : in_ids) deps.push_back((*in)[i]);
      ++i;
      ids.push_back(g.add(n, key_index(index), k, deps, chunk_options(*this, index)));
    });
    return ids;
  }
};

// Running sums/products along one axis: a local scan per chunk, a chain of carries (the running total before
// each chunk along the axis) and the local scan combined with its carry.
struct ScanNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  int axis = 0;
  bool product = false;

  Chunk local(const Chunk& in) const {
    Chunk x = in.dtype() == dtype ? in : in.astype(dtype);
    Chunk out(dtype, x.shape());
    const Shape st = strides_of(x.shape());
    const std::int64_t s = st[static_cast<std::size_t>(axis)];
    const std::int64_t len = x.shape()[static_cast<std::size_t>(axis)];
    visit_dtype(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xi = reinterpret_cast<const T*>(x.bytes());
      T* o = reinterpret_cast<T*>(out.bytes());
      const std::int64_t n = x.size();
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t pos = (i / s) % len;
        o[i] = pos == 0 ? xi[i]
                        : (product ? static_cast<T>(o[i - s] * xi[i]) : static_cast<T>(o[i - s] + xi[i]));
      }
    });
    return out;
  }

  // The last slice along the axis (extent 1 there).
  Chunk last(const Chunk& c) const {
    Shape shape = c.shape();
    std::vector<std::int64_t> start(shape.size(), 0), step(shape.size(), 1);
    start[static_cast<std::size_t>(axis)] = shape[static_cast<std::size_t>(axis)] - 1;
    shape[static_cast<std::size_t>(axis)] = 1;
    Chunk out(c.dtype(), shape);
    gather_strided(c, start, step, out);
    return out;
  }

  Chunk apply(const Chunk& a, const Chunk& carry) const {
    Expr e;
    ExprNode x{.op = Op::kInput, .dtype = dtype, .compute = dtype, .input = 0};
    ExprNode c{.op = Op::kInput, .dtype = dtype, .compute = dtype, .input = 1};
    ExprNode r{.op = product ? Op::kMul : Op::kAdd, .dtype = dtype, .compute = dtype};
    r.a = e.add(x);
    r.b = e.add(c);
    e.root = e.add(r);
    const Chunk* inputs[] = {&a, &carry};
    return evaluate(e, a.shape(), inputs);
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::vector<TaskId>& in_ids = b.build(input);
    Graph& g = b.graph();
    const NameId local_n = g.name(name + "-local");
    const NameId carry_n = g.name(name + "-carry");
    const NameId out_n = g.name(name);
    const KernelId local_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      return Value::of(local(ctx.input<Chunk>(0)));
    });
    // carry(k) = carry(k-1) (+/*) last(local(k-1)); the first carry reads only last(local(0)).
    const KernelId carry_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      Chunk tail = last(ctx.input<Chunk>(0));
      if (ctx.num_inputs() == 1) return Value::of(std::move(tail));
      return Value::of(apply(tail, ctx.input<Chunk>(1)));
    });
    const KernelId out_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      if (ctx.num_inputs() == 1) return ctx.input(0);
      return Value::of(apply(ctx.input<Chunk>(0), ctx.input<Chunk>(1)));
    });
    std::vector<TaskId> locals;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      const TaskId dep = in_ids[locals.size()];
      locals.push_back(g.add(local_n, key_index(index), local_k, std::span<const TaskId>(&dep, 1),
                             chunk_options(*this, index)));
    });
    const Shape counts = grid.grid_shape();
    std::vector<TaskId> carry(locals.size(), 0);
    std::vector<TaskId> ids;
    std::size_t i = 0;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      const std::int64_t k = index[static_cast<std::size_t>(axis)];
      TaskId out;
      if (k == 0) {
        const TaskId dep = locals[i];
        out = g.add(out_n, key_index(index), out_k, std::span<const TaskId>(&dep, 1),
                    chunk_options(*this, index));
      } else {
        std::vector<std::int64_t> prev(index.begin(), index.end());
        prev[static_cast<std::size_t>(axis)] -= 1;
        const auto p = static_cast<std::size_t>(linear_index(prev, counts));
        std::vector<TaskId> deps{locals[p]};
        if (k > 1) deps.push_back(carry[p]);
        carry[i] = g.add(carry_n, key_index(index), carry_k, deps);
        const TaskId both[] = {locals[i], carry[i]};
        out = g.add(out_n, key_index(index), out_k, both, chunk_options(*this, index));
      }
      ids.push_back(out);
      ++i;
    });
    return ids;
  }
};

Array scan(const Array& a, int axis, bool product) {
  if (!a.node()) throw_error(ErrorCode::kInvalidArgument, "cumsum: this Array is empty (never assigned)");
  const int nd = a.ndim();
  if (axis < -nd || axis >= nd) {
    throw_error(ErrorCode::kInvalidArgument, product ? "cumprod" : "cumsum", ": axis ", axis,
                " is out of range for an array with ", nd, " dimensions");
  }
  auto node = std::make_shared<ScanNode>();
  node->input = a.node();
  node->axis = axis < 0 ? axis + nd : axis;
  node->product = product;
  node->shape = a.shape();
  node->dtype = is_float(a.dtype()) ? a.dtype() : DType::kInt64;
  node->grid = a.chunks();
  node->name = next_name(product ? "cumprod" : "cumsum");
  return Array(node);
}

}  // namespace
}  // namespace detail

Array cumsum(const Array& a, int axis) {
  return detail::scan(a, axis, false);
}
Array cumprod(const Array& a, int axis) {
  return detail::scan(a, axis, true);
}

Array map_blocks(BlockFunction f, std::span<const Array> inputs, DType dtype, std::optional<ChunkGrid> grid,
                 std::string name) {
  if (!f) throw_error(ErrorCode::kInvalidArgument, "map_blocks needs a callable");
  if (inputs.empty() && !grid) throw_error(ErrorCode::kInvalidArgument, "map_blocks needs inputs or a grid");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].node())
      throw_error(ErrorCode::kInvalidArgument, "map_blocks: input ", i, " is an empty Array");
    if (!(inputs[i].chunks() == inputs[0].chunks()) || inputs[i].shape() != inputs[0].shape()) {
      throw_error(ErrorCode::kInvalidArgument, "map_blocks: input ", i, " (shape ",
                  format_shape(inputs[i].shape()), ", chunks ", inputs[i].chunks().describe(),
                  ") is not chunked like input 0 (shape ", format_shape(inputs[0].shape()), ", chunks ",
                  inputs[0].chunks().describe(), "); rechunk first");
    }
  }
  const ChunkGrid out_grid = grid ? *grid : inputs[0].chunks();
  if (!inputs.empty() && out_grid.grid_shape() != inputs[0].chunks().grid_shape()) {
    throw_error(ErrorCode::kInvalidArgument, "map_blocks: the output grid has ",
                format_shape(out_grid.grid_shape()), " chunks, the inputs ",
                format_shape(inputs[0].chunks().grid_shape()), ": there must be one per input chunk");
  }
  auto node = std::make_shared<detail::MapBlocksNode>();
  node->f = std::move(f);
  for (const Array& a : inputs) node->inputs.push_back(a.node());
  node->shape = out_grid.shape();
  node->dtype = dtype;
  node->grid = out_grid;
  node->name = detail::next_name(name);
  return Array(node);
}

Array weighted_mean(const Array& a, const Array& w, Axes axes) {
  if (is_float(a.dtype())) {
    // Missing values drop out of the numerator and, with their weights, out of the denominator.
    Array missing = isnan(a);
    Array weights = where(missing, 0.0, w);  // where broadcasts w to a's shape
    return (where(missing, 0.0, a) * weights).sum(axes) / weights.sum(axes);
  }
  Array weights = w + a * 0;
  return (a * weights).sum(axes) / weights.sum(axes);
}

}  // namespace tessera

namespace tessera {
namespace detail {
namespace {

// Output chunk k along the axis holds the indices from the grid's offset of k on; it reads every input chunk
// holding one of them.
struct TakeNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  int axis = 0;
  std::vector<std::int64_t> indices;
  bool small = false;  // the input is small enough that readers make the chunks (made_in_reader)

  std::vector<std::int64_t> sources(std::int64_t k) const {
    std::vector<std::int64_t> chunks;
    const std::int64_t begin = grid.offset(axis, k);
    const std::int64_t end = begin + grid.chunks(axis)[static_cast<std::size_t>(k)];
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t c = input->grid.chunk_of(axis, indices[static_cast<std::size_t>(i)]);
      if (std::find(chunks.begin(), chunks.end(), c) == chunks.end()) chunks.push_back(c);
    }
    std::sort(chunks.begin(), chunks.end());
    return chunks;
  }

  // Rows a0 .. a1-1 (along axis 0) of output chunk `index` (a1 < 0: all), from the source chunks `in`
  // (sources(k), in order): a reader folding by rows makes only those.
  Chunk make(std::span<const std::int64_t> index, const std::vector<const Chunk*>& in, std::int64_t a0,
             std::int64_t a1) const {
    const auto ax = static_cast<std::size_t>(axis);
    const std::int64_t k = index[ax];
    const std::vector<std::int64_t> src = sources(k);
    Shape shape = grid.chunk_shape(index);
    if (a1 < 0) {
      a0 = 0;
      a1 = shape[0];
    }
    shape[0] = a1 - a0;
    Chunk out(dtype, shape);
    std::vector<std::int64_t> from(index.size(), 0), to(index.size(), 0);
    Shape count = out.shape();
    count[ax] = 1;
    if (axis != 0) from[0] = a0;  // the rows are the same rows of the sources
    const std::int64_t begin = grid.offset(axis, k);
    const std::int64_t j0 = axis == 0 ? a0 : 0,
                       j1 = axis == 0 ? a1 : grid.chunks(axis)[static_cast<std::size_t>(k)];
    for (std::int64_t j = j0; j < j1; ++j) {
      const std::int64_t want = indices[static_cast<std::size_t>(begin + j)];
      const std::int64_t c = input->grid.chunk_of(axis, want);
      const auto which = static_cast<std::size_t>(std::find(src.begin(), src.end(), c) - src.begin());
      from[ax] = want - input->grid.offset(axis, c);
      to[ax] = j - j0;
      copy_block(*in[which], from, out, to, count);
    }
    return out;
  }

  std::vector<const Chunk*> source_chunks(const TaskContext& ctx, std::size_t& next,
                                          std::span<const std::int64_t> index) const {
    std::vector<const Chunk*> in;
    for (std::size_t i = 0, n = sources(index[static_cast<std::size_t>(axis)]).size(); i < n; ++i) {
      in.push_back(&ctx.input<Chunk>(next++));
    }
    return in;
  }

  bool made_in_reader() const override { return small; }

  void fused_inputs(GraphBuilder& b, std::span<const std::int64_t> index,
                    std::vector<TaskId>& deps) const override {
    if (!small) return ArrayNode::fused_inputs(b, index, deps);
    source_tasks(b, index, deps);
  }

  const Chunk& fused_chunk(const TaskContext& ctx, std::size_t& next, std::span<const std::int64_t> index,
                           std::deque<Chunk>& made) const override {
    if (!small) return ArrayNode::fused_chunk(ctx, next, index, made);
    made.push_back(make(index, source_chunks(ctx, next, index), 0, -1));
    return made.back();
  }

  bool makes_rows() const override { return small; }

  const Chunk& fused_rows(const TaskContext& ctx, std::size_t& next, std::span<const std::int64_t> index,
                          std::int64_t a0, std::int64_t a1, std::deque<Chunk>& made) const override {
    made.push_back(make(index, source_chunks(ctx, next, index), a0, a1));
    return made.back();
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId kernel = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      std::size_t next = 0;
      return Value::of(make(index, source_chunks(ctx, next, index), 0, -1));
    });
    std::vector<TaskId> ids, deps;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      deps.clear();
      source_tasks(b, index, deps);
      ids.push_back(g.add(n, key_index(index), kernel, deps, chunk_options(*this, index)));
    });
    return ids;
  }

  // The tasks of the source chunks of output chunk `index`.
  void source_tasks(GraphBuilder& b, std::span<const std::int64_t> index, std::vector<TaskId>& deps) const {
    const std::vector<TaskId>& in_ids = b.build(input);
    const Shape in_counts = input->grid.grid_shape();
    std::vector<std::int64_t> in_index(index.begin(), index.end());
    for (std::int64_t c : sources(index[static_cast<std::size_t>(axis)])) {
      in_index[static_cast<std::size_t>(axis)] = c;
      deps.push_back(in_ids[static_cast<std::size_t>(linear_index(in_index, in_counts))]);
    }
  }
};

}  // namespace
}  // namespace detail

Array take(const Array& a, std::vector<std::int64_t> indices, int axis) {
  return take(a, std::move(indices), axis, {});
}

Array take(const Array& a, std::vector<std::int64_t> indices, int axis, std::vector<std::int64_t> chunks) {
  if (!a.node()) throw_error(ErrorCode::kInvalidArgument, "take: this Array is empty (never assigned)");
  const int nd = a.ndim();
  if (axis < -nd || axis >= nd) {
    throw_error(ErrorCode::kInvalidArgument, "take: axis ", axis, " is out of range for an array with ", nd,
                " dimensions");
  }
  if (axis < 0) axis += nd;
  const std::int64_t len = a.shape()[static_cast<std::size_t>(axis)];
  for (std::int64_t& i : indices) {
    const std::int64_t original = i;
    if (i < 0) i += len;
    if (i < 0 || i >= len) {
      throw_error(ErrorCode::kInvalidArgument, "take: index ", original, " is out of bounds for axis ", axis,
                  " with size ", len);
    }
  }
  auto node = std::make_shared<detail::TakeNode>();
  node->input = a.node();
  node->axis = axis;
  const auto n = static_cast<std::int64_t>(indices.size());
  if (chunks.empty()) {
    const std::int64_t per =
        std::max<std::int64_t>(1, a.chunks().max_chunk_shape()[static_cast<std::size_t>(axis)]);
    for (std::int64_t done = 0; done < n; done += per) chunks.push_back(std::min(per, n - done));
  } else if (std::accumulate(chunks.begin(), chunks.end(), std::int64_t{0}) != n ||
             std::any_of(chunks.begin(), chunks.end(), [](std::int64_t c) { return c < 0; })) {
    throw_error(ErrorCode::kInvalidArgument, "take: chunks along axis ", axis, " must add up to the ", n,
                " indices");
  }
  // Up to 64 MB (a climatology of 12 months at 0.25 degrees is 50 MB), readers make the chunks.
  node->small =
      static_cast<double>(num_elements(a.shape())) * static_cast<double>(size_of(a.dtype())) <= 64e6;
  Shape shape = a.shape();
  shape[static_cast<std::size_t>(axis)] = n;
  std::vector<std::vector<std::int64_t>> grid_chunks;
  for (int d = 0; d < nd; ++d) grid_chunks.push_back(d == axis ? chunks : a.chunks().chunks(d));
  node->indices = std::move(indices);
  node->shape = shape;
  node->dtype = a.dtype();
  node->grid = ChunkGrid(shape, grid_chunks);
  node->name = detail::next_name("take");
  return Array(node);
}

}  // namespace tessera
