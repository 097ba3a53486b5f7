// Data movement inside chunks: copying blocks, strided selections and transposes.
#pragma once

#include <cstdint>
#include <span>

#include "tessera/arrays/chunk.h"

namespace tessera::detail {

// Copies the block of `src` starting at `src_start` with extent `count` into `dst` starting at `dst_start`.
// Same dtype and ndim.
void copy_block(const Chunk& src, std::span<const std::int64_t> src_start, Chunk& dst,
                std::span<const std::int64_t> dst_start, std::span<const std::int64_t> count);

// out[i...] = src[start[a] + i[a] * step[a] ...] for every index of out's shape (same ndim as src).
void gather_strided(const Chunk& src, std::span<const std::int64_t> start, std::span<const std::int64_t> step,
                    Chunk& out);

// out = src with axes permuted: out axis a is src axis perm[a].
Chunk transpose_chunk(const Chunk& src, std::span<const int> perm);

// The same elements under another shape with as many elements (a copy).
Chunk reshape_chunk(const Chunk& src, const Shape& shape);

}  // namespace tessera::detail
