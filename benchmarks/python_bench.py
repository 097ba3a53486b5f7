"""tessera's side of `benchmarks/run python`: the seeds' expression ((X + X.T) - X.mean(axis=0)).sum() written in
Python as a Dask user writes it (tessera-python: wall time of building and computing it, as
benchmarks/peers/seed_expr_dask.py times Dask), and no-op Python functions as delayed tasks (8 chains of N/8
calls, and a tree reduction of fan-in 8 over N leaves, the shapes of benchmarks/overhead.cc): `build` is the
Python calls making the Delayed values, `per_task` the compute() that plans and runs them (each task takes
the GIL, calls the function, wraps its result), `total` both, all per task.

Usage: python_bench.py BUILD_PYTHON_DIR [--quick] [--reps N] [--tasks N]. Under mpiexec, the seed expression
and the smaller delayed case run on the MPI executor (impl tessera-python-mpi-N).
"""
import argparse
import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from delayed_shapes import SHAPES, noop  # noqa: E402


def emit(bench, impl, case, metric, value, unit):
    print(json.dumps({"bench": bench, "impl": impl, "case": case, "metric": metric, "value": value, "unit": unit}),
          flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build_python")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--tasks", type=int)
    args = p.parse_args()
    sys.path.insert(0, args.build_python)
    import tessera as ts

    rt = ts.get_runtime()
    impl = "tessera-python" if rt.ranks == 1 else f"tessera-python-mpi-{rt.ranks}"
    printing = rt.rank == 0
    cases = [(8000, 1000), (2000, 50)] if args.quick else [(20000, 1000), (4000, 50)]
    for n, chunk in cases:
        seconds, value = [], 0.0
        for _ in range(args.reps):
            t0 = time.perf_counter()
            x = ts.random.random((n, n), chunks=(chunk, chunk))
            e = ((x + x.T) - x.mean(axis=0)).sum()
            value = e.compute()
            seconds.append(time.perf_counter() - t0)
        if abs(value - n * n * 0.5) > 0.01 * n * n * 0.5:
            sys.exit(f"python_bench: seed expression gave {value}, far from {n * n * 0.5}")
        if printing:
            emit("seed-expr", impl, f"{n}-c{chunk}", "wall", statistics.median(seconds), "s")
            emit("seed-expr", impl, f"{n}-c{chunk}", "tasks", rt.last_stats()["tasks"], "tasks")

    sizes = [args.tasks] if args.tasks else ([20_000, 100_000] if args.quick else [100_000, 1_000_000])
    if rt.ranks > 1:
        sizes = sizes[:1]
    f = ts.delayed(noop)
    for n in sizes:
        for shape, make in SHAPES:
            build, run = [], []
            tasks = 0
            for _ in range(1 if n >= 1_000_000 else args.reps):
                gc.collect()
                t0 = time.perf_counter()
                outs = make(f, n)
                t1 = time.perf_counter()
                ts.compute(*outs)
                t2 = time.perf_counter()
                tasks = rt.last_stats()["tasks"]
                build.append((t1 - t0) * 1e6 / tasks)
                run.append((t2 - t1) * 1e6 / tasks)
                del outs
            if printing:
                case = f"{shape}-{n}"
                emit("python-delayed", impl, case, "per_task", statistics.median(run), "us")
                emit("python-delayed", impl, case, "build", statistics.median(build), "us")
                emit("python-delayed", impl, case, "total", statistics.median(run) + statistics.median(build), "us")
                emit("python-delayed", impl, case, "tasks", tasks, "tasks")


if __name__ == "__main__":
    main()
