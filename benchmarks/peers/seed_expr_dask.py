"""Dask's side of `seed-expr`: ((X + X.T) - X.mean(axis=0)).sum() on da.random.random, threads (2 workers) and,
with --distributed, a LocalCluster of 2 worker processes x 1 thread (the peer of tessera under mpiexec)."""
import argparse
import json
import logging
import statistics
import time
import warnings

import dask
import dask.array as da


def run(n, chunk, reps, get=None):
    seconds, tasks = [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        x = da.random.random((n, n), chunks=(chunk, chunk))
        e = ((x + x.T) - x.mean(axis=0)).sum()
        tasks = len(e.__dask_graph__())
        e.compute() if get is None else get(e)
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), tasks


def emit(impl, case, metric, value, unit):
    print(json.dumps({"bench": "seed-expr", "impl": impl, "case": case, "metric": metric, "value": value,
                      "unit": unit}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--distributed", action="store_true")
    args = p.parse_args()
    cases = [(8000, 1000), (2000, 50)] if args.quick else [(20000, 1000), (4000, 50)]
    with dask.config.set(scheduler="threads", num_workers=2):
        for n, chunk in cases:
            s, tasks = run(n, chunk, args.reps)
            emit("dask-threads", f"{n}-c{chunk}", "wall", s, "s")
            emit("dask-threads", f"{n}-c{chunk}", "tasks", tasks, "tasks")
    if args.distributed:
        from distributed import Client, LocalCluster
        logging.getLogger("distributed").setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            for n, chunk in cases:
                s, _ = run(n, chunk, 1, get=lambda e: client.compute(e).result())
                emit("dask-distributed", f"{n}-c{chunk}", "wall", s, "s")


if __name__ == "__main__":
    main()
