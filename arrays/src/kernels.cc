#include "kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace tessera::detail {

void copy_block(const Chunk& src, std::span<const std::int64_t> src_start, Chunk& dst,
                std::span<const std::int64_t> dst_start, std::span<const std::int64_t> count) {
  const int n = src.ndim();
  const std::size_t item = size_of(src.dtype());
  if (n == 0) {
    std::memcpy(dst.bytes(), src.bytes(), item);
    return;
  }
  for (int a = 0; a < n; ++a) {
    if (count[static_cast<std::size_t>(a)] <= 0) return;
  }
  const Shape ss = strides_of(src.shape());
  const Shape ds = strides_of(dst.shape());
  const std::size_t run = static_cast<std::size_t>(count[static_cast<std::size_t>(n - 1)]) * item;
  std::vector<std::int64_t> i(static_cast<std::size_t>(n - 1), 0);
  const Shape outer(count.begin(), count.end() - 1);
  do {
    std::int64_t so = src_start[static_cast<std::size_t>(n - 1)],
                 doff = dst_start[static_cast<std::size_t>(n - 1)];
    for (int a = 0; a < n - 1; ++a) {
      const auto k = static_cast<std::size_t>(a);
      so += (src_start[k] + i[k]) * ss[k];
      doff += (dst_start[k] + i[k]) * ds[k];
    }
    std::memcpy(dst.bytes() + doff * static_cast<std::int64_t>(item),
                src.bytes() + so * static_cast<std::int64_t>(item), run);
  } while (n > 1 && next_index(i, outer));
}

void gather_strided(const Chunk& src, std::span<const std::int64_t> start, std::span<const std::int64_t> step,
                    Chunk& out) {
  const int n = src.ndim();
  if (out.size() == 0) return;
  if (n == 0) {
    std::memcpy(out.bytes(), src.bytes(), size_of(src.dtype()));
    return;
  }
  const Shape ss = strides_of(src.shape());
  visit_dtype(src.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = reinterpret_cast<const T*>(src.bytes());
    T* o = reinterpret_cast<T*>(out.bytes());
    const std::int64_t inner = out.shape().back();
    const std::int64_t inner_stride = step[static_cast<std::size_t>(n - 1)] * ss.back();
    std::vector<std::int64_t> i(static_cast<std::size_t>(n - 1), 0);
    const Shape outer(out.shape().begin(), out.shape().end() - 1);
    do {
      std::int64_t base = start[static_cast<std::size_t>(n - 1)] * ss.back();
      for (int a = 0; a < n - 1; ++a) {
        const auto k = static_cast<std::size_t>(a);
        base += (start[k] + i[k] * step[k]) * ss[k];
      }
      for (std::int64_t j = 0; j < inner; ++j) *o++ = in[base + j * inner_stride];
    } while (n > 1 && next_index(i, outer));
  });
}

Chunk transpose_chunk(const Chunk& src, std::span<const int> perm) {
  const int n = src.ndim();
  Shape shape(static_cast<std::size_t>(n));
  for (int a = 0; a < n; ++a)
    shape[static_cast<std::size_t>(a)] =
        src.shape()[static_cast<std::size_t>(perm[static_cast<std::size_t>(a)])];
  Chunk out(src.dtype(), shape);
  if (out.size() == 0) return out;
  if (n == 0) {
    std::memcpy(out.bytes(), src.bytes(), size_of(src.dtype()));
    return out;
  }
  if (n == 2 && perm[0] == 1) {
    // A plain matrix transpose: copy in tiles that fit in L1 so that neither side is walked column by column.
    constexpr std::int64_t kTile = 32;
    const std::int64_t rows = src.shape()[0], cols = src.shape()[1];
    visit_dtype(src.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = reinterpret_cast<const T*>(src.bytes());
      T* o = reinterpret_cast<T*>(out.bytes());
      for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
        const std::int64_t r1 = std::min(rows, r0 + kTile);
        for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
          const std::int64_t c1 = std::min(cols, c0 + kTile);
          for (std::int64_t c = c0; c < c1; ++c) {
            for (std::int64_t r = r0; r < r1; ++r) o[c * rows + r] = in[r * cols + c];
          }
        }
      }
    });
    return out;
  }
  const Shape ss = strides_of(src.shape());
  Shape step(static_cast<std::size_t>(n));  // src stride of each out axis
  for (int a = 0; a < n; ++a)
    step[static_cast<std::size_t>(a)] = ss[static_cast<std::size_t>(perm[static_cast<std::size_t>(a)])];
  visit_dtype(src.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = reinterpret_cast<const T*>(src.bytes());
    T* o = reinterpret_cast<T*>(out.bytes());
    const std::int64_t inner = shape.back();
    const std::int64_t inner_stride = step.back();
    std::vector<std::int64_t> i(static_cast<std::size_t>(n - 1), 0);
    const Shape outer(shape.begin(), shape.end() - 1);
    do {
      std::int64_t base = 0;
      for (int a = 0; a < n - 1; ++a)
        base += i[static_cast<std::size_t>(a)] * step[static_cast<std::size_t>(a)];
      for (std::int64_t j = 0; j < inner; ++j) *o++ = in[base + j * inner_stride];
    } while (n > 1 && next_index(i, outer));
  });
  return out;
}

Chunk reshape_chunk(const Chunk& src, const Shape& shape) {
  Chunk out(src.dtype(), shape);
  if (out.size() != src.size()) {
    throw_error(ErrorCode::kInvalidArgument, "cannot reshape a chunk of shape ", format_shape(src.shape()),
                " into ", format_shape(shape));
  }
  if (src.nbytes() > 0) std::memcpy(out.bytes(), src.bytes(), src.nbytes());
  return out;
}

}  // namespace tessera::detail
