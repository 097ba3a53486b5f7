"""tessera.Array: a lazy, chunked N-d array with dask.array's interface, computed by tessera's C++ arrays."""
import inspect
import numbers
import operator

import numpy as np

from . import _tessera
from ._chunks import normalize_chunks, regular_chunk_shape
from ._errors import InvalidArgumentError


def _normalize_axis(axis, ndim):
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        return [int(a) for a in axis]
    return [int(axis)]


def _scalar(x):
    """A Python number for a number-like x (NumPy scalars and 0-d arrays included), else None."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "biuf":
        return x.item()
    return None


class Array:
    """A lazy, chunked N-d array. Operations build a task graph; compute() (or np.asarray) runs it.

    Arrays opened from files (ts.open) or made from xarray (ts.from_xarray) also carry `dims`, `coords` and
    `attrs`; results of operations do not (as with NumPy arrays), but to_xarray()/ts.to_netcdf take them as
    arguments."""

    __slots__ = ("_a", "dims", "coords", "attrs", "name", "coord_attrs", "files", "notes", "__weakref__")
    __array_priority__ = 11  # NumPy defers to our operators

    def __init__(self, a, dims=None, coords=None, attrs=None, name=None):
        self._a = a
        self.dims = tuple(dims) if dims is not None else None
        self.coords = coords if coords is not None else {}
        self.attrs = attrs if attrs is not None else {}
        self.name = name
        self.coord_attrs = {}  # coordinate attributes (units, calendar) by dimension
        self.files = []  # ts.open: the files read, in record order
        self.notes = []  # ts.open of an archive: gaps between its files

    def _with(self, a):
        """A new array around `a` keeping this one's metadata (same shape)."""
        out = Array(a, self.dims, self.coords, self.attrs, self.name)
        out.coord_attrs = self.coord_attrs
        return out

    # ---- description
    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return np.dtype(self._a.dtype)

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def chunks(self):
        """Chunk lengths along every axis, as in Dask: ((50, 50), (30, 30, 40))."""
        return tuple(tuple(c) for c in self._a.chunks)

    @property
    def chunksize(self):
        return tuple(max(c) if c else 0 for c in self.chunks)

    @property
    def numblocks(self):
        return tuple(len(c) for c in self.chunks)

    @property
    def npartitions(self):
        n = 1
        for c in self.chunks:
            n *= len(c)
        return n

    def __repr__(self):
        text = repr(self._a)
        if self.dims:
            text = text[:-1] + f", dims={self.dims}>"
        return text

    def _repr_html_(self):
        rows = [("Bytes", _tessera.format_bytes(self.nbytes)), ("Shape", str(self.shape)),
                ("Chunk shape", str(self.chunksize)), ("Chunks", str(self.npartitions)),
                ("Type", f"{self.dtype} numpy.ndarray")]
        if self.dims:
            rows.insert(0, ("Dims", ", ".join(self.dims)))
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table><caption>tessera.Array</caption>{body}</table>"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tessera array")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ---- computing
    def compute(self, **kwargs):
        """The array's values as a NumPy array (a NumPy scalar for 0-d). Collective under MPI."""
        from ._runtime import compute
        return compute(self, **kwargs)[0]

    def persist(self, **kwargs):
        from ._runtime import persist
        return persist(self, **kwargs)[0]

    def __array__(self, dtype=None):
        x = np.asarray(self.compute())
        return x if dtype is None else x.astype(dtype, copy=False)

    def __bool__(self):
        return bool(self.compute())

    def __int__(self):
        return int(self.compute())

    def __float__(self):
        return float(self.compute())

    def __index__(self):
        return operator.index(self.compute())

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from ._numpy_api import array_ufunc
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from ._numpy_api import array_function
        return array_function(func, types, args, kwargs)

    # ---- elementwise
    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("sub", self, other)

    def __rsub__(self, other):
        return _binary("sub", other, self)

    def __mul__(self, other):
        return _binary("mul", self, other)

    def __rmul__(self, other):
        return _binary("mul", other, self)

    def __truediv__(self, other):
        return _binary("truediv", self, other)

    def __rtruediv__(self, other):
        return _binary("truediv", other, self)

    def __pow__(self, other):
        return _binary("pow", self, other)

    def __rpow__(self, other):
        return _binary("pow", other, self)

    def __floordiv__(self, other):
        return _ufunc(np.floor_divide, self, other)

    def __rfloordiv__(self, other):
        return _ufunc(np.floor_divide, other, self)

    def __mod__(self, other):
        return _ufunc(np.remainder, self, other)

    def __rmod__(self, other):
        return _ufunc(np.remainder, other, self)

    def __eq__(self, other):
        return _binary("eq", self, other)

    def __ne__(self, other):
        return _binary("ne", self, other)

    def __lt__(self, other):
        return _binary("lt", self, other)

    def __le__(self, other):
        return _binary("le", self, other)

    def __gt__(self, other):
        return _binary("gt", self, other)

    def __ge__(self, other):
        return _binary("ge", self, other)

    def __and__(self, other):
        return _logical_or_bitwise("and", np.bitwise_and, self, other)

    def __rand__(self, other):
        return _logical_or_bitwise("and", np.bitwise_and, other, self)

    def __or__(self, other):
        return _logical_or_bitwise("or", np.bitwise_or, self, other)

    def __ror__(self, other):
        return _logical_or_bitwise("or", np.bitwise_or, other, self)

    def __xor__(self, other):
        return _logical_or_bitwise("xor", np.bitwise_xor, self, other)

    def __rxor__(self, other):
        return _logical_or_bitwise("xor", np.bitwise_xor, other, self)

    def __invert__(self):
        if self.dtype == np.bool_:
            return Array(self._a.unary("not"))
        return _ufunc(np.invert, self)

    def __neg__(self):
        return Array(self._a.unary("neg"))

    def __pos__(self):
        return self

    def __abs__(self):
        return Array(self._a.unary("abs"))

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    __hash__ = object.__hash__

    # ---- reductions
    def _reduce(self, op, axis=None, dtype=None, keepdims=False, split_every=None, out=None, ddof=0):
        if out is not None:
            raise InvalidArgumentError(f"{op}: out= is not supported (tessera arrays are immutable)")
        x = self if dtype is None else self.astype(dtype)
        axes = _normalize_axis(axis, self.ndim)
        return Array(x._a.reduce(op, axes, bool(keepdims), int(split_every or 0), int(ddof)))

    def sum(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        return self._reduce("sum", axis, dtype, keepdims, split_every, out)

    def prod(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        return self._reduce("prod", axis, dtype, keepdims, split_every, out)

    def mean(self, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
        return self._reduce("mean", axis, dtype, keepdims, split_every, out)

    def min(self, axis=None, keepdims=False, split_every=None, out=None):
        return self._reduce("min", axis, None, keepdims, split_every, out)

    def max(self, axis=None, keepdims=False, split_every=None, out=None):
        return self._reduce("max", axis, None, keepdims, split_every, out)

    def var(self, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
        return self._reduce("var", axis, dtype, keepdims, split_every, out, ddof)

    def std(self, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
        return self._reduce("std", axis, dtype, keepdims, split_every, out, ddof)

    def any(self, axis=None, keepdims=False, split_every=None, out=None):
        return self._reduce("any", axis, None, keepdims, split_every, out)

    def all(self, axis=None, keepdims=False, split_every=None, out=None):
        return self._reduce("all", axis, None, keepdims, split_every, out)

    def argmin(self, axis=None, keepdims=False, split_every=None, out=None):
        return _arg("argmin", self, axis, keepdims, out)

    def argmax(self, axis=None, keepdims=False, split_every=None, out=None):
        return _arg("argmax", self, axis, keepdims, out)

    def cumsum(self, axis=None, dtype=None, out=None):
        return cumsum(self, axis, dtype, out)

    def cumprod(self, axis=None, dtype=None, out=None):
        return cumprod(self, axis, dtype, out)

    # ---- shape
    @property
    def T(self):
        return self.transpose()

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        if len(axes) == 1 and axes[0] is None:
            axes = ()
        return Array(self._a.transpose([int(a) for a in axes]))

    def swapaxes(self, axis1, axis2):
        return swapaxes(self, axis1, axis2)

    def reshape(self, *shape, merge_chunks=True, limit=None):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return reshape(self, shape)

    def ravel(self):
        return reshape(self, (-1,))

    flatten = ravel

    def squeeze(self, axis=None):
        return squeeze(self, axis)

    def astype(self, dtype, casting="unsafe", copy=True):
        if np.dtype(dtype) == self.dtype:
            return self
        return Array(self._a.astype(np.dtype(dtype)))

    def rechunk(self, chunks="auto", threshold=None, block_size_limit=None, balance=False):
        """New chunking (dask's chunk specifications: 100, (100, -1), {0: 10}, "auto", explicit lengths)."""
        grid = normalize_chunks(chunks, self.shape, self.itemsize, previous=self.chunks)
        if grid == self.chunks:
            return self
        return self._with(self._a.rechunk([list(c) for c in grid]))

    def clip(self, min=None, max=None):
        return clip(self, min, max)

    def round(self, decimals=0):
        return _ufunc_with(np.round, [self], {"decimals": decimals})

    def dot(self, other):
        return dot(self, other)

    def map_blocks(self, func, *args, **kwargs):
        return map_blocks(func, self, *args, **kwargs)

    def map_overlap(self, func, depth, boundary=None, trim=True, **kwargs):
        return map_overlap(func, self, depth=depth, boundary=boundary, trim=trim, **kwargs)

    def to_xarray(self, dims=None, coords=None, attrs=None, name=None, decode_times=True):
        from ._io import to_xarray
        return to_xarray(self, dims=dims, coords=coords, attrs=attrs, name=name, decode_times=decode_times)

    # ---- indexing
    def __getitem__(self, index):
        return _getitem(self, index)

    def __setitem__(self, key, value):
        raise TypeError("tessera arrays are immutable: use ts.where(condition, value, x) to replace elements")


# ---------------------------------------------------------------------------------------------------------
# Conversions


def _as_operand(x):
    """An Array, or a Python number; None when x is neither (then the operator returns NotImplemented)."""
    if isinstance(x, Array):
        return x
    s = _scalar(x)
    if s is not None:
        return s
    if isinstance(x, (np.ndarray, list, tuple)):
        a = np.asarray(x)
        if a.dtype.kind in "biuf":
            return from_numpy(a, chunks=-1)
    return None


def asarray(x, chunks=None, dtype=None):
    """x as a tessera Array: Arrays as they are, NumPy arrays and sequences via from_numpy, numbers as 0-d."""
    if isinstance(x, Array):
        return x if dtype is None else x.astype(dtype)
    try:
        import xarray
        if isinstance(x, xarray.DataArray):
            from ._io import from_xarray
            return from_xarray(x, chunks=chunks)
    except ImportError:
        pass
    a = np.asarray(x, dtype=dtype)
    return from_numpy(a, chunks=chunks if chunks is not None else -1)


def _binary(op, a, b):
    x, y = _as_operand(a), _as_operand(b)
    if x is None or y is None:
        return NotImplemented
    return Array(_tessera.binary(op, x._a if isinstance(x, Array) else x, y._a if isinstance(y, Array) else y))


def _logical_or_bitwise(op, ufunc, a, b):
    x, y = _as_operand(a), _as_operand(b)
    if x is None or y is None:
        return NotImplemented
    kinds = {np.dtype(v.dtype).kind if isinstance(v, Array) else ("b" if isinstance(v, bool) else "i")
             for v in (x, y)}
    if kinds == {"b"}:
        return _binary(op, x, y)
    return _ufunc(ufunc, x, y)


def _arg(op, x, axis, keepdims, out):
    if out is not None:
        raise InvalidArgumentError(f"{op}: out= is not supported")
    if axis is None:
        flat = reshape(x, (-1,))
        r = Array(flat._a.arg(op, 0, False))
        return reshape(r, (1,) * x.ndim) if keepdims else r
    return Array(x._a.arg(op, int(axis), bool(keepdims)))


# ---------------------------------------------------------------------------------------------------------
# Creation


def _creation_chunks(shape, chunks, dtype):
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    grid = normalize_chunks(chunks, shape, np.dtype(dtype).itemsize)
    return shape, grid


def _regular_or_rechunk(make, shape, grid):
    """Makes the array with a regular chunk shape, then rechunks when the grid is irregular."""
    regular = regular_chunk_shape(grid)
    if regular is not None:
        return Array(make(list(shape), [max(c, 1) if c else -1 for c in regular]))
    a = Array(make(list(shape), [-1] * len(shape)))
    return a.rechunk(grid)


def full(shape, fill_value, dtype=None, chunks="auto"):
    if dtype is None:
        dtype = np.array(fill_value).dtype
    dtype = np.dtype(dtype)
    value = _scalar(fill_value)
    if value is None:
        raise InvalidArgumentError(f"full: fill_value {fill_value!r} is not a number")
    shape, grid = _creation_chunks(shape, chunks, dtype)
    return _regular_or_rechunk(lambda s, c: _tessera.full(s, c, value, dtype), shape, grid)


def zeros(shape, dtype=float, chunks="auto"):
    return full(shape, 0, dtype, chunks)


def ones(shape, dtype=float, chunks="auto"):
    return full(shape, 1, dtype, chunks)


def empty(shape, dtype=float, chunks="auto"):
    return full(shape, 0, dtype, chunks)


def _like(x, dtype, chunks):
    shape = x.shape
    if chunks is None:
        chunks = x.chunks if isinstance(x, Array) else "auto"
    return shape, (np.dtype(dtype) if dtype is not None else np.dtype(x.dtype)), chunks


def zeros_like(x, dtype=None, chunks=None, shape=None):
    s, d, c = _like(x, dtype, chunks)
    return full(shape or s, 0, d, c)


def ones_like(x, dtype=None, chunks=None, shape=None):
    s, d, c = _like(x, dtype, chunks)
    return full(shape or s, 1, d, c)


def empty_like(x, dtype=None, chunks=None, shape=None):
    return zeros_like(x, dtype, chunks, shape)


def full_like(x, fill_value, dtype=None, chunks=None, shape=None):
    s, d, c = _like(x, dtype, chunks)
    return full(shape or s, fill_value, d, c)


def arange(start, stop=None, step=1, chunks="auto", dtype=None):
    """Like numpy.arange (and da.arange): arange(stop) or arange(start, stop, step)."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = np.arange(start, start + step, step).dtype if step != 0 else np.dtype(float)
    dtype = np.dtype(dtype)
    if step == 0:
        raise InvalidArgumentError("arange: step cannot be zero")
    n = max(0, int(np.ceil((stop - start) / step)))
    (grid,) = normalize_chunks(chunks, (n,), dtype.itemsize)
    return Array(_tessera.arange(float(start), float(stop), float(step), max(grid[0], 1), dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, chunks="auto", dtype=None):
    num = int(num)
    (grid,) = normalize_chunks(chunks, (num,), 8)
    x = Array(_tessera.linspace(float(start), float(stop), num, max(grid[0], 1), bool(endpoint)))
    if dtype is not None:
        x = x.astype(dtype)
    if retstep:
        div = num - 1 if endpoint else num
        return x, (stop - start) / div if div > 0 else float("nan")
    return x


def from_numpy(x, chunks="auto", name=None):
    """A NumPy array (or anything np.asarray accepts) as a tessera Array. Nothing is copied up front: each
    chunk's task copies its block when it runs, so the NumPy array must not change while it is used (as with
    da.from_array). Under MPI every rank must pass the same values."""
    a = np.asarray(x)
    grid = normalize_chunks(chunks, a.shape, max(a.dtype.itemsize, 1))
    return Array(_tessera.from_numpy(a, [list(c) for c in grid], name or "array"))


from_array = from_numpy


def broadcast_to(x, shape, chunks=None):
    x = asarray(x)
    shape = tuple(int(s) for s in shape)
    if x.shape == shape:
        return x
    if len(shape) < x.ndim:
        raise InvalidArgumentError(f"cannot broadcast shape {x.shape} to {shape}")
    lead = len(shape) - x.ndim
    grid = []
    for a, n in enumerate(shape):
        if a >= lead and x.shape[a - lead] == n:
            grid.append(x.chunks[a - lead])
        else:
            grid.append((n,) if n else (0,))
    if chunks is not None:
        grid = normalize_chunks(chunks, shape, x.itemsize)
    mask = _regular_or_rechunk(lambda s, c: _tessera.full(s, c, True, np.dtype(bool)), shape, grid)
    return Array(_tessera.where(mask._a, x._a, x._a))


def broadcast_arrays(*args):
    arrays = [asarray(a) for a in args]
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    return [broadcast_to(a, shape) for a in arrays]


# ---------------------------------------------------------------------------------------------------------
# Elementwise functions: tessera's own kernels where it has them, else the NumPy ufunc applied block by block.

_UNARY = {np.negative: "neg", np.logical_not: "not", np.absolute: "abs", np.sqrt: "sqrt", np.exp: "exp",
          np.log: "log", np.sin: "sin", np.cos: "cos", np.floor: "floor", np.isnan: "isnan"}
_BINARY = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "truediv", np.power: "pow",
           np.equal: "eq", np.not_equal: "ne", np.less: "lt", np.less_equal: "le", np.greater: "gt",
           np.greater_equal: "ge", np.logical_and: "and", np.logical_or: "or", np.logical_xor: "xor",
           np.maximum: "maximum", np.minimum: "minimum"}


def _ufunc(ufunc, *args, **kwargs):
    """ufunc(*args) lazily: tessera's kernel when it has one, else the ufunc on every block."""
    if not kwargs:
        if len(args) == 1 and ufunc in _UNARY and isinstance(args[0], Array):
            if ufunc is np.floor and args[0].dtype.kind in "biu":
                return args[0].astype(float) if args[0].dtype.kind != "b" else _ufunc_with(ufunc, args, {})
            if ufunc is np.logical_not and args[0].dtype != np.bool_:
                return Array(args[0].astype(bool)._a.unary("not"))
            return Array(args[0]._a.unary(_UNARY[ufunc]))
        if len(args) == 2 and ufunc in _BINARY:
            op = _BINARY[ufunc]
            if op in ("and", "or", "xor"):
                x, y = (a if not isinstance(a, Array) or a.dtype == np.bool_ else a != 0 for a in args)
                return _binary(op, x, y)
            r = _binary(op, *args)
            if r is not NotImplemented:
                return r
    return _ufunc_with(ufunc, args, kwargs)


def _ufunc_with(ufunc, args, kwargs):
    """ufunc(*args, **kwargs) applied block by block (a Python task per chunk, with NumPy's result dtype)."""
    operands = [a if isinstance(a, Array) else _as_operand(a) for a in args]
    if any(o is None for o in operands):
        raise InvalidArgumentError(f"{getattr(ufunc, '__name__', ufunc)}: unsupported operand types "
                                   f"{[type(a).__name__ for a in args]}")
    arrays = [o for o in operands if isinstance(o, Array)]
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    arrays = [broadcast_to(a, shape) for a in arrays]
    base = max(arrays, key=lambda a: a.npartitions)
    arrays = [a.rechunk(base.chunks) for a in arrays]
    samples = [np.ones((1,) * len(shape), dtype=o.dtype) if isinstance(o, Array) else o for o in operands]
    with np.errstate(all="ignore"):
        dtype = np.asarray(ufunc(*samples, **kwargs)).dtype
    positions = [i for i, o in enumerate(operands) if isinstance(o, Array)]
    constants = list(operands)

    def apply(*blocks):
        values = list(constants)
        for i, b in zip(positions, blocks):
            values[i] = b
        return ufunc(*values, **kwargs)

    name = getattr(ufunc, "__name__", "ufunc")
    return Array(_tessera.map_blocks(apply, [a._a for a in arrays], dtype, None, name, False, {}))


def where(condition, x=None, y=None):
    if x is None and y is None:
        raise InvalidArgumentError("where(condition) without x and y (nonzero) is not supported: its shape "
                                   "depends on the data")
    c = asarray(condition)
    if c.dtype != np.bool_:
        c = c != 0
    xo, yo = _as_operand(x), _as_operand(y)
    return Array(_tessera.where(c._a, xo._a if isinstance(xo, Array) else xo,
                                yo._a if isinstance(yo, Array) else yo))


def clip(a, a_min=None, a_max=None):
    a = asarray(a)
    lo, hi = _scalar(a_min) if a_min is not None else None, _scalar(a_max) if a_max is not None else None
    if (a_min is None or lo is not None) and (a_max is None or hi is not None):
        if lo is not None and hi is not None:
            return Array(a._a.clip(lo, hi))
        out = a
        if lo is not None:
            out = _ufunc(np.maximum, out, lo)
        if hi is not None:
            out = _ufunc(np.minimum, out, hi)
        return out
    out = a
    if a_min is not None:
        out = _ufunc(np.maximum, out, asarray(a_min))
    if a_max is not None:
        out = _ufunc(np.minimum, out, asarray(a_max))
    return out


# ---------------------------------------------------------------------------------------------------------
# Reductions and scans as functions


def _reduction(op):
    def f(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None, **kwargs):
        a = asarray(a)
        if op in ("min", "max", "any", "all", "nanmin", "nanmax", "count"):
            if dtype is not None:
                a = a.astype(dtype)
            return a._reduce(op, axis, None, keepdims, split_every, out)
        return a._reduce(op, axis, dtype, keepdims, split_every, out, kwargs.get("ddof", 0))
    f.__name__ = op
    f.__doc__ = f"numpy.{op} over `axis` (None: every axis), lazily."
    return f


# numpy.sum, .mean, ... as functions; the package exports them under their NumPy names (which would shadow
# Python's own sum, min, max, any and all here).
REDUCTIONS = {op: _reduction(op) for op in ("sum", "prod", "mean", "min", "max", "var", "std", "any", "all",
                                            "nansum", "nanmean", "nanmin", "nanmax", "nanvar", "nanstd",
                                            "count")}
REDUCTIONS["count"].__doc__ = "The number of elements that are not NaN over `axis` (int64), lazily."
REDUCTIONS["amin"], REDUCTIONS["amax"] = REDUCTIONS["min"], REDUCTIONS["max"]


def argmin(a, axis=None, keepdims=False, split_every=None, out=None):
    return _arg("argmin", asarray(a), axis, keepdims, out)


def argmax(a, axis=None, keepdims=False, split_every=None, out=None):
    return _arg("argmax", asarray(a), axis, keepdims, out)


def count_nonzero(a, axis=None, keepdims=False):
    return (asarray(a) != 0).astype(np.int64).sum(axis=axis, keepdims=keepdims)


def _scan(op, a, axis, dtype, out):
    if out is not None:
        raise InvalidArgumentError(f"{op}: out= is not supported")
    a = asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    if dtype is not None:
        a = a.astype(dtype)
    return Array(a._a.cumulative(op, int(axis)))


def cumsum(a, axis=None, dtype=None, out=None):
    return _scan("cumsum", a, axis, dtype, out)


def cumprod(a, axis=None, dtype=None, out=None):
    return _scan("cumprod", a, axis, dtype, out)


def _quantile(a, q, axis, keepdims, skipna):
    a = asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
        keep_shape = (1,) * len(a.shape) if keepdims else None
    else:
        keep_shape = None
    if isinstance(axis, (tuple, list)):
        raise InvalidArgumentError("quantile/median over several axes: move them into one first (reshape)")
    qs = np.asarray(q, dtype=float)
    parts = [Array(a._a.quantile(float(v), int(axis), bool(keepdims), bool(skipna))) for v in qs.ravel()]
    r = parts[0] if qs.ndim == 0 else stack(parts, axis=0)
    return reshape(r, keep_shape) if keep_shape else r


def quantile(a, q, axis=None, keepdims=False, method="linear"):
    if method != "linear":
        raise InvalidArgumentError(f"quantile: method {method!r}; tessera computes NumPy's default, 'linear'")
    return _quantile(a, q, axis, keepdims, False)


def nanquantile(a, q, axis=None, keepdims=False, method="linear"):
    if method != "linear":
        raise InvalidArgumentError(f"nanquantile: method {method!r}; tessera computes 'linear'")
    return _quantile(a, q, axis, keepdims, True)


def percentile(a, q, axis=None, keepdims=False, method="linear"):
    return quantile(a, np.asarray(q, dtype=float) / 100, axis, keepdims, method)


def median(a, axis=None, keepdims=False):
    return _quantile(a, 0.5, axis, keepdims, False)


def nanmedian(a, axis=None, keepdims=False):
    return _quantile(a, 0.5, axis, keepdims, True)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    a = asarray(a)
    if weights is None:
        r = a.mean(axis=axis, keepdims=keepdims)
        return (r, full(r.shape, a.size // max(r.size, 1), float)) if returned else r
    w = asarray(weights)
    if w.ndim == 1 and a.ndim > 1 and axis is not None and not isinstance(axis, (tuple, list)):
        shape = [1] * a.ndim
        shape[int(axis)] = -1
        w = reshape(w, tuple(shape))
    wb = broadcast_to(w, a.shape)
    num = (a * wb).sum(axis=axis, keepdims=keepdims)
    den = wb.sum(axis=axis, keepdims=keepdims)
    r = num / den
    return (r, den) if returned else r


def weighted_mean(a, weights, axis=None):
    """sum(a * w) / sum(w) over `axis`, NaNs in `a` skipped together with their weights (tessera's kernel)."""
    a, w = asarray(a), asarray(weights)
    return Array(_tessera.weighted_mean(a._a, w._a, _normalize_axis(axis, a.ndim)))


def rolling_mean(a, window, axis=0):
    """Trailing moving mean over `window` elements along `axis` (like xarray's rolling(...).mean())."""
    return Array(asarray(a)._a.rolling_mean(int(axis), int(window)))


def group_reduce(a, labels, groups, op="mean", axis=0):
    """`op` within groups along `axis`: element i belongs to group labels[i] (-1 leaves it out)."""
    labels = [int(v) for v in np.asarray(labels).ravel()]
    return Array(asarray(a)._a.group_reduce(int(axis), labels, int(groups), op))


# ---------------------------------------------------------------------------------------------------------
# Shape operations


def transpose(a, axes=None):
    a = asarray(a)
    return a.transpose(() if axes is None else tuple(axes))


def moveaxis(a, source, destination):
    a = asarray(a)
    s = [source] if isinstance(source, numbers.Integral) else list(source)
    d = [destination] if isinstance(destination, numbers.Integral) else list(destination)
    return Array(a._a.moveaxis([int(v) for v in s], [int(v) for v in d]))


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return a.transpose(axes)


def reshape(a, shape, merge_chunks=True, limit=None):
    a = asarray(a)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    if shape == a.shape:
        return a
    return Array(a._a.reshape(list(shape)))


def ravel(a):
    return reshape(a, (-1,))


def squeeze(a, axis=None):
    a = asarray(a)
    if axis is None:
        axes = [i for i, n in enumerate(a.shape) if n == 1]
    else:
        axes = [int(axis)] if isinstance(axis, numbers.Integral) else [int(v) for v in axis]
        axes = [v % a.ndim if a.ndim else v for v in axes]
    out = a._a
    for ax in sorted(axes, reverse=True):
        out = out.squeeze(ax)
    return Array(out)


def expand_dims(a, axis):
    a = asarray(a)
    axes = [axis] if isinstance(axis, numbers.Integral) else list(axis)
    nd = a.ndim + len(axes)
    axes = sorted(v % nd for v in axes)
    out = a._a
    for ax in axes:
        out = out.expand_dims(ax)
    return Array(out)


def _aligned(arrays, axis):
    """The arrays rechunked like the first along every axis but `axis` (tessera joins only alike chunks)."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise InvalidArgumentError("need at least one array")
    first = arrays[0]
    out = [first]
    for a in arrays[1:]:
        if a.ndim != first.ndim:
            out.append(a)
            continue
        spec = {i: first.chunks[i] for i in range(a.ndim) if i != axis % max(a.ndim, 1)
                and a.shape[i] == first.shape[i]}
        out.append(a.rechunk(spec) if spec else a)
    return out


def concatenate(seq, axis=0, allow_unknown_chunksizes=False):
    arrays = _aligned(seq, axis)
    dtype = np.result_type(*[a.dtype for a in arrays])
    arrays = [a.astype(dtype) for a in arrays]
    return Array(_tessera.concatenate([a._a for a in arrays], int(axis)))


def stack(seq, axis=0, allow_unknown_chunksizes=False):
    arrays = [asarray(a) for a in seq]
    if arrays:
        first = arrays[0]
        arrays = [first] + [a.rechunk(first.chunks) if a.shape == first.shape else a for a in arrays[1:]]
    dtype = np.result_type(*[a.dtype for a in arrays])
    arrays = [a.astype(dtype) for a in arrays]
    return Array(_tessera.stack([a._a for a in arrays], int(axis)))


def vstack(seq):
    arrays = [asarray(a) for a in seq]
    return concatenate([reshape(a, (1, -1)) if a.ndim == 1 else a for a in arrays], axis=0)


def hstack(seq):
    arrays = [asarray(a) for a in seq]
    return concatenate(arrays, axis=0 if arrays and arrays[0].ndim == 1 else 1)


def take(a, indices, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    idx = np.asarray(indices)
    if idx.ndim == 0:
        return a[(slice(None),) * (int(axis) % a.ndim) + (int(idx),)]
    out = Array(a._a.take([int(i) for i in idx.ravel()], int(axis)))
    if idx.ndim > 1:
        ax = int(axis) % a.ndim
        out = reshape(out, a.shape[:ax] + idx.shape + a.shape[ax + 1:])
    return out


def _float_operands(a, b, what):
    a, b = asarray(a), asarray(b)
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.kind != "f":
        raise InvalidArgumentError(f"{what} of {a.dtype} and {b.dtype} arrays: tessera multiplies float arrays "
                                   "(use .astype(float) first)")
    return a.astype(dtype), b.astype(dtype)


def matmul(a, b):
    a, b = _float_operands(a, b, "matmul")
    if a.ndim == 2 and b.ndim == 2:
        return Array(_tessera.matmul(a._a, b._a))
    if a.ndim in (1, 2) and b.ndim in (1, 2):
        return tensordot(a, b, axes=([a.ndim - 1], [0]))
    raise InvalidArgumentError(f"matmul of shapes {a.shape} and {b.shape}: tessera multiplies 1-d and 2-d "
                               "arrays (stacks of matrices: use tensordot)")


def dot(a, b):
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim == 1:
        return tensordot(a, b, axes=([a.ndim - 1], [0]))
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2]))


def tensordot(a, b, axes=2):
    a, b = _float_operands(a, b, "tensordot")
    if isinstance(axes, numbers.Integral):
        a_axes = list(range(a.ndim - axes, a.ndim))
        b_axes = list(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = [a_axes] if isinstance(a_axes, numbers.Integral) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, numbers.Integral) else list(b_axes)
    return Array(_tessera.tensordot(a._a, b._a, [int(v) for v in a_axes], [int(v) for v in b_axes]))


# ---------------------------------------------------------------------------------------------------------
# Blocks


def _takes_block_id(func):
    try:
        return "block_id" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _infer_dtype(func, arrays, extra, kwargs, block_id):
    samples = [np.ones((1,) * a.ndim, dtype=a.dtype) for a in arrays]
    try:
        with np.errstate(all="ignore"):
            kw = dict(kwargs)
            if block_id:
                kw["block_id"] = (0,) * (arrays[0].ndim if arrays else 0)
            return np.asarray(extra(func, samples, kw)).dtype
    except Exception:
        return arrays[0].dtype if arrays else np.dtype(float)


def map_blocks(func, *args, dtype=None, chunks=None, drop_axis=None, new_axis=None, name=None, meta=None,
               **kwargs):
    """func applied to every block (NumPy arrays), like da.map_blocks. Array arguments are chunked alike (the
    others are rechunked like the first); other arguments are passed to every call. func may take a
    `block_id` keyword (the block's index). dtype: of the result (default: what func returns on a small
    sample). chunks: the result's chunks when they differ from the input's. drop_axis / new_axis: axes the
    function removes / adds (a dropped axis is first gathered into one chunk)."""
    positions = [i for i, a in enumerate(args) if isinstance(a, Array)]
    if not positions:
        raise InvalidArgumentError("map_blocks needs at least one tessera array argument")
    arrays = [args[i] for i in positions]
    first = arrays[0]
    drop = sorted(v % first.ndim for v in ([drop_axis] if isinstance(drop_axis, numbers.Integral)
                                           else (drop_axis or [])))
    if drop and new_axis is not None:
        raise InvalidArgumentError("map_blocks: drop_axis and new_axis together are not supported; map twice")
    if drop:
        first = first.rechunk({a: -1 for a in drop})
    arrays = [first] + [a.rechunk(first.chunks) if a.shape == first.shape else a for a in arrays[1:]]
    for a in arrays[1:]:
        if a.shape != first.shape:
            raise InvalidArgumentError(f"map_blocks: array arguments of shapes {first.shape} and {a.shape}; "
                                       "they must have the same shape (broadcast_to first)")
    out_nd = first.ndim - len(drop) + len([new_axis] if isinstance(new_axis, numbers.Integral)
                                           else (new_axis or []))
    new = sorted(v % out_nd for v in ([new_axis] if isinstance(new_axis, numbers.Integral)
                                      else (new_axis or [])))
    constants = list(args)
    block_id = _takes_block_id(func)

    def call(f, blocks, kw):
        values = list(constants)
        for i, b in zip(positions, blocks):
            values[i] = b
        return f(*values, **kw)

    if dtype is None:
        dtype = meta.dtype if meta is not None else _infer_dtype(func, arrays, call, kwargs, block_id)
    dtype = np.dtype(dtype)
    # tessera's map_blocks keeps one output chunk per input chunk and the same number of axes; dropped axes
    # stay as length-1 axes until the end and new axes enter as length-1 axes of the input.
    x = first
    for ax in new:
        x = expand_dims(x, ax)
    arrays = [x] + [expand_dims(a, new) if new else a for a in arrays[1:]]
    kept = [ax for ax in range(x.ndim) if ax not in drop]  # x's axes that the output has
    if chunks is not None:
        if all(isinstance(c, (tuple, list)) for c in chunks):
            out = [tuple(int(v) for v in c) for c in chunks]
        else:  # a chunk shape: every block of the output has it
            out = [(int(chunks[k]),) * len(x.chunks[ax]) if k < len(chunks) else x.chunks[ax]
                   for k, ax in enumerate(kept)]
        if len(out) != len(kept):
            raise InvalidArgumentError(f"map_blocks: chunks {chunks} name {len(out)} axes; the result has "
                                       f"{len(kept)}")
        rest = iter(out)
        grid = [[1] if ax in drop else list(next(rest)) for ax in range(x.ndim)]
    elif drop:
        grid = [[1] if ax in drop else list(x.chunks[ax]) for ax in range(x.ndim)]
    else:
        grid = None

    def block(*blocks, **kw):
        blocks = [np.squeeze(b, axis=tuple(new)) if new else b for b in blocks]
        if block_id and "block_id" in kw and new:
            kw["block_id"] = tuple(v for i, v in enumerate(kw["block_id"]) if i not in new)
        r = np.asarray(call(func, blocks, kw))
        if drop:
            r = np.expand_dims(r, tuple(drop))
        return r

    out = Array(_tessera.map_blocks(block, [a._a for a in arrays], dtype, grid, name or _name_of(func),
                                    block_id, kwargs))
    if drop:
        out = squeeze(out, drop)
    return out


def _name_of(func):
    return getattr(func, "__name__", None) or type(func).__name__


def map_overlap(func, *args, depth=None, boundary=None, trim=True, dtype=None, name=None, **kwargs):
    """func applied to every block extended by `depth` elements from its neighbours (and `boundary` at the
    array's edges: "none", "periodic", "reflect", or a number for a constant), then trimmed back, like
    da.map_overlap. One array argument; depth: an int, a tuple per axis or a dict {axis: depth}."""
    arrays = [a for a in args if isinstance(a, Array)]
    if len(arrays) != 1 or not isinstance(args[0], Array):
        raise InvalidArgumentError("map_overlap: tessera extends one array (the first argument)")
    x = arrays[0]
    if not trim:
        raise InvalidArgumentError("map_overlap: trim=False is not supported; the halo is always trimmed")
    if depth is None:
        depth = 0
    if isinstance(depth, dict):
        d = [int(depth.get(a, depth.get(a - x.ndim, 0))) for a in range(x.ndim)]
    elif isinstance(depth, numbers.Integral):
        d = [int(depth)] * x.ndim
    else:
        d = [int(v) for v in depth]
    if isinstance(boundary, dict):
        values = {boundary.get(a, "none") for a in range(x.ndim) if d[a] > 0}
        if len(values) > 1:
            raise InvalidArgumentError(f"map_overlap: one boundary for every axis, not {boundary}")
        boundary = values.pop() if values else "none"
    elif isinstance(boundary, (tuple, list)):
        values = {b for a, b in enumerate(boundary) if d[a] > 0}
        if len(values) > 1:
            raise InvalidArgumentError(f"map_overlap: one boundary for every axis, not {boundary}")
        boundary = values.pop() if values else "none"
    constant = 0.0
    if boundary is None:
        boundary = "none"
    elif _scalar(boundary) is not None:
        boundary, constant = "constant", float(boundary)
    extra = list(args[1:])
    block_id = _takes_block_id(func)

    def call(f, blocks, kw):
        return f(blocks[0], *extra, **kw)

    if dtype is None:
        dtype = _infer_dtype(func, [x], call, kwargs, block_id)

    def block(b, **kw):
        return call(func, [b], kw)

    return Array(_tessera.map_overlap(block, x._a, d, str(boundary), constant, np.dtype(dtype),
                                      name or _name_of(func), block_id, kwargs))


# ---------------------------------------------------------------------------------------------------------
# Indexing


def _getitem(x, index):
    if not isinstance(index, tuple):
        index = (index,)
    if isinstance(index, tuple) and any(isinstance(i, Array) for i in index):
        raise IndexError("indexing with a tessera array: its values are not known before computing; compute it "
                         "first (np.asarray) or use ts.where")
    entries = []
    for i in index:
        if i is Ellipsis or i is None or isinstance(i, slice):
            entries.append(i)
            continue
        s = _scalar(i)
        if s is not None and not isinstance(i, (bool, np.bool_)):
            entries.append(int(s))
            continue
        a = np.asarray(i)
        if a.dtype == np.bool_:
            if a.ndim != 1:
                raise IndexError("boolean indexes of more than one dimension are not supported (the result's shape "
                                 "depends on the data); use ts.where")
            a = np.flatnonzero(a)
        elif a.dtype.kind not in "iu":
            raise IndexError(f"only integers, slices, Ellipsis, None and integer or boolean arrays are valid "
                             f"indices, not {type(i).__name__}")
        entries.append(a)
    if sum(e is Ellipsis for e in entries) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(e is not None and e is not Ellipsis for e in entries)
    if used > x.ndim:
        raise IndexError(f"too many indices for array: array is {x.ndim}-dimensional, but {used} were indexed")
    if Ellipsis in [e if e is Ellipsis else None for e in entries]:
        k = next(n for n, e in enumerate(entries) if e is Ellipsis)
        entries = entries[:k] + [slice(None)] * (x.ndim - used) + entries[k + 1:]
    else:
        entries += [slice(None)] * (x.ndim - used)
    arrays = [n for n, e in enumerate(entries) if isinstance(e, np.ndarray)]
    if len(arrays) > 1:
        raise IndexError("tessera takes one integer-array index at a time (x[idx][:, idx2] does the rest)")
    selection, axis = [], 0
    for e in entries:
        if e is None:
            continue
        n = x.shape[axis]
        if isinstance(e, int):
            if not -n <= e < n:
                raise IndexError(f"index {e} is out of bounds for axis {axis} with size {n}")
            selection.append((True, e, None, 1))
        elif isinstance(e, slice):
            if e.step == 0:
                raise ValueError("slice step cannot be zero")
            selection.append((False, _int_or_none(e.start), _int_or_none(e.stop), 1 if e.step is None
                              else int(e.step)))
        else:
            if e.size and (e.max() >= n or e.min() < -n):
                bad = e.max() if e.max() >= n else e.min()
                raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
            selection.append((False, None, None, 1))
        axis += 1
    out = Array(x._a.select(selection)) if any(s != (False, None, None, 1) for s in selection) else x
    if arrays:
        k = arrays[0]
        ints = [n for n, e in enumerate(entries) if isinstance(e, int)]
        # The advanced axis's place after the basic selection: the slices before it.
        at = sum(isinstance(e, slice) for e in entries[:k])
        out = take(out, entries[k], axis=at)
        adv = [k] + ints
        adjacent = not ints or (max(adv) - min(adv) + 1 == len(adv)
                                and all(e is not None for e in entries[min(adv):max(adv) + 1]))
        if not adjacent:
            if at != 0:
                out = moveaxis(out, at, 0)
            position = 1
            for e in entries:
                if e is None:
                    out = expand_dims(out, position)
                    position += 1
                elif isinstance(e, slice):
                    position += 1
            return out
    position = 0
    for e in entries:
        if e is None:
            out = expand_dims(out, position)
            position += 1
        elif isinstance(e, slice) or isinstance(e, np.ndarray):
            position += 1
    return out



def _int_or_none(v):
    return None if v is None else operator.index(v)
