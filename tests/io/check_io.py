"""The io tests' oracle: tests/arrays/check_numpy.py with h5py and xarray readers in the expressions' scope:
h5(path, name) is h5py's view of a dataset, xr(path, name) xarray's decoded variable (CF decoding on)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "arrays"))
import check_numpy  # noqa: E402

try:
    import h5py
    import xarray
except ImportError:
    print("NUMPY MISSING")
    sys.exit(0)


def h5(path, name):
    with h5py.File(path, "r") as f:
        return f[name][()]


def xr(path, name):
    with xarray.open_dataset(path, decode_times=False) as ds:
        return ds[name].values


if __name__ == "__main__":
    check_numpy.main(sys.argv[1], {"h5": h5, "xr": xr})
