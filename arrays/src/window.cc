// Moving windows and quantiles along one axis.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.h"
#include "node.h"

namespace tessera {
namespace detail {
namespace {

// Calls lane(in_base, out_base) for every position of the other axes of `in` / `out` (same ndim), where the
// bases are element offsets of the first element along `axis`.
template <class F>
void for_lanes(const Shape& in, const Shape& out, int axis, F&& lane) {
  Shape counts = out;
  counts[static_cast<std::size_t>(axis)] = 1;
  if (num_elements(counts) == 0) return;
  const Shape is = strides_of(in), os = strides_of(out);
  std::vector<std::int64_t> i(counts.size(), 0);
  do {
    std::int64_t ib = 0, ob = 0;
    for (std::size_t a = 0; a < counts.size(); ++a) {
      ib += i[a] * is[a];
      ob += i[a] * os[a];
    }
    lane(ib, ob);
  } while (!counts.empty() && next_index(i, counts));
}

struct RollingNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  int axis = 0;
  std::int64_t window = 1;

  // Input chunks along the axis that output chunk `k` reads: from the one holding start-(window-1) to k.
  std::int64_t first_chunk(std::int64_t k) const {
    return input->grid.chunk_of(axis, std::max<std::int64_t>(0, input->grid.offset(axis, k) - (window - 1)));
  }

  Chunk compute(std::span<const Chunk* const> pieces, std::span<const std::int64_t> index) const {
    const auto ax = static_cast<std::size_t>(axis);
    const std::int64_t k = index[ax];
    const std::int64_t start = grid.offset(axis, k);
    const std::int64_t lo = input->grid.offset(axis, first_chunk(k));
    // The pieces side by side along the axis: elements lo .. start + len.
    Shape ext = grid.chunk_shape(index);
    const std::int64_t len = ext[ax];
    ext[ax] = start + len - lo;
    Chunk extended(pieces[0]->dtype(), ext);
    std::vector<std::int64_t> zero(ext.size(), 0), at(ext.size(), 0);
    for (const Chunk* p : pieces) {
      copy_block(*p, zero, extended, at, p->shape());
      at[ax] += p->shape()[ax];
    }
    Chunk out(dtype, grid.chunk_shape(index));
    const std::int64_t es = strides_of(ext)[ax], os = strides_of(out.shape())[ax];
    const double nan = std::numeric_limits<double>::quiet_NaN();
    visit_dtype(extended.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = reinterpret_cast<const T*>(extended.bytes());
      visit_dtype(dtype, [&](auto otag) {
        using O = typename decltype(otag)::type;
        O* o = reinterpret_cast<O*>(out.bytes());
        for_lanes(ext, out.shape(), axis, [&](std::int64_t ib, std::int64_t ob) {
          // Each window summed afresh in index order: a running sum would turn inf - inf into NaN, cancel
          // large values away, and round differently depending on where chunks start.
          for (std::int64_t j = 0; j < len; ++j) {
            const std::int64_t g = start + j;  // position in the whole array
            double r = nan;
            if (g - window + 1 >= 0) {
              double sum = 0;
              for (std::int64_t e = g - window + 1 - lo; e <= g - lo; ++e)
                sum += static_cast<double>(x[ib + e * es]);
              r = sum / static_cast<double>(window);
            }
            o[ob + j * os] = static_cast<O>(r);
          }
        });
      });
    });
    return out;
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::vector<TaskId>& in_ids = b.build(input);
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const KernelId kernel = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      return Value::of(compute(inputs_as<Chunk>(ctx), from_key(ctx.index())));
    });
    const Shape counts = grid.grid_shape();
    std::vector<std::int64_t> index(counts.size(), 0);
    std::vector<TaskId> ids, deps;
    do {
      deps.clear();
      std::vector<std::int64_t> in_index(index);
      for (std::int64_t c = first_chunk(index[static_cast<std::size_t>(axis)]);
           c <= index[static_cast<std::size_t>(axis)]; ++c) {
        in_index[static_cast<std::size_t>(axis)] = c;
        deps.push_back(in_ids[static_cast<std::size_t>(linear_index(in_index, counts))]);
      }
      ids.push_back(g.add(n, key_index(index), kernel, deps, chunk_options(*this, index)));
    } while (next_index(index, counts));
    return ids;
  }
};

// Linear-interpolation quantile of a lane (sorted in place), NumPy's default method.
double lane_quantile(std::vector<double>& v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(pos));
  const std::size_t above = std::min(below + 1, v.size() - 1);
  const double frac = pos - static_cast<double>(below);
  return v[below] + (v[above] - v[below]) * frac;
}

Array quantile_impl(const Array& a, double q, int axis, bool keepdims, bool skip_nan) {
  const char* what = skip_nan ? "nanquantile" : "quantile";
  if (!a.node()) throw_error(ErrorCode::kInvalidArgument, what, ": this Array is empty (never assigned)");
  if (!(q >= 0 && q <= 1))
    throw_error(ErrorCode::kInvalidArgument, what, ": q is ", q, "; it must be in [0, 1]");
  const int nd = a.ndim();
  if (axis < -nd || axis >= nd) {
    throw_error(ErrorCode::kInvalidArgument, what, ": axis ", axis, " is out of range for an array with ", nd,
                " dimensions");
  }
  if (axis < 0) axis += nd;
  Shape whole = a.chunks().max_chunk_shape();
  std::vector<std::vector<std::int64_t>> chunks;
  for (int d = 0; d < nd; ++d) {
    chunks.push_back(d == axis ? std::vector<std::int64_t>{a.shape()[static_cast<std::size_t>(d)]}
                               : a.chunks().chunks(d));
  }
  const Array gathered = a.rechunk(ChunkGrid(a.shape(), chunks));
  Shape out_shape = a.shape();
  out_shape[static_cast<std::size_t>(axis)] = 1;
  chunks[static_cast<std::size_t>(axis)] = {1};
  const DType out = is_float(a.dtype()) ? a.dtype() : DType::kFloat64;
  Array r = map_blocks(
      [=](std::span<const Chunk* const> in, std::span<const std::int64_t>) {
        const Chunk& c = *in[0];
        Shape s = c.shape();
        const std::int64_t len = s[static_cast<std::size_t>(axis)];
        s[static_cast<std::size_t>(axis)] = 1;
        Chunk result(out, s);
        const std::int64_t stride = strides_of(c.shape())[static_cast<std::size_t>(axis)];
        std::vector<double> lane;
        visit_dtype(c.dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T* x = reinterpret_cast<const T*>(c.bytes());
          visit_dtype(out, [&](auto otag) {
            using O = typename decltype(otag)::type;
            O* o = reinterpret_cast<O*>(result.bytes());
            for_lanes(c.shape(), s, axis, [&](std::int64_t ib, std::int64_t ob) {
              lane.clear();
              bool has_nan = false;
              for (std::int64_t e = 0; e < len; ++e) {
                const double v = static_cast<double>(x[ib + e * stride]);
                if (v != v) {
                  has_nan = true;
                  if (skip_nan) continue;
                }
                lane.push_back(v);
              }
              o[ob] = static_cast<O>(has_nan && !skip_nan ? std::numeric_limits<double>::quiet_NaN()
                                                          : lane_quantile(lane, q));
            });
          });
        });
        return result;
      },
      std::vector<Array>{gathered}, out, ChunkGrid(out_shape, chunks), what);
  return keepdims ? r : squeeze(r, axis);
}

}  // namespace
}  // namespace detail

Array rolling_mean(const Array& a, int axis, std::int64_t window) {
  if (!a.node())
    throw_error(ErrorCode::kInvalidArgument, "rolling_mean: this Array is empty (never assigned)");
  const int nd = a.ndim();
  if (axis < -nd || axis >= nd) {
    throw_error(ErrorCode::kInvalidArgument, "rolling_mean: axis ", axis,
                " is out of range for an array with ", nd, " dimensions");
  }
  if (window < 1)
    throw_error(ErrorCode::kInvalidArgument, "rolling_mean: window is ", window, "; it must be >= 1");
  auto node = std::make_shared<detail::RollingNode>();
  node->input = a.node();
  node->axis = axis < 0 ? axis + nd : axis;
  node->window = window;
  node->shape = a.shape();
  node->dtype = is_float(a.dtype()) ? a.dtype() : DType::kFloat64;
  node->grid = a.chunks();
  node->name = detail::next_name("rolling_mean");
  return Array(node);
}

Array quantile(const Array& a, double q, int axis, bool keepdims) {
  return detail::quantile_impl(a, q, axis, keepdims, false);
}
Array nanquantile(const Array& a, double q, int axis, bool keepdims) {
  return detail::quantile_impl(a, q, axis, keepdims, true);
}
Array median(const Array& a, int axis, bool keepdims) {
  return detail::quantile_impl(a, 0.5, axis, keepdims, false);
}

}  // namespace tessera

namespace tessera {
namespace detail {
namespace {

// Each output chunk: gather the chunk and its halo (boundary rules applied), run the user function, trim.
struct OverlapNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  BlockFunction f;
  Overlap overlap;

  // Global source positions of the extended range along `axis` for chunk k (-1: the constant), and how many
  // halo elements were added before and after the chunk.
  std::vector<std::int64_t> positions(int axis, std::int64_t k, std::int64_t& before,
                                      std::int64_t& after) const {
    const auto ax = static_cast<std::size_t>(axis);
    const std::int64_t n = shape[ax];
    const std::int64_t d = ax < overlap.depth.size() ? overlap.depth[ax] : 0;
    const std::int64_t start = grid.offset(axis, k), len = grid.chunks(axis)[static_cast<std::size_t>(k)];
    std::vector<std::int64_t> out;
    before = after = 0;
    for (std::int64_t g = start - d; g < start + len + d; ++g) {
      std::int64_t src = g;
      if (g < 0 || g >= n) {
        switch (overlap.boundary) {
          case Boundary::kNone:
            continue;
          case Boundary::kPeriodic:
            src = ((g % n) + n) % n;
            break;
          case Boundary::kReflect:
            src = g < 0 ? -g - 1 : 2 * n - g - 1;
            break;
          case Boundary::kConstant:
            src = -1;
            break;
        }
      }
      if (g < start) ++before;
      if (g >= start + len) ++after;
      out.push_back(src);
    }
    return out;
  }

  // The input chunks along `axis` that the positions touch, ascending.
  std::vector<std::int64_t> chunks_of(int axis, const std::vector<std::int64_t>& pos) const {
    std::vector<std::int64_t> c;
    for (std::int64_t p : pos) {
      if (p < 0) continue;
      const std::int64_t k = input->grid.chunk_of(axis, p);
      if (std::find(c.begin(), c.end(), k) == c.end()) c.push_back(k);
    }
    std::sort(c.begin(), c.end());
    return c;
  }

  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::vector<TaskId>& in_ids = b.build(input);
    Graph& g = b.graph();
    const NameId n = g.name(name);
    const int nd = grid.ndim();
    const KernelId kernel = g.kernel([this, keep = shared_from_this(), nd](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      std::vector<std::vector<std::int64_t>> pos(static_cast<std::size_t>(nd)),
          touched(static_cast<std::size_t>(nd));
      std::vector<std::int64_t> before(static_cast<std::size_t>(nd)), after(static_cast<std::size_t>(nd));
      Shape ext(static_cast<std::size_t>(nd));
      for (int a = 0; a < nd; ++a) {
        const auto ia = static_cast<std::size_t>(a);
        pos[ia] = positions(a, index[ia], before[ia], after[ia]);
        touched[ia] = chunks_of(a, pos[ia]);
        ext[ia] = static_cast<std::int64_t>(pos[ia].size());
      }
      // The extended block, element by element from whichever input chunk holds each source position.
      Chunk extended(input->dtype, ext);
      Shape tcounts(static_cast<std::size_t>(nd));
      for (int a = 0; a < nd; ++a)
        tcounts[static_cast<std::size_t>(a)] =
            static_cast<std::int64_t>(touched[static_cast<std::size_t>(a)].size());
      visit_dtype(input->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* o = reinterpret_cast<T*>(extended.bytes());
        const T fill = convert_value<T>(overlap.constant);
        std::vector<std::int64_t> e(static_cast<std::size_t>(nd), 0), which(static_cast<std::size_t>(nd));
        if (extended.size() == 0) return;
        do {
          bool constant = false;
          std::int64_t local = 0;
          for (int a = 0; a < nd; ++a) {
            const auto ia = static_cast<std::size_t>(a);
            const std::int64_t p = pos[ia][static_cast<std::size_t>(e[ia])];
            if (p < 0) {
              constant = true;
              break;
            }
            const std::int64_t c = input->grid.chunk_of(a, p);
            which[ia] = std::find(touched[ia].begin(), touched[ia].end(), c) - touched[ia].begin();
            local =
                local * input->grid.chunks(a)[static_cast<std::size_t>(c)] + (p - input->grid.offset(a, c));
          }
          if (constant) {
            *o++ = fill;
          } else {
            const Chunk& src = ctx.input<Chunk>(static_cast<std::size_t>(linear_index(which, tcounts)));
            *o++ = reinterpret_cast<const T*>(src.bytes())[local];
          }
        } while (nd > 0 && next_index(e, ext));
      });
      const Chunk* in[] = {&extended};
      Chunk mapped = f(in, index);
      if (mapped.shape() != ext || mapped.dtype() != dtype) {
        throw_error(ErrorCode::kInvalidArgument, name, ": the block function returned ",
                    name_of(mapped.dtype()), " ", format_shape(mapped.shape()), " for the extended block ",
                    format_shape(ext), "; expected ", name_of(dtype), " ", format_shape(ext));
      }
      Chunk out(dtype, grid.chunk_shape(index));
      std::vector<std::int64_t> step(static_cast<std::size_t>(nd), 1);
      gather_strided(mapped, before, step, out);
      return Value::of(std::move(out));
    });
    std::vector<TaskId> ids, deps;
    const Shape in_counts = input->grid.grid_shape();
    for_each_chunk(grid, [&](std::span<const std::int64_t> index) {
      std::vector<std::vector<std::int64_t>> touched(static_cast<std::size_t>(nd));
      Shape tcounts(static_cast<std::size_t>(nd));
      for (int a = 0; a < nd; ++a) {
        std::int64_t before = 0, after = 0;
        touched[static_cast<std::size_t>(a)] =
            chunks_of(a, positions(a, index[static_cast<std::size_t>(a)], before, after));
        tcounts[static_cast<std::size_t>(a)] =
            static_cast<std::int64_t>(touched[static_cast<std::size_t>(a)].size());
      }
      deps.clear();
      std::vector<std::int64_t> t(static_cast<std::size_t>(nd), 0), in_index(static_cast<std::size_t>(nd));
      if (num_elements(tcounts) > 0) {
        do {
          for (int a = 0; a < nd; ++a)
            in_index[static_cast<std::size_t>(a)] =
                touched[static_cast<std::size_t>(a)]
                       [static_cast<std::size_t>(t[static_cast<std::size_t>(a)])];
          deps.push_back(in_ids[static_cast<std::size_t>(linear_index(in_index, in_counts))]);
        } while (nd > 0 && next_index(t, tcounts));
      }
      ids.push_back(g.add(n, key_index(index), kernel, deps, chunk_options(*this, index)));
    });
    return ids;
  }
};

}  // namespace
}  // namespace detail

Array map_overlap(BlockFunction f, const Array& a, const Overlap& overlap, DType dtype, std::string name) {
  if (!f) throw_error(ErrorCode::kInvalidArgument, "map_overlap needs a callable");
  if (!a.node())
    throw_error(ErrorCode::kInvalidArgument, "map_overlap: this Array is empty (never assigned)");
  if (overlap.depth.size() > static_cast<std::size_t>(a.ndim())) {
    throw_error(ErrorCode::kInvalidArgument, "map_overlap: depth given for ", overlap.depth.size(),
                " axes of an array with ", a.ndim());
  }
  for (std::size_t ax = 0; ax < overlap.depth.size(); ++ax) {
    if (overlap.depth[ax] < 0 || (overlap.depth[ax] > a.shape()[ax] && overlap.boundary != Boundary::kNone &&
                                  overlap.boundary != Boundary::kConstant)) {
      throw_error(ErrorCode::kInvalidArgument, "map_overlap: depth ", overlap.depth[ax], " on axis ", ax,
                  " (length ", a.shape()[ax], ") must be between 0 and the axis length");
    }
  }
  auto node = std::make_shared<detail::OverlapNode>();
  node->input = a.node();
  node->f = std::move(f);
  node->overlap = overlap;
  node->shape = a.shape();
  node->dtype = dtype;
  node->grid = a.chunks();
  node->name = detail::next_name(name);
  return Array(node);
}

}  // namespace tessera
