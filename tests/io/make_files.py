"""Writes the input files tests/io/io_test.cc reads, with independent tools (h5py, netCDF4-python, nccopy).
Usage: make_files.py DIR"""
import os
import subprocess
import sys

import h5py
import netCDF4
import numpy as np

d = sys.argv[1]
rng = np.random.default_rng(7)

with h5py.File(os.path.join(d, "plain.h5"), "w") as f:
    f.create_dataset("f32_chunked", data=rng.standard_normal((37, 50, 23)).astype("f4"), chunks=(10, 16, 8))
    f.create_dataset("f64_contiguous", data=rng.standard_normal((41, 29)))
    f.create_dataset("gzip_shuffle", data=rng.integers(-1000, 1000, (30, 40)).astype("i4"), chunks=(7, 9),
                     compression="gzip", compression_opts=4, shuffle=True)
    f.create_dataset("fletcher", data=rng.standard_normal((25, 12)).astype("f4"), chunks=(8, 5),
                     compression="gzip", fletcher32=True)
    f.create_dataset("be_i2", data=rng.integers(-30000, 30000, (19, 21)).astype(">i2"), chunks=(5, 5))
    f.create_dataset("be_f8_contig", data=rng.standard_normal((13, 7)).astype(">f8"))
    f.create_dataset("i8bit", data=rng.integers(-128, 127, (33,)).astype("i1"), chunks=(4,))
    f.create_dataset("u16", data=rng.integers(0, 65535, (17, 3)).astype("u2"))
    f.create_dataset("u8", data=rng.integers(0, 255, (9, 9)).astype("u1"), chunks=(4, 4))
    f.create_dataset("scaleoffset", data=rng.integers(0, 5000, (20, 20)).astype("i4"), chunks=(6, 6),
                     scaleoffset=0)
    partial = f.create_dataset("partial", shape=(20, 20), dtype="f4", chunks=(5, 5), fillvalue=-7.5)
    partial[0:5, 0:10] = 1.25
    partial[12:17, 3:8] = 2.5
    f.create_dataset("scalar", data=np.float64(3.5))
    # Storage chunks of 256 KiB and 128 KiB runs: read with pread straight into the array's chunks.
    f.create_dataset("big_runs", data=rng.standard_normal((32, 64, 64)), chunks=(8, 64, 64))
    f.create_dataset("split_runs", data=rng.standard_normal((8, 128, 512)), chunks=(4, 32, 512))
    g = f.create_group("group")
    g.create_dataset("nested", data=np.arange(12, dtype="i8").reshape(3, 4))
    f.create_dataset("compound", data=np.zeros(4, dtype=[("a", "i4"), ("b", "f8")]))
    f.create_dataset("strings", data=np.array([b"ab", b"cd"]))

# A time coordinate with missing entries (CF forbids them in coordinate variables; tessera must say so).
with netCDF4.Dataset(os.path.join(d, "time_gaps.nc"), "w", format="NETCDF4") as nc:
    nc.createDimension("time", 6)
    t = nc.createVariable("time", "f8", ("time",), fill_value=-1.0)
    t.units = "days since 2000-01-01"
    t[:] = np.ma.masked_array(np.arange(6.0), mask=[0, 0, 1, 0, 1, 0])

# An unlimited dimension with 3 records and no coordinate variable (its dimension scale stays empty).
with netCDF4.Dataset(os.path.join(d, "records.nc"), "w", format="NETCDF4") as nc:
    nc.createDimension("time", None)
    nc.createDimension("x", 4)
    v = nc.createVariable("v", "f4", ("time", "x"))
    v[0:3, :] = np.arange(12, dtype="f4").reshape(3, 4)

with netCDF4.Dataset(os.path.join(d, "climate.nc"), "w", format="NETCDF4") as nc:
    nc.title = "test climate file"
    nc.Conventions = "CF-1.8"
    nc.createDimension("time", 40)
    nc.createDimension("lat", 6)
    nc.createDimension("lon", 8)
    t = nc.createVariable("time", "f8", ("time",))
    t.units = "days since 2000-01-01"
    t.calendar = "noleap"
    t[:] = np.arange(40) * 10.0
    lat = nc.createVariable("lat", "f4", ("lat",))
    lat.units = "degrees_north"
    lat[:] = np.linspace(-75, 75, 6)
    tas = nc.createVariable("tas", "f4", ("time", "lat", "lon"), chunksizes=(7, 3, 4), zlib=True, complevel=2,
                            fill_value=np.float32(1e20))
    tas.units = "K"
    tas.long_name = "air temperature"
    data = (280 + 10 * rng.standard_normal((40, 6, 8))).astype("f4")
    data[3, 2, 1] = 1e20
    data[10:12, 0, :] = 1e20
    tas[:] = np.ma.masked_equal(data, 1e20)
    packed = nc.createVariable("packed", "i2", ("time", "lat"), fill_value=np.int16(-32767))
    packed.scale_factor = np.float32(0.01)
    packed.add_offset = np.float32(273.15)
    packed.set_auto_maskandscale(False)
    raw = rng.integers(-3000, 3000, (40, 6)).astype("i2")
    raw[5, 5] = -32767
    packed[:] = raw
    scaled = nc.createVariable("scaled_only", "i2", ("time",))
    scaled.scale_factor = 0.5
    scaled.set_auto_maskandscale(False)
    scaled[:] = np.arange(40, dtype="i2")
    miss = nc.createVariable("with_missing", "f8", ("lat", "lon"))
    miss.missing_value = -999.0
    m = rng.standard_normal((6, 8))
    m[1, 1] = -999.0
    miss.set_auto_maskandscale(False)
    miss[:] = m

# A NetCDF-4 file made by nccopy (the netCDF C library's own writer), from a classic file.
with netCDF4.Dataset(os.path.join(d, "classic.nc"), "w", format="NETCDF3_CLASSIC") as nc:
    nc.createDimension("x", 30)
    nc.createDimension("y", 11)
    v = nc.createVariable("v", "f4", ("x", "y"))
    v.units = "m"
    v[:] = rng.standard_normal((30, 11)).astype("f4")
subprocess.run(["nccopy", "-k", "nc4", "-d", "1", "-s", "-c", "x/8,y/4", os.path.join(d, "classic.nc"),
                os.path.join(d, "nccopy.nc")], check=True)

# Dimension scales attached by h5py, not NetCDF: a scale in a group, two scales on one axis (the first names
# it), an axis without one, and a scale linked under two names.
with h5py.File(os.path.join(d, "scales.h5"), "w") as f:
    x = f.create_group("grid").create_dataset("x", data=np.arange(5.0))
    x.make_scale("x")
    y = f.create_dataset("y", data=np.arange(3.0))
    y.make_scale("y")
    y_alt = f.create_dataset("y_alt", data=np.arange(3.0) * 2)
    y_alt.make_scale("y_alt")
    v = f.create_dataset("v", data=np.zeros((3, 5, 2)))
    v.dims[0].attach_scale(y)
    v.dims[0].attach_scale(y_alt)
    v.dims[1].attach_scale(x)
    w = f.create_dataset("w", data=np.zeros((5, 3)))
    w.dims[0].attach_scale(x)
    w.dims[1].attach_scale(y_alt)
    f["z_link_to_x"] = x

with open(os.path.join(d, "text.txt"), "w") as f:
    f.write("this is not a data file\n")
with open(os.path.join(d, "plain.h5"), "rb") as f:
    head = f.read(3000)
with open(os.path.join(d, "truncated.h5"), "wb") as f:
    f.write(head)

# A dataset stored with a filter this HDF5 has no plugin for (blosc, as PyTables writes it): its chunks are
# written raw, the filter only named in the pipeline.
with h5py.File(os.path.join(d, "unknown_filter.h5"), "w") as f:
    x = f.create_dataset("i4", shape=(4, 6), dtype="<i4", chunks=(2, 6), compression=32001,
                         compression_opts=(2, 2, 4, 48, 5, 1, 1), allow_unknown_filter=True)
    x.id.write_direct_chunk((0, 0), np.arange(12, dtype="<i4").tobytes())
