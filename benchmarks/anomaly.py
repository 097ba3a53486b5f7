"""`anomaly` benchmark (issue 6): the standardized anomaly (t - mean_t) / std_t of a 730 x 360 x 720 float32 HDF5
dataset (chunks 73 x 90 x 180; --quick: 146 x 360 x 720) written to a new HDF5 file, as whole processes:
`tessera run` (local threads, and under mpiexec -n 3), Dask threads (h5py + dask.array, the same work, synced
like tessera's output), and a plain sequential write of the same bytes (synced) — the floor on this machine.
Reports wall time and peak RSS (of the whole process tree) per implementation, medians of --reps runs.

Usage: anomaly.py TESSERA [--quick] [--reps N] [--dir DIR]"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

DASK = r'''
import os, sys, dask, dask.array as da, h5py
src, dst = sys.argv[1], sys.argv[2]
with dask.config.set(scheduler="threads", num_workers=2):
    with h5py.File(src, "r") as f:
        t = da.from_array(f["t"], chunks=f["t"].chunks)
        anom = (t - t.mean(axis=0)) / t.std(axis=0)
        with h5py.File(dst, "w") as g:
            d = g.create_dataset("anom", shape=t.shape, dtype="f4", chunks=f["t"].chunks)
            da.store(anom, d)
            g.flush()
            os.fsync(g.id.get_vfd_handle())
'''

PLAIN = r'''
import os, sys
n, path = int(sys.argv[1]), sys.argv[2]
block = bytearray(8 << 20)
with open(path, "wb") as f:
    left = n
    while left > 0:
        f.write(block[: min(left, len(block))])
        left -= len(block)
    f.flush()
    os.fsync(f.fileno())
'''


def emit(impl, case, metric, value, unit):
    print(json.dumps({"bench": "anomaly", "impl": impl, "case": case, "metric": metric, "value": value,
                      "unit": unit}), flush=True)


def timed(cmd, cwd, env=None):
    """Wall time and peak RSS (MB) of a child process tree (RUSAGE_CHILDREN max over the run's children)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"anomaly: {' '.join(cmd)} failed ({p.returncode}):\n{out}")
    return wall, out


def peak_rss_mb(cmd, cwd, env=None):
    """Peak RSS of the largest process the command starts (GNU time's %M would need the package)."""
    wrapper = [sys.executable, "-c", "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True);"
               "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", *cmd]
    p = subprocess.run(wrapper, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"anomaly: {' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return int(p.stdout.strip().split("PEAK")[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tessera")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "tessera-bench-anomaly"))
    a = ap.parse_args()
    shape = (146, 360, 720) if a.quick else (730, 360, 720)
    chunks = (73, 90, 180)
    case = "x".join(map(str, shape)) + "-c73x90x180"
    os.makedirs(a.dir, exist_ok=True)
    src = os.path.join(a.dir, f"t-{case}.h5")
    if not os.path.exists(src):
        rng = np.random.default_rng(0)
        with h5py.File(src + ".tmp", "w") as f:
            d = f.create_dataset("t", shape=shape, dtype="f4", chunks=chunks)
            for i in range(0, shape[0], chunks[0]):
                d[i:i + chunks[0]] = (280 + 10 * rng.standard_normal((min(chunks[0], shape[0] - i),) + shape[1:])
                                      ).astype("f4")
        os.rename(src + ".tmp", src)
    job = os.path.join(a.dir, "anomaly.toml")
    with open(job, "w") as f:
        f.write(f'[inputs.t]\nfile = "{src}"\nvariable = "t"\n\n[arrays]\n'
                f'anom = "(t - mean(t, axis=0)) / std(t, axis=0)"\n\n'
                f'[outputs.anom]\nfile = "anom.h5"\n')
    nbytes = int(np.prod(shape)) * 4
    mpi = ["mpiexec", "-n", "3", "--bind-to", "none", "--oversubscribe"]
    if os.geteuid() == 0:
        mpi.append("--allow-run-as-root")
    env = dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1")
    runs = {
        "tessera-local": [a.tessera, "run", job, "--overwrite", "-q"],
        "tessera-mpi-3": mpi + [a.tessera, "run", job, "--overwrite", "-q"],
        "dask-threads": [sys.executable, "-c", DASK, src, os.path.join(a.dir, "anom_dask.h5")],
        "raw": [sys.executable, "-c", PLAIN, str(nbytes), os.path.join(a.dir, "plain.bin")],
    }
    # Each run ends with an fsync of about 757 MB, and this VM's disk takes 0.5 to 2.5 s for that depending on
    # what it is still writing back: every run starts after a sync (not timed), and the implementations take
    # turns, repetition by repetition, so that a slow spell of the disk falls on all of them alike.
    walls = {impl: [] for impl in runs}
    rss = {impl: [] for impl in runs}
    for _ in range(a.reps):
        for impl, cmd in runs.items():
            os.sync()
            walls[impl].append(timed(cmd, a.dir, env)[0])
            os.sync()
            rss[impl].append(peak_rss_mb(cmd, a.dir, env))
    for impl in runs:
        emit(impl, case, "wall", statistics.median(walls[impl]), "s")
        emit(impl, case, "peak_rss", statistics.median(rss[impl]), "MB")
    for f in ("anom.h5", "anom_dask.h5", "plain.bin"):
        if os.path.exists(os.path.join(a.dir, f)):
            os.remove(os.path.join(a.dir, f))


if __name__ == "__main__":
    main()
