"""Dask's side of the `overhead` benchmark: the same graph shapes as benchmarks/overhead.cc, as raw Dask graphs
(dicts of tasks), run with the threaded scheduler (2 workers) and the synchronous one. per_task = wall time of
get() (which orders and runs the graph) divided by the number of tasks; build = making the dict."""
import argparse
import json
import statistics
import time

import dask

from dask_graphs import SHAPES
import dask.threaded


def emit(impl, case, metric, value, unit):
    print(json.dumps({"bench": "overhead", "impl": impl, "case": case, "metric": metric, "value": value,
                      "unit": unit}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tasks", type=int)
    p.add_argument("--reps", type=int)
    args = p.parse_args()
    n = args.tasks or (100_000 if args.quick else 1_000_000)
    reps = args.reps or (3 if args.quick else 1)
    impls = [("dask-sync", lambda d, k: dask.get(d, k)),
             ("dask-threads", lambda d, k: dask.threaded.get(d, k, num_workers=2))]
    for shape, make in SHAPES:
        case = f"{shape}-{n}"
        for impl, get in impls:
            per_task, build = [], []
            for _ in range(reps):
                t0 = time.perf_counter()
                dsk, outs = make(n)
                t1 = time.perf_counter()
                get(dsk, outs)
                t2 = time.perf_counter()
                build.append((t1 - t0) * 1e6 / len(dsk))
                per_task.append((t2 - t1) * 1e6 / len(dsk))
                del dsk
            emit(impl, case, "per_task", statistics.median(per_task), "us")
            emit(impl, case, "build", statistics.median(build), "us")


if __name__ == "__main__":
    main()
