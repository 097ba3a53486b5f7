"""Writes a small synthetic climate file for the job examples and end-to-end tests: daily near-surface
temperature t2m(time, lat, lon) with a seasonal cycle, a CF time axis in a chosen calendar and a land mask of
missing values (_FillValue), plus lat/lon coordinates. Usage: make_climate.py OUT.nc [CALENDAR] [DAYS]"""
import sys

import numpy as np
import netCDF4


def main(path, calendar="noleap", days=730, nlat=18, nlon=24):
    rng = np.random.default_rng(42)
    lat = np.linspace(-85, 85, nlat)
    lon = np.arange(nlon) * (360.0 / nlon)
    year = 360.0 if calendar == "360_day" else 365.0
    t = np.arange(days, dtype=np.float64)
    seasonal = 10 * np.cos(2 * np.pi * (t[:, None, None] - 15) / year) * np.sin(np.radians(lat))[None, :, None]
    base = 288 - 30 * np.sin(np.radians(lat)) ** 2
    data = (base[None, :, None] + seasonal + rng.normal(0, 2, (days, nlat, nlon))).astype(np.float32)
    land = (np.abs(lat)[:, None] < 30) & (lon[None, :] > 60) & (lon[None, :] < 120)
    data[:, land] = np.nan
    with netCDF4.Dataset(path, "w", format="NETCDF4") as f:
        f.createDimension("time", days)
        f.createDimension("lat", nlat)
        f.createDimension("lon", nlon)
        vt = f.createVariable("time", "f8", ("time",))
        vt.units = "days since 2000-01-01"
        vt.calendar = calendar
        vt[:] = t
        vlat = f.createVariable("lat", "f8", ("lat",))
        vlat.units = "degrees_north"
        vlat[:] = lat
        vlon = f.createVariable("lon", "f8", ("lon",))
        vlon.units = "degrees_east"
        vlon[:] = lon
        v = f.createVariable("t2m", "f4", ("time", "lat", "lon"), chunksizes=(73, nlat, nlon), fill_value=np.float32(-9999))
        v.units = "K"
        v.long_name = "2 metre temperature"
        v[:] = np.ma.masked_invalid(data)


if __name__ == "__main__":
    main(sys.argv[1], *(sys.argv[2:3] or []), *([int(sys.argv[3])] if len(sys.argv) > 3 else []))
