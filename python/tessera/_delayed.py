"""ts.delayed and futures: Python function calls as tasks, as dask.delayed and dask's futures make them.

A call builds a task and runs nothing; compute() runs the graph on tessera's executors. Each task takes the GIL
while its function runs (tessera's own array kernels never do). Under MPI every rank makes the same calls, so
functions are never pickled; results that travel between ranks are.
"""
import functools
import operator

from . import _tessera
from ._errors import InvalidArgumentError

Delayed = _tessera.Delayed
DelayedFunction = _tessera.DelayedFunction


def _funcname(f):
    while isinstance(f, functools.partial):
        f = f.func
    name = getattr(f, "__name__", None) or type(f).__name__
    return "lambda" if name == "<lambda>" else name


def _identity(x):
    return x


def _apply(function, *args, **kwargs):
    return function(*args, **kwargs)


class _MultipleOutputs:
    """A delayed function declared with nout=N: a call returns N Delayed values (its result's items)."""

    def __init__(self, function, nout):
        self._function, self._nout = function, nout
        functools.update_wrapper(self, function.__wrapped__, updated=())

    def __call__(self, *args, **kwargs):
        d = self._function(*args, **kwargs)
        return tuple(d[i] for i in range(self._nout))


def delayed(obj=None, name=None, pure=None, nout=None, traverse=True, retries=0):
    """Wraps a function so that calling it builds a task (as dask.delayed), or a value so that it can join a
    graph. Use as @ts.delayed or @ts.delayed(retries=2).

    name: the task key's name (default: the function's name). nout: the number of items the function
    returns, so that a call can be unpacked. retries: extra attempts when the function raises.
    Delayed, Future and tessera Array arguments (also inside lists, tuples and dicts) become dependencies: the
    function gets their values (an Array as one NumPy array)."""
    if obj is None:
        return functools.partial(delayed, name=name, pure=pure, nout=nout, traverse=traverse, retries=retries)
    if isinstance(obj, (Delayed, DelayedFunction, _MultipleOutputs)):
        return obj
    if callable(obj):
        f = DelayedFunction(obj, name or _funcname(obj), int(retries))
        if nout is not None:
            if nout < 0:
                raise InvalidArgumentError(f"nout={nout}: it must be 0 or more")
            return _MultipleOutputs(f, int(nout))
        return f
    if traverse and isinstance(obj, (list, tuple, dict, set)):
        return _tessera._call(_identity, (obj,), {}, name or type(obj).__name__)
    return _tessera._literal(obj, name or type(obj).__name__)


def _call(function, args, name):
    return _tessera._call(function, tuple(args), {}, name)


# Dask's Delayed interface: operators, attributes, items and calls on a Delayed build more tasks.
def _binary(op, name, reflected=False):
    if reflected:
        def method(self, other):
            return _call(op, (other, self), name)
    else:
        def method(self, other):
            return _call(op, (self, other), name)
    return method


def _compute(self, **kwargs):
    """The value, computed (with everything it depends on) in one graph. Collective under MPI."""
    from ._runtime import compute
    return compute(self, **kwargs)[0]


def _getattr(self, attr):
    if attr.startswith("_"):
        raise AttributeError(attr)
    return _call(getattr, (self, attr), "getattr")


def _not_iterable(self):
    raise TypeError("a Delayed value's length is unknown before it is computed; declare nout= on the function "
                    "to unpack its result")


def _no_truth(self):
    raise TypeError("the truth of a Delayed value is unknown before it is computed: compute() it first")


Delayed.compute = _compute
Delayed.__getattr__ = _getattr
Delayed.__getitem__ = lambda self, key: _call(operator.getitem, (self, key), "getitem")
Delayed.__call__ = lambda self, *args, **kwargs: _tessera._call(_apply, (self,) + args, kwargs, "apply")
Delayed.__iter__ = _not_iterable
Delayed.__len__ = _not_iterable
Delayed.__bool__ = _no_truth
for _name, _op in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
                   ("pow", operator.pow), ("matmul", operator.matmul), ("and", operator.and_),
                   ("or", operator.or_), ("xor", operator.xor)):
    setattr(Delayed, f"__{_name}__", _binary(_op, _name))
    setattr(Delayed, f"__r{_name}__", _binary(_op, _name, reflected=True))
for _name, _op in (("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt), ("le", operator.le),
                   ("gt", operator.gt), ("ge", operator.ge)):
    setattr(Delayed, f"__{_name}__", _binary(_op, _name))
Delayed.__hash__ = object.__hash__
Delayed.__neg__ = lambda self: _call(operator.neg, (self,), "neg")
Delayed.__pos__ = lambda self: _call(operator.pos, (self,), "pos")
Delayed.__abs__ = lambda self: _call(operator.abs, (self,), "abs")
Delayed.__invert__ = lambda self: _call(operator.invert, (self,), "invert")


class Future:
    """The result of Runtime.submit/map. Futures are batched: the first result() (or gather, or compute of
    anything) computes every future submitted so far in one graph, so independent submissions run in
    parallel, and every rank of an MPI job computes them at the same point. A future can be passed to
    further submit() or delayed calls."""

    __slots__ = ("_runtime", "_delayed", "_value", "_error", "_done")

    def __init__(self, runtime, d):
        self._runtime, self._delayed = runtime, d
        self._value = self._error = None
        self._done = False

    @property
    def key(self):
        return self._delayed.key

    def done(self):
        return self._done

    def result(self, timeout=None):
        if not self._done:
            flush(self._runtime)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout=None):
        if not self._done:
            try:
                flush(self._runtime)
            except Exception:
                pass
        return self._error

    def __repr__(self):
        state = "pending" if not self._done else ("error" if self._error is not None else "finished")
        return f"<Future: {state}, key: {self.key}>"


def flush(runtime):
    """Computes every pending future of `runtime` in one graph."""
    pending = [f for f in runtime._pending if not f._done]
    runtime._pending = []
    if not pending:
        return
    from ._runtime import compute
    try:
        values = compute(*[f._delayed for f in pending], runtime=runtime)
    except Exception as e:
        for f in pending:
            f._error, f._done = e, True
        raise
    for f, v in zip(pending, values):
        f._value, f._done = v, True
        # Later calls that use this future read its value instead of computing it again.
        f._delayed = _tessera._literal(v, f._delayed._name, f._delayed._number)


def submit(runtime, function, args, kwargs):
    retries = kwargs.pop("retries", 0)
    name = kwargs.pop("key_name", None) or _funcname(function)
    d = _tessera._call(function, tuple(args), kwargs, name, int(retries or 0))
    f = Future(runtime, d)
    runtime._pending.append(f)
    return f


def map_futures(runtime, function, iterables, kwargs):
    retries = kwargs.pop("retries", 0)
    name = _funcname(function)
    out = []
    for items in zip(*iterables):
        d = _tessera._call(function, tuple(items), dict(kwargs), name, int(retries or 0))
        f = Future(runtime, d)
        runtime._pending.append(f)
        out.append(f)
    return out


def gather(runtime, futures):
    flush(runtime)

    def value(x):
        if isinstance(x, Future):
            return x.result()
        if isinstance(x, (list, tuple, set)):
            return type(x)(value(i) for i in x)
        if isinstance(x, dict):
            return {k: value(v) for k, v in x.items()}
        return x

    return value(futures)
