"""NumPy's side of tests/arrays/numpy_oracle.h: evaluates each case's expression over the saved inputs and
compares with tessera's result (shape, dtype, values). Prints "OK name" or "FAIL name: why" per case."""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("NUMPY MISSING")
    sys.exit(0)


def main(folder, extra=None):
    env = {"np": np, **(extra or {})}
    cases = []
    with open(os.path.join(folder, "manifest.txt")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "input":
                env[parts[1]] = np.load(os.path.join(folder, parts[1] + ".npy"))
            else:
                cases.append(parts[1:])
    for name, path, rtol, atol, dtype, expr in cases:
        got = np.load(path)
        try:
            with np.errstate(all="ignore"):
                want = np.asarray(eval(expr, env))
        except Exception as e:  # the expression itself failed
            print(f"FAIL {name}: numpy raised {e!r} for {expr}")
            continue
        want_dtype = np.dtype(dtype) if dtype != "-" else want.dtype
        if got.shape != want.shape:
            print(f"FAIL {name}: shape {got.shape}, numpy {want.shape} ({expr})")
            continue
        if got.dtype != want_dtype:
            print(f"FAIL {name}: dtype {got.dtype}, numpy {want_dtype} ({expr})")
            continue
        rtol, atol = float(rtol), float(atol)
        w = want.astype(want_dtype)
        if rtol == 0 and atol == 0:
            same = np.array_equal(got, w, equal_nan=got.dtype.kind == "f")
        else:
            same = np.allclose(got, w, rtol=rtol, atol=atol, equal_nan=True)
        if same:
            print(f"OK {name}")
        else:
            diff = np.abs(got.astype(np.float64) - w.astype(np.float64))
            worst = np.unravel_index(np.nanargmax(diff), diff.shape) if diff.size else ()
            print(f"FAIL {name}: values differ ({expr}); worst at {worst}: got {got[worst]!r}, numpy {w[worst]!r}")


if __name__ == "__main__":
    main(sys.argv[1])
