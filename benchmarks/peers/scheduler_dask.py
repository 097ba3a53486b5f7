"""Dask distributed's side of the `scheduler` benchmark: a LocalCluster of 2 worker processes with 1 thread each
running the same no-op graphs (8 chains, tree with fan-in 8) via client.get. Dask distributed manages ~1,000
tasks/s here, so the graph sizes are those of tessera's smaller case (100k tasks; 20k with --quick)."""
import argparse
import json
import logging
import statistics
import time
import warnings

import dask
from distributed import Client, LocalCluster

from dask_graphs import SHAPES


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tasks", type=int)
    p.add_argument("--reps", type=int)
    args = p.parse_args()
    n = args.tasks or (20_000 if args.quick else 100_000)
    reps = args.reps or 1
    logging.getLogger("distributed").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        try:
            for shape, make in SHAPES:
                seconds, tasks = [], 0
                for _ in range(reps):
                    dsk, outs = make(n)
                    tasks = len(dsk)
                    t0 = time.perf_counter()
                    client.get(dsk, outs)
                    seconds.append(time.perf_counter() - t0)
                s = statistics.median(seconds)
                for metric, value, unit in (("throughput", tasks / s, "tasks/s"), ("per_task", s * 1e6 / tasks, "us")):
                    print(json.dumps({"bench": "scheduler", "impl": "dask-distributed", "case": f"{shape}-{n}",
                                      "metric": metric, "value": value, "unit": unit}), flush=True)
        finally:
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
