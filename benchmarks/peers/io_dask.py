"""Peers of `read` and `write` (benchmarks/io.cc): h5py alone and Dask threads (from_array / store) on the same
float32 chunked dataset (1 GiB; --quick 256 MiB). Usage: io_dask.py read|write [--quick] [--reps N] [--dir DIR]"""
import argparse
import json
import os
import statistics
import tempfile
import time

import dask
import dask.array as da
import h5py
import numpy as np


def emit(bench, impl, case, metric, value, unit):
    print(json.dumps({"bench": bench, "impl": impl, "case": case, "metric": metric, "value": value,
                      "unit": unit}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["read", "write"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "tessera-bench-io"))
    a = p.parse_args()
    shape = (256, 512, 512) if a.quick else (1024, 512, 512)
    chunks = (64, 128, 128)
    case = ("256MiB" if a.quick else "1GiB") + "-f32-c64x128x128"
    nbytes = np.prod(shape) * 4
    os.makedirs(a.dir, exist_ok=True)
    # Dask's from_array chunks: the same 4 MiB chunks grown like tessera's default (toward 64 MiB).
    with dask.config.set(scheduler="threads", num_workers=2):
        if a.mode == "read":
            path = os.path.join(a.dir, f"data-{case}.h5")  # written by bench_io read (runs first)
            h5, dk = [], []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                with h5py.File(path, "r") as f:
                    f["x"][()]
                h5.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with h5py.File(path, "r") as f:
                    x = da.from_array(f["x"], chunks=(128, 256, 256))
                    x.map_blocks(lambda b: b[:1, :1, :1], chunks=(1, 1, 1)).compute()
                dk.append(time.perf_counter() - t0)
            emit("read", "h5py", case, "throughput", nbytes / statistics.median(h5) / 1e9, "GB/s")
            emit("read", "dask-threads", case, "throughput", nbytes / statistics.median(dk) / 1e9, "GB/s")
        else:
            h5, dk = [], []
            for _ in range(a.reps):
                path = os.path.join(a.dir, "dask_out.h5")
                t0 = time.perf_counter()
                with h5py.File(path, "w") as f:
                    d = f.create_dataset("x", shape=shape, dtype="f4", chunks=chunks)
                    da.store(da.full(shape, 1.5, dtype="f4", chunks=chunks), d)
                    f.flush()
                    os.fsync(f.id.get_vfd_handle())
                dk.append(time.perf_counter() - t0)
                os.remove(path)
            emit("write", "dask-threads", case, "throughput", nbytes / statistics.median(dk) / 1e9, "GB/s")


if __name__ == "__main__":
    main()
