// tessera._tessera._Array: the C++ arrays API, one thin function per operation; argument conventions
// (chunks, indexing, NumPy's calling styles) are the Python package's business.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "calls.h"
#include "numpy_chunk.h"
#include "py_object.h"
#include "tessera/arrays/array.h"

namespace tessera::python {
namespace {

using Grid = std::vector<std::vector<std::int64_t>>;

Scalar scalar_of(py::handle v) {
  if (PyBool_Check(v.ptr())) return Scalar(v.ptr() == Py_True);
  if (PyLong_Check(v.ptr())) {
    int overflow = 0;
    const long long i = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
    if (overflow != 0)
      throw Error(ErrorCode::kInvalidArgument,
                  "the integer " + py::str(v).cast<std::string>() + " does not fit int64");
    return Scalar(static_cast<std::int64_t>(i));
  }
  if (PyFloat_Check(v.ptr())) return Scalar(PyFloat_AS_DOUBLE(v.ptr()));
  throw Error(ErrorCode::kInvalidArgument,
              std::string("expected a tessera array or a number, got ") + Py_TYPE(v.ptr())->tp_name);
}

bool is_array(py::handle v) {
  return py::isinstance<Array>(v);
}

// A number as a 0-d array (for the operations that take arrays only), in the dtype NumPy gives a Python
// number of its kind.
Array scalar_array(py::handle v) {
  const Scalar s = scalar_of(v);
  const DType d = s.kind == ScalarKind::kBool  ? DType::kBool
                  : s.kind == ScalarKind::kInt ? DType::kInt64
                                               : DType::kFloat64;
  return full({}, {}, s, d);
}

Array as_array(py::handle v) {
  return is_array(v) ? v.cast<Array>() : scalar_array(v);
}

// x `op` y for arrays and scalars (at least one array); nullopt for combinations the C++ API lacks.
template <class X, class Y>
std::optional<Array> apply_binary(const std::string& op, const X& x, const Y& y) {
  constexpr bool both = std::is_same_v<X, Array> && std::is_same_v<Y, Array>;
  if (op == "add") return x + y;
  if (op == "sub") return x - y;
  if (op == "mul") return x * y;
  if (op == "truediv") return x / y;
  if constexpr (std::is_same_v<X, Array>) {
    if (op == "pow") return power(x, y);
    if (op == "eq") return x == y;
    if (op == "ne") return x != y;
    if (op == "lt") return x < y;
    if (op == "le") return x <= y;
    if (op == "gt") return x > y;
    if (op == "ge") return x >= y;
  } else {
    // A comparison with the scalar first is the mirrored comparison.
    if (op == "eq") return y == x;
    if (op == "ne") return y != x;
    if (op == "lt") return y > x;
    if (op == "le") return y >= x;
    if (op == "gt") return y < x;
    if (op == "ge") return y <= x;
  }
  if constexpr (both) {
    if (op == "and") return x && y;
    if (op == "or") return x || y;
    if (op == "xor") return logical_xor(x, y);
    if (op == "maximum") return maximum(x, y);
    if (op == "minimum") return minimum(x, y);
    throw Error(ErrorCode::kInvalidArgument, "unknown elementwise operation " + op);
  }
  return std::nullopt;
}

Array binary(const std::string& op, py::handle a, py::handle b) {
  const bool aa = is_array(a), ba = is_array(b);
  std::optional<Array> r;
  if (aa && ba) {
    r = apply_binary(op, a.cast<const Array&>(), b.cast<const Array&>());
  } else if (aa) {
    r = apply_binary(op, a.cast<const Array&>(), scalar_of(b));
  } else if (ba) {
    r = apply_binary(op, scalar_of(a), b.cast<const Array&>());
  } else {
    throw Error(ErrorCode::kInvalidArgument, "an elementwise operation needs at least one tessera array");
  }
  // The remaining combinations take arrays on both sides: the number becomes a 0-d array.
  return r ? *r : *apply_binary(op, as_array(a), as_array(b));
}

Array unary(const std::string& op, const Array& a) {
  if (op == "neg") return -a;
  if (op == "not") return !a;
  if (op == "abs") return abs(a);
  if (op == "sqrt") return sqrt(a);
  if (op == "exp") return exp(a);
  if (op == "log") return log(a);
  if (op == "sin") return sin(a);
  if (op == "cos") return cos(a);
  if (op == "floor") return floor(a);
  if (op == "isnan") return isnan(a);
  throw Error(ErrorCode::kInvalidArgument, "unknown unary operation " + op);
}

Axes axes_of(const std::optional<std::vector<int>>& axes) {
  return axes ? Axes(*axes) : Axes();
}

Array reduce(const Array& a, const std::string& op, const std::optional<std::vector<int>>& axes,
             bool keepdims, int split_every, int ddof) {
  const Axes ax = axes_of(axes);
  const ReduceOptions o{.keepdims = keepdims, .split_every = split_every};
  if (op == "sum") return a.sum(ax, o);
  if (op == "prod") return a.prod(ax, o);
  if (op == "mean") return a.mean(ax, o);
  if (op == "min") return a.min(ax, o);
  if (op == "max") return a.max(ax, o);
  if (op == "var") return a.var(ax, o, ddof);
  if (op == "std") return a.std(ax, o, ddof);
  if (op == "count") return a.count(ax, o);
  if (op == "any") return a.any(ax, o);
  if (op == "all") return a.all(ax, o);
  if (op == "nansum") return a.nansum(ax, o);
  if (op == "nanmean") return a.nanmean(ax, o);
  if (op == "nanmin") return a.nanmin(ax, o);
  if (op == "nanmax") return a.nanmax(ax, o);
  if (op == "nanvar") return a.nanvar(ax, o, ddof);
  if (op == "nanstd") return a.nanstd(ax, o, ddof);
  throw Error(ErrorCode::kInvalidArgument, "unknown reduction " + op);
}

py::tuple shape_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

Grid grid_of(const ChunkGrid& g) {
  Grid out;
  for (int a = 0; a < g.ndim(); ++a) out.push_back(g.chunks(a));
  return out;
}

// A NumPy array as the source of an array's chunks: each chunk task copies its block out of the NumPy
// array's memory (no copy of the whole array up front, no GIL in the tasks). The NumPy array is kept alive,
// and must not change while computations read it (as with Dask).
struct NumpySource {
  PyRef array;
  const std::byte* data = nullptr;
  std::vector<std::int64_t> strides;  // bytes
  std::size_t item = 0;
};

Chunk copy_block(const NumpySource& src, const ChunkGrid& g, std::span<const std::int64_t> index,
                 DType dtype) {
  Chunk out(dtype, g.chunk_shape(index));
  const int nd = out.ndim();
  if (out.size() == 0) return out;
  if (nd == 0) {
    std::memcpy(out.bytes(), src.data, src.item);
    return out;
  }
  const Shape& shape = out.shape();
  std::int64_t base = 0;
  for (int a = 0; a < nd; ++a) base += g.offset(a, index[static_cast<std::size_t>(a)]) * src.strides[a];
  const std::int64_t inner = shape[nd - 1];
  const std::int64_t inner_stride = src.strides[nd - 1];
  const bool contiguous = inner_stride == static_cast<std::int64_t>(src.item);
  std::vector<std::int64_t> at(static_cast<std::size_t>(nd - 1), 0);
  const Shape outer(shape.begin(), shape.end() - 1);
  std::byte* dst = out.bytes();
  do {
    std::int64_t offset = base;
    for (int a = 0; a + 1 < nd; ++a) offset += at[a] * src.strides[a];
    const std::byte* row = src.data + offset;
    if (contiguous) {
      std::memcpy(dst, row, static_cast<std::size_t>(inner) * src.item);
    } else {
      for (std::int64_t i = 0; i < inner; ++i)
        std::memcpy(dst + i * src.item, row + i * inner_stride, src.item);
    }
    dst += static_cast<std::size_t>(inner) * src.item;
  } while (next_index(at, outer));
  return out;
}

Array from_numpy(py::array array, const Grid& chunks, const std::string& name) {
  const DType dtype = tessera_dtype(array.dtype());
  // Widened dtypes and foreign byte orders are converted once, here; anything else is read in place.
  const bool native = array.dtype().is(numpy_dtype(dtype)) ||
                      py::bool_(array.dtype().attr("__eq__")(numpy_dtype(dtype))).cast<bool>();
  if (!native) array = py::array(array.attr("astype")(numpy_dtype(dtype)));
  auto src = std::make_shared<NumpySource>();
  src->data = static_cast<const std::byte*>(array.data());
  src->item = size_of(dtype);
  for (py::ssize_t a = 0; a < array.ndim(); ++a) src->strides.push_back(array.strides(a));
  src->array = PyRef::borrow(array.ptr());
  Shape shape(array.shape(), array.shape() + array.ndim());
  ChunkGrid grid(shape, chunks);
  return from_function(
      grid, dtype,
      [src, dtype](const ChunkGrid& g, std::span<const std::int64_t> index) {
        return copy_block(*src, g, index, dtype);
      },
      name);
}

// A Python function applied to NumPy blocks (map_blocks, map_overlap). Runs in a task with the GIL held.
struct BlockCall {
  PyRef function;
  PyRef kwargs;  // dict
  bool block_id = false;
  DType dtype = DType::kFloat64;

  Chunk operator()(std::span<const Chunk* const> inputs, std::span<const std::int64_t> index) const {
    GilHold gil;
    PythonTaskScope in_task;
    drain_released();
    try {
      py::tuple args(inputs.size());
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        // A copy: the function may keep its block beyond the task, when the input chunk is gone.
        const Chunk& c = *inputs[i];
        py::array block(numpy_dtype(c.dtype()), std::vector<py::ssize_t>(c.shape().begin(), c.shape().end()));
        if (c.nbytes() > 0) std::memcpy(block.mutable_data(), c.bytes(), c.nbytes());
        args[i] = std::move(block);
      }
      py::dict kw = kwargs ? py::reinterpret_borrow<py::dict>(kwargs.get()).attr("copy")() : py::dict();
      if (block_id) kw["block_id"] = shape_tuple(Shape(index.begin(), index.end()));
      PyObject* result = PyObject_Call(function.get(), args.ptr(), kw.ptr());
      if (result == nullptr) throw_python_error();
      py::object r = py::reinterpret_steal<py::object>(result);
      py::array a = py::module_::import("numpy").attr("asarray")(r);
      return chunk_from_numpy(a, dtype);
    } catch (py::error_already_set& e) {
      e.restore();
      throw_python_error();
    }
  }
};

BlockFunction block_call(py::object function, py::dict kwargs, bool block_id, DType dtype) {
  auto c = std::make_shared<BlockCall>();
  c->function = PyRef::borrow(function.ptr());
  if (py::len(kwargs) > 0) c->kwargs = PyRef::borrow(kwargs.ptr());
  c->block_id = block_id;
  c->dtype = dtype;
  return [c](std::span<const Chunk* const> inputs, std::span<const std::int64_t> index) {
    return (*c)(inputs, index);
  };
}

Boundary boundary_of(const std::string& b) {
  if (b == "none") return Boundary::kNone;
  if (b == "periodic") return Boundary::kPeriodic;
  if (b == "reflect") return Boundary::kReflect;
  if (b == "constant") return Boundary::kConstant;
  throw Error(ErrorCode::kInvalidArgument,
              "boundary \"" + b + "\" is not one of none, periodic, reflect or a constant number");
}

}  // namespace

void bind_arrays(py::module_& m) {
  py::class_<Array>(m, "_Array")
      .def_property_readonly("shape", [](const Array& a) { return shape_tuple(a.shape()); })
      .def_property_readonly("dtype", [](const Array& a) { return std::string(name_of(a.dtype())); })
      .def_property_readonly("chunks", [](const Array& a) { return grid_of(a.chunks()); })
      .def_property_readonly("ndim", &Array::ndim)
      .def_property_readonly("size", &Array::size)
      .def_property_readonly("nbytes", &Array::nbytes)
      .def("__repr__", &Array::repr)
      .def("reduce", &reduce, py::arg("op"), py::arg("axes"), py::arg("keepdims"), py::arg("split_every"),
           py::arg("ddof"))
      .def("arg",
           [](const Array& a, const std::string& op, int axis, bool keepdims) {
             const ReduceOptions o{.keepdims = keepdims};
             if (op == "argmin") return a.argmin(axis, o);
             if (op == "argmax") return a.argmax(axis, o);
             throw Error(ErrorCode::kInvalidArgument, "unknown reduction " + op);
           })
      .def("unary", [](const Array& a, const std::string& op) { return unary(op, a); })
      .def("select",
           [](const Array& a,
              const std::vector<std::tuple<bool, std::optional<std::int64_t>, std::optional<std::int64_t>,
                                           std::int64_t>>& items) {
             std::vector<Slice> sel;
             for (const auto& [is_index, start, stop, step] : items) {
               sel.push_back(is_index ? Slice::at(*start) : Slice::range(start, stop, step));
             }
             return a.select(sel);
           })
      .def("transpose", &Array::transpose)
      .def("astype", [](const Array& a, py::handle dtype) { return a.astype(tessera_dtype(dtype)); })
      .def("rechunk",
           [](const Array& a, const Grid& chunks) { return a.rechunk(ChunkGrid(a.shape(), chunks)); })
      .def("reshape", [](const Array& a, const Shape& s) { return reshape(a, s); })
      .def("squeeze", [](const Array& a, int axis) { return squeeze(a, axis); })
      .def("expand_dims", [](const Array& a, int axis) { return expand_dims(a, axis); })
      .def("moveaxis",
           [](const Array& a, std::vector<int> s, std::vector<int> d) { return moveaxis(a, s, d); })
      .def("take",
           [](const Array& a, std::vector<std::int64_t> indices, int axis) { return take(a, indices, axis); })
      .def("cumulative", [](const Array& a, const std::string& op,
                            int axis) { return op == "cumsum" ? cumsum(a, axis) : cumprod(a, axis); })
      .def("clip",
           [](const Array& a, py::handle lo, py::handle hi) { return clip(a, scalar_of(lo), scalar_of(hi)); })
      .def("rolling_mean",
           [](const Array& a, int axis, std::int64_t window) { return rolling_mean(a, axis, window); })
      .def("quantile",
           [](const Array& a, double q, int axis, bool keepdims, bool skipna) {
             return skipna ? nanquantile(a, q, axis, keepdims) : quantile(a, q, axis, keepdims);
           })
      .def("group_reduce",
           [](const Array& a, int axis, std::vector<std::int64_t> labels, std::int64_t groups,
              const std::string& op) { return group_reduce(a, axis, std::move(labels), groups, op); })
      .def("persist", [](const Array& a, PyRuntime& rt) {
        return rt.run_released([&](Runtime& r) { return persist(r, a); });
      });

  m.def("binary", &binary);
  m.def("where", [](const Array& c, py::handle a, py::handle b) {
    if (is_array(a) && is_array(b)) return where(c, a.cast<const Array&>(), b.cast<const Array&>());
    if (is_array(a)) return where(c, a.cast<const Array&>(), scalar_of(b));
    if (is_array(b)) return where(c, scalar_of(a), b.cast<const Array&>());
    return where(c, scalar_array(a), scalar_of(b));
  });
  m.def("concatenate", [](const std::vector<Array>& arrays, int axis) { return concatenate(arrays, axis); });
  m.def("stack", [](const std::vector<Array>& arrays, int axis) { return stack(arrays, axis); });
  m.def("matmul", [](const Array& a, const Array& b) { return matmul(a, b); });
  m.def("tensordot", [](const Array& a, const Array& b, std::vector<int> aa, std::vector<int> ba) {
    return tensordot(a, b, std::move(aa), std::move(ba));
  });
  m.def("weighted_mean", [](const Array& a, const Array& w, const std::optional<std::vector<int>>& axes) {
    return weighted_mean(a, w, axes_of(axes));
  });

  m.def("full", [](const Shape& shape, const Shape& chunks, py::handle value, py::handle dtype) {
    return full(shape, chunks, scalar_of(value), tessera_dtype(dtype));
  });
  m.def("arange", [](double start, double stop, double step, std::int64_t chunk, py::handle dtype) {
    const DType d = tessera_dtype(dtype);
    return arange(start, stop, step, chunk, d);
  });
  m.def("linspace", [](double start, double stop, std::int64_t num, std::int64_t chunk, bool endpoint) {
    return linspace(start, stop, num, chunk, endpoint);
  });
  m.def("random", [](const std::string& dist, const Shape& shape, const Shape& chunks, std::uint64_t seed,
                     py::handle dtype, double a, double b) {
    const DType d = tessera_dtype(dtype);
    if (dist == "uniform") return random_uniform(shape, chunks, seed, d, a, b);
    if (dist == "normal") return random_normal(shape, chunks, seed, d, a, b);
    throw Error(ErrorCode::kInvalidArgument, "unknown distribution " + dist);
  });
  m.def("from_numpy", &from_numpy, py::arg("array"), py::arg("chunks"), py::arg("name") = "array");
  m.def("map_blocks", [](py::object function, const std::vector<Array>& inputs, py::handle dtype,
                         const std::optional<Grid>& chunks, const std::string& name, bool block_id,
                         py::dict kwargs) {
    const DType d = tessera_dtype(dtype);
    std::optional<ChunkGrid> grid;
    if (chunks) {
      Shape shape;
      for (const auto& axis : *chunks) {
        std::int64_t n = 0;
        for (std::int64_t c : axis) n += c;
        shape.push_back(n);
      }
      grid = ChunkGrid(shape, *chunks);
    }
    return map_blocks(block_call(std::move(function), std::move(kwargs), block_id, d), inputs, d, grid, name);
  });
  m.def("map_overlap",
        [](py::object function, const Array& a, std::vector<std::int64_t> depth, const std::string& boundary,
           double constant, py::handle dtype, const std::string& name, bool block_id, py::dict kwargs) {
          const DType d = tessera_dtype(dtype);
          Overlap o{std::move(depth), boundary_of(boundary), constant};
          return map_overlap(block_call(std::move(function), std::move(kwargs), block_id, d), a, o, d, name);
        });
}

}  // namespace tessera::python
