// Matrix products: one Eigen GEMM per pair of blocks, partial products of an output block summed in a fixed
// tree.
#include <Eigen/Core>

#include "node.h"

namespace tessera {
namespace detail {
namespace {

struct MatmulNode final : ArrayNode {
  ArrayNodePtr a, b;
  int split_every = 8;

  template <class T>
  static Chunk product(const Chunk& x, const Chunk& y) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Index m = x.shape()[0], k = x.shape()[1], n = y.shape()[1];
    Chunk out(dtype_of<T>(), {m, n});
    Eigen::Map<const Mat> xm(reinterpret_cast<const T*>(x.bytes()), m, k);
    Eigen::Map<const Mat> ym(reinterpret_cast<const T*>(y.bytes()), k, n);
    Eigen::Map<Mat> om(reinterpret_cast<T*>(out.bytes()), m, n);
    om.noalias() = xm * ym;
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
    const std::int64_t rows = a->grid.num_chunks(0), inner = a->grid.num_chunks(1),
                       cols = b->grid.num_chunks(1);
    std::vector<TaskId> ids;
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < cols; ++j) {
        std::vector<TaskId> level;
        for (std::int64_t p = 0; p < inner; ++p) {
          const TaskId deps[] = {a_ids[static_cast<std::size_t>(i * inner + p)],
                                 b_ids[static_cast<std::size_t>(p * cols + j)]};
          const std::int32_t key[] = {static_cast<std::int32_t>(i), static_cast<std::int32_t>(j),
                                      static_cast<std::int32_t>(p)};
          level.push_back(g.add(mul_n, key, mul_k, deps));
        }
        for (std::int32_t depth = 0; level.size() > 1; ++depth) {
          std::vector<TaskId> next;
          for (std::size_t s = 0; s < level.size(); s += static_cast<std::size_t>(split_every)) {
            const std::size_t end = std::min(level.size(), s + static_cast<std::size_t>(split_every));
            if (end - s == 1) {
              next.push_back(level[s]);
              continue;
            }
            const std::int32_t key[] = {static_cast<std::int32_t>(i), static_cast<std::int32_t>(j), depth,
                                        static_cast<std::int32_t>(s)};
            next.push_back(g.add(sum_n, key, sum_k, std::span<const TaskId>(level.data() + s, end - s)));
          }
          level = std::move(next);
        }
        // The output block itself: the (summed) product, under the array's own key.
        const std::int64_t index[] = {i, j};
        const TaskId dep = level[0];
        ids.push_back(g.add(out_n, key_index(index), out_k, std::span<const TaskId>(&dep, 1),
                            chunk_options(*this, index)));
      }
    }
    return ids;
  }
};

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
  const DType dtype = promote(a.dtype(), b.dtype());
  if (!is_float(dtype)) {
    throw_error(ErrorCode::kInvalidArgument, "matmul of ", name_of(a.dtype()), " and ", name_of(b.dtype()),
                ": tessera multiplies float32 or float64 (use astype)");
  }
  Array x = a.astype(dtype);
  // b's rows are cut like a's columns.
  Array y = b.astype(dtype).rechunk(ChunkGrid(b.shape(), {a.chunks().chunks(1), b.chunks().chunks(1)}));
  auto node = std::make_shared<detail::MatmulNode>();
  node->a = x.node();
  node->b = y.node();
  node->shape = {a.shape()[0], b.shape()[1]};
  node->dtype = dtype;
  node->grid = ChunkGrid(node->shape, {a.chunks().chunks(0), b.chunks().chunks(1)});
  node->name = detail::next_name("matmul");
  return Array(node);
}

}  // namespace tessera
