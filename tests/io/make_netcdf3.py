"""Writes NetCDF-3 test files with netCDF4-python and dumps what they hold, for tests/io/netcdf3_test.cc.

Usage: make_netcdf3.py DIR
Writes DIR/*.nc, DIR/manifest.txt and DIR/*.bin. Manifest lines (fields separated by one space; text
hex-encoded; lists comma-separated, "-" when empty):
  file FILE FORMAT
  dim FILE NAME LENGTH UNLIMITED(0|1)
  gatt FILE NAME TYPE VALUES            TYPE "string": VALUES is the hex of the text; else numbers (repr)
  var FILE NAME STORED_TYPE DTYPE SHAPE DIMS      DTYPE "-": tessera refuses to read it
  vatt FILE VAR NAME TYPE VALUES
  data FILE VAR START COUNT BIN         BIN: the block's values as DTYPE, little endian, C order
"""
import os
import sys

import netCDF4
import numpy as np

TESSERA_DTYPE = {"i1": "int16", "u1": "uint8", "i2": "int16", "u2": "int32", "i4": "int32", "u4": "int64",
                 "i8": "int64", "f4": "float32", "f8": "float64"}
FORMAT_NAME = {"NETCDF3_CLASSIC": "classic", "NETCDF3_64BIT_OFFSET": "offset64", "NETCDF3_64BIT_DATA": "cdf5"}


def lst(xs):
    return ",".join(str(x) for x in xs) if len(xs) else "-"


def attr_fields(value):
    if isinstance(value, str):
        return "string " + (value.encode().hex() or "-")
    a = np.atleast_1d(value)
    return a.dtype.name + " " + lst([repr(float(x)) for x in a])


def common_content(ds, rng, cdf5):
    ds.createDimension("time", None)
    ds.createDimension("lat", 5)
    ds.createDimension("lon", 7)
    ds.createDimension("nchar", 4)
    ds.title = "tessera NetCDF-3 test"
    ds.history = "written by make_netcdf3.py; second line\nhere"
    ds.version = np.int32(3)
    ds.scales = np.array([0.5, 1.5, -2.25], dtype=np.float32)
    ds.doubles = np.array([1e300, -2.5], dtype=np.float64)
    ds.bytes = np.array([-1, 2, 127], dtype=np.int8)
    ds.shorts = np.int16(-300)
    ds.empty_text = ""
    if cdf5:
        ds.u8 = np.array([200, 3], dtype=np.uint8)
        ds.i64 = np.int64(-(2 ** 40))
        ds.u16 = np.uint16(65000)

    t = ds.createVariable("time", "f8", ("time",))
    t.units = "days since 1850-01-01"
    t.calendar = "noleap"
    lat = ds.createVariable("lat", "f8", ("lat",))
    lat.units = "degrees_north"
    lat[:] = np.linspace(-60, 60, 5)
    lon = ds.createVariable("lon", "f4", ("lon",))
    lon[:] = np.arange(7, dtype=np.float32) * 51.5
    temp = ds.createVariable("temp", "f4", ("time", "lat", "lon"), fill_value=np.float32(-999.0))
    temp.units = "K"
    temp.resolution = np.float32(0.01)
    counts = ds.createVariable("counts", "i2", ("time", "lon"))
    flags = ds.createVariable("flags", "i1", ("lat",))
    flags.valid_range = np.array([-128, 127], dtype=np.int8)
    flags[:] = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    idx = ds.createVariable("idx", "i4", ("lat", "lon"))
    idx[:] = rng.integers(-2 ** 31, 2 ** 31, size=(5, 7), dtype=np.int64).astype(np.int32)
    name = ds.createVariable("name", "S1", ("lat", "nchar"))
    name[:] = netCDF4.stringtochar(np.array(["ab", "cdef", "g", "", "hijk"], dtype="S4"))
    scalar = ds.createVariable("scalar", "f8", ())
    scalar.comment = "a rank-0 variable"
    scalar.assignValue(2.718281828459045)
    nrec = 6
    t[:nrec] = np.arange(nrec) * 30.5
    values = rng.normal(280, 10, size=(nrec, 5, 7)).astype(np.float32)
    values = np.ma.masked_array(values, mask=rng.random(values.shape) < 0.2)
    temp[:nrec] = values
    counts[:nrec] = rng.integers(-32768, 32768, size=(nrec, 7)).astype(np.int16)
    if cdf5:
        v = ds.createVariable("u8v", "u1", ("lat",))
        v[:] = np.array([0, 1, 128, 254, 255], dtype=np.uint8)
        v = ds.createVariable("u16v", "u2", ("lat", "lon"))
        v[:] = rng.integers(0, 65536, size=(5, 7)).astype(np.uint16)
        v = ds.createVariable("u32v", "u4", ("lon",))
        v[:] = np.array([0, 1, 2 ** 31, 2 ** 32 - 1, 7, 8, 9], dtype=np.uint32)
        v = ds.createVariable("i64v", "i8", ("time", "lat"))
        v[:nrec] = rng.integers(-2 ** 62, 2 ** 62, size=(nrec, 5), dtype=np.int64)
        v = ds.createVariable("u64v", "u8", ("lat",))
        v[:] = np.arange(5, dtype=np.uint64) + 2 ** 63


def single_record_content(ds, rng, cdf5):
    # One record variable of 7 shorts: records are 14 bytes apart (no padding to 4).
    ds.createDimension("rec", None)
    ds.createDimension("x", 7)
    v = ds.createVariable("s", "i2", ("rec", "x"))
    v[:9] = rng.integers(-32768, 32768, size=(9, 7)).astype(np.int16)
    w = ds.createVariable("fixed", "f8", ("x",))
    w[:] = rng.normal(size=7)


def padded_records_content(ds, rng, cdf5):
    # Record variables whose slabs are padded to 4 bytes: 3 bytes -> 4, 6 bytes -> 8.
    ds.createDimension("rec", None)
    ds.createDimension("x", 3)
    b = ds.createVariable("b", "i1", ("rec", "x"))
    s = ds.createVariable("s", "i2", ("rec", "x"))
    d = ds.createVariable("d", "f8", ("rec",))
    b[:5] = rng.integers(-128, 128, size=(5, 3)).astype(np.int8)
    s[:5] = rng.integers(-32768, 32768, size=(5, 3)).astype(np.int16)
    d[:5] = rng.normal(size=5)


def empty_records_content(ds, rng, cdf5):
    ds.createDimension("time", None)
    ds.createDimension("x", 4)
    ds.createVariable("r", "f4", ("time", "x"))
    f = ds.createVariable("f", "i4", ("x",))
    f[:] = np.arange(4, dtype=np.int32) - 2


FILES = [
    ("classic.nc", "NETCDF3_CLASSIC", common_content, False),
    ("offset64.nc", "NETCDF3_64BIT_OFFSET", common_content, False),
    ("cdf5.nc", "NETCDF3_64BIT_DATA", common_content, True),
    ("single_record.nc", "NETCDF3_CLASSIC", single_record_content, False),
    ("padded_records.nc", "NETCDF3_64BIT_OFFSET", padded_records_content, False),
    ("empty_records.nc", "NETCDF3_CLASSIC", empty_records_content, False),
]


def slabs(shape, rng):
    """The whole variable, then odd blocks: random ones, inner axes whole, single elements."""
    shape = list(shape)
    out = [([0] * len(shape), shape)]
    if not shape or 0 in shape:
        return out
    for _ in range(4):
        start = [int(rng.integers(0, n)) for n in shape]
        count = [int(rng.integers(1, n - s + 1)) for n, s in zip(shape, start)]
        out.append((start, count))
    if len(shape) >= 2:
        out.append(([1 % shape[0]] + [0] * (len(shape) - 1), [max(shape[0] - 1, 1)] + shape[1:]))
        out.append(([0] * (len(shape) - 1) + [shape[-1] - 1], shape[:-1] + [1]))
    out.append(([n - 1 for n in shape], [1] * len(shape)))
    return out


def main(outdir):
    rng = np.random.default_rng(20240611)
    lines = []
    nbin = 0
    for fname, fmt, content, cdf5 in FILES:
        path = os.path.join(outdir, fname)
        with netCDF4.Dataset(path, "w", format=fmt) as ds:
            content(ds, rng, cdf5)
        with netCDF4.Dataset(path) as ds:
            ds.set_auto_maskandscale(False)
            lines.append(f"file {fname} {FORMAT_NAME[ds.data_model]}")
            for d in ds.dimensions.values():
                lines.append(f"dim {fname} {d.name} {len(d)} {int(d.isunlimited())}")
            for k in ds.ncattrs():
                lines.append(f"gatt {fname} {k} {attr_fields(ds.getncattr(k))}")
            for v in ds.variables.values():
                kind = v.dtype.kind + str(v.dtype.itemsize) if v.dtype != "S1" else "S1"
                stored = ("|" if v.dtype.itemsize == 1 else ">") + kind
                dtype = TESSERA_DTYPE.get(kind, "-")
                lines.append(f"var {fname} {v.name} {stored} {dtype} {lst(v.shape)} {lst(v.dimensions)}")
                for k in v.ncattrs():
                    lines.append(f"vatt {fname} {v.name} {k} {attr_fields(v.getncattr(k))}")
                if dtype == "-":
                    continue
                whole = np.asarray(v[...]) if v.shape else np.asarray(v.getValue())
                for start, count in slabs(v.shape, rng):
                    sel = tuple(slice(s, s + c) for s, c in zip(start, count))
                    block = whole[sel] if sel else whole
                    bin_name = f"block{nbin}.bin"
                    nbin += 1
                    np.ascontiguousarray(block, dtype=np.dtype(dtype).newbyteorder("<")).tofile(
                        os.path.join(outdir, bin_name))
                    lines.append(f"data {fname} {v.name} {lst(start)} {lst(count)} {bin_name}")
    with open(os.path.join(outdir, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
