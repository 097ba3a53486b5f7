"""Writes a climate archive as a model writes one: one NetCDF-4 file per variable and year (or block of years),
daily means at noon, the time units changing from file to file (each file counts days from its own first year,
as some models write them), time_bnds, latitude descending with lat_bnds, longitude 0..360 with lon_bnds,
tas float32 with a _FillValue and a few missing values, deflate. Deterministic for a given seed.

Usage: make_archive.py DIR [--years 1979-1986] [--calendar noleap] [--res 10] [--years-per-file 1]
                           [--fixed-units] [--seed 0] [--prefix tas_day_TESSERA-TEST_historical_r1i1p1f1_gn]
Also importable: write_archive(dir, ...) returns the paths it wrote."""
import argparse
import datetime
import os

import cftime
import netCDF4
import numpy as np


def days_in_year(calendar, year):
    return len(dates_of_year(calendar, year))


def dates_of_year(calendar, year):
    start = cftime.datetime(year, 1, 1, calendar=calendar)
    end = cftime.datetime(year + 1, 1, 1, calendar=calendar)
    n = int(round((end - start).total_seconds() / 86400))
    return [start + datetime.timedelta(days=d) for d in range(n)]


def write_file(path, calendar, years, res, units, seed, variable="tas", fill=1e20, dtype="f4", lat_flip=False,
               lon_shift=0.0, attrs_fill=None, days_per_record=1):
    rng = np.random.default_rng(seed)
    lat = np.arange(90 - res / 2, -90, -res)
    if lat_flip:
        lat = lat[::-1]
    lon = np.arange(res / 2, 360, res) + lon_shift
    days = [d for y in years for d in dates_of_year(calendar, y)][::days_per_record]
    noon = [d + datetime.timedelta(hours=12) for d in days]
    t = netCDF4.date2num(noon, units, calendar=calendar)
    tb = np.stack([netCDF4.date2num(days, units, calendar=calendar),
                   netCDF4.date2num([d + datetime.timedelta(days=days_per_record) for d in days], units,
                                    calendar=calendar)], 1)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.Conventions = "CF-1.7 CMIP-6.2"
        nc.history = f"{years[0]}-01-01: written by make_archive.py"
        nc.createDimension("time", None)
        nc.createDimension("bnds", 2)
        nc.createDimension("lat", len(lat))
        nc.createDimension("lon", len(lon))
        tv = nc.createVariable("time", "f8", ("time",))
        tv.units, tv.calendar, tv.standard_name, tv.axis, tv.bounds = units, calendar, "time", "T", "time_bnds"
        tv[:] = t
        nc.createVariable("time_bnds", "f8", ("time", "bnds"))[:] = tb
        la = nc.createVariable("lat", "f8", ("lat",))
        la.units, la.standard_name, la.axis, la.bounds = "degrees_north", "latitude", "Y", "lat_bnds"
        la[:] = lat
        lab = np.stack([lat + res / 2, lat - res / 2], 1) if not lat_flip else np.stack([lat - res / 2, lat + res / 2], 1)
        nc.createVariable("lat_bnds", "f8", ("lat", "bnds"))[:] = np.clip(lab, -90, 90)
        lo = nc.createVariable("lon", "f8", ("lon",))
        lo.units, lo.standard_name, lo.axis, lo.bounds = "degrees_east", "longitude", "X", "lon_bnds"
        lo[:] = lon
        nc.createVariable("lon_bnds", "f8", ("lon", "bnds"))[:] = np.stack([lon - res / 2, lon + res / 2], 1)
        v = nc.createVariable(variable, dtype, ("time", "lat", "lon"), zlib=True, complevel=1,
                              fill_value=np.array(fill, dtype=dtype), chunksizes=(min(len(t), 73), len(lat), len(lon)))
        v.units, v.standard_name, v.long_name = "K", "air_temperature", "Near-Surface Air Temperature"
        for k, a in (attrs_fill or {}).items():
            setattr(v, k, a)
        doy = np.array([(d - cftime.datetime(d.year, 1, 1, calendar=calendar)).days for d in days])
        season = -10 * np.cos(2 * np.pi * doy / 365.0)[:, None, None] * np.sign(lat)[None, :, None]
        base = 250 + 40 * np.cos(np.deg2rad(lat))[None, :, None] + 3 * np.sin(np.deg2rad(lon))[None, None, :]
        data = (base + season + rng.normal(0, 2, (len(t), len(lat), len(lon)))).astype(dtype)
        data = np.ma.masked_array(data, mask=np.zeros(data.shape, bool))
        data.mask[::37, 1, 2] = True  # a station that reports on some days only
        v[:] = data
    return path


def write_archive(directory, years=(1979, 1986), calendar="noleap", res=10.0, years_per_file=1, fixed_units=False,
                  seed=0, prefix="tas_day_TESSERA-TEST_historical_r1i1p1f1_gn"):
    os.makedirs(directory, exist_ok=True)
    paths = []
    for y0 in range(years[0], years[1] + 1, years_per_file):
        ys = list(range(y0, min(y0 + years_per_file, years[1] + 1)))
        units = "days since 1850-01-01" if fixed_units else f"days since {ys[0]}-01-01"
        path = os.path.join(directory, f"{prefix}_{ys[0]}0101-{ys[-1]}1231.nc")
        write_file(path, calendar, ys, res, units, seed + ys[0])
        paths.append(path)
    return paths


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--years", default="1979-1986")
    p.add_argument("--calendar", default="noleap")
    p.add_argument("--res", type=float, default=10.0)
    p.add_argument("--years-per-file", type=int, default=1)
    p.add_argument("--fixed-units", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prefix", default="tas_day_TESSERA-TEST_historical_r1i1p1f1_gn")
    a = p.parse_args()
    y0, y1 = (int(x) for x in a.years.split("-"))
    for path in write_archive(a.dir, (y0, y1), a.calendar, a.res, a.years_per_file, a.fixed_units, a.seed, a.prefix):
        print(path)


if __name__ == "__main__":
    main()
