"""A Python script under `mpiexec -n 3` (CTest python.mpi.3ranks): every rank runs it, rank 0 schedules, ranks 1
and 2 work. Checks that arrays, delayed calls, futures, files and jobs give every rank the same results as a
local run, bit for bit, and that a Python exception in a task is raised on every rank as ts.TaskError with the
key, the worker's rank and the traceback. Usage: mpi_script.py WORK_DIR [REPO_ROOT]

A failed check ends this rank at once with status 1, so mpiexec ends the job instead of leaving the other ranks
waiting in the next collective call.
"""
import os
import shutil
import sys
import threading
import traceback

import numpy as np


def _die(kind, value, tb):
    traceback.print_exception(kind, value, tb)
    sys.stderr.flush()
    os._exit(1)


sys.excepthook = _die

import tessera as ts  # noqa: E402

work = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
rank, ranks = ts.rank(), ts.ranks()
assert ranks == 3, f"expected 3 ranks, got {ranks}"
assert ts.get_runtime().executor == "mpi", ts.get_runtime().executor
local = ts.Runtime(executor="sync")  # each rank alone: the reference

# The seeds' expression: the same bits on 3 ranks as on one thread.
x = ts.random.random((600, 600), chunks=(50, 50), seed=4)
e = ((x + x.T) - x.mean(axis=0)).sum()
got, = ts.compute(e)
want, = local.compute(e)
assert got == want, (got, want)
xn = x.compute()
np.testing.assert_allclose(got, ((xn + xn.T) - xn.mean(axis=0)).sum(), rtol=1e-12)
np.testing.assert_array_equal(xn, local.compute(x)[0])


# Delayed calls: results are Python objects that travel between workers and reach every rank.
@ts.delayed
def inc(i):
    return i + 1


@ts.delayed
def add(a, b):
    return a + b


@ts.delayed
def describe(values):
    return {"sum": sum(values), "where": "worker", "items": list(values)}


assert add(inc(1), inc(2)).compute() == 5
leaves = [inc(i) for i in range(200)]
level = leaves
while len(level) > 1:
    level = [add(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
total, info = ts.compute(level[0], describe(leaves[:5]))
assert total == sum(range(1, 201)), total
assert info == {"sum": 15, "where": "worker", "items": [1, 2, 3, 4, 5]}, info
arr = ts.delayed(lambda a: a * 2)(ts.arange(10, chunks=3)).compute()
np.testing.assert_array_equal(arr, np.arange(10) * 2)

# Python functions on blocks run on the workers.
y = ts.from_numpy(np.arange(40.0).reshape(8, 5), chunks=(3, 2))
np.testing.assert_array_equal(y.map_blocks(lambda b: b * b + 1).compute(), np.arange(40.0).reshape(8, 5) ** 2 + 1)
np.testing.assert_allclose(np.sin(y).sum(axis=0).compute(), np.sin(np.arange(40.0).reshape(8, 5)).sum(axis=0),
                           rtol=1e-12)

# Futures.
rt = ts.get_runtime()
squares = rt.map(lambda v: v * v, range(10))
assert rt.gather(squares) == [v * v for v in range(10)]
assert rt.submit(sum, squares).result() == 285


# A Python exception in a task: the same TaskError on every rank, with the key, the worker and the traceback.
@ts.delayed
def fragile(v):
    if v == 3:
        raise RuntimeError(f"value {v} is cursed")
    return v


bad = fragile(inc(2))
try:
    add(bad, fragile(1)).compute()
    raise AssertionError("no TaskError")
except ts.TaskError as err:
    assert err.key == bad.key, (err.key, bad.key)
    assert err.rank in (1, 2), err.rank
    assert err.exception_type == "RuntimeError" and "value 3 is cursed" in str(err), str(err)
    assert "Traceback (most recent call last)" in err.traceback and "raise RuntimeError" in err.traceback
# A result that must cross ranks but cannot be pickled is refused the same way, naming the task.
lock = ts.delayed(threading.Lock)()
try:
    lock.compute()
    raise AssertionError("no TaskError")
except ts.TaskError as err:
    assert err.key == lock.key and "cannot be pickled" in str(err), str(err)
# The runtime is usable after failures.
assert inc(41).compute() == 42

# Files: written in parallel by the workers, identical to a local write.
os.makedirs(work, exist_ok=True)
path = os.path.join(work, f"mpi-{ranks}.nc")
ref_path = os.path.join(work, f"local-{rank}.nc")
data = ts.random.normal(0, 1, size=(40, 6, 8), chunks=(7, 6, 4), seed=2)
for p in (path, ref_path):
    if rank == 0 and os.path.exists(p):
        os.remove(p)
if os.path.exists(ref_path):
    os.remove(ref_path)
ts.to_netcdf(path, {"anom": data - data.mean(axis=0)}, dims=("time", "y", "x"), attrs={"ranks": ranks},
             overwrite=True)
ts.to_netcdf(ref_path, {"anom": data - data.mean(axis=0)}, dims=("time", "y", "x"), attrs={"ranks": ranks},
             runtime=local, overwrite=True)
back = ts.open(path, "anom")
np.testing.assert_array_equal(back.compute(), ts.open(ref_path, "anom").compute(runtime=local))
assert back.dims == ("time", "y", "x")

# A job file, as `tessera run` would run it under mpirun.
job_dir = os.path.join(work, "job")
if rank == 0:
    os.makedirs(job_dir, exist_ok=True)
    shutil.copy(os.path.join(root, "jobs", "examples", "seeds.toml"), os.path.join(job_dir, "seeds.toml"))
rt.compute(inc(0))  # every rank waits here until rank 0 has copied the job
summary = ts.run_job(os.path.join(job_dir, "seeds.toml"), overwrite=True)
assert summary["ranks"] == 3 and summary["executor"] == "mpi" and summary["chunks_written"] > 0, summary

local.close()

# Last (it leaves the ranks' graphs different for good): a rank that builds an array the others do not gets a
# clear error on every rank when the plans are compared, not a hang.
if rank == 1:
    extra = ts.zeros(3) + 1
try:
    (ts.arange(8, chunks=3) * 2).sum().compute()
    raise AssertionError("no error for different graphs")
except ts.InvalidArgumentError as err:
    assert "rank" in str(err), str(err)
print(f"rank {rank}: all checks passed", flush=True)
