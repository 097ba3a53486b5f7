"""NumPy's functions and ufuncs on tessera arrays (NEP 13 and NEP 18): lazy where tessera has the operation,
every elementwise ufunc lazy (applied block by block when tessera has no kernel for it), and anything else
computed first, with a NotLazyWarning."""
import warnings

import numpy as np

from . import _array as A


class NotLazyWarning(UserWarning):
    """A NumPy function tessera does not have was called on tessera arrays: they were computed first."""


_REDUCE = {np.add: "sum", np.multiply: "prod", np.minimum: "min", np.maximum: "max", np.logical_and: "all",
           np.logical_or: "any"}
_OPERAND_TYPES = (A.Array, np.ndarray, np.generic, int, float, bool, list, tuple)


def array_ufunc(ufunc, method, inputs, kwargs):
    if kwargs.get("out") is not None or not all(isinstance(x, _OPERAND_TYPES) for x in inputs):
        return NotImplemented
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    if method == "__call__":
        if ufunc is np.matmul:
            return A.matmul(*inputs)
        if kwargs.get("where", True) is not True:
            return NotImplemented
        kwargs.pop("where", None)
        return A._ufunc(ufunc, *inputs, **kwargs)
    if method == "reduce" and ufunc in _REDUCE and len(inputs) == 1:
        x = A.asarray(inputs[0])
        if kwargs.get("dtype") is not None:
            x = x.astype(kwargs["dtype"])
        return x._reduce(_REDUCE[ufunc], kwargs.get("axis", 0), None, kwargs.get("keepdims", False))
    if method == "accumulate" and ufunc in (np.add, np.multiply) and len(inputs) == 1:
        op = A.cumsum if ufunc is np.add else A.cumprod
        return op(inputs[0], axis=kwargs.get("axis", 0), dtype=kwargs.get("dtype"))
    return NotImplemented


def _r(op, ddof=False, dtype=True):
    f = A.REDUCTIONS[op]
    if ddof:
        def g(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
            return f(a, axis=axis, dtype=dtype, keepdims=keepdims, out=out, ddof=ddof)
    elif dtype:
        def g(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
            return f(a, axis=axis, dtype=dtype, keepdims=keepdims, out=out)
    else:
        def g(a, axis=None, out=None, keepdims=False, **kw):
            return f(a, axis=axis, keepdims=keepdims, out=out)
    return g


def _round(a, decimals=0, out=None):
    if out is not None:
        raise A.InvalidArgumentError("round: out= is not supported")
    return A._ufunc_with(np.round, [A.asarray(a)], {"decimals": decimals})


HANDLED = {
    np.sum: _r("sum"), np.prod: _r("prod"), np.mean: _r("mean"), np.min: _r("min", dtype=False),
    np.max: _r("max", dtype=False), np.amin: _r("min", dtype=False), np.amax: _r("max", dtype=False),
    np.var: _r("var", ddof=True), np.std: _r("std", ddof=True), np.any: _r("any", dtype=False),
    np.all: _r("all", dtype=False), np.nansum: _r("nansum"), np.nanmean: _r("nanmean"),
    np.nanmin: _r("nanmin", dtype=False), np.nanmax: _r("nanmax", dtype=False),
    np.nanvar: _r("nanvar", ddof=True), np.nanstd: _r("nanstd", ddof=True),
    np.argmin: lambda a, axis=None, out=None, keepdims=False: A.argmin(a, axis, keepdims, out=out),
    np.argmax: lambda a, axis=None, out=None, keepdims=False: A.argmax(a, axis, keepdims, out=out),
    np.cumsum: A.cumsum, np.cumprod: A.cumprod, np.median: lambda a, axis=None, out=None, overwrite_input=False,
    keepdims=False: A.median(a, axis, keepdims),
    np.nanmedian: lambda a, axis=None, out=None, overwrite_input=False, keepdims=False: A.nanmedian(a, axis,
                                                                                                    keepdims),
    np.quantile: lambda a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, **kw:
    A.quantile(a, q, axis, keepdims, method),
    np.nanquantile: lambda a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, **kw:
    A.nanquantile(a, q, axis, keepdims, method),
    np.percentile: lambda a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, **kw:
    A.percentile(a, q, axis, keepdims, method),
    np.average: A.average, np.count_nonzero: A.count_nonzero,
    np.transpose: A.transpose, np.moveaxis: A.moveaxis, np.swapaxes: A.swapaxes,
    np.reshape: lambda a, newshape, order="C": A.reshape(a, newshape), np.ravel: lambda a, order="C": A.ravel(a),
    np.squeeze: A.squeeze, np.expand_dims: A.expand_dims, np.concatenate: A.concatenate, np.stack: A.stack,
    np.vstack: A.vstack, np.hstack: A.hstack, np.take: lambda a, indices, axis=None, out=None, mode="raise":
    A.take(a, indices, axis), np.dot: A.dot, np.tensordot: A.tensordot, np.where: A.where, np.clip: A.clip,
    np.round: _round, np.around: _round, np.broadcast_to: A.broadcast_to,
    np.broadcast_arrays: A.broadcast_arrays, np.zeros_like: A.zeros_like, np.ones_like: A.ones_like,
    np.empty_like: A.empty_like, np.full_like: A.full_like,
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim, np.size: lambda a, axis=None: a.size if axis is None
    else a.shape[axis],
}


def _computed(x):
    from ._runtime import compute
    (values,) = compute(x)
    return values


def array_function(func, types, args, kwargs):
    if not all(issubclass(t, (A.Array, np.ndarray)) for t in types):
        return NotImplemented
    impl = HANDLED.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    warnings.warn(f"{func.__module__}.{func.__name__} is not lazy in tessera: its tessera arguments were computed "
                  "first", NotLazyWarning, stacklevel=3)
    args, kwargs = _computed((list(args), kwargs))
    return func(*args, **kwargs)
