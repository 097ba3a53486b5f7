#include "numpy_chunk.h"

#include <cstring>
#include <vector>

#include "tessera/runtime/error.h"

namespace tessera::python {

py::dtype numpy_dtype(DType dtype) {
  return py::dtype(std::string(name_of(dtype)));
}

DType tessera_dtype(const py::dtype& dtype) {
  const char kind = dtype.kind();
  const auto size = dtype.itemsize();
  switch (kind) {
    case 'b':
      return DType::kBool;
    case 'u':
      if (size == 1) return DType::kUint8;
      if (size == 2) return DType::kInt32;
      if (size == 4) return DType::kInt64;
      break;
    case 'i':
      if (size <= 2) return DType::kInt16;
      if (size == 4) return DType::kInt32;
      if (size == 8) return DType::kInt64;
      break;
    case 'f':
      if (size <= 4) return DType::kFloat32;
      if (size == 8) return DType::kFloat64;
      break;
    default:
      break;
  }
  throw_error(ErrorCode::kInvalidArgument, "tessera arrays cannot hold NumPy dtype ",
              py::str(static_cast<const py::handle&>(dtype)).cast<std::string>(),
              "; they hold bool, uint8, int16, int32, int64, float32 and float64 (int8, uint16, uint32 and "
              "float16 are widened)");
}

DType tessera_dtype(py::handle dtype_like) {
  py::object d = py::module_::import("numpy").attr("dtype")(dtype_like);
  return tessera_dtype(d.cast<py::dtype>());
}

py::array chunk_view(std::shared_ptr<const Chunk> chunk, bool writable) {
  const Chunk& c = *chunk;
  std::vector<py::ssize_t> shape(c.shape().begin(), c.shape().end());
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = static_cast<py::ssize_t>(size_of(c.dtype()));
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  auto* owner = new std::shared_ptr<const Chunk>(std::move(chunk));
  py::capsule base(owner, [](void* p) { delete static_cast<std::shared_ptr<const Chunk>*>(p); });
  py::array out(numpy_dtype(c.dtype()), shape, strides, c.bytes(), base);
  if (!writable) py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return out;
}

py::object chunk_result(std::shared_ptr<const Chunk> chunk, bool writable) {
  const bool scalar = chunk->ndim() == 0;
  py::array view = chunk_view(std::move(chunk), writable);
  if (scalar) return view[py::tuple()];
  return view;
}

Chunk chunk_from_numpy(const py::array& array, DType dtype) {
  py::array c = py::module_::import("numpy").attr("ascontiguousarray")(array, numpy_dtype(dtype));
  Shape shape(c.shape(), c.shape() + c.ndim());
  Chunk out(dtype, std::move(shape));
  if (out.nbytes() > 0) std::memcpy(out.bytes(), c.data(), out.nbytes());
  return out;
}

void copy_into(const Chunk& piece, Chunk& full, std::span<const std::int64_t> start) {
  const Shape& ps = piece.shape();
  const Shape& fs = full.shape();
  const std::size_t item = size_of(piece.dtype());
  const int nd = piece.ndim();
  if (piece.size() == 0) return;
  if (nd == 0) {
    std::memcpy(full.bytes(), piece.bytes(), item);
    return;
  }
  // Rows of the innermost axis are contiguous in both; walk the outer axes with a counter.
  const Shape fstrides = strides_of(fs);
  const std::size_t row = static_cast<std::size_t>(ps[nd - 1]) * item;
  std::vector<std::int64_t> at(static_cast<std::size_t>(nd - 1), 0);
  const Shape outer(ps.begin(), ps.end() - 1);
  const std::byte* src = piece.bytes();
  do {
    std::int64_t offset = start[static_cast<std::size_t>(nd - 1)];
    for (int a = 0; a + 1 < nd; ++a) offset += (start[static_cast<std::size_t>(a)] + at[a]) * fstrides[a];
    std::memcpy(full.bytes() + static_cast<std::size_t>(offset) * item, src, row);
    src += row;
  } while (next_index(at, outer));
}

}  // namespace tessera::python
