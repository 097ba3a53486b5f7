"""tessera from Python: dask.array's and dask.delayed's interface on tessera's executors.

    import tessera as ts
    x = ts.random.random((4000, 4000), chunks=(500, 500))
    y = ((x + x.T) - x.mean(axis=0)).sum()       # lazy: a task graph
    y.compute()                                  # runs on local threads, or under mpirun on MPI ranks

    @ts.delayed
    def inc(i):
        return i + 1
    ts.compute(inc(1), inc(2))                   # (2, 3)

Run the same script under `mpirun -n 3 python3 script.py` (or srun): rank 0 schedules, the other ranks work,
every rank gets the results. See docs/python.md.
"""
import os as _os
import sys as _sys

# Open MPI loads its components as plugins that need libmpi's symbols in the global namespace; Python loads
# extensions with RTLD_LOCAL. Import the extension with RTLD_GLOBAL (as mpi4py does).
_flags = _sys.getdlopenflags()
_sys.setdlopenflags(_flags | _os.RTLD_GLOBAL)
try:
    from . import _tessera
finally:
    _sys.setdlopenflags(_flags)

import pickle as _pickle  # noqa: E402

from . import _errors  # noqa: E402
from ._errors import (Error, InvalidArgumentError, NotFoundError, IoError, CorruptError,  # noqa: E402,F401
                      ResourceExhaustedError, CancelledError, InternalError, TaskError)
from ._array import (Array, asarray, from_numpy, from_array, zeros, ones, full, empty, zeros_like,  # noqa: E402,F401
                     ones_like, full_like, empty_like, arange, linspace, broadcast_to, broadcast_arrays, where,
                     clip, argmin, argmax, count_nonzero, cumsum, cumprod, quantile, nanquantile, percentile,
                     median, nanmedian, average, weighted_mean, rolling_mean, group_reduce, transpose, moveaxis,
                     swapaxes, reshape, ravel, squeeze, expand_dims, concatenate, stack, vstack, hstack, take,
                     matmul, dot, tensordot, map_blocks, map_overlap, REDUCTIONS as _REDUCTIONS, _ufunc)
from ._chunks import normalize_chunks  # noqa: E402,F401
from ._delayed import Delayed, Future, delayed  # noqa: E402,F401
from ._io import open, to_netcdf, inspect, from_xarray, to_xarray, run_job  # noqa: E402,F401,A001
from ._numpy_api import NotLazyWarning  # noqa: E402,F401
from ._runtime import Runtime, compute, persist, get_runtime, set_runtime, rank, ranks  # noqa: E402,F401
from . import random  # noqa: E402,F401

_tessera._set_error_classes(_errors.CLASSES, TaskError)
_tessera._set_pickle(_pickle.dumps, _pickle.loads)
_tessera._set_dependency_types(Array, Future)

globals().update(_REDUCTIONS)  # ts.sum, ts.mean, ts.min, ... (NumPy's names)


def _elementwise(ufunc):
    def f(*args, **kwargs):
        return _ufunc(ufunc, *args, **kwargs)
    f.__name__ = ufunc.__name__
    f.__doc__ = f"numpy.{ufunc.__name__}, lazily, elementwise on tessera arrays."
    return f


def _make_elementwise():
    import numpy as np
    names = ("add subtract multiply divide true_divide floor_divide power mod remainder fmod negative absolute "
             "fabs sign sqrt square cbrt exp exp2 expm1 log log2 log10 log1p sin cos tan arcsin arccos arctan "
             "arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh deg2rad rad2deg degrees radians floor ceil "
             "trunc rint isnan isinf isfinite signbit copysign nextafter logical_and logical_or logical_xor "
             "logical_not maximum minimum fmax fmin equal not_equal less less_equal greater greater_equal "
             "bitwise_and bitwise_or bitwise_xor invert left_shift right_shift").split()
    return {n: _elementwise(getattr(np, n)) for n in names}


globals().update(_make_elementwise())
abs = globals()["absolute"]  # noqa: A001
round = around = lambda a, decimals=0: asarray(a).round(decimals)  # noqa: A001,E731

__version__ = "0.1.0"
