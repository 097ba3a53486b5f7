// Chunks and NumPy arrays: dtypes, zero-copy views of chunks, and chunks made from NumPy arrays.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tessera/arrays/chunk.h"
#include "tessera/arrays/dtype.h"

namespace tessera::python {

namespace py = pybind11;

py::dtype numpy_dtype(DType dtype);
// The dtype tessera computes a NumPy dtype in: the same one, or the narrowest wider one for NumPy dtypes
// tessera lacks (int8 -> int16, uint16 -> int32, uint32 -> int64, float16 -> float32), as io reads them.
// Throws Error(kInvalidArgument) naming the dtype for those it cannot hold (uint64, complex, strings, ...).
DType tessera_dtype(const py::dtype& dtype);
// A dtype given as NumPy accepts it ("float32", np.float32, np.dtype(...), float, int, bool).
DType tessera_dtype(py::handle dtype_like);

// A NumPy array over the chunk's elements, sharing them (no copy): the array keeps the chunk alive. Chunks
// are immutable values other tasks may read, so the view is read-only unless `writable`.
py::array chunk_view(std::shared_ptr<const Chunk> chunk, bool writable);
// The value a computed chunk becomes in Python: its view, or for a 0-d chunk a NumPy scalar, as Dask's
// compute() returns.
py::object chunk_result(std::shared_ptr<const Chunk> chunk, bool writable);

// A chunk holding a copy of a NumPy array (any strides), converted to `dtype`.
Chunk chunk_from_numpy(const py::array& array, DType dtype);

// Copies `piece` (row-major) into `full` with its first element at `start`.
void copy_into(const Chunk& piece, Chunk& full, std::span<const std::int64_t> start);

}  // namespace tessera::python
