"""Runtimes and compute(): where graphs run, and how arrays and delayed calls come back as Python values."""
import atexit
import os
import sys
import threading
import weakref

from . import _tessera

_default = None
_default_lock = threading.Lock()
_stack = []  # runtimes made current by `with`
_open = weakref.WeakValueDictionary()  # every runtime not yet collected, by creation number, closed at exit
_created = 0


class Runtime:
    """Where tessera computes: local threads, or, under `mpirun`/`srun` with 2+ ranks, rank 0 scheduling and the
    other ranks working (every rank runs the same script and gets the same results).

    threads: threads (per worker rank under MPI); None: TESSERA_THREADS, else every CPU this process may use.
    executor: "auto" (MPI when launched with 2+ ranks, else threads), "threads", "sync" or "mpi"; None:
        TESSERA_EXECUTOR, else auto.
    memory_limit: bytes of results a worker may hold before spilling to disk (int, or "4GiB"); None:
        TESSERA_MEMORY_LIMIT, else none.
    spill_dir: where spill files go (default $TMPDIR).

    `with ts.Runtime(threads=4):` makes it the one compute() uses inside the block, and closes it after.
    Under MPI, creating and closing a runtime are collective: every rank must do them in the same order.
    """

    def __init__(self, threads=None, executor=None, memory_limit=None, spill_dir=None):
        if isinstance(memory_limit, str):
            memory_limit = _tessera.parse_size(memory_limit)
        if threads is not None and int(threads) < 0:
            from ._errors import InvalidArgumentError
            raise InvalidArgumentError(f"threads={threads}: a number of threads, 0 for every CPU")
        self._rt = _tessera._Runtime(executor=executor or "env", threads=-1 if threads is None else int(threads),
                                     memory_limit=int(memory_limit or 0), spill_dir=spill_dir or "")
        self._pending = []  # futures submitted and not computed yet (Runtime.submit/map)
        global _created
        _created += 1
        _open[_created] = self
        if self._rt.ranks > 1:
            _end_job_on_uncaught_exceptions()

    @property
    def rank(self):
        """This process's MPI rank (0 without MPI). Rank 0 is the one that should print."""
        return self._rt.rank

    @property
    def ranks(self):
        """Ranks in the job (1 without MPI)."""
        return self._rt.ranks

    @property
    def executor(self):
        return self._rt.executor

    @property
    def threads(self):
        """Tasks that can run at once."""
        return self._rt.concurrency

    @property
    def memory_limit(self):
        return self._rt.memory_limit

    @property
    def closed(self):
        return self._rt.closed

    def last_stats(self):
        """Statistics of the most recent run: tasks, seconds, spilled bytes, ..."""
        return self._rt.last_stats()

    def compute(self, *args, **kwargs):
        """ts.compute(*args) on this runtime."""
        return compute(*args, runtime=self, **kwargs)

    def submit(self, function, *args, **kwargs):
        from ._delayed import submit
        return submit(self, function, args, kwargs)

    def map(self, function, *iterables, **kwargs):
        from ._delayed import map_futures
        return map_futures(self, function, iterables, kwargs)

    def gather(self, futures):
        from ._delayed import gather
        return gather(self, futures)

    def _flush(self):
        from ._delayed import flush
        flush(self)

    def close(self):
        """Ends the runtime (collective under MPI). compute() afterwards raises ts.Error."""
        self._rt.close()

    def __enter__(self):
        _stack.append(self)
        return self

    def __exit__(self, *exc):
        _stack.remove(self)
        self.close()
        return False

    def __repr__(self):
        if self.closed:
            return "<tessera.Runtime (closed)>"
        where = f"rank {self.rank} of {self.ranks}, " if self.ranks > 1 else ""
        return f"<tessera.Runtime {self.executor}: {where}{self.threads} threads>"


def _end_job_on_uncaught_exceptions():
    """Under MPI, an exception nobody catches on one rank ends the whole job: the rank prints its traceback and
    exits with status 1 at once (the launcher then ends the other ranks), instead of closing its runtimes at exit
    while the other ranks wait for it in their next computation."""
    if getattr(sys.excepthook, "_tessera", False):
        return
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            rank = _open and next(iter(_open.values())).rank
            print(f"tessera: rank {rank}: uncaught exception; ending this rank (status 1) so that the job ends",
                  file=sys.stderr)
            previous(kind, value, tb)
        finally:
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(1)

    hook._tessera = True
    sys.excepthook = hook


def get_runtime():
    """The runtime compute() uses: the innermost `with ts.Runtime(...)` block's, else the default one (made on
    first use from the environment: TESSERA_EXECUTOR, TESSERA_THREADS, TESSERA_MEMORY_LIMIT, ...)."""
    global _default
    if _stack:
        return _stack[-1]
    with _default_lock:
        if _default is None or _default.closed:
            _default = Runtime()
        return _default


def set_runtime(runtime):
    """Makes `runtime` the default (None: a new default is made on next use). Returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, runtime
    return previous


def rank():
    """This process's MPI rank under the default runtime (0 without MPI)."""
    return get_runtime().rank


def ranks():
    return get_runtime().ranks


@atexit.register
def _close_all():
    # Under MPI an executor must end before MPI does, on every rank and in the same order; at exit Python would
    # otherwise destroy runtimes in any order, or never. Latest first.
    global _default
    for number in sorted(_open.keys(), reverse=True):
        rt = _open.get(number)
        if rt is not None:
            rt.close()
    _default = None


_SCHEDULERS = {"threads": "threads", "threading": "threads", "sync": "sync", "synchronous": "sync",
               "single-threaded": "sync"}
_scheduler_runtimes = {}


def _runtime_for(runtime, scheduler):
    if runtime is not None:
        return runtime
    if scheduler is None:
        return get_runtime()
    kind = _SCHEDULERS.get(scheduler)
    if kind is None:
        from ._errors import InvalidArgumentError
        raise InvalidArgumentError(f"scheduler {scheduler!r} is not one of {', '.join(sorted(_SCHEDULERS))} "
                                   "(tessera runs on threads, or under mpirun on MPI ranks)")
    rt = _scheduler_runtimes.get(kind)
    if rt is None or rt.closed:
        rt = _scheduler_runtimes[kind] = Runtime(executor=kind)
    return rt


def compute(*args, runtime=None, scheduler=None, traverse=True, optimize_graph=True, **kwargs):
    """Computes tessera arrays and delayed values in one graph (shared work runs once) and returns their
    values, as dask.compute does: a tuple with one entry per argument. Arrays become NumPy arrays (0-d ones
    NumPy scalars), delayed values their results; lists, tuples and dicts are searched for them (traverse);
    anything else is returned as it is. Collective under MPI: every rank calls it and gets the results.

    scheduler: "threads" or "sync" (a runtime of that kind, kept for later calls); runtime: a ts.Runtime."""
    from ._array import Array
    from ._delayed import Future, Delayed
    rt = _runtime_for(runtime, scheduler)
    arrays, array_ids, calls, call_ids = [], {}, [], {}

    def collect(x, depth):
        if isinstance(x, Array):
            if id(x) not in array_ids:
                array_ids[id(x)] = len(arrays)
                arrays.append(x)
        elif isinstance(x, Delayed):
            if id(x) not in call_ids:
                call_ids[id(x)] = len(calls)
                calls.append(x)
        elif isinstance(x, Future):
            if not x.done():
                x._runtime._flush()
            return
        elif traverse and depth < 32 and isinstance(x, (list, tuple, set, frozenset)):
            for item in x:
                collect(item, depth + 1)
        elif traverse and depth < 32 and isinstance(x, dict):
            for item in x.values():
                collect(item, depth + 1)

    for a in args:
        collect(a, 0)
    # Futures submitted on this runtime and not computed yet join this graph too (one graph per batch).
    if rt._pending:
        rt._flush()
    array_values, call_values = rt._rt.compute([a._a for a in arrays], calls) if (arrays or calls) else ([], [])

    def rebuild(x, depth):
        if isinstance(x, Array):
            return array_values[array_ids[id(x)]]
        if isinstance(x, Delayed):
            return call_values[call_ids[id(x)]]
        if isinstance(x, Future):
            return x.result()
        if traverse and depth < 32:
            if isinstance(x, (list, tuple, set, frozenset)):
                return type(x)(rebuild(i, depth + 1) for i in x)
            if isinstance(x, dict):
                return {k: rebuild(v, depth + 1) for k, v in x.items()}
        return x

    return tuple(rebuild(a, 0) for a in args)


def persist(*args, runtime=None, scheduler=None):
    """Computes arrays and keeps their chunks in memory, returning arrays that hold them (so later graphs
    reuse the chunks instead of recomputing them); other arguments are returned as they are."""
    from ._array import Array
    rt = _runtime_for(runtime, scheduler)
    out = tuple(a._with(a._a.persist(rt._rt)) if isinstance(a, Array) else a for a in args)
    return out
