// Reductions: each input chunk is reduced over the reduced axes to a partial (same shape with those axes set
// to 1), partials are merged in a tree of fixed fan-in in chunk order, and the last partial is finalised into
// the output chunk. The tree's shape depends only on the chunk grid and split_every, so results are
// bit-identical on every executor and rank count. Variances merge partial moments (count, mean, M2) with Chan
// et al.'s formula.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "kernels.h"
#include "node.h"

namespace tessera {
namespace detail {
namespace {

enum class Reduce {
  kSum,
  kProd,
  kMin,
  kMax,
  kMean,
  kVar,
  kStd,
  kCount,
  kAny,
  kAll,
  kNanSum,
  kNanMean,
  kNanMin,
  kNanMax,
  kNanVar,
  kNanStd,
  kArgMin,
  kArgMax,
};

bool skips_nan(Reduce r) {
  return r == Reduce::kNanSum || r == Reduce::kNanMean || r == Reduce::kNanMin || r == Reduce::kNanMax ||
         r == Reduce::kNanVar || r == Reduce::kNanStd || r == Reduce::kCount;
}
bool is_moment(Reduce r) {
  return r == Reduce::kVar || r == Reduce::kStd || r == Reduce::kNanVar || r == Reduce::kNanStd;
}
bool is_mean(Reduce r) {
  return r == Reduce::kMean || r == Reduce::kNanMean;
}
bool is_minmax(Reduce r) {
  return r == Reduce::kMin || r == Reduce::kMax || r == Reduce::kNanMin || r == Reduce::kNanMax;
}
bool is_arg(Reduce r) {
  return r == Reduce::kArgMin || r == Reduce::kArgMax;
}
bool wants_max(Reduce r) {
  return r == Reduce::kMax || r == Reduce::kNanMax || r == Reduce::kArgMax;
}

DType result_dtype(Reduce r, DType in) {
  switch (r) {
    case Reduce::kSum:
    case Reduce::kProd:
    case Reduce::kNanSum:
      return is_float(in) ? in : DType::kInt64;
    case Reduce::kMean:
    case Reduce::kVar:
    case Reduce::kStd:
    case Reduce::kNanMean:
    case Reduce::kNanVar:
    case Reduce::kNanStd:
      return is_float(in) ? in : DType::kFloat64;
    case Reduce::kCount:
    case Reduce::kArgMin:
    case Reduce::kArgMax:
      return DType::kInt64;
    case Reduce::kAny:
    case Reduce::kAll:
      return DType::kBool;
    default:
      return in;  // min, max and their nan forms
  }
}

}  // namespace

// A partial result: one chunk per component (sum, count, mean, M2, value, index, ...), all of the partial
// shape.
struct Partial {
  std::vector<Chunk> parts;
};

}  // namespace detail

template <>
struct Codec<detail::Partial> {
  static constexpr bool kDefined = true;
  static std::size_t size(const detail::Partial& p) {
    std::size_t n = 8;
    for (const Chunk& c : p.parts) n += 8 + c.encoded_size();
    return n;
  }
  static void encode(const detail::Partial& p, std::byte* out) {
    const std::uint64_t count = p.parts.size();
    std::memcpy(out, &count, 8);
    out += 8;
    for (const Chunk& c : p.parts) {
      const std::uint64_t n = c.encoded_size();
      std::memcpy(out, &n, 8);
      c.encode(out + 8);
      out += 8 + n;
    }
  }
  static detail::Partial decode(const std::byte* in, std::size_t) {
    detail::Partial p;
    std::uint64_t count = 0;
    std::memcpy(&count, in, 8);
    in += 8;
    for (std::uint64_t i = 0; i < count; ++i) {
      std::uint64_t n = 0;
      std::memcpy(&n, in, 8);
      p.parts.push_back(Chunk::decode(in + 8, n));
      in += 8 + n;
    }
    return p;
  }
};

namespace detail {
namespace {

// Where the elements of a chunk go in a grouped reduction: along `axis`, local position i goes to slot
// labels[offset + i] (skipped when negative).
struct GroupMap {
  int axis = -1;
  const std::vector<std::int64_t>* labels = nullptr;
  std::int64_t offset = 0;
  std::int64_t base = 0;  // subtracted from labels: the chunk's first group when the chunk has its own groups
};

// Calls row(in_offset, out_offset, length, out_step) for each row (last axis) of `shape`; out offsets follow
// `out_strides` (0 on reduced axes); on a group axis the slot comes from the labels (rows split into single
// elements when the group axis is the last one).
template <class F>
void for_rows(const Shape& shape, const Shape& out_strides, F&& row, const GroupMap& group = {}) {
  const int n = static_cast<int>(shape.size());
  if (num_elements(shape) == 0) return;
  if (n == 0) {
    row(0, 0, 1, 0);
    return;
  }
  auto slot = [&](std::int64_t local) {
    const std::int64_t label = (*group.labels)[static_cast<std::size_t>(group.offset + local)];
    return label < 0 ? label : label - group.base;
  };
  const Shape in_strides = strides_of(shape);
  const Shape outer(shape.begin(), shape.end() - 1);
  std::vector<std::int64_t> i(static_cast<std::size_t>(n - 1), 0);
  do {
    std::int64_t in_off = 0, out_off = 0;
    bool skip = false;
    for (int a = 0; a < n - 1; ++a) {
      const auto ia = static_cast<std::size_t>(a);
      in_off += i[ia] * in_strides[ia];
      if (a == group.axis) {
        const std::int64_t g = slot(i[ia]);
        skip |= g < 0;
        out_off += g * out_strides[ia];
      } else {
        out_off += i[ia] * out_strides[ia];
      }
    }
    if (skip) continue;
    if (group.axis == n - 1) {
      for (std::int64_t j = 0; j < shape.back(); ++j) {
        const std::int64_t g = slot(j);
        if (g >= 0) row(in_off + j, out_off + g * out_strides.back(), 1, 0);
      }
    } else {
      row(in_off, out_off, shape.back(), out_strides.back());
    }
  } while (n > 1 && next_index(i, outer));
}

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v != v;
  } else {
    return false;
  }
}

// Elements per block of rows when a reduction folds a fused input block by block (128 KiB of float64: the
// block and the expression's segment buffers stay in L2).
constexpr std::int64_t kRowBlockElements = 16384;
// Bytes of input per tile of columns when moments reduce leading axes (stays in L2 between the two passes).
constexpr std::int64_t kTileBytes = 256 << 10;

struct ReductionNode final : ArrayNode {
  ArrayNodePtr input;
  void operands(std::vector<const ArrayNode*>& out) const override { out.push_back(input.get()); }
  Reduce op = Reduce::kSum;
  std::vector<bool> reduced;  // per input axis
  bool keepdims = false;
  int split_every = 8;
  int ddof = 0;
  int arg_axis = -1;
  int group_axis = -1;  // grouped reduction: this axis keeps `groups` slots chosen by `labels`
  std::vector<std::int64_t> labels;
  std::int64_t groups = 0;
  // Grouped, with every group inside one input chunk along the group axis (resampling to periods the chunks
  // are cut at): each chunk's partial holds its own groups only, and becomes its output chunk without a
  // combine. Otherwise every partial holds all `groups` slots.
  bool local_groups = false;
  // Moments whose partials also carry the sum (count, mean, M2, sum): a pass shared with means.
  bool keep_sum = false;

  // The first group and the number of groups of the input chunk starting at `offset` along the group axis.
  std::pair<std::int64_t, std::int64_t> chunk_groups(std::int64_t offset, std::int64_t length) const {
    if (!local_groups || length == 0) return {0, groups};
    const std::int64_t first = labels[static_cast<std::size_t>(offset)];
    return {first, labels[static_cast<std::size_t>(offset + length - 1)] - first + 1};
  }

  Shape partial_shape(const Shape& chunk, std::int64_t offset) const {
    Shape p = chunk;
    for (std::size_t a = 0; a < p.size(); ++a) {
      if (reduced[a]) p[a] = 1;
    }
    if (group_axis >= 0) {
      p[static_cast<std::size_t>(group_axis)] =
          chunk_groups(offset, chunk[static_cast<std::size_t>(group_axis)]).second;
    }
    return p;
  }

  // k when the reduced axes are exactly the first k (k >= 1) and some axis is kept; otherwise 0.
  std::int64_t leading_reduced() const {
    std::size_t k = 0;
    while (k < reduced.size() && reduced[k]) ++k;
    for (std::size_t a = k; a < reduced.size(); ++a) {
      if (reduced[a]) return 0;
    }
    return k < reduced.size() ? static_cast<std::int64_t>(k) : 0;
  }

  // Whether map can fold an input chunk block by block along axis 0: every element updates the partial on
  // its own, in row-major order, so blocks give the same bits as the whole chunk. Not for arg reductions and
  // groups (which need positions in the chunk) nor for moments (two passes over the chunk).
  bool folds_by_rows() const {
    if (is_arg(op) || group_axis >= 0) return false;
    return op == Reduce::kAny || op == Reduce::kAll || is_minmax(op) || op == Reduce::kCount ||
           op == Reduce::kSum || op == Reduce::kNanSum || op == Reduce::kProd || is_mean(op);
  }

  // The partial of one input chunk of `dtype` and `shape`, read through rows(a0, a1): rows a0 .. a1-1 along
  // axis 0 as a chunk, asked for in order, `block` rows at a time (all of them where !folds_by_rows()).
  // `offset` is the chunk's start along arg_axis (for arg reductions) or the group axis.
  using RowReader = std::function<const Chunk&(std::int64_t a0, std::int64_t a1)>;
  Partial map(DType dtype, const Shape& shape, std::int64_t block, const RowReader& rows,
              std::int64_t offset) const {
    const Shape ps = partial_shape(shape, offset);
    Shape os = strides_of(ps);
    for (std::size_t a = 0; a < os.size(); ++a) {
      if (reduced[a]) os[a] = 0;
    }
    const GroupMap group{
        group_axis, &labels, offset,
        group_axis >= 0 ? chunk_groups(offset, shape[static_cast<std::size_t>(group_axis)]).first : 0};
    const std::int64_t m = num_elements(ps);
    Partial p;
    const std::int64_t extent = shape.empty() ? 1 : shape[0];
    if (!folds_by_rows() || block <= 0) block = extent;
    visit_dtype(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* x = nullptr;
      // f(io, oo, len, step) for every row of the chunk, a block at a time; x points into the block.
      auto for_blocks = [&](auto&& f) {
        for (std::int64_t a0 = 0; a0 < extent; a0 += block) {
          const Chunk& c = rows(a0, std::min(extent, a0 + block));
          x = reinterpret_cast<const T*>(c.bytes());
          const std::int64_t shift = shape.empty() ? 0 : a0 * os[0];
          for_rows(
              c.shape(), os,
              [&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
                f(io, oo + shift, len, step);
              },
              group);
        }
      };
      if (op == Reduce::kAny || op == Reduce::kAll) {
        Chunk out = Chunk::zeros(DType::kBool, ps);
        bool* o = reinterpret_cast<bool*>(out.bytes());
        const bool all = op == Reduce::kAll;
        std::fill_n(o, m, all);
        for_blocks([&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
          for (std::int64_t j = 0; j < len; ++j) {
            const bool v = x[io + j] != T(0);
            bool& r = o[oo + j * step];
            r = all ? (r && v) : (r || v);
          }
        });
        p.parts.push_back(std::move(out));
      } else if (is_minmax(op) || is_arg(op)) {
        const bool want_max = wants_max(op);
        const bool nan_skip = op == Reduce::kNanMin || op == Reduce::kNanMax;
        Chunk value(dtype, ps);
        Chunk index = Chunk::zeros(DType::kInt64, ps);
        T* v = reinterpret_cast<T*>(value.bytes());
        auto* ix = reinterpret_cast<std::int64_t*>(index.bytes());
        std::vector<bool> seen(static_cast<std::size_t>(m), false);
        const Shape in_strides = strides_of(shape);
        for_blocks([&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
          for (std::int64_t j = 0; j < len; ++j) {
            const T xv = x[io + j];
            const std::int64_t o = oo + j * step;
            const auto so = static_cast<std::size_t>(o);
            if (nan_skip && is_nan(xv)) {
              if (!seen[so]) v[o] = xv;  // stays NaN only if every element is NaN
              continue;
            }
            bool take;
            if (!seen[so] || (nan_skip && is_nan(v[o]))) {
              take = true;
            } else if (is_nan(v[o])) {
              take = false;  // the first NaN wins (NumPy)
            } else if (is_nan(xv)) {
              take = true;
            } else {
              take = want_max ? (xv > v[o]) : (xv < v[o]);
            }
            if (take) {
              v[o] = xv;
              if (is_arg(op)) {
                // Position along the reduced axis, in the whole array.
                const std::int64_t flat = io + j;
                ix[o] = offset + (flat / in_strides[static_cast<std::size_t>(arg_axis)]) %
                                     shape[static_cast<std::size_t>(arg_axis)];
              }
            }
            seen[so] = true;
          }
        });
        if (group_axis >= 0) {
          // Slots no element of this chunk reached stay unset: the count says which.
          Chunk count = Chunk::zeros(DType::kInt64, ps);
          auto* cn = reinterpret_cast<std::int64_t*>(count.bytes());
          for (std::int64_t k = 0; k < m; ++k) {
            cn[k] = seen[static_cast<std::size_t>(k)] ? 1 : 0;
            if (!seen[static_cast<std::size_t>(k)]) v[k] = T(0);
          }
          p.parts.push_back(std::move(value));
          p.parts.push_back(std::move(count));
        } else {
          p.parts.push_back(std::move(value));
          if (is_arg(op)) p.parts.push_back(std::move(index));
        }
      } else if (op == Reduce::kCount) {
        Chunk count = Chunk::zeros(DType::kInt64, ps);
        auto* n = reinterpret_cast<std::int64_t*>(count.bytes());
        for_blocks([&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
          for (std::int64_t j = 0; j < len; ++j) n[oo + j * step] += is_nan(x[io + j]) ? 0 : 1;
        });
        p.parts.push_back(std::move(count));
      } else if (op == Reduce::kSum || op == Reduce::kNanSum || op == Reduce::kProd) {
        // Floats accumulate in double, integers in int64.
        const bool prod = op == Reduce::kProd;
        const bool skip = op == Reduce::kNanSum;
        auto accumulate = [&](auto acc_tag) {
          using A = typename decltype(acc_tag)::type;
          Chunk acc(dtype_of<A>(), ps);
          A* s = reinterpret_cast<A*>(acc.bytes());
          std::fill_n(s, m, prod ? A(1) : A(0));
          for_blocks([&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
            if (step == 0 && !prod) {
              // A row into one sum: eight interleaved partial sums, added in a fixed tree, so the loop
              // runs at the adder's throughput instead of waiting on one chain (NaNs skipped as +0,
              // which never changes a sum that starts at +0).
              constexpr int kLanes = 8;
              A lane[kLanes] = {};
              std::int64_t j = 0;
              for (; j + kLanes <= len; j += kLanes) {
                for (int l = 0; l < kLanes; ++l) {
                  const T xv = x[io + j + l];
                  lane[l] += skip && is_nan(xv) ? A(0) : static_cast<A>(xv);
                }
              }
              for (int l = 0; j < len; ++j, ++l) {
                const T xv = x[io + j];
                lane[l] += skip && is_nan(xv) ? A(0) : static_cast<A>(xv);
              }
              const A r =
                  ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
              s[oo] = static_cast<A>(s[oo] + r);
            } else if (step == 0) {
              A r = A(1);
              for (std::int64_t j = 0; j < len; ++j) {
                const T xv = x[io + j];
                if (skip && is_nan(xv)) continue;
                r = static_cast<A>(r * static_cast<A>(xv));
              }
              s[oo] = static_cast<A>(s[oo] * r);
            } else {
              for (std::int64_t j = 0; j < len; ++j) {
                const T xv = x[io + j];
                if (skip && is_nan(xv)) continue;
                A& r = s[oo + j];
                r = prod ? static_cast<A>(r * static_cast<A>(xv)) : static_cast<A>(r + static_cast<A>(xv));
              }
            }
          });
          p.parts.push_back(std::move(acc));
        };
        if (is_float(dtype)) {
          accumulate(std::type_identity<double>{});
        } else {
          accumulate(std::type_identity<std::int64_t>{});
        }
      } else {
        // Mean and moments: count and sum, then (for moments) M2 around this chunk's mean.
        const bool skip = skips_nan(op);
        Chunk count = Chunk::zeros(DType::kInt64, ps);
        Chunk sum = Chunk::zeros(DType::kFloat64, ps);
        auto* n = reinterpret_cast<std::int64_t*>(count.bytes());
        auto* s = reinterpret_cast<double*>(sum.bytes());
        if (!is_mean(op) && group_axis < 0 && leading_reduced() > 0 && m > 0) {
          // The chunk is rows (the reduced leading axes) of m elements, each element reduced over the rows:
          // both passes run over a tile of columns before the next tile, so the tile is still in cache for
          // the second pass and the chunk is read from memory once (1.6x faster on the anomaly job's 47 MB
          // chunks). Every element sees the same operations in the same order as in two passes over the
          // whole chunk below, so the bits are the same.
          const Chunk& c = rows(0, extent);
          const T* xs = reinterpret_cast<const T*>(c.bytes());
          const std::int64_t rows_n = c.size() / m;
          Chunk mean(DType::kFloat64, ps);
          Chunk m2 = Chunk::zeros(DType::kFloat64, ps);
          auto* mu = reinterpret_cast<double*>(mean.bytes());
          auto* q = reinterpret_cast<double*>(m2.bytes());
          const std::int64_t width = std::max<std::int64_t>(
              16, kTileBytes / std::max<std::int64_t>(1, rows_n * static_cast<std::int64_t>(sizeof(T))) / 16 *
                      16);
          for (std::int64_t j0 = 0; j0 < m; j0 += width) {
            const std::int64_t j1 = std::min(m, j0 + width);
            for (std::int64_t r = 0; r < rows_n; ++r) {
              const T* xr = xs + r * m;
              if (!skip) {
                for (std::int64_t j = j0; j < j1; ++j) s[j] += static_cast<double>(xr[j]);
                continue;
              }
              for (std::int64_t j = j0; j < j1; ++j) {
                if (is_nan(xr[j])) continue;
                n[j] += 1;
                s[j] += static_cast<double>(xr[j]);
              }
            }
            if (!skip) {
              for (std::int64_t j = j0; j < j1; ++j) n[j] = rows_n;
            }
            for (std::int64_t j = j0; j < j1; ++j) mu[j] = n[j] > 0 ? s[j] / static_cast<double>(n[j]) : 0.0;
            for (std::int64_t r = 0; r < rows_n; ++r) {
              const T* xr = xs + r * m;
              if (!skip) {
                for (std::int64_t j = j0; j < j1; ++j) {
                  const double d = static_cast<double>(xr[j]) - mu[j];
                  q[j] += d * d;
                }
                continue;
              }
              for (std::int64_t j = j0; j < j1; ++j) {
                if (is_nan(xr[j])) continue;
                const double d = static_cast<double>(xr[j]) - mu[j];
                q[j] += d * d;
              }
            }
          }
          p.parts.push_back(std::move(count));
          p.parts.push_back(std::move(mean));
          p.parts.push_back(std::move(m2));
          if (keep_sum) p.parts.push_back(std::move(sum));
          return;
        }
        for_blocks([&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
          if (!skip && step == 1) {
            // Separate loops, so that both vectorise.
            for (std::int64_t j = 0; j < len; ++j) s[oo + j] += static_cast<double>(x[io + j]);
            for (std::int64_t j = 0; j < len; ++j) n[oo + j] += 1;
            return;
          }
          for (std::int64_t j = 0; j < len; ++j) {
            const T xv = x[io + j];
            if (skip && is_nan(xv)) continue;
            n[oo + j * step] += 1;
            s[oo + j * step] += static_cast<double>(xv);
          }
        });
        if (is_mean(op)) {
          p.parts.push_back(std::move(sum));
          p.parts.push_back(std::move(count));
        } else {
          Chunk mean(DType::kFloat64, ps);
          Chunk m2 = Chunk::zeros(DType::kFloat64, ps);
          auto* mu = reinterpret_cast<double*>(mean.bytes());
          auto* q = reinterpret_cast<double*>(m2.bytes());
          for (std::int64_t i = 0; i < m; ++i) mu[i] = n[i] > 0 ? s[i] / static_cast<double>(n[i]) : 0.0;
          for_blocks([&](std::int64_t io, std::int64_t oo, std::int64_t len, std::int64_t step) {
            if (!skip && step == 1) {
              // Unit stride without NaN checks: vectorises (the same operations in the same order per
              // element).
              for (std::int64_t j = 0; j < len; ++j) {
                const double d = static_cast<double>(x[io + j]) - mu[oo + j];
                q[oo + j] += d * d;
              }
              return;
            }
            for (std::int64_t j = 0; j < len; ++j) {
              const T xv = x[io + j];
              if (skip && is_nan(xv)) continue;
              const double d = static_cast<double>(xv) - mu[oo + j * step];
              q[oo + j * step] += d * d;
            }
          });
          p.parts.push_back(std::move(count));
          p.parts.push_back(std::move(mean));
          p.parts.push_back(std::move(m2));
          if (keep_sum) p.parts.push_back(std::move(sum));
        }
      }
    });
    return p;
  }

  // Merges partials (in order) into the first.
  Partial combine(std::span<const Partial* const> in) const {
    Partial acc = *in[0];
    const std::int64_t m = acc.parts[0].size();
    for (std::size_t k = 1; k < in.size(); ++k) {
      const Partial& b = *in[k];
      if (op == Reduce::kAny || op == Reduce::kAll) {
        bool* a = reinterpret_cast<bool*>(acc.parts[0].bytes());
        const bool* x = reinterpret_cast<const bool*>(b.parts[0].bytes());
        for (std::int64_t i = 0; i < m; ++i) a[i] = op == Reduce::kAll ? (a[i] && x[i]) : (a[i] || x[i]);
      } else if (is_minmax(op) || is_arg(op)) {
        const bool want_max = wants_max(op);
        const bool nan_skip = op == Reduce::kNanMin || op == Reduce::kNanMax;
        visit_dtype(acc.parts[0].dtype(), [&](auto tag) {
          using T = typename decltype(tag)::type;
          T* v = reinterpret_cast<T*>(acc.parts[0].bytes());
          const T* w = reinterpret_cast<const T*>(b.parts[0].bytes());
          std::int64_t* na =
              group_axis >= 0 ? reinterpret_cast<std::int64_t*>(acc.parts[1].bytes()) : nullptr;
          const std::int64_t* nb =
              group_axis >= 0 ? reinterpret_cast<const std::int64_t*>(b.parts[1].bytes()) : nullptr;
          for (std::int64_t i = 0; i < m; ++i) {
            if (na != nullptr) {
              if (nb[i] == 0) continue;
              if (na[i] == 0) {
                v[i] = w[i];
                na[i] = nb[i];
                continue;
              }
              na[i] += nb[i];
            }
            bool take;
            if (nan_skip) {
              take = !is_nan(w[i]) && (is_nan(v[i]) || (want_max ? w[i] > v[i] : w[i] < v[i]));
            } else if (is_nan(v[i])) {
              take = false;
            } else if (is_nan(w[i])) {
              take = true;
            } else {
              take = want_max ? w[i] > v[i] : w[i] < v[i];
            }
            if (take) {
              v[i] = w[i];
              if (is_arg(op)) {
                reinterpret_cast<std::int64_t*>(acc.parts[1].bytes())[i] =
                    reinterpret_cast<const std::int64_t*>(b.parts[1].bytes())[i];
              }
            }
          }
        });
      } else if (op == Reduce::kCount) {
        auto* a = reinterpret_cast<std::int64_t*>(acc.parts[0].bytes());
        const auto* x = reinterpret_cast<const std::int64_t*>(b.parts[0].bytes());
        for (std::int64_t i = 0; i < m; ++i) a[i] += x[i];
      } else if (op == Reduce::kSum || op == Reduce::kNanSum || op == Reduce::kProd) {
        visit_dtype(acc.parts[0].dtype(), [&](auto tag) {
          using A = typename decltype(tag)::type;
          A* a = reinterpret_cast<A*>(acc.parts[0].bytes());
          const A* x = reinterpret_cast<const A*>(b.parts[0].bytes());
          for (std::int64_t i = 0; i < m; ++i)
            a[i] = op == Reduce::kProd ? static_cast<A>(a[i] * x[i]) : static_cast<A>(a[i] + x[i]);
        });
      } else if (is_mean(op)) {
        auto* s = reinterpret_cast<double*>(acc.parts[0].bytes());
        auto* n = reinterpret_cast<std::int64_t*>(acc.parts[1].bytes());
        const auto* s2 = reinterpret_cast<const double*>(b.parts[0].bytes());
        const auto* n2 = reinterpret_cast<const std::int64_t*>(b.parts[1].bytes());
        for (std::int64_t i = 0; i < m; ++i) {
          s[i] += s2[i];
          n[i] += n2[i];
        }
      } else {
        auto* n = reinterpret_cast<std::int64_t*>(acc.parts[0].bytes());
        auto* mu = reinterpret_cast<double*>(acc.parts[1].bytes());
        auto* q = reinterpret_cast<double*>(acc.parts[2].bytes());
        const auto* n2 = reinterpret_cast<const std::int64_t*>(b.parts[0].bytes());
        const auto* mu2 = reinterpret_cast<const double*>(b.parts[1].bytes());
        const auto* q2 = reinterpret_cast<const double*>(b.parts[2].bytes());
        for (std::int64_t i = 0; i < m; ++i) {
          if (n2[i] == 0) continue;
          if (n[i] == 0) {
            n[i] = n2[i];
            mu[i] = mu2[i];
            q[i] = q2[i];
            continue;
          }
          const double na = static_cast<double>(n[i]), nb = static_cast<double>(n2[i]), nn = na + nb;
          const double delta = mu2[i] - mu[i];
          mu[i] += delta * nb / nn;
          q[i] += q2[i] + delta * delta * na * nb / nn;
          n[i] += n2[i];
        }
        if (acc.parts.size() > 3) {
          // The sums, added as a mean's are.
          auto* s = reinterpret_cast<double*>(acc.parts[3].bytes());
          const auto* s2 = reinterpret_cast<const double*>(b.parts[3].bytes());
          for (std::int64_t i = 0; i < m; ++i) s[i] += s2[i];
        }
      }
    }
    return acc;
  }

  Chunk finish(const Partial& p, const Shape& out_shape) const {
    const Chunk& first = p.parts[0];
    const std::int64_t m = first.size();
    Chunk out(dtype, out_shape);
    if (out.size() != m) throw_error(ErrorCode::kInternal, "reduction partial of the wrong size");
    if (is_arg(op)) {
      std::memcpy(out.bytes(), p.parts[1].bytes(), p.parts[1].nbytes());
    } else if (is_mean(op) || is_moment(op)) {
      visit_dtype(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        T* o = reinterpret_cast<T*>(out.bytes());
        for (std::int64_t i = 0; i < m; ++i) {
          double r;
          if (is_mean(op)) {
            // (sum, count), or (count, mean, M2, sum) from a pass shared with moments.
            const bool moments = p.parts.size() == 4;
            const auto n = reinterpret_cast<const std::int64_t*>(p.parts[moments ? 0 : 1].bytes())[i];
            const double s = reinterpret_cast<const double*>(p.parts[moments ? 3 : 0].bytes())[i];
            r = n > 0 ? s / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
          } else {
            const auto n = reinterpret_cast<const std::int64_t*>(p.parts[0].bytes())[i];
            const double q = reinterpret_cast<const double*>(p.parts[2].bytes())[i];
            r = n - ddof > 0 ? q / static_cast<double>(n - ddof) : std::numeric_limits<double>::quiet_NaN();
            if (op == Reduce::kStd || op == Reduce::kNanStd) r = std::sqrt(r);
          }
          o[i] = static_cast<T>(r);
        }
      });
    } else {
      Chunk cast = first.dtype() == dtype ? first : first.astype(dtype);
      std::memcpy(out.bytes(), cast.bytes(), out.nbytes());
      if (group_axis >= 0 && is_minmax(op)) {
        // Groups without members: NaN for floats, 0 for integers.
        const auto* n = reinterpret_cast<const std::int64_t*>(p.parts[1].bytes());
        visit_dtype(dtype, [&](auto tag) {
          using T = typename decltype(tag)::type;
          T* o = reinterpret_cast<T*>(out.bytes());
          for (std::int64_t i = 0; i < m; ++i) {
            if (n[i] == 0)
              o[i] = std::numeric_limits<T>::has_quiet_NaN ? std::numeric_limits<T>::quiet_NaN() : T(0);
          }
        });
      }
    }
    return out;
  }

  // Mean, variance and standard deviation of one input over the same axes (and groups), NaNs skipped or not
  // alike, differ only in their finishing task: in one graph they share one pass (build).
  std::string shared_pass_key() const override {
    if (!is_mean(op) && !is_moment(op)) return {};
    std::string key = str_cat("moments ", static_cast<const void*>(input.get()), skips_nan(op) ? " nan" : "",
                              " split ", split_every, " axes ");
    for (bool r : reduced) key += r ? '1' : '0';
    if (group_axis >= 0) {
      key += str_cat(" groups ", group_axis, " ", groups, local_groups ? " local " : " ");
      key.append(reinterpret_cast<const char*>(labels.data()), labels.size() * sizeof(labels[0]));
    }
    return key;
  }

  // One task per output chunk, in row-major order, finishing the partial of task `roots[i]` (of this node's
  // own pass, or of the pass it shares with its peers).
  std::vector<TaskId> build(GraphBuilder& b) const override {
    const std::string key = shared_pass_key();
    const std::span<const ArrayNode* const> peers =
        key.empty() ? std::span<const ArrayNode* const>{} : b.peers(key);
    const bool shared = peers.size() > 1 && std::find(peers.begin(), peers.end(), this) != peers.end();
    const std::vector<TaskId> roots =
        shared ? b.shared(key, [&] { return shared_pass(peers)->build_pass(b); }) : build_pass(b);
    Graph& g = b.graph();
    const KernelId finish_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      return Value::of(finish(ctx.input<Partial>(0), grid.chunk_shape(index)));
    });
    const NameId finish_n = g.name(name);
    std::vector<TaskId> ids;
    const Shape out_counts = grid.grid_shape();
    std::vector<std::int64_t> oi(out_counts.size(), 0);
    for (const TaskId root : roots) {
      ids.push_back(g.add(finish_n, key_index(oi), finish_k, std::span<const TaskId>(&root, 1),
                          chunk_options(*this, oi)));
      if (!out_counts.empty()) next_index(oi, out_counts);
    }
    return ids;
  }

  // The node whose partials serve every peer (the same key): the first peer's reduction, as moments when a
  // peer needs them, its partials then also carrying the sum when a peer is a mean (a mean from the shared
  // pass is then the same sum over the same count: the same bits as the mean's own pass).
  std::shared_ptr<const ReductionNode> shared_pass(std::span<const ArrayNode* const> peers) const {
    const auto* first = static_cast<const ReductionNode*>(peers[0]);
    bool moments = false, means = false;
    for (const ArrayNode* n : peers) {
      const Reduce r = static_cast<const ReductionNode*>(n)->op;
      moments |= is_moment(r);
      means |= is_mean(r);
    }
    auto pass = std::make_shared<ReductionNode>(*first);
    pass->op = moments ? (skips_nan(op) ? Reduce::kNanVar : Reduce::kVar) : first->op;
    pass->keep_sum = moments && means;
    pass->name = first->name + "-moments";
    return pass;
  }

  // The map tasks and combine trees; returns, per output chunk in row-major order, the task whose partial
  // covers it.
  std::vector<TaskId> build_pass(GraphBuilder& b) const {
    Graph& g = b.graph();
    const ChunkGrid& ig = input->grid;
    const int nd = ig.ndim();
    const KernelId map_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      const std::vector<std::int64_t> index = from_key(ctx.index());
      const int axis = arg_axis >= 0 ? arg_axis : group_axis;
      const std::int64_t offset =
          axis >= 0 ? input->grid.offset(axis, index[static_cast<std::size_t>(axis)]) : 0;
      // The input chunk is made here when it is elementwise or generated (ArrayNode::fused_chunk), then a
      // block of rows at a time, so that it never exists whole (the blocks stay in cache).
      std::deque<Chunk> made;
      if (folds_by_rows() && input->makes_rows()) {
        const Shape shape = input->grid.chunk_shape(index);
        const std::int64_t row = shape.empty() || shape[0] == 0 ? 1 : num_elements(shape) / shape[0];
        const std::int64_t block =
            std::max<std::int64_t>(1, kRowBlockElements / std::max<std::int64_t>(row, 1));
        return Value::of(map(
            input->dtype, shape, block,
            [&](std::int64_t a0, std::int64_t a1) -> const Chunk& {
              made.clear();
              std::size_t next = 0;
              return input->fused_rows(ctx, next, index, a0, a1, made);
            },
            offset));
      }
      std::size_t next = 0;
      const Chunk& c = input->fused_chunk(ctx, next, index, made);
      return Value::of(map(
          c.dtype(), c.shape(), 0, [&c](std::int64_t, std::int64_t) -> const Chunk& { return c; }, offset));
    });
    const KernelId combine_k = g.kernel([this, keep = shared_from_this()](const TaskContext& ctx) {
      return Value::of(combine(inputs_as<Partial>(ctx)));
    });
    const NameId map_n = g.name(name + "-partial");
    const NameId combine_n = g.name(name + "-combine");

    // Map tasks, one per input chunk.
    std::vector<TaskId> partials;
    const Shape in_counts = ig.grid_shape();
    {
      std::vector<std::int64_t> index(static_cast<std::size_t>(nd), 0);
      std::vector<TaskId> deps;
      do {
        deps.clear();
        input->fused_inputs(b, index, deps);
        partials.push_back(g.add(map_n, key_index(index), map_k, deps));
      } while (nd > 0 && next_index(index, in_counts));
    }
    // Group input chunks by their position on the kept axes; within a group, row-major order on reduced axes.
    Shape kept_counts;
    auto combined = [&](int a) {
      return reduced[static_cast<std::size_t>(a)] || (a == group_axis && !local_groups);
    };
    for (int a = 0; a < nd; ++a)
      kept_counts.push_back(combined(a) ? 1 : in_counts[static_cast<std::size_t>(a)]);
    std::vector<std::vector<TaskId>> groups(static_cast<std::size_t>(num_elements(kept_counts)));
    {
      std::vector<std::int64_t> index(static_cast<std::size_t>(nd), 0);
      std::size_t i = 0;
      do {
        std::vector<std::int64_t> kept(index);
        for (int a = 0; a < nd; ++a) {
          if (combined(a)) kept[static_cast<std::size_t>(a)] = 0;
        }
        groups[static_cast<std::size_t>(linear_index(kept, kept_counts))].push_back(partials[i++]);
      } while (nd > 0 && next_index(index, in_counts));
    }
    std::vector<TaskId> roots;
    std::int32_t group_no = 0;
    for (auto& level : groups) {
      for (std::int32_t depth = 0; level.size() > 1; ++depth) {
        std::vector<TaskId> next;
        for (std::size_t i = 0; i < level.size(); i += static_cast<std::size_t>(split_every)) {
          const std::size_t end = std::min(level.size(), i + static_cast<std::size_t>(split_every));
          if (end - i == 1) {
            next.push_back(level[i]);
            continue;
          }
          const std::int32_t key[] = {group_no, depth,
                                      static_cast<std::int32_t>(i / static_cast<std::size_t>(split_every))};
          next.push_back(
              g.add(combine_n, key, combine_k, std::span<const TaskId>(level.data() + i, end - i)));
        }
        level = std::move(next);
      }
      roots.push_back(level[0]);
      ++group_no;
    }
    return roots;
  }
};

Array reduce(const Array& a, Reduce op, const Axes& axes, const ReduceOptions& o, int ddof,
             const char* kind) {
  if (!a.node()) throw_error(ErrorCode::kInvalidArgument, kind, ": this Array is empty (never assigned)");
  const int nd = a.ndim();
  std::vector<bool> reduced(static_cast<std::size_t>(nd), axes.all);
  if (!axes.all) {
    for (int ax : axes.list) {
      if (ax < -nd || ax >= nd) {
        throw_error(ErrorCode::kInvalidArgument, kind, ": axis ", ax, " is out of range for an array with ",
                    nd, " dimension", nd == 1 ? "" : "s", " (shape ", format_shape(a.shape()), ")");
      }
      const int k = ax < 0 ? ax + nd : ax;
      if (reduced[static_cast<std::size_t>(k)])
        throw_error(ErrorCode::kInvalidArgument, kind, ": axis ", ax, " given twice");
      reduced[static_cast<std::size_t>(k)] = true;
    }
  }
  if (o.split_every < 0 || o.split_every == 1) {
    throw_error(ErrorCode::kInvalidArgument, kind, ": split_every is ", o.split_every,
                "; it must be 0 (default) or >= 2");
  }
  if (is_minmax(op) || is_arg(op)) {
    for (int ax = 0; ax < nd; ++ax) {
      if (reduced[static_cast<std::size_t>(ax)] && a.shape()[static_cast<std::size_t>(ax)] == 0) {
        throw_error(ErrorCode::kInvalidArgument, kind, ": zero-size axis ", ax, " has no minimum or maximum");
      }
    }
  }
  auto node = std::make_shared<ReductionNode>();
  node->input = a.node();
  node->op = op;
  node->reduced = reduced;
  node->keepdims = o.keepdims;
  node->split_every = o.split_every == 0 ? 8 : o.split_every;
  node->ddof = ddof;
  Shape shape;
  std::vector<std::vector<std::int64_t>> chunks;
  for (int ax = 0; ax < nd; ++ax) {
    const auto k = static_cast<std::size_t>(ax);
    if (reduced[k]) {
      if (is_arg(op)) node->arg_axis = ax;
      if (!o.keepdims) continue;
      shape.push_back(1);
      chunks.push_back({1});
    } else {
      shape.push_back(a.shape()[k]);
      chunks.push_back(a.chunks().chunks(ax));
    }
  }
  node->shape = shape;
  node->dtype = result_dtype(op, a.dtype());
  node->grid = ChunkGrid(shape, chunks);
  node->name = next_name(kind);
  return Array(node);
}

}  // namespace
}  // namespace detail

using detail::Reduce;

Array Array::sum(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kSum, axes, o, 0, "sum");
}
Array Array::prod(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kProd, axes, o, 0, "prod");
}
Array Array::mean(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kMean, axes, o, 0, "mean");
}
Array Array::min(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kMin, axes, o, 0, "min");
}
Array Array::max(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kMax, axes, o, 0, "max");
}
Array Array::var(Axes axes, ReduceOptions o, int ddof) const {
  return detail::reduce(*this, Reduce::kVar, axes, o, ddof, "var");
}
Array Array::std(Axes axes, ReduceOptions o, int ddof) const {
  return detail::reduce(*this, Reduce::kStd, axes, o, ddof, "std");
}
Array Array::count(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kCount, axes, o, 0, "count");
}
Array Array::any(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kAny, axes, o, 0, "any");
}
Array Array::all(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kAll, axes, o, 0, "all");
}
Array Array::nansum(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kNanSum, axes, o, 0, "nansum");
}
Array Array::nanmean(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kNanMean, axes, o, 0, "nanmean");
}
Array Array::nanmin(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kNanMin, axes, o, 0, "nanmin");
}
Array Array::nanmax(Axes axes, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kNanMax, axes, o, 0, "nanmax");
}
Array Array::nanvar(Axes axes, ReduceOptions o, int ddof) const {
  return detail::reduce(*this, Reduce::kNanVar, axes, o, ddof, "nanvar");
}
Array Array::nanstd(Axes axes, ReduceOptions o, int ddof) const {
  return detail::reduce(*this, Reduce::kNanStd, axes, o, ddof, "nanstd");
}
Array Array::argmin(int axis, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kArgMin, Axes(axis), o, 0, "argmin");
}
Array Array::argmax(int axis, ReduceOptions o) const {
  return detail::reduce(*this, Reduce::kArgMax, Axes(axis), o, 0, "argmax");
}

}  // namespace tessera

namespace tessera {

Array group_reduce(const Array& a, int axis, std::vector<std::int64_t> labels, std::int64_t groups,
                   const std::string& op, ReduceOptions o) {
  using detail::Reduce;
  static const std::pair<const char*, Reduce> kOps[] = {
      {"sum", Reduce::kSum},       {"mean", Reduce::kMean},     {"min", Reduce::kMin},
      {"max", Reduce::kMax},       {"count", Reduce::kCount},   {"var", Reduce::kVar},
      {"std", Reduce::kStd},       {"nansum", Reduce::kNanSum}, {"nanmean", Reduce::kNanMean},
      {"nanmin", Reduce::kNanMin}, {"nanmax", Reduce::kNanMax}, {"nanvar", Reduce::kNanVar},
      {"nanstd", Reduce::kNanStd}};
  std::optional<Reduce> r;
  std::string names;
  for (const auto& [name, value] : kOps) {
    if (op == name) r = value;
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  if (!r)
    throw_error(ErrorCode::kInvalidArgument, "group_reduce: unknown operation \"", op, "\"; expected one of ",
                names);
  if (!a.node())
    throw_error(ErrorCode::kInvalidArgument, "group_reduce: this Array is empty (never assigned)");
  const int nd = a.ndim();
  if (axis < -nd || axis >= nd) {
    throw_error(ErrorCode::kInvalidArgument, "group_reduce: axis ", axis,
                " is out of range for an array with ", nd, " dimensions");
  }
  if (axis < 0) axis += nd;
  const std::int64_t len = a.shape()[static_cast<std::size_t>(axis)];
  if (static_cast<std::int64_t>(labels.size()) != len) {
    throw_error(ErrorCode::kInvalidArgument, "group_reduce: ", labels.size(), " labels for axis ", axis,
                " of length ", len);
  }
  if (groups < 1)
    throw_error(ErrorCode::kInvalidArgument, "group_reduce: groups is ", groups, "; it must be >= 1");
  if (o.split_every < 0 || o.split_every == 1) {
    throw_error(ErrorCode::kInvalidArgument, "group_reduce: split_every is ", o.split_every,
                "; it must be 0 (default) or >= 2");
  }
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < -1 || labels[i] >= groups) {
      throw_error(ErrorCode::kInvalidArgument, "group_reduce: label ", labels[i], " at position ", i,
                  " is not a group in [0, ", groups, ") (or -1 to leave the element out)");
    }
  }
  std::string key =
      str_cat("group_", op, " ", a.node()->name, " ", axis, " ", groups, " ", o.split_every, ":");
  for (std::int64_t l : labels) key += str_cat(l, ",");
  return Array(detail::shared_node(std::move(key), [&] {
    auto node = std::make_shared<detail::ReductionNode>();
    node->input = a.node();
    node->op = *r;
    node->reduced.assign(static_cast<std::size_t>(nd), false);
    node->split_every = o.split_every == 0 ? 8 : o.split_every;
    node->group_axis = axis;
    node->labels = std::move(labels);
    node->groups = groups;
    Shape shape = a.shape();
    shape[static_cast<std::size_t>(axis)] = groups;
    std::vector<std::vector<std::int64_t>> chunks;
    for (int d = 0; d < nd; ++d) {
      chunks.push_back(d == axis ? std::vector<std::int64_t>{groups} : a.chunks().chunks(d));
    }
    // Groups that follow the chunks (labels in order, each group within one chunk, the chunks' groups one
    // after another): every chunk reduces to its own groups, without partials of all `groups` slots.
    {
      const std::vector<std::int64_t>& along = a.chunks().chunks(axis);
      const auto& lab = node->labels;
      bool local = !lab.empty() && lab.front() == 0 && lab.back() == groups - 1;
      for (std::size_t i = 1; local && i < lab.size(); ++i)
        local = lab[i] == lab[i - 1] || lab[i] == lab[i - 1] + 1;
      std::vector<std::int64_t> out;
      std::int64_t start = 0;
      for (std::size_t k = 0; local && k < along.size(); ++k) {
        if (along[k] == 0) {
          local = false;
          break;
        }
        if (k > 0 && lab[static_cast<std::size_t>(start)] == lab[static_cast<std::size_t>(start - 1)])
          local = false;
        out.push_back(lab[static_cast<std::size_t>(start + along[k] - 1)] -
                      lab[static_cast<std::size_t>(start)] + 1);
        start += along[k];
      }
      if (local && along.size() > 1) {
        node->local_groups = true;
        chunks[static_cast<std::size_t>(axis)] = out;
      }
    }
    node->shape = shape;
    node->dtype = detail::result_dtype(*r, a.dtype());
    node->grid = ChunkGrid(shape, chunks);
    node->name = detail::next_name("group_" + op);
    return node;
  }));
}

}  // namespace tessera
