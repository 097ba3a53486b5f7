#include "tessera/arrays/array.h"
#include "tessera/runtime/format.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "expr.h"
#include "kernels.h"
#include "node.h"

namespace tessera {
namespace detail {

std::string next_name(std::string_view kind) {
  static std::atomic<std::uint64_t> counter{0};
  char suffix[24];
  std::snprintf(suffix, sizeof(suffix), "-%llx", static_cast<unsigned long long>(counter.fetch_add(1)));
  return std::string(kind) + suffix;
}

ArrayNodePtr shared_node(std::string key, const std::function<ArrayNodePtr()>& make) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::weak_ptr<const ArrayNode>> nodes;
  static std::size_t purge_at = 1024;
  {
    std::lock_guard lock(mutex);
    if (auto it = nodes.find(key); it != nodes.end()) {
      if (ArrayNodePtr n = it->second.lock()) return n;
    }
  }
  ArrayNodePtr n = make();
  std::lock_guard lock(mutex);
  if (nodes.size() >= purge_at) {  // forget nodes gone since; keep the map about as large as what lives
    std::erase_if(nodes, [](const auto& e) { return e.second.expired(); });
    purge_at = std::max<std::size_t>(1024, 2 * nodes.size());
  }
  nodes[std::move(key)] = n;
  return n;
}

const std::vector<TaskId>& GraphBuilder::build(const ArrayNodePtr& node) {
  if (auto it = built_.find(node.get()); it != built_.end()) return it->second;
  std::vector<TaskId> ids = node->build(*this);
  return built_.emplace(node.get(), std::move(ids)).first->second;
}

void GraphBuilder::survey(std::span<const ArrayNodePtr> roots) {
  std::unordered_set<const ArrayNode*> seen;
  std::vector<const ArrayNode*> stack, operands;
  for (auto it = roots.rbegin(); it != roots.rend(); ++it) stack.push_back(it->get());
  while (!stack.empty()) {
    const ArrayNode* n = stack.back();
    stack.pop_back();
    if (n == nullptr || !seen.insert(n).second) continue;
    if (std::string key = n->shared_pass_key(); !key.empty()) peers_[std::move(key)].push_back(n);
    operands.clear();
    n->operands(operands);
    stack.insert(stack.end(), operands.rbegin(), operands.rend());
  }
}

std::span<const ArrayNode* const> GraphBuilder::peers(const std::string& key) const {
  const auto it = peers_.find(key);
  if (it == peers_.end()) return {};
  return it->second;
}

std::int64_t linear_index(std::span<const std::int64_t> index, const Shape& counts) {
  std::int64_t l = 0;
  for (std::size_t a = 0; a < index.size(); ++a) l = l * counts[a] + index[a];
  return l;
}

std::vector<std::int32_t> key_index(std::span<const std::int64_t> index) {
  return std::vector<std::int32_t>(index.begin(), index.end());
}

std::vector<std::int64_t> from_key(std::span<const std::int32_t> index) {
  return std::vector<std::int64_t>(index.begin(), index.end());
}

Chunk ArrayNode::generate(std::span<const std::int64_t>) const {
  throw_error(ErrorCode::kInternal, name, " is not a generator");
}

void ArrayNode::fused_inputs(GraphBuilder& b, std::span<const std::int64_t> index,
                             std::vector<TaskId>& deps) const {
  add_chunk_input(b, shared_from_this(), index, deps);
}

const Chunk& ArrayNode::fused_chunk(const TaskContext& ctx, std::size_t& next,
                                    std::span<const std::int64_t> index, std::deque<Chunk>& made) const {
  return chunk_input(ctx, next, *this, index, made);
}

const Chunk& ArrayNode::fused_rows(const TaskContext&, std::size_t&, std::span<const std::int64_t> index,
                                   std::int64_t a0, std::int64_t a1, std::deque<Chunk>& made) const {
  if (!generator()) throw_error(ErrorCode::kInternal, name, " cannot be read by rows");
  made.push_back(generate_rows(index, a0, a1));
  return made.back();
}

Chunk ArrayNode::generate_rows(std::span<const std::int64_t> index, std::int64_t a0, std::int64_t a1) const {
  return rows_of(generate(index), a0, a1);
}

Chunk rows_of(const Chunk& c, std::int64_t a0, std::int64_t a1) {
  if (c.ndim() == 0 || (a0 == 0 && a1 == c.shape()[0])) return c;
  Shape shape = c.shape();
  shape[0] = a1 - a0;
  Chunk out(c.dtype(), shape);
  const std::size_t row = shape[0] == 0 ? 0 : out.nbytes() / static_cast<std::size_t>(shape[0]);
  if (out.nbytes() > 0)
    std::memcpy(out.bytes(), c.bytes() + static_cast<std::size_t>(a0) * row, out.nbytes());
  return out;
}

void add_chunk_input(GraphBuilder& b, const ArrayNodePtr& node, std::span<const std::int64_t> index,
                     std::vector<TaskId>& deps) {
  if (node->generator()) return;
  if (node->made_in_reader()) {
    node->fused_inputs(b, index, deps);
    return;
  }
  deps.push_back(b.build(node)[static_cast<std::size_t>(linear_index(index, node->grid.grid_shape()))]);
}

const Chunk& chunk_input(const TaskContext& ctx, std::size_t& next, const ArrayNode& node,
                         std::span<const std::int64_t> index, std::deque<Chunk>& made) {
  if (node.made_in_reader()) return node.fused_chunk(ctx, next, index, made);
  if (!node.generator()) return ctx.input<Chunk>(next++);
  made.push_back(node.generate(index));
  return made.back();
}

TaskOptions chunk_options(const ArrayNode& node, std::span<const std::int64_t> index) {
  TaskOptions o;
  o.output_bytes =
      static_cast<std::uint64_t>(num_elements(node.grid.chunk_shape(index))) * size_of(node.dtype);
  return o;
}

TaskOptions step_options(const ArrayNode& node, std::span<const std::int64_t> index, const Graph& graph,
                         std::span<const TaskId> deps) {
  TaskOptions o = chunk_options(node, index);
  o.rereadable = deps.size() == 1 && graph.options(deps[0]).rereadable;
  return o;
}

namespace {

void check_chunk(const ArrayNode& node, std::span<const std::int64_t> index, const Chunk& c) {
  const Shape want = node.grid.chunk_shape(index);
  if (c.shape() != want || c.dtype() != node.dtype) {
    throw_error(ErrorCode::kInvalidArgument, node.name, ": chunk ",
                format_shape(Shape(index.begin(), index.end())), " came out as ", name_of(c.dtype()), " ",
                format_shape(c.shape()), ", expected ", name_of(node.dtype), " ", format_shape(want));
  }
}

// Values as a function of the element's global row-major position: writes the n elements at positions
// first, first + stride, ... to out as doubles (converted to the array's dtype afterwards, as NumPy's
// astype would).
using PositionFill =
    std::function<void(std::uint64_t first, std::uint64_t stride, std::int64_t n, double* out)>;

// Chunk `index` of `grid` made by position, with its axes permuted (out axis a is axis perm[a]): rows of
// the output are strided runs of positions, so a transpose of random numbers costs no more than the numbers.
Chunk fill_positions(const ChunkGrid& grid, DType dtype, const PositionFill& fill,
                     std::span<const std::int64_t> index, std::span<const int> perm, std::int64_t a0 = 0,
                     std::int64_t a1 = -1) {
  const int nd = grid.ndim();
  const Shape in_shape = grid.chunk_shape(index);
  const Shape gstrides = strides_of(grid.shape());
  Shape out_shape(static_cast<std::size_t>(nd));
  std::vector<std::uint64_t> start(static_cast<std::size_t>(nd)), step(static_cast<std::size_t>(nd));
  for (int a = 0; a < nd; ++a) {
    const auto ia = static_cast<std::size_t>(a);
    const auto p = static_cast<std::size_t>(perm[ia]);
    out_shape[ia] = in_shape[p];
    start[ia] = static_cast<std::uint64_t>(grid.offset(perm[ia], index[p]) * gstrides[p]);
    step[ia] = static_cast<std::uint64_t>(gstrides[p]);
  }
  if (nd > 0 && a1 >= 0) {  // only rows a0 .. a1-1 of output axis 0
    out_shape[0] = a1 - a0;
    start[0] += static_cast<std::uint64_t>(a0) * step[0];
  }
  Chunk out(dtype, out_shape);
  if (out.size() == 0) return out;
  const std::int64_t inner = nd == 0 ? 1 : out_shape.back();
  std::vector<double> row(static_cast<std::size_t>(inner));
  std::vector<std::int64_t> local(static_cast<std::size_t>(std::max(nd - 1, 0)), 0);
  const Shape outer(out_shape.begin(), out_shape.end() - (nd == 0 ? 0 : 1));
  visit_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = reinterpret_cast<T*>(out.bytes());
    do {
      std::uint64_t first = nd == 0 ? 0 : start.back();
      for (int a = 0; a < nd - 1; ++a) {
        const auto ia = static_cast<std::size_t>(a);
        first += start[ia] + static_cast<std::uint64_t>(local[ia]) * step[ia];
      }
      if constexpr (std::is_same_v<T, double>) {
        fill(first, nd == 0 ? 1 : step.back(), inner, o);
      } else {
        fill(first, nd == 0 ? 1 : step.back(), inner, row.data());
        for (std::int64_t j = 0; j < inner; ++j) o[j] = static_cast<T>(row[static_cast<std::size_t>(j)]);
      }
      o += inner;
    } while (nd > 1 && next_index(local, outer));
  });
  return out;
}

// A chunk made from nothing but its index (creation functions, user functions, in-memory data).
struct SourceNode final : ArrayNode {
  ChunkMaker make;
  bool cheap = false;       // a generator (see ArrayNode::generator)
  bool rereadable = false;  // read from storage (see from_storage)
  PositionFill fill;        // set when the values are a function of position (random numbers, ranges)

  bool generator() const override { return cheap; }
  Chunk generate(std::span<const std::int64_t> index) const override {
    Chunk c = make(grid, index);
    check_chunk(*this, index, c);
    return c;
  }
  Chunk generate_rows(std::span<const std::int64_t> index, std::int64_t a0, std::int64_t a1) const override {
    if (!fill) return ArrayNode::generate_rows(index, a0, a1);
    std::vector<int> identity(static_cast<std::size_t>(grid.ndim()));
    std::iota(identity.begin(), identity.end(), 0);
    return fill_positions(grid, dtype, fill, index, identity, a0, a1);
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      Chunk c = make(grid, index);
      check_chunk(*this, index, c);
      return Value::of(std::move(c));
    });
    std::vector<TaskId> ids;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      TaskOptions o = chunk_options(*this, index);
      o.rereadable = rereadable;
      ids.push_back(g.add(n, key_index(index), k, std::span<const TaskId>{}, o));
    });
    return ids;
  }
};

// Elementwise operations over inputs that broadcast to the output; one task per output chunk.
struct ElementwiseNode final : ArrayNode {
  Expr expr;
  std::vector<ArrayNodePtr> inputs;
  void operands(std::vector<const ArrayNode*>& out) const override {
    for (const ArrayNodePtr& in : inputs) out.push_back(in.get());
  }

  // The chunk of input i feeding output chunk `index`: the same index on its axes, 0 where it broadcasts.
  std::vector<std::int64_t> input_index(std::size_t i, std::span<const std::int64_t> index) const {
    const ArrayNode& in = *inputs[i];
    const int offset = grid.ndim() - in.grid.ndim();
    std::vector<std::int64_t> in_index(static_cast<std::size_t>(in.grid.ndim()));
    for (int a = 0; a < in.grid.ndim(); ++a) {
      const auto ia = static_cast<std::size_t>(a);
      in_index[ia] = in.shape[ia] == 1 && shape[static_cast<std::size_t>(a + offset)] != 1
                         ? 0
                         : index[static_cast<std::size_t>(a + offset)];
    }
    return in_index;
  }

  void fused_inputs(GraphBuilder& b, std::span<const std::int64_t> index,
                    std::vector<TaskId>& deps) const override {
    for (std::size_t i = 0; i < inputs.size(); ++i)
      add_chunk_input(b, inputs[i], input_index(i, index), deps);
  }

  const Chunk& fused_chunk(const TaskContext& ctx, std::size_t& next, std::span<const std::int64_t> index,
                           std::deque<Chunk>& made) const override {
    Chunk out = make(ctx, next, index, made);
    made.push_back(std::move(out));
    return made.back();
  }

  bool makes_rows() const override { return true; }

  const Chunk& fused_rows(const TaskContext& ctx, std::size_t& next, std::span<const std::int64_t> index,
                          std::int64_t a0, std::int64_t a1, std::deque<Chunk>& made) const override {
    Shape block = grid.chunk_shape(index);
    if (block.empty() || (a0 == 0 && a1 == block[0])) return fused_chunk(ctx, next, index, made);
    block[0] = a1 - a0;
    std::vector<const Chunk*> in;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const ArrayNode& node = *inputs[i];
      const std::vector<std::int64_t> in_index = input_index(i, index);
      // Inputs without their own axis 0 here (fewer axes, or extent 1 broadcast) are read whole.
      const bool whole = node.grid.ndim() < grid.ndim() || node.shape[0] == 1;
      if (whole) {
        in.push_back(&chunk_input(ctx, next, node, in_index, made));
      } else if (node.generator()) {
        made.push_back(node.generate_rows(in_index, a0, a1));
        in.push_back(&made.back());
      } else if (node.made_in_reader()) {
        in.push_back(&node.fused_rows(ctx, next, in_index, a0, a1, made));
      } else {
        made.push_back(rows_of(ctx.input<Chunk>(next++), a0, a1));
        in.push_back(&made.back());
      }
    }
    made.push_back(evaluate(expr, block, in));
    return made.back();
  }

  Chunk make(const TaskContext& ctx, std::size_t& next, std::span<const std::int64_t> index,
             std::deque<Chunk>& made) const {
    std::vector<const Chunk*> in;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      in.push_back(&chunk_input(ctx, next, *inputs[i], input_index(i, index), made));
    }
    return evaluate(expr, grid.chunk_shape(index), in);
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      std::deque<Chunk> made;
      std::size_t next = 0;
      return Value::of(make(ctx, next, index, made));
    });
    std::vector<TaskId> ids;
    std::vector<TaskId> deps;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      deps.clear();
      fused_inputs(b, index, deps);
      ids.push_back(g.add(n, key_index(index), k, deps, step_options(*this, index, g, deps)));
    });
    return ids;
  }
};

// Each output chunk is a permutation of one input chunk.
struct TransposeNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  std::vector<int> perm;

  std::vector<std::int64_t> input_index(std::span<const std::int64_t> index) const {
    std::vector<std::int64_t> in_index(index.size());
    for (std::size_t a = 0; a < index.size(); ++a) in_index[static_cast<std::size_t>(perm[a])] = index[a];
    return in_index;
  }

  bool generator() const override { return input->generator(); }
  Chunk generate(std::span<const std::int64_t> index) const override {
    if (const auto* src = dynamic_cast<const SourceNode*>(input.get()); src && src->fill) {
      return fill_positions(src->grid, src->dtype, src->fill, input_index(index), perm);
    }
    return transpose_chunk(input->generate(input_index(index)), perm);
  }
  Chunk generate_rows(std::span<const std::int64_t> index, std::int64_t a0, std::int64_t a1) const override {
    if (const auto* src = dynamic_cast<const SourceNode*>(input.get()); src && src->fill) {
      return fill_positions(src->grid, src->dtype, src->fill, input_index(index), perm, a0, a1);
    }
    return ArrayNode::generate_rows(index, a0, a1);
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      if (generator()) return Value::of(generate(index));
      std::deque<Chunk> made;
      std::size_t next = 0;
      return Value::of(transpose_chunk(chunk_input(ctx, next, *input, input_index(index), made), perm));
    });
    std::vector<TaskId> ids, deps;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      deps.clear();
      if (!generator()) add_chunk_input(b, input, input_index(index), deps);
      ids.push_back(g.add(n, key_index(index), k, deps, chunk_options(*this, index)));
    });
    return ids;
  }
};

// Each output chunk is a strided piece of one input chunk (slicing keeps the input's chunk structure).
struct SelectNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  // Per input axis and output chunk along it: which input chunk, local start, step; axes dropped by an
  // integer index have one entry and keep_axis false.
  struct AxisPlan {
    std::vector<std::int64_t> in_chunk, local_start;
    std::int64_t step = 1;
    bool keep = true;
  };
  std::vector<AxisPlan> axes;

  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::vector<TaskId>& in_ids = b.build(input);
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      const Chunk& in = ctx.input<Chunk>(0);
      std::vector<std::int64_t> start, step;
      Shape piece;
      std::size_t out_axis = 0;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        const AxisPlan& p = axes[a];
        const std::size_t j = p.keep ? static_cast<std::size_t>(index[out_axis]) : 0;
        start.push_back(p.local_start[j]);
        step.push_back(p.step);
        piece.push_back(p.keep ? grid.chunks(static_cast<int>(out_axis))[j] : 1);
        if (p.keep) ++out_axis;
      }
      Chunk full(in.dtype(), piece);
      gather_strided(in, start, step, full);
      return Value::of(reshape_chunk(full, grid.chunk_shape(index)));
    });
    std::vector<TaskId> ids;
    const Shape in_counts = input->grid.grid_shape();
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      std::vector<std::int64_t> in_index;
      std::size_t out_axis = 0;
      for (const AxisPlan& p : axes) {
        in_index.push_back(p.in_chunk[p.keep ? static_cast<std::size_t>(index[out_axis]) : 0]);
        if (p.keep) ++out_axis;
      }
      const TaskId dep = in_ids[static_cast<std::size_t>(linear_index(in_index, in_counts))];
      const std::span<const TaskId> deps(&dep, 1);
      ids.push_back(g.add(n, key_index(index), k, deps, step_options(*this, index, g, deps)));
    });
    return ids;
  }
};

// Output chunks assembled from every input chunk they overlap.
struct RechunkNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::vector<TaskId>& in_ids = b.build(input);
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      Chunk out(dtype, grid.chunk_shape(index));
      std::size_t next = 0;
      for_overlaps(index, [&](std::span<const std::int64_t> in_index) {
        const Chunk& in = ctx.input<Chunk>(next++);
        const int nd = grid.ndim();
        std::vector<std::int64_t> src(static_cast<std::size_t>(nd)), dst(static_cast<std::size_t>(nd)),
            count(static_cast<std::size_t>(nd));
        for (int a = 0; a < nd; ++a) {
          const auto ia = static_cast<std::size_t>(a);
          const std::int64_t out_lo = grid.offset(a, index[ia]);
          const std::int64_t out_hi = out_lo + grid.chunks(a)[static_cast<std::size_t>(index[ia])];
          const std::int64_t in_lo = input->grid.offset(a, in_index[ia]);
          const std::int64_t in_hi = in_lo + input->grid.chunks(a)[static_cast<std::size_t>(in_index[ia])];
          const std::int64_t lo = std::max(out_lo, in_lo), hi = std::min(out_hi, in_hi);
          src[ia] = lo - in_lo;
          dst[ia] = lo - out_lo;
          count[ia] = hi - lo;
        }
        copy_block(in, src, out, dst, count);
      });
      return Value::of(std::move(out));
    });
    std::vector<TaskId> ids;
    const Shape in_counts = input->grid.grid_shape();
    std::vector<TaskId> deps;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      deps.clear();
      for_overlaps(index, [&](std::span<const std::int64_t> in_index) {
        deps.push_back(in_ids[static_cast<std::size_t>(linear_index(in_index, in_counts))]);
      });
      ids.push_back(g.add(n, key_index(index), k, deps, chunk_options(*this, index)));
    });
    return ids;
  }

  // Calls f(input chunk index) for every input chunk overlapping output chunk `index`, row-major.
  template <class F>
  void for_overlaps(std::span<const std::int64_t> index, F&& f) const {
    const int nd = grid.ndim();
    std::vector<std::int64_t> lo(static_cast<std::size_t>(nd)), count(static_cast<std::size_t>(nd));
    for (int a = 0; a < nd; ++a) {
      const auto ia = static_cast<std::size_t>(a);
      const std::int64_t start = grid.offset(a, index[ia]);
      const std::int64_t len = grid.chunks(a)[static_cast<std::size_t>(index[ia])];
      lo[ia] = input->grid.chunk_of(a, start);
      count[ia] = (len == 0 ? lo[ia] : input->grid.chunk_of(a, start + len - 1)) - lo[ia] + 1;
    }
    std::vector<std::int64_t> rel(static_cast<std::size_t>(nd), 0), in_index(static_cast<std::size_t>(nd));
    do {
      for (int a = 0; a < nd; ++a)
        in_index[static_cast<std::size_t>(a)] =
            lo[static_cast<std::size_t>(a)] + rel[static_cast<std::size_t>(a)];
      f(std::span<const std::int64_t>(in_index));
    } while (nd > 0 && next_index(rel, count));
  }
};

// Chunks of several arrays side by side along one axis: no new tasks, the inputs' chunks are the output's.
struct ConcatNode final : ArrayNode {
  std::vector<ArrayNodePtr> inputs;
  void operands(std::vector<const ArrayNode*>& out) const override {
    for (const ArrayNodePtr& in : inputs) out.push_back(in.get());
  }
  int axis = 0;

  std::vector<TaskId> build(GraphBuilder& b) const override {
    std::vector<const std::vector<TaskId>*> in_ids;
    for (const ArrayNodePtr& in : inputs) in_ids.push_back(&b.build(in));
    std::vector<TaskId> ids;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      std::vector<std::int64_t> in_index(index.begin(), index.end());
      std::size_t which = 0;
      while (in_index[static_cast<std::size_t>(axis)] >= inputs[which]->grid.num_chunks(axis)) {
        in_index[static_cast<std::size_t>(axis)] -= inputs[which]->grid.num_chunks(axis);
        ++which;
      }
      ids.push_back((*in_ids[which])[static_cast<std::size_t>(
          linear_index(in_index, inputs[which]->grid.grid_shape()))]);
    });
    return ids;
  }
};

// Chunks reshaped one to one (a new axis of length 1, say).
struct ReshapeChunksNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::vector<TaskId>& in_ids = b.build(input);
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      return Value::of(reshape_chunk(ctx.input<Chunk>(0), grid.chunk_shape(from_key(ctx.index()))));
    });
    std::vector<TaskId> ids;
    std::size_t i = 0;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      const TaskId dep = in_ids[i++];
      ids.push_back(
          g.add(n, key_index(index), k, std::span<const TaskId>(&dep, 1), chunk_options(*this, index)));
    });
    return ids;
  }
};

// Chunks computed earlier and kept (persist).
struct StoredNode final : ArrayNode {
  std::vector<Value> values;

  std::vector<TaskId> build(GraphBuilder& b) const override {
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      return values[static_cast<std::size_t>(linear_index(from_key(ctx.index()), grid.grid_shape()))];
    });
    std::vector<TaskId> ids;
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      ids.push_back(g.add(n, key_index(index), k, std::span<const TaskId>{}, chunk_options(*this, index)));
    });
    return ids;
  }
};

template <class N>
std::shared_ptr<N> make_node(std::string_view kind, Shape shape, DType dtype, ChunkGrid grid) {
  auto node = std::make_shared<N>();
  node->shape = std::move(shape);
  node->dtype = dtype;
  node->grid = std::move(grid);
  node->name = next_name(kind);
  return node;
}

// ---- elementwise construction ----------------------------------------------------------------------------

// An operand while an expression is being built: an array (its expression inlined when it is elementwise) or
// a scalar.
struct Operand {
  ArrayNodePtr array;
  std::optional<Scalar> scalar;
};

Operand operand(const Array& a) {
  if (!a.node()) throw_error(ErrorCode::kInvalidArgument, "an operand is an empty Array (never assigned)");
  return Operand{a.node(), std::nullopt};
}
Operand operand(Scalar s) {
  return Operand{nullptr, s};
}

Shape broadcast_shapes(const std::vector<Shape>& shapes, std::string_view what) {
  std::size_t nd = 0;
  for (const Shape& s : shapes) nd = std::max(nd, s.size());
  Shape out(nd, 1);
  for (const Shape& s : shapes) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const std::size_t a = nd - s.size() + i;
      if (s[i] == out[a] || s[i] == 1) continue;
      if (out[a] == 1) {
        out[a] = s[i];
        continue;
      }
      std::string all;
      for (const Shape& t : shapes) all += (all.empty() ? "" : " ") + format_shape(t);
      throw_error(ErrorCode::kInvalidArgument, what,
                  ": operands could not be broadcast together with shapes ", all, " (axis ", a, ": ", out[a],
                  " vs ", s[i], ")");
    }
  }
  return out;
}

// The common refinement of chunk boundaries along one axis (every input's boundaries kept).
std::vector<std::int64_t> refine(const std::vector<const std::vector<std::int64_t>*>& lists,
                                 std::int64_t length) {
  std::set<std::int64_t> cuts{0, length};
  for (const auto* l : lists) {
    std::int64_t pos = 0;
    for (std::int64_t c : *l) cuts.insert(pos += c);
  }
  std::vector<std::int64_t> out;
  std::int64_t prev = 0;
  for (std::int64_t c : cuts) {
    if (c > prev) out.push_back(c - prev);
    prev = c;
  }
  if (out.empty()) out.push_back(length);
  return out;
}

ArrayNodePtr rechunk_node(const ArrayNodePtr& in, const ChunkGrid& grid);

Array make_elementwise(Op op, std::vector<Operand> ops, std::string_view kind) {
  // 1. Output shape, and one chunking for all array operands.
  std::vector<Shape> shapes;
  for (const Operand& o : ops) {
    if (o.array) shapes.push_back(o.array->shape);
  }
  const Shape shape = broadcast_shapes(shapes, kind);
  const std::size_t nd = shape.size();
  std::vector<std::vector<std::int64_t>> chunks(nd);
  for (std::size_t a = 0; a < nd; ++a) {
    std::vector<const std::vector<std::int64_t>*> lists;
    for (const Operand& o : ops) {
      if (!o.array || o.array->shape.size() + a < nd) continue;
      const std::size_t ia = a - (nd - o.array->shape.size());
      if (o.array->shape[ia] == shape[a]) lists.push_back(&o.array->grid.chunks(static_cast<int>(ia)));
    }
    chunks[a] = lists.empty() ? std::vector<std::int64_t>{shape[a]} : refine(lists, shape[a]);
  }
  ChunkGrid grid(shape, chunks);
  for (Operand& o : ops) {
    if (!o.array) continue;
    const std::size_t off = nd - o.array->shape.size();
    std::vector<std::vector<std::int64_t>> want;
    bool differs = false;
    for (std::size_t ia = 0; ia < o.array->shape.size(); ++ia) {
      const bool broadcast = o.array->shape[ia] == 1 && shape[ia + off] != 1;
      want.push_back(broadcast ? std::vector<std::int64_t>{1} : chunks[ia + off]);
      differs |= want.back() != o.array->grid.chunks(static_cast<int>(ia));
    }
    if (differs) o.array = rechunk_node(o.array, ChunkGrid(o.array->shape, want));
  }

  // 2. The expression: elementwise operands are inlined, everything else becomes an input.
  auto node = make_node<ElementwiseNode>(kind, shape, DType::kFloat64, grid);
  Expr& e = node->expr;
  // Hash-consing: a node identical to one already in the expression (same operation, types, operands, input
  // or
  // constant) is that node. Inlining an operand that appears several times, even nested (x + c / x), then
  // adds its subtree once, so repeated updates (x = f(x, x)) grow the expression linearly, not exponentially.
  std::map<std::tuple<int, int, int, int, int, int, int, std::uint64_t, std::int64_t>, int> unique;
  auto add = [&](const ExprNode& n) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &n.fvalue, sizeof(bits));
    const auto key = std::make_tuple(static_cast<int>(n.op), static_cast<int>(n.dtype),
                                     static_cast<int>(n.compute), n.a, n.b, n.c, n.input, bits, n.ivalue);
    if (auto it = unique.find(key); it != unique.end()) return it->second;
    const int k = e.add(n);
    unique.emplace(key, k);
    return k;
  };
  auto input_of = [&](const ArrayNodePtr& array) {
    for (std::size_t i = 0; i < node->inputs.size(); ++i) {
      if (node->inputs[i] == array) return static_cast<int>(i);
    }
    node->inputs.push_back(array);
    return static_cast<int>(node->inputs.size() - 1);
  };
  // Copies `src`'s expression into e, remapping its inputs; returns the new root. An operand used twice (x *
  // x)
  // is copied once and shared.
  std::vector<std::pair<const ElementwiseNode*, int>> inlined;
  auto inline_expr = [&](const ElementwiseNode& src) {
    for (const auto& [n, root] : inlined) {
      if (n == &src) return root;
    }
    std::vector<int> remap(src.expr.nodes.size());
    for (std::size_t k = 0; k < src.expr.nodes.size(); ++k) {
      ExprNode n = src.expr.nodes[k];
      if (n.op == Op::kInput) n.input = input_of(src.inputs[static_cast<std::size_t>(n.input)]);
      for (int* child : {&n.a, &n.b, &n.c}) {
        if (*child >= 0) *child = remap[static_cast<std::size_t>(*child)];
      }
      remap[k] = add(n);
    }
    inlined.emplace_back(&src, remap[static_cast<std::size_t>(src.expr.root)]);
    return remap[static_cast<std::size_t>(src.expr.root)];
  };
  std::vector<int> leaf;
  std::vector<DType> types;
  DType array_type = DType::kBool;
  bool any_array = false;
  for (const Operand& o : ops) {
    if (!o.array) continue;
    array_type = any_array ? promote(array_type, o.array->dtype) : o.array->dtype;
    any_array = true;
  }
  for (const Operand& o : ops) {
    if (o.array) {
      // Blockwise fusion: an elementwise operand (already on the output's chunking, or it would have been
      // rechunked above) contributes its expression, not a task.
      // Very large expressions stop growing: beyond kMaxFused nodes an operand becomes its own task.
      constexpr std::size_t kMaxFused = 256;
      const auto* ew = dynamic_cast<const ElementwiseNode*>(o.array.get());
      if (ew != nullptr && e.nodes.size() + ew->expr.nodes.size() <= kMaxFused) {
        leaf.push_back(inline_expr(*ew));
      } else {
        ExprNode in;
        in.op = Op::kInput;
        in.dtype = in.compute = o.array->dtype;
        in.input = input_of(o.array);
        leaf.push_back(add(in));
      }
      types.push_back(o.array->dtype);
    } else {
      ExprNode c;
      c.op = Op::kConst;
      c.fvalue = o.scalar->f;
      c.ivalue = o.scalar->i;
      c.dtype = c.compute = any_array
                                ? promote_with_scalar(array_type, o.scalar->kind)
                                : (o.scalar->kind == ScalarKind::kFloat ? DType::kFloat64 : DType::kInt64);
      if (o.scalar->kind == ScalarKind::kInt && is_integer(c.dtype)) {
        c.dtype = c.compute = promote(c.dtype, smallest_int_dtype(o.scalar->i));  // the value must fit
      }
      leaf.push_back(add(c));
      types.push_back(c.dtype);
    }
  }

  // 3. The operation's own node: the compute type is the operands' promotion.
  ExprNode n;
  n.op = op;
  DType compute = types[0];
  for (std::size_t i = 1; i < types.size(); ++i) compute = promote(compute, types[i]);
  if (op == Op::kWhere) {
    n.a = leaf[0];
    n.b = leaf[1];
    n.c = leaf[2];
    n.compute = promote(types[1], types[2]);
    n.dtype = n.compute;
  } else if (ops.size() == 1) {
    n.a = leaf[0];
    if (op == Op::kNeg && types[0] == DType::kBool) {
      throw_error(ErrorCode::kInvalidArgument,
                  "negation of a bool array is not supported (use logical not: !a)");
    }
    n.dtype = unary_result(op, types[0]);
    n.compute = (op == Op::kIsnan || op == Op::kNot) ? types[0] : n.dtype;
  } else {
    n.a = leaf[0];
    n.b = leaf[1];
    if (op == Op::kDiv && !is_float(compute)) compute = DType::kFloat64;  // true division
    if (op == Op::kAnd || op == Op::kOr || op == Op::kXor) compute = DType::kBool;
    if (op == Op::kSub && compute == DType::kBool) {
      throw_error(ErrorCode::kInvalidArgument, "subtracting bool arrays is not supported (use logical_xor)");
    }
    n.compute = compute;
    n.dtype = binary_result(op, compute);
  }
  e.root = add(n);
  node->dtype = n.dtype;
  return Array(node);
}

Array cast_array(const Array& a, DType to) {
  if (a.dtype() == to) return a;
  auto node = make_node<ElementwiseNode>("astype", a.shape(), to, a.chunks());
  ExprNode in;
  in.op = Op::kInput;
  in.dtype = in.compute = a.dtype();
  in.input = 0;
  node->inputs.push_back(a.node());
  ExprNode c;
  c.op = Op::kCast;
  c.dtype = c.compute = to;
  c.a = node->expr.add(in);
  node->expr.root = node->expr.add(c);
  return Array(node);
}

ArrayNodePtr rechunk_node(const ArrayNodePtr& in, const ChunkGrid& grid) {
  if (in->grid == grid) return in;
  auto node = make_node<RechunkNode>("rechunk", in->shape, in->dtype, grid);
  node->input = in;
  return node;
}

int normalize_axis(int axis, int ndim, std::string_view what) {
  if (axis < -ndim || axis >= ndim) {
    throw_error(ErrorCode::kInvalidArgument, what, ": axis ", axis, " is out of range for an array with ",
                ndim, " dimension", ndim == 1 ? "" : "s");
  }
  return axis < 0 ? axis + ndim : axis;
}

// Copies chunk `index` of `grid` out of an in-memory array.
Chunk piece_of(const Chunk& data, const ChunkGrid& grid, std::span<const std::int64_t> index) {
  Chunk out(data.dtype(), grid.chunk_shape(index));
  std::vector<std::int64_t> start(index.size()), zero(index.size(), 0);
  for (std::size_t a = 0; a < index.size(); ++a) start[a] = grid.offset(static_cast<int>(a), index[a]);
  copy_block(data, start, out, zero, out.shape());
  return out;
}

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A uniform double in [0, 1) for element `e` of stream `stream` of `seed`: a function of these only.
double uniform01(std::uint64_t seed, std::uint64_t e, std::uint64_t stream) {
  const std::uint64_t bits = mix64(mix64(seed ^ (stream * 0xd1b54a32d192ed03ULL)) + e);
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

// uniform01(seed, e, 0) for e = first, first + stride, ... (n of them), with key = mix64(seed): the hot loop
// of random chunks. On x86-64 it is also compiled for x86-64-v4 and picked at load time where the CPU has
// AVX-512 (8-lane 64-bit multiplies); only integer operations and an exact conversion, so every version gives
// the same bits.
// Not under ThreadSanitizer: the clones' ifunc resolver runs during relocation, before TSan's runtime is set
// up, and crashes the program at load.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define TESSERA_X86_64_V4_CLONE __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define TESSERA_X86_64_V4_CLONE
#endif
TESSERA_X86_64_V4_CLONE void uniform_row(std::uint64_t key, std::uint64_t first, std::uint64_t stride,
                                         std::int64_t n, double* out) {
  for (std::int64_t j = 0; j < n; ++j) {
    out[j] = static_cast<double>(mix64(key + first + static_cast<std::uint64_t>(j) * stride) >> 11) *
             (1.0 / 9007199254740992.0);
  }
}

// f(position) for each position of a row.
template <class F>
PositionFill each_position(F f) {
  return [f](std::uint64_t first, std::uint64_t stride, std::int64_t n, double* out) {
    for (std::int64_t j = 0; j < n; ++j) out[j] = f(first + static_cast<std::uint64_t>(j) * stride);
  };
}

}  // namespace

Array make_source(const ChunkGrid& grid, DType dtype, ChunkMaker make, std::string_view kind,
                  bool generator = false, bool rereadable = false) {
  auto node = make_node<SourceNode>(kind, grid.shape(), dtype, grid);
  node->make = std::move(make);
  node->cheap = generator;
  node->rereadable = rereadable;
  return Array(node);
}

// A generator whose values are a function of position.
Array position_source(const ChunkGrid& grid, DType dtype, PositionFill fill, std::string_view kind) {
  auto node = make_node<SourceNode>(kind, grid.shape(), dtype, grid);
  node->cheap = true;
  node->fill = fill;
  node->make = [dtype, fill = std::move(fill)](const ChunkGrid& g, std::span<const std::int64_t> index) {
    std::vector<int> identity(static_cast<std::size_t>(g.ndim()));
    std::iota(identity.begin(), identity.end(), 0);
    return fill_positions(g, dtype, fill, index, identity);
  };
  return Array(node);
}

}  // namespace detail

using detail::ExprNode;
using detail::Op;
using detail::operand;

// ---- Array basics
// --------------------------------------------------------------------------------------------

namespace {
const detail::ArrayNode& node_of(const Array& a) {
  if (!a.node()) throw_error(ErrorCode::kInvalidArgument, "this Array is empty (never assigned)");
  return *a.node();
}

}  // namespace

const Shape& Array::shape() const {
  return node_of(*this).shape;
}
DType Array::dtype() const {
  return node_of(*this).dtype;
}
const ChunkGrid& Array::chunks() const {
  return node_of(*this).grid;
}

std::string Array::repr() const {
  const auto& n = node_of(*this);
  return str_cat("tessera.Array<shape=", format_shape(n.shape), ", dtype=", name_of(n.dtype),
                 ", chunksize=", format_shape(n.grid.max_chunk_shape()), ", chunks=", n.grid.total_chunks(),
                 ", bytes=", format_bytes(static_cast<double>(nbytes())), ">");
}

Array Array::astype(DType to) const {
  return detail::cast_array(*this, to);
}

Array Array::rechunk(const Shape& chunk_shape) const {
  return rechunk(ChunkGrid::regular(shape(), chunk_shape));
}

Array Array::rechunk(const ChunkGrid& grid) const {
  if (grid.shape() != shape()) {
    throw_error(ErrorCode::kInvalidArgument, "rechunk: the new chunks describe shape ",
                format_shape(grid.shape()), ", but the array has shape ", format_shape(shape()));
  }
  return Array(detail::rechunk_node(node(), grid));
}

Array Array::transpose(std::vector<int> axes) const {
  const int nd = ndim();
  if (axes.empty()) {
    for (int a = nd - 1; a >= 0; --a) axes.push_back(a);
  }
  if (static_cast<int>(axes.size()) != nd) {
    throw_error(ErrorCode::kInvalidArgument, "transpose: ", axes.size(), " axes given for an array with ", nd,
                " dimensions");
  }
  std::vector<bool> seen(static_cast<std::size_t>(nd), false);
  for (int& a : axes) {
    a = detail::normalize_axis(a, nd, "transpose");
    if (seen[static_cast<std::size_t>(a)])
      throw_error(ErrorCode::kInvalidArgument, "transpose: axis ", a, " repeated");
    seen[static_cast<std::size_t>(a)] = true;
  }
  Shape shape;
  std::vector<std::vector<std::int64_t>> chunks;
  for (int a : axes) {
    shape.push_back(this->shape()[static_cast<std::size_t>(a)]);
    chunks.push_back(this->chunks().chunks(a));
  }
  auto node = detail::make_node<detail::TransposeNode>("transpose", shape, dtype(), ChunkGrid(shape, chunks));
  node->input = this->node();
  node->perm = axes;
  return Array(node);
}

Array Array::select(std::span<const Slice> selection) const {
  const int nd = ndim();
  if (static_cast<int>(selection.size()) > nd) {
    throw_error(ErrorCode::kInvalidArgument, "too many indices: ", selection.size(), " for an array with ",
                nd, " dimensions, shape ", format_shape(shape()));
  }
  using Plan = detail::SelectNode::AxisPlan;
  std::vector<Plan> plans;
  Shape out_shape;
  std::vector<std::vector<std::int64_t>> out_chunks;
  for (int a = 0; a < nd; ++a) {
    const std::int64_t len = shape()[static_cast<std::size_t>(a)];
    const Slice s =
        a < static_cast<int>(selection.size()) ? selection[static_cast<std::size_t>(a)] : Slice::all();
    const ChunkGrid& g = chunks();
    Plan p;
    if (s.index) {
      std::int64_t i = *s.index < 0 ? *s.index + len : *s.index;
      if (i < 0 || i >= len) {
        throw_error(ErrorCode::kInvalidArgument, "index ", *s.index, " is out of bounds for axis ", a,
                    " with size ", len);
      }
      const std::int64_t c = g.chunk_of(a, i);
      p.in_chunk = {c};
      p.local_start = {i - g.offset(a, c)};
      p.keep = false;
      plans.push_back(p);
      continue;
    }
    if (s.step == 0) throw_error(ErrorCode::kInvalidArgument, "slice step cannot be zero (axis ", a, ")");
    if (s.step == std::numeric_limits<std::int64_t>::min()) {
      throw_error(ErrorCode::kInvalidArgument, "slice step ", s.step, " is out of range (axis ", a, ")");
    }
    // NumPy's slice normalisation.
    const std::int64_t step = s.step;
    auto clamp_bound = [&](std::optional<std::int64_t> v, std::int64_t def) {
      if (!v) return def;
      std::int64_t x = *v < 0 ? *v + len : *v;
      if (step > 0) return std::clamp<std::int64_t>(x, 0, len);
      return std::clamp<std::int64_t>(x, -1, len - 1);
    };
    const std::int64_t start = clamp_bound(s.start, step > 0 ? 0 : len - 1);
    const std::int64_t stop = clamp_bound(s.stop, step > 0 ? len : -1);
    p.step = step;
    std::vector<std::int64_t> lens;
    if (step > 0) {
      for (std::int64_t c = 0; c < g.num_chunks(a); ++c) {
        const std::int64_t lo = std::max(g.offset(a, c), start);
        const std::int64_t hi = std::min(g.offset(a, c) + g.chunks(a)[static_cast<std::size_t>(c)], stop);
        if (hi <= lo) continue;
        // First selected position >= lo, without overflow for huge steps.
        const std::int64_t gap = lo - start;
        const std::int64_t jumps = gap / step + (gap % step != 0 ? 1 : 0);
        std::int64_t offset_from_start = 0;
        if (__builtin_mul_overflow(jumps, step, &offset_from_start) || offset_from_start >= hi - start)
          continue;
        const std::int64_t first = start + offset_from_start;
        const std::int64_t count = 1 + (hi - 1 - first) / step;
        p.in_chunk.push_back(c);
        p.local_start.push_back(first - g.offset(a, c));
        lens.push_back(count);
      }
    } else {
      const std::int64_t st = -step;
      for (std::int64_t c = g.num_chunks(a) - 1; c >= 0; --c) {
        const std::int64_t lo = std::max(g.offset(a, c), stop + 1);
        const std::int64_t hi =
            std::min(g.offset(a, c) + g.chunks(a)[static_cast<std::size_t>(c)] - 1, start);
        if (hi < lo) continue;
        const std::int64_t gap = start - hi;
        const std::int64_t jumps = gap / st + (gap % st != 0 ? 1 : 0);
        std::int64_t offset_from_start = 0;
        if (__builtin_mul_overflow(jumps, st, &offset_from_start) || offset_from_start > start - lo) continue;
        const std::int64_t first = start - offset_from_start;  // first selected <= hi
        const std::int64_t count = (first - lo) / st + 1;
        p.in_chunk.push_back(c);
        p.local_start.push_back(first - g.offset(a, c));
        lens.push_back(count);
      }
    }
    std::int64_t total = 0;
    for (std::int64_t l : lens) total += l;
    if (lens.empty()) {
      // An empty selection still needs one (empty) chunk to stand on.
      p.in_chunk = {0};
      p.local_start = {0};
      lens = {0};
    }
    plans.push_back(p);
    out_shape.push_back(total);
    out_chunks.push_back(lens);
  }
  // Selecting everything is the array itself.
  bool everything = out_shape == shape() && plans.size() == out_chunks.size();
  for (std::size_t a = 0; everything && a < plans.size(); ++a) {
    everything = plans[a].keep && plans[a].step == 1 &&
                 out_chunks[a] == chunks().chunks(static_cast<int>(a)) &&
                 std::all_of(plans[a].local_start.begin(), plans[a].local_start.end(),
                             [](std::int64_t s) { return s == 0; });
  }
  if (everything) return *this;
  std::string key = "getitem " + node()->name;
  for (const auto& p : plans) {
    key += str_cat("|", p.keep, ",", p.step, ":");
    for (std::size_t i = 0; i < p.in_chunk.size(); ++i)
      key += str_cat(p.in_chunk[i], "+", p.local_start[i], " ");
  }
  for (const auto& along : out_chunks) {
    key += "|";
    for (std::int64_t c : along) key += str_cat(c, " ");
  }
  return Array(detail::shared_node(std::move(key), [&] {
    auto node = detail::make_node<detail::SelectNode>("getitem", out_shape, dtype(),
                                                      ChunkGrid(out_shape, out_chunks));
    node->input = this->node();
    node->axes = std::move(plans);
    return node;
  }));
}

// ---- creation
// -------------------------------------------------------------------------------------------------

Array from_function(const ChunkGrid& grid, DType dtype, ChunkMaker make, std::string name) {
  if (!make) throw_error(ErrorCode::kInvalidArgument, "from_function needs a callable");
  return detail::make_source(grid, dtype, std::move(make), name);
}

Array from_storage(const ChunkGrid& grid, DType dtype, ChunkMaker make, std::string name) {
  if (!make) throw_error(ErrorCode::kInvalidArgument, "from_storage needs a callable");
  return detail::make_source(grid, dtype, std::move(make), name, /*generator=*/false, /*rereadable=*/true);
}

Array full(const Shape& shape, const Shape& chunks, Scalar value, DType dtype) {
  const double f = value.f;
  const std::int64_t i = value.i;
  return detail::make_source(
      ChunkGrid::regular(shape, chunks), dtype,
      [f, i, dtype](const ChunkGrid& g, std::span<const std::int64_t> index) {
        Chunk c(dtype, g.chunk_shape(index));
        visit_dtype(dtype, [&](auto t) {
          using T = typename decltype(t)::type;
          const T v = is_float(dtype) ? static_cast<T>(f) : static_cast<T>(i);
          std::fill_n(reinterpret_cast<T*>(c.bytes()), c.size(), v);
        });
        return c;
      },
      "full", /*generator=*/true);
}

Array zeros(const Shape& shape, const Shape& chunks, DType dtype) {
  return full(shape, chunks, 0, dtype);
}
Array ones(const Shape& shape, const Shape& chunks, DType dtype) {
  return full(shape, chunks, 1, dtype);
}

Array arange(std::int64_t stop, std::int64_t chunk, DType dtype) {
  return detail::position_source(
      ChunkGrid::regular({std::max<std::int64_t>(stop, 0)}, {chunk}), dtype,
      detail::each_position([](std::uint64_t e) { return static_cast<double>(e); }), "arange");
}

Array arange(double start, double stop, double step, std::int64_t chunk, DType dtype) {
  if (step == 0) throw_error(ErrorCode::kInvalidArgument, "arange: step cannot be zero");
  const auto n = static_cast<std::int64_t>(std::max(0.0, std::ceil((stop - start) / step)));
  return detail::position_source(
      ChunkGrid::regular({n}, {chunk}), dtype,
      detail::each_position([start, step](std::uint64_t e) { return start + static_cast<double>(e) * step; }),
      "arange");
}

Array linspace(double start, double stop, std::int64_t num, std::int64_t chunk, bool endpoint) {
  if (num < 0) throw_error(ErrorCode::kInvalidArgument, "linspace: num is ", num, "; it must be >= 0");
  const std::int64_t div = endpoint ? num - 1 : num;
  const double step = div > 0 ? (stop - start) / static_cast<double>(div) : 0.0;
  return detail::position_source(ChunkGrid::regular({num}, {chunk}), DType::kFloat64,
                                 detail::each_position([=](std::uint64_t e) {
                                   if (endpoint && num > 1 && static_cast<std::int64_t>(e) == num - 1)
                                     return stop;
                                   return start + static_cast<double>(e) * step;
                                 }),
                                 "linspace");
}

Array random_uniform(const Shape& shape, const Shape& chunks, std::uint64_t seed, DType dtype, double low,
                     double high) {
  if (!is_float(dtype))
    throw_error(ErrorCode::kInvalidArgument, "random_uniform makes floats, not ", name_of(dtype));
  // Stream 0 of uniform01, a row at a time.
  const std::uint64_t key = detail::mix64(seed);
  return detail::position_source(
      ChunkGrid::regular(shape, chunks), dtype,
      [=](std::uint64_t first, std::uint64_t stride, std::int64_t n, double* out) {
        detail::uniform_row(key, first, stride, n, out);
        // On [0, 1) the transform is the identity, exactly.
        if (low == 0.0 && high == 1.0) return;
        for (std::int64_t j = 0; j < n; ++j) out[j] = low + (high - low) * out[j];
      },
      "random_uniform");
}

Array random_normal(const Shape& shape, const Shape& chunks, std::uint64_t seed, DType dtype, double mean,
                    double stddev) {
  if (!is_float(dtype))
    throw_error(ErrorCode::kInvalidArgument, "random_normal makes floats, not ", name_of(dtype));
  return detail::position_source(
      ChunkGrid::regular(shape, chunks), dtype, detail::each_position([=](std::uint64_t e) {
        // Box-Muller on two streams of the same element.
        const double u1 = 1.0 - detail::uniform01(seed, e, 1);  // (0, 1]
        const double u2 = detail::uniform01(seed, e, 2);
        return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
      }),
      "random_normal");
}

Array from_chunk(Chunk data, const Shape& chunks) {
  auto shared = std::make_shared<const Chunk>(std::move(data));
  return detail::make_source(
      ChunkGrid::regular(shared->shape(), chunks), shared->dtype(),
      [shared](const ChunkGrid& g, std::span<const std::int64_t> index) {
        return detail::piece_of(*shared, g, index);
      },
      "array");
}

// ---- elementwise
// ----------------------------------------------------------------------------------------------

#define TESSERA_BINARY(fn, OP, kind)                                         \
  Array fn(const Array& a, const Array& b) {                                 \
    return detail::make_elementwise(Op::OP, {operand(a), operand(b)}, kind); \
  }                                                                          \
  Array fn(const Array& a, Scalar b) {                                       \
    return detail::make_elementwise(Op::OP, {operand(a), operand(b)}, kind); \
  }

TESSERA_BINARY(operator+, kAdd, "add")
TESSERA_BINARY(operator-, kSub, "sub")
TESSERA_BINARY(operator*, kMul, "mul")
TESSERA_BINARY(operator/, kDiv, "truediv")
TESSERA_BINARY(operator==, kEq, "eq")
TESSERA_BINARY(operator!=, kNe, "ne")
TESSERA_BINARY(operator<, kLt, "lt")
TESSERA_BINARY(operator<=, kLe, "le")
TESSERA_BINARY(operator>, kGt, "gt")
TESSERA_BINARY(operator>=, kGe, "ge")
TESSERA_BINARY(power, kPow, "pow")
#undef TESSERA_BINARY

Array operator+(Scalar a, const Array& b) {
  return detail::make_elementwise(Op::kAdd, {operand(a), operand(b)}, "add");
}
Array operator-(Scalar a, const Array& b) {
  return detail::make_elementwise(Op::kSub, {operand(a), operand(b)}, "sub");
}
Array operator*(Scalar a, const Array& b) {
  return detail::make_elementwise(Op::kMul, {operand(a), operand(b)}, "mul");
}
Array operator/(Scalar a, const Array& b) {
  return detail::make_elementwise(Op::kDiv, {operand(a), operand(b)}, "truediv");
}
Array operator-(const Array& a) {
  return detail::make_elementwise(Op::kNeg, {operand(a)}, "neg");
}
Array operator&&(const Array& a, const Array& b) {
  return detail::make_elementwise(Op::kAnd, {operand(a), operand(b)}, "and");
}
Array operator||(const Array& a, const Array& b) {
  return detail::make_elementwise(Op::kOr, {operand(a), operand(b)}, "or");
}
Array operator!(const Array& a) {
  return detail::make_elementwise(Op::kNot, {operand(a)}, "invert");
}
Array logical_xor(const Array& a, const Array& b) {
  return detail::make_elementwise(Op::kXor, {operand(a), operand(b)}, "xor");
}
Array maximum(const Array& a, const Array& b) {
  return detail::make_elementwise(Op::kMaximum, {operand(a), operand(b)}, "maximum");
}
Array minimum(const Array& a, const Array& b) {
  return detail::make_elementwise(Op::kMinimum, {operand(a), operand(b)}, "minimum");
}
Array where(const Array& c, const Array& a, const Array& b) {
  return detail::make_elementwise(Op::kWhere, {operand(c), operand(a), operand(b)}, "where");
}
Array where(const Array& c, const Array& a, Scalar b) {
  return detail::make_elementwise(Op::kWhere, {operand(c), operand(a), operand(b)}, "where");
}
Array where(const Array& c, Scalar a, const Array& b) {
  return detail::make_elementwise(Op::kWhere, {operand(c), operand(a), operand(b)}, "where");
}
Array clip(const Array& a, Scalar low, Scalar high) {
  Array lo = detail::make_elementwise(Op::kMaximum, {operand(a), operand(low)}, "clip");
  return detail::make_elementwise(Op::kMinimum, {operand(lo), operand(high)}, "clip");
}
Array abs(const Array& a) {
  return detail::make_elementwise(Op::kAbs, {operand(a)}, "absolute");
}
Array sqrt(const Array& a) {
  return detail::make_elementwise(Op::kSqrt, {operand(a)}, "sqrt");
}
Array exp(const Array& a) {
  return detail::make_elementwise(Op::kExp, {operand(a)}, "exp");
}
Array log(const Array& a) {
  return detail::make_elementwise(Op::kLog, {operand(a)}, "log");
}
Array sin(const Array& a) {
  return detail::make_elementwise(Op::kSin, {operand(a)}, "sin");
}
Array cos(const Array& a) {
  return detail::make_elementwise(Op::kCos, {operand(a)}, "cos");
}
Array floor(const Array& a) {
  return detail::make_elementwise(Op::kFloor, {operand(a)}, "floor");
}
Array isnan(const Array& a) {
  return detail::make_elementwise(Op::kIsnan, {operand(a)}, "isnan");
}

// ---- joining
// --------------------------------------------------------------------------------------------------

Array concatenate(std::span<const Array> arrays, int axis) {
  if (arrays.empty()) throw_error(ErrorCode::kInvalidArgument, "concatenate: no arrays given");
  const int nd = arrays[0].ndim();
  if (nd == 0)
    throw_error(ErrorCode::kInvalidArgument, "concatenate: zero-dimensional arrays cannot be concatenated");
  axis = detail::normalize_axis(axis, nd, "concatenate");
  DType dtype = arrays[0].dtype();
  for (const Array& a : arrays) dtype = promote(dtype, a.dtype());
  auto node = std::make_shared<detail::ConcatNode>();
  Shape shape = arrays[0].shape();
  shape[static_cast<std::size_t>(axis)] = 0;
  std::vector<std::vector<std::int64_t>> chunks;
  for (int a = 0; a < nd; ++a)
    chunks.push_back(a == axis ? std::vector<std::int64_t>{} : arrays[0].chunks().chunks(a));
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    const Array& a = arrays[k];
    if (a.ndim() != nd) {
      throw_error(ErrorCode::kInvalidArgument, "concatenate: array ", k, " has shape ",
                  format_shape(a.shape()), ", array 0 has ", format_shape(arrays[0].shape()),
                  ": the number of dimensions differs");
    }
    for (int d = 0; d < nd; ++d) {
      if (d == axis) continue;
      if (a.shape()[static_cast<std::size_t>(d)] != arrays[0].shape()[static_cast<std::size_t>(d)]) {
        throw_error(ErrorCode::kInvalidArgument, "concatenate: array ", k, " has shape ",
                    format_shape(a.shape()), ", array 0 has ", format_shape(arrays[0].shape()),
                    ": they differ on axis ", d);
      }
    }
    Array piece = a.astype(dtype);
    // Other axes must be cut alike; rechunk to the first array's chunks where they differ.
    std::vector<std::vector<std::int64_t>> want;
    for (int d = 0; d < nd; ++d)
      want.push_back(d == axis ? piece.chunks().chunks(d) : chunks[static_cast<std::size_t>(d)]);
    piece = piece.rechunk(ChunkGrid(piece.shape(), want));
    shape[static_cast<std::size_t>(axis)] += a.shape()[static_cast<std::size_t>(axis)];
    for (std::int64_t c : piece.chunks().chunks(axis)) {
      if (c > 0 || a.shape()[static_cast<std::size_t>(axis)] == 0)
        chunks[static_cast<std::size_t>(axis)].push_back(c);
    }
    node->inputs.push_back(piece.node());
  }
  // Empty pieces contribute one empty chunk each; drop them unless everything is empty.
  auto& along = chunks[static_cast<std::size_t>(axis)];
  if (shape[static_cast<std::size_t>(axis)] > 0) {
    along.erase(std::remove(along.begin(), along.end(), 0), along.end());
    std::erase_if(node->inputs, [&](const detail::ArrayNodePtr& n) {
      return n->shape[static_cast<std::size_t>(axis)] == 0;
    });
  } else {
    along = {0};
    node->inputs.resize(1);
  }
  node->shape = shape;
  node->dtype = dtype;
  node->grid = ChunkGrid(shape, chunks);
  node->name = detail::next_name("concatenate");
  node->axis = axis;
  return Array(node);
}

Array stack(std::span<const Array> arrays, int axis) {
  if (arrays.empty()) throw_error(ErrorCode::kInvalidArgument, "stack: no arrays given");
  const int nd = arrays[0].ndim();
  axis = detail::normalize_axis(axis, nd + 1, "stack");
  std::vector<Array> expanded;
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    const Array& a = arrays[k];
    if (a.shape() != arrays[0].shape()) {
      throw_error(ErrorCode::kInvalidArgument, "stack: array ", k, " has shape ", format_shape(a.shape()),
                  ", array 0 has ", format_shape(arrays[0].shape()), ": all must have the same shape");
    }
    Shape shape = a.shape();
    shape.insert(shape.begin() + axis, 1);
    std::vector<std::vector<std::int64_t>> chunks;
    for (int d = 0; d < nd; ++d) chunks.push_back(a.chunks().chunks(d));
    chunks.insert(chunks.begin() + axis, std::vector<std::int64_t>{1});
    auto node =
        detail::make_node<detail::ReshapeChunksNode>("stack", shape, a.dtype(), ChunkGrid(shape, chunks));
    node->input = a.node();
    expanded.emplace_back(node);
  }
  return concatenate(expanded, axis);
}

Array squeeze(const Array& a, int axis) {
  const int nd = a.ndim();
  axis = detail::normalize_axis(axis, nd, "squeeze");
  if (a.shape()[static_cast<std::size_t>(axis)] != 1) {
    throw_error(ErrorCode::kInvalidArgument, "squeeze: axis ", axis, " has length ",
                a.shape()[static_cast<std::size_t>(axis)], ", not 1 (shape ", format_shape(a.shape()), ")");
  }
  Shape shape;
  std::vector<std::vector<std::int64_t>> chunks;
  for (int d = 0; d < nd; ++d) {
    if (d == axis) continue;
    shape.push_back(a.shape()[static_cast<std::size_t>(d)]);
    chunks.push_back(a.chunks().chunks(d));
  }
  auto node =
      detail::make_node<detail::ReshapeChunksNode>("squeeze", shape, a.dtype(), ChunkGrid(shape, chunks));
  node->input = a.node();
  return Array(node);
}

Array expand_dims(const Array& a, int axis) {
  const int nd = a.ndim();
  axis = detail::normalize_axis(axis, nd + 1, "expand_dims");
  Shape shape = a.shape();
  shape.insert(shape.begin() + axis, 1);
  std::vector<std::vector<std::int64_t>> chunks;
  for (int d = 0; d < nd; ++d) chunks.push_back(a.chunks().chunks(d));
  chunks.insert(chunks.begin() + axis, std::vector<std::int64_t>{1});
  auto node =
      detail::make_node<detail::ReshapeChunksNode>("expand_dims", shape, a.dtype(), ChunkGrid(shape, chunks));
  node->input = a.node();
  return Array(node);
}

// ---- reshape and moveaxis
// ---------------------------------------------------------------------------------------

namespace detail {
namespace {

// Cuts chunks finer so that there are about `factor` times as many (Dask's expand_tuple): merging axes whose
// trailing members become single chunks keeps roughly the number of chunks, hence the parallelism.
std::vector<std::int64_t> expand_chunks(const std::vector<std::int64_t>& chunks, std::int64_t factor) {
  if (factor <= 1) return chunks;
  std::vector<std::int64_t> out;
  for (const std::int64_t c : chunks) {
    const std::int64_t part = std::max<std::int64_t>(1, c / factor);
    std::int64_t left = c;
    for (; left >= 2 * part; left -= part) out.push_back(part);
    if (left > 0) out.push_back(left);
  }
  return out;
}

// Chunk boundaries moved down to multiples of `factor` (Dask's contract_tuple); the total is a multiple.
std::vector<std::int64_t> contract_chunks(const std::vector<std::int64_t>& chunks, std::int64_t factor) {
  std::vector<std::int64_t> out;
  std::int64_t residual = 0;
  for (std::int64_t c : chunks) {
    c += residual;
    residual = c % factor;
    if (c - residual > 0) out.push_back(c - residual);
  }
  return out;
}

std::int64_t extent_product(const Shape& shape, int lo, int hi) {
  std::int64_t p = 1;
  for (int a = lo; a < hi; ++a) p *= shape[static_cast<std::size_t>(a)];
  return p;
}

// Axes [in_lo, in_hi) of the input hold the same elements as axes [out_lo, out_hi) of the output.
struct ReshapeGroup {
  int in_lo, in_hi, out_lo, out_hi;
};

// The shortest runs of axes with equal products, left to right; axes of extent 1 left over at the end join
// the last run. Needs a non-empty array with at least one axis on each side.
std::vector<ReshapeGroup> reshape_groups(const Shape& in, const Shape& out) {
  std::vector<ReshapeGroup> groups;
  const int nin = static_cast<int>(in.size()), nout = static_cast<int>(out.size());
  int i = 0, j = 0;
  while (i < nin && j < nout) {
    ReshapeGroup g{i, i, j, j};
    std::int64_t pi = in[static_cast<std::size_t>(i++)], po = out[static_cast<std::size_t>(j++)];
    // Equal totals keep both indices in range: a smaller partial product always has axes left to multiply.
    while (pi != po) {
      if (pi < po) {
        pi *= in[static_cast<std::size_t>(i++)];
      } else {
        po *= out[static_cast<std::size_t>(j++)];
      }
    }
    g.in_hi = i;
    g.out_hi = j;
    groups.push_back(g);
  }
  groups.back().in_hi = nin;
  groups.back().out_hi = nout;
  return groups;
}

// The chunks of the single axis that axes [lo, hi) of `g` merge into, when each chunk is a contiguous run of
// the merged axis: some axis k carries any chunks, those before it chunks of 1, those after it one chunk.
std::optional<std::vector<std::int64_t>> merged_chunks(const ChunkGrid& g, int lo, int hi) {
  for (int k = lo; k < hi; ++k) {
    bool ok = true;
    for (int a = lo; a < k && ok; ++a) ok = g.num_chunks(a) == g.shape()[static_cast<std::size_t>(a)];
    for (int a = k + 1; a < hi && ok; ++a) ok = g.num_chunks(a) == 1;
    if (!ok) continue;
    const std::int64_t trailing = extent_product(g.shape(), k + 1, hi);
    const std::int64_t repeats = extent_product(g.shape(), lo, k);
    std::vector<std::int64_t> out;
    for (std::int64_t r = 0; r < repeats; ++r) {
      for (const std::int64_t c : g.chunks(k)) out.push_back(c * trailing);
    }
    return out;
  }
  return std::nullopt;
}

// The chunks of output axes [lo, hi) when one axis chunked as `chunks` is split into them, each input chunk
// becoming one output block: some axis k carries the chunks (every chunk a whole number of trailing blocks,
// none crossing a boundary of axis k, the same pattern under every index of the axes before k, which get
// chunks of 1), the axes after k one chunk each.
std::optional<std::vector<std::vector<std::int64_t>>> split_chunks(const std::vector<std::int64_t>& chunks,
                                                                   const Shape& out, int lo, int hi) {
  for (int k = lo; k < hi; ++k) {
    const std::int64_t trailing = extent_product(out, k + 1, hi);
    const std::int64_t block = trailing * out[static_cast<std::size_t>(k)];
    bool ok = true;
    std::size_t pattern = 0;  // chunks within the first block of axis k
    std::int64_t offset = 0;
    for (const std::int64_t c : chunks) {
      if (offset % trailing != 0 || c % trailing != 0 || offset / block != (offset + c - 1) / block) {
        ok = false;
        break;
      }
      if (offset < block) ++pattern;
      offset += c;
    }
    for (std::size_t i = pattern; ok && i < chunks.size(); ++i) ok = chunks[i] == chunks[i % pattern];
    if (!ok) continue;
    std::vector<std::vector<std::int64_t>> result;
    for (int a = lo; a < k; ++a)
      result.emplace_back(static_cast<std::size_t>(out[static_cast<std::size_t>(a)]), 1);
    std::vector<std::int64_t> along;
    for (std::size_t i = 0; i < pattern; ++i) along.push_back(chunks[i] / trailing);
    result.push_back(std::move(along));
    for (int a = k + 1; a < hi; ++a) result.push_back({out[static_cast<std::size_t>(a)]});
    return result;
  }
  return std::nullopt;
}

ArrayNodePtr reshape_chunks_node(const ArrayNodePtr& in, const ChunkGrid& grid) {
  auto node = make_node<ReshapeChunksNode>("reshape", grid.shape(), in->dtype, grid);
  node->input = in;
  return node;
}

}  // namespace
}  // namespace detail

Array reshape(const Array& a, const Shape& new_shape) {
  const detail::ArrayNode& in = node_of(a);
  Shape shape = new_shape;
  int unknown = -1;
  std::int64_t known = 1;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1 && unknown < 0) {
      unknown = static_cast<int>(d);
    } else if (shape[d] == -1) {
      throw_error(ErrorCode::kInvalidArgument, "reshape: can only infer one extent, but shape ",
                  format_shape(new_shape), " has several -1");
    } else if (shape[d] < 0) {
      throw_error(ErrorCode::kInvalidArgument, "reshape: extent ", shape[d], " of shape ",
                  format_shape(new_shape), " is negative");
    } else {
      known *= shape[d];
    }
  }
  if (unknown >= 0 && known > 0 && a.size() % known == 0)
    shape[static_cast<std::size_t>(unknown)] = a.size() / known;
  if ((unknown >= 0 && shape[static_cast<std::size_t>(unknown)] < 0) || num_elements(shape) != a.size()) {
    throw_error(ErrorCode::kInvalidArgument, "reshape: cannot reshape an array of shape ",
                format_shape(a.shape()), " (", a.size(), " elements) into shape ", format_shape(new_shape));
  }
  if (shape == a.shape()) return a;
  using detail::ArrayNodePtr;
  ArrayNodePtr node = a.node();
  // No elements, or one chunk: a single chunk reshaped as a whole.
  if (a.size() == 0 || in.grid.total_chunks() == 1) {
    node = detail::rechunk_node(node, ChunkGrid::regular(in.shape, Shape(in.shape.size(), -1)));
    return Array(detail::reshape_chunks_node(node, ChunkGrid::regular(shape, Shape(shape.size(), -1))));
  }
  const std::vector<detail::ReshapeGroup> groups = detail::reshape_groups(in.shape, shape);

  // Merge: each group's input axes become one axis, rechunked first where a chunk would not be contiguous.
  std::vector<std::vector<std::int64_t>> in_chunks, merged;
  Shape merged_shape;
  for (const detail::ReshapeGroup& g : groups) {
    std::optional<std::vector<std::int64_t>> m = detail::merged_chunks(in.grid, g.in_lo, g.in_hi);
    if (m) {
      for (int d = g.in_lo; d < g.in_hi; ++d) in_chunks.push_back(in.grid.chunks(d));
    } else {
      // Only the leading axis of extent > 1 keeps several chunks (cut finer to keep the chunk count).
      int lead = g.in_lo;
      while (lead + 1 < g.in_hi && in.shape[static_cast<std::size_t>(lead)] == 1) ++lead;
      std::int64_t factor = 1;
      for (int d = lead + 1; d < g.in_hi; ++d) factor *= in.grid.num_chunks(d);
      for (int d = g.in_lo; d < g.in_hi; ++d) {
        in_chunks.push_back(d == lead ? detail::expand_chunks(in.grid.chunks(d), factor)
                                      : std::vector<std::int64_t>{in.shape[static_cast<std::size_t>(d)]});
      }
      const ChunkGrid group_grid(
          Shape(in.shape.begin() + g.in_lo, in.shape.begin() + g.in_hi),
          std::vector<std::vector<std::int64_t>>(in_chunks.end() - (g.in_hi - g.in_lo), in_chunks.end()));
      m = detail::merged_chunks(group_grid, 0, g.in_hi - g.in_lo);
      if (!m) throw_error(ErrorCode::kInternal, "reshape: the rechunked axes still do not merge");
    }
    merged.push_back(std::move(*m));
    merged_shape.push_back(detail::extent_product(in.shape, g.in_lo, g.in_hi));
  }
  node = detail::rechunk_node(node, ChunkGrid(in.shape, in_chunks));
  if (merged_shape != in.shape) node = detail::reshape_chunks_node(node, ChunkGrid(merged_shape, merged));

  // Split: each merged axis becomes the group's output axes, rechunked first where a chunk would not be a
  // block of them.
  std::vector<std::vector<std::int64_t>> out_chunks;
  for (std::size_t gi = 0; gi < groups.size(); ++gi) {
    const detail::ReshapeGroup& g = groups[gi];
    auto s = detail::split_chunks(merged[gi], shape, g.out_lo, g.out_hi);
    if (!s) {
      int lead = g.out_lo;
      while (lead + 1 < g.out_hi && shape[static_cast<std::size_t>(lead)] == 1) ++lead;
      merged[gi] = detail::contract_chunks(merged[gi], detail::extent_product(shape, lead + 1, g.out_hi));
      s = detail::split_chunks(merged[gi], shape, g.out_lo, g.out_hi);
      if (!s) throw_error(ErrorCode::kInternal, "reshape: the rechunked axis still does not split");
    }
    for (auto& c : *s) out_chunks.push_back(std::move(c));
  }
  node = detail::rechunk_node(node, ChunkGrid(merged_shape, merged));
  if (shape != merged_shape) node = detail::reshape_chunks_node(node, ChunkGrid(shape, out_chunks));
  return Array(node);
}

Array moveaxis(const Array& a, int source, int destination) {
  return moveaxis(a, std::vector<int>{source}, std::vector<int>{destination});
}

Array moveaxis(const Array& a, std::vector<int> source, std::vector<int> destination) {
  const int nd = node_of(a).grid.ndim();
  if (source.size() != destination.size()) {
    throw_error(ErrorCode::kInvalidArgument, "moveaxis: ", source.size(), " source axes but ",
                destination.size(), " destinations; they must pair up");
  }
  for (std::vector<int>* axes : {&source, &destination}) {
    std::vector<bool> seen(static_cast<std::size_t>(nd), false);
    for (int& ax : *axes) {
      ax = detail::normalize_axis(ax, nd, "moveaxis");
      if (seen[static_cast<std::size_t>(ax)]) {
        throw_error(ErrorCode::kInvalidArgument, "moveaxis: ", axes == &source ? "source" : "destination",
                    " axis ", ax, " repeated");
      }
      seen[static_cast<std::size_t>(ax)] = true;
    }
  }
  // NumPy's construction: the unmoved axes in order, then each moved axis inserted at its destination, in
  // increasing order of destination.
  std::vector<int> order;
  for (int d = 0; d < nd; ++d) {
    if (std::find(source.begin(), source.end(), d) == source.end()) order.push_back(d);
  }
  std::vector<std::pair<int, int>> moves;
  for (std::size_t i = 0; i < source.size(); ++i) moves.emplace_back(destination[i], source[i]);
  std::sort(moves.begin(), moves.end());
  for (const auto& [dest, src] : moves) order.insert(order.begin() + dest, src);
  if (nd == 0) return a;
  return a.transpose(order);
}

// ---- computing
// ------------------------------------------------------------------------------------------------

void build_graph(std::span<const Array> arrays, Graph& graph, std::vector<std::vector<TaskId>>& outputs) {
  detail::GraphBuilder builder(graph);
  outputs.clear();
  std::vector<detail::ArrayNodePtr> roots;
  for (const Array& a : arrays) {
    node_of(a);
    roots.push_back(a.node());
  }
  builder.survey(roots);
  for (const detail::ArrayNodePtr& root : roots) outputs.push_back(builder.build(root));
}

namespace {

// Runs the graph of `arrays` and returns every output chunk as a Value, per array in row-major chunk order.
std::vector<std::vector<Value>> compute_chunks(Runtime& runtime, std::span<const Array> arrays) {
  Graph graph;
  std::vector<std::vector<TaskId>> per_array;
  build_graph(arrays, graph, per_array);
  std::vector<TaskId> outputs;
  for (const auto& ids : per_array) outputs.insert(outputs.end(), ids.begin(), ids.end());
  std::vector<Value> values = runtime.run(graph, outputs);
  std::vector<std::vector<Value>> out;
  std::size_t next = 0;
  for (const auto& ids : per_array) {
    out.emplace_back(values.begin() + static_cast<std::ptrdiff_t>(next),
                     values.begin() + static_cast<std::ptrdiff_t>(next + ids.size()));
    next += ids.size();
  }
  return out;
}

}  // namespace

std::vector<Chunk> compute(Runtime& runtime, std::span<const Array> arrays) {
  std::vector<std::vector<Value>> chunks = compute_chunks(runtime, arrays);
  std::vector<Chunk> results;
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    const ChunkGrid& grid = arrays[k].chunks();
    Chunk full(arrays[k].dtype(), arrays[k].shape());
    const Shape counts = grid.grid_shape();
    std::vector<std::int64_t> index(counts.size(), 0);
    std::size_t i = 0;
    if (grid.total_chunks() > 0) {
      do {
        const Chunk& piece = chunks[k][i++].get<Chunk>();
        std::vector<std::int64_t> start(index.size()), zero(index.size(), 0);
        for (std::size_t a = 0; a < index.size(); ++a) start[a] = grid.offset(static_cast<int>(a), index[a]);
        detail::copy_block(piece, zero, full, start, piece.shape());
      } while (!counts.empty() && next_index(index, counts));
    }
    results.push_back(std::move(full));
  }
  return results;
}

Chunk compute(Runtime& runtime, const Array& array) {
  return std::move(compute(runtime, std::span<const Array>(&array, 1))[0]);
}

Array persist(Runtime& runtime, const Array& array) {
  std::vector<std::vector<Value>> chunks = compute_chunks(runtime, std::span<const Array>(&array, 1));
  auto node = detail::make_node<detail::StoredNode>("persist", array.shape(), array.dtype(), array.chunks());
  node->values = std::move(chunks[0]);
  return Array(node);
}

}  // namespace tessera
