"""Dask's side of `benchmarks/run python`: no-op Python functions as dask.delayed calls in the shapes of
benchmarks/python_bench.py (8 chains of N/8 calls; a tree reduction of fan-in 8 over N leaves), computed with
the threaded scheduler (2 workers). build = making the Delayed values, per_task = dask.compute (graph merge,
optimisation, ordering, running), total = both, per task. Dask's delayed graphs are merged call by call, so
N is tessera's smaller case (100k; 20k with --quick)."""
import argparse
import gc
import json
import statistics
import sys
import time

import dask
from dask import delayed

from delayed_shapes import SHAPES, noop


def emit(impl, case, metric, value, unit):
    print(json.dumps({"bench": "python-delayed", "impl": impl, "case": case, "metric": metric, "value": value,
                      "unit": unit}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--tasks", type=int)
    args, _ = p.parse_known_args()
    n = args.tasks or (20_000 if args.quick else 100_000)
    sys.setrecursionlimit(100_000)
    f = delayed(noop, pure=False)
    for shape, make in SHAPES:
        build, run, tasks = [], [], 0
        for _ in range(args.reps):
            gc.collect()
            t0 = time.perf_counter()
            outs = make(f, n)
            t1 = time.perf_counter()
            dask.compute(*outs, scheduler="threads", num_workers=2)
            t2 = time.perf_counter()
            tasks = len(dask.base.collections_to_dsk(outs, optimize_graph=False))
            build.append((t1 - t0) * 1e6 / tasks)
            run.append((t2 - t1) * 1e6 / tasks)
        case = f"{shape}-{n}"
        emit("dask-threads", case, "per_task", statistics.median(run), "us")
        emit("dask-threads", case, "build", statistics.median(build), "us")
        emit("dask-threads", case, "total", statistics.median(run) + statistics.median(build), "us")
        emit("dask-threads", case, "tasks", tasks, "tasks")


if __name__ == "__main__":
    main()
