// Matrix and tensor products: one Eigen GEMM per pair of blocks, the partial products of an output block
// summed in a fixed tree.
#include <Eigen/Core>
#include <algorithm>
#include <optional>

#include "kernels.h"
#include "node.h"

namespace tessera {
namespace detail {
namespace {

// normalize_axis lives in array.cc's anonymous namespace; this one words its errors for products.
int product_axis(int axis, int ndim, const char* which, std::string_view what) {
  if (axis < -ndim || axis >= ndim) {
    throw_error(ErrorCode::kInvalidArgument, what, ": axis ", axis, " of ", which,
                " is out of range for an array with ", ndim, " dimension", ndim == 1 ? "" : "s");
  }
  return axis < 0 ? axis + ndim : axis;
}

bool is_identity(std::span<const int> perm) {
  for (std::size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}

std::vector<int> concat(const std::vector<int>& x, const std::vector<int>& y) {
  std::vector<int> out = x;
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

// Output block (a's free axes, b's free axes) = sum over the contracted chunk positions p of
// a_block(free, contracted) x b_block(contracted, free).
struct TensordotNode final : ArrayNode {
  ArrayNodePtr a, b;                              // b's contracted axes are chunked like a's
  std::vector<int> a_free, a_con, b_con, b_free;  // a_con[i] pairs with b_con[i]
  int split_every = 8;

  void operands(std::vector<const ArrayNode*>& out) const override {
    out.push_back(a.get());
    out.push_back(b.get());
  }

  // A block as an m x k (a) or k x n (b) matrix: the elements are used in place when the contracted axes are
  // already trailing (leading) or leading (trailing), as a row-major or column-major matrix; otherwise the
  // block is transposed into row-major order first.
  struct Operand {
    const Chunk* given;
    std::optional<Chunk> moved;  // the block transposed into row-major order, when that was needed
    bool col_major = false;
    const std::byte* bytes() const { return moved ? moved->bytes() : given->bytes(); }
  };
  static Operand as_matrix(const Chunk& c, const std::vector<int>& row_axes,
                           const std::vector<int>& col_axes) {
    Operand op{&c, std::nullopt, false};
    const std::vector<int> rows_first = concat(row_axes, col_axes);
    if (is_identity(rows_first)) return op;
    if (is_identity(concat(col_axes, row_axes))) {
      op.col_major = true;
      return op;
    }
    op.moved = transpose_chunk(c, rows_first);
    return op;
  }

  static std::int64_t extent(const Chunk& c, const std::vector<int>& axes) {
    std::int64_t p = 1;
    for (int ax : axes) p *= c.shape()[static_cast<std::size_t>(ax)];
    return p;
  }

  template <class T>
  Chunk product(const Chunk& x, const Chunk& y) const {
    using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
    const Eigen::Index m = extent(x, a_free), k = extent(x, a_con), n = extent(y, b_free);
    Shape shape;
    for (int ax : a_free) shape.push_back(x.shape()[static_cast<std::size_t>(ax)]);
    for (int ax : b_free) shape.push_back(y.shape()[static_cast<std::size_t>(ax)]);
    Chunk out(dtype_of<T>(), shape);
    Eigen::Map<RowMat> om(reinterpret_cast<T*>(out.bytes()), m, n);
    if (k == 0) {
      om.setZero();  // an empty sum
      return out;
    }
    const Operand xo = as_matrix(x, a_free, a_con), yo = as_matrix(y, b_con, b_free);
    const T* xp = reinterpret_cast<const T*>(xo.bytes());
    const T* yp = reinterpret_cast<const T*>(yo.bytes());
    auto times = [&](const auto& xm) {
      if (yo.col_major) {
        om.noalias() = xm * Eigen::Map<const ColMat>(yp, k, n);
      } else {
        om.noalias() = xm * Eigen::Map<const RowMat>(yp, k, n);
      }
    };
    if (xo.col_major) {
      times(Eigen::Map<const ColMat>(xp, m, k));
    } else {
      times(Eigen::Map<const RowMat>(xp, m, k));
    }
    return out;
  }

  std::vector<TaskId> build(GraphBuilder& gb) const override {
    const std::vector<TaskId>& a_ids = gb.build(a);
    const std::vector<TaskId>& b_ids = gb.build(b);
    Graph& g = gb.graph();
    const KernelId mul_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const Chunk& x = ctx.input<Chunk>(0);
      const Chunk& y = ctx.input<Chunk>(1);
      return Value::of(dtype == DType::kFloat32 ? product<float>(x, y) : product<double>(x, y));
    });
    const KernelId sum_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      Chunk acc = ctx.input<Chunk>(0);
      for (std::size_t i = 1; i < ctx.num_inputs(); ++i) {
        const Chunk& other = ctx.input<Chunk>(i);
        visit_dtype(dtype, [&](auto tag) {
          using T = typename decltype(tag)::type;
          T* o = reinterpret_cast<T*>(acc.bytes());
          const T* p = reinterpret_cast<const T*>(other.bytes());
          for (std::int64_t e = 0; e < acc.size(); ++e) o[e] += p[e];
        });
      }
      return Value::of(std::move(acc));
    });
    const KernelId out_k = g.kernel([](const TaskContext& ctx) { return ctx.input(0); });
    const NameId mul_n = g.name(name + "-block");
    const NameId sum_n = g.name(name + "-sum");
    const NameId out_n = g.name(name);
    const Shape a_counts = a->grid.grid_shape(), b_counts = b->grid.grid_shape();
    Shape inner;  // chunk counts along the contracted axes (at least 1: an empty axis has one empty chunk)
    for (int ax : a_con) inner.push_back(a->grid.num_chunks(ax));
    std::vector<TaskId> ids;
    std::vector<std::int64_t> a_index(a_counts.size()), b_index(b_counts.size());
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      for (std::size_t i = 0; i < a_free.size(); ++i) a_index[static_cast<std::size_t>(a_free[i])] = index[i];
      for (std::size_t i = 0; i < b_free.size(); ++i) {
        b_index[static_cast<std::size_t>(b_free[i])] = index[a_free.size() + i];
      }
      std::vector<TaskId> level;
      std::vector<std::int64_t> p(inner.size(), 0);
      do {
        for (std::size_t i = 0; i < p.size(); ++i) {
          a_index[static_cast<std::size_t>(a_con[i])] = p[i];
          b_index[static_cast<std::size_t>(b_con[i])] = p[i];
        }
        const TaskId deps[] = {a_ids[static_cast<std::size_t>(linear_index(a_index, a_counts))],
                               b_ids[static_cast<std::size_t>(linear_index(b_index, b_counts))]};
        std::vector<std::int32_t> key = key_index(index);
        for (std::int64_t q : p) key.push_back(static_cast<std::int32_t>(q));
        level.push_back(g.add(mul_n, key, mul_k, deps));
      } while (!p.empty() && next_index(p, inner));
      for (std::int32_t depth = 0; level.size() > 1; ++depth) {
        std::vector<TaskId> next;
        for (std::size_t s = 0; s < level.size(); s += static_cast<std::size_t>(split_every)) {
          const std::size_t end = std::min(level.size(), s + static_cast<std::size_t>(split_every));
          if (end - s == 1) {
            next.push_back(level[s]);
            continue;
          }
          std::vector<std::int32_t> key = key_index(index);
          key.push_back(depth);
          key.push_back(static_cast<std::int32_t>(s));
          next.push_back(g.add(sum_n, key, sum_k, std::span<const TaskId>(level.data() + s, end - s)));
        }
        level = std::move(next);
      }
      // The output block itself: the (summed) product, under the array's own key.
      ids.push_back(g.add(out_n, key_index(index), out_k, std::span<const TaskId>(level.data(), level.size()),
                          chunk_options(*this, index)));
    });
    return ids;
  }
};

// Checked axes in hand: promotes, rechunks b's contracted axes like a's and makes the node.
Array make_tensordot(const Array& a, const Array& b, const std::vector<int>& a_con,
                     const std::vector<int>& b_con, std::string_view kind) {
  const DType dtype = promote(a.dtype(), b.dtype());
  if (!is_float(dtype)) {
    throw_error(ErrorCode::kInvalidArgument, kind, " of ", name_of(a.dtype()), " and ", name_of(b.dtype()),
                ": tessera multiplies float32 or float64 (use astype)");
  }
  auto node = std::make_shared<TensordotNode>();
  for (int d = 0; d < a.ndim(); ++d) {
    if (std::find(a_con.begin(), a_con.end(), d) == a_con.end()) node->a_free.push_back(d);
  }
  for (int d = 0; d < b.ndim(); ++d) {
    if (std::find(b_con.begin(), b_con.end(), d) == b_con.end()) node->b_free.push_back(d);
  }
  node->a_con = a_con;
  node->b_con = b_con;
  std::vector<std::vector<std::int64_t>> b_chunks;
  for (int d = 0; d < b.ndim(); ++d) b_chunks.push_back(b.chunks().chunks(d));
  for (std::size_t i = 0; i < b_con.size(); ++i) {
    b_chunks[static_cast<std::size_t>(b_con[i])] = a.chunks().chunks(a_con[i]);
  }
  node->a = a.astype(dtype).node();
  node->b = b.astype(dtype).rechunk(ChunkGrid(b.shape(), b_chunks)).node();
  std::vector<std::vector<std::int64_t>> chunks;
  for (int d : node->a_free) {
    node->shape.push_back(a.shape()[static_cast<std::size_t>(d)]);
    chunks.push_back(a.chunks().chunks(d));
  }
  for (int d : node->b_free) {
    node->shape.push_back(b.shape()[static_cast<std::size_t>(d)]);
    chunks.push_back(b.chunks().chunks(d));
  }
  node->dtype = dtype;
  node->grid = ChunkGrid(node->shape, chunks);
  node->name = next_name(kind);
  return Array(node);
}

}  // namespace
}  // namespace detail

Array matmul(const Array& a, const Array& b) {
  if (!a.node() || !b.node())
    throw_error(ErrorCode::kInvalidArgument, "matmul: an operand is an empty Array");
  if (a.ndim() != 2 || b.ndim() != 2) {
    throw_error(ErrorCode::kInvalidArgument, "matmul: operands of shapes ", format_shape(a.shape()), " and ",
                format_shape(b.shape()), "; tessera multiplies 2-d arrays");
  }
  if (a.shape()[1] != b.shape()[0]) {
    throw_error(ErrorCode::kInvalidArgument, "matmul: shapes ", format_shape(a.shape()), " and ",
                format_shape(b.shape()), " do not align (", a.shape()[1], " != ", b.shape()[0], ")");
  }
  return detail::make_tensordot(a, b, {1}, {0}, "matmul");
}

Array tensordot(const Array& a, const Array& b, std::vector<int> a_axes, std::vector<int> b_axes) {
  if (!a.node() || !b.node())
    throw_error(ErrorCode::kInvalidArgument, "tensordot: an operand is an empty Array");
  if (a_axes.size() != b_axes.size()) {
    throw_error(ErrorCode::kInvalidArgument, "tensordot: ", a_axes.size(), " axes of a (shape ",
                format_shape(a.shape()), ") but ", b_axes.size(), " of b (shape ", format_shape(b.shape()),
                "); they must pair up");
  }
  for (auto [axes, which, nd] : {std::tuple{&a_axes, "a", a.ndim()}, std::tuple{&b_axes, "b", b.ndim()}}) {
    std::vector<bool> seen(static_cast<std::size_t>(nd), false);
    for (int& ax : *axes) {
      ax = detail::product_axis(ax, nd, which, "tensordot");
      if (seen[static_cast<std::size_t>(ax)]) {
        throw_error(ErrorCode::kInvalidArgument, "tensordot: axis ", ax, " of ", which, " given twice");
      }
      seen[static_cast<std::size_t>(ax)] = true;
    }
  }
  for (std::size_t i = 0; i < a_axes.size(); ++i) {
    const std::int64_t la = a.shape()[static_cast<std::size_t>(a_axes[i])];
    const std::int64_t lb = b.shape()[static_cast<std::size_t>(b_axes[i])];
    if (la != lb) {
      throw_error(ErrorCode::kInvalidArgument, "tensordot: shapes ", format_shape(a.shape()), " and ",
                  format_shape(b.shape()), " do not align: axis ", a_axes[i], " of a has length ", la,
                  ", axis ", b_axes[i], " of b has length ", lb);
    }
  }
  return detail::make_tensordot(a, b, a_axes, b_axes, "tensordot");
}

Array tensordot(const Array& a, const Array& b, int axes) {
  if (!a.node() || !b.node())
    throw_error(ErrorCode::kInvalidArgument, "tensordot: an operand is an empty Array");
  if (axes < 0 || axes > a.ndim() || axes > b.ndim()) {
    throw_error(ErrorCode::kInvalidArgument, "tensordot: axes=", axes, " for shapes ",
                format_shape(a.shape()), " and ", format_shape(b.shape()),
                "; it must be between 0 and the smaller number of dimensions");
  }
  std::vector<int> a_axes, b_axes;
  for (int i = 0; i < axes; ++i) {
    a_axes.push_back(a.ndim() - axes + i);
    b_axes.push_back(i);
  }
  return tensordot(a, b, std::move(a_axes), std::move(b_axes));
}

}  // namespace tessera
