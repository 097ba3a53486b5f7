"""`tessera demo` (the climate demo), optionally under a launcher: it must exit 0 and leave the input and the two
jobs' outputs, and those must equal what xarray computes from the demo's own input file.
Usage: climate_demo_check.py TESSERA DIR [LAUNCHER ARGS...]"""
import os
import shutil
import subprocess
import sys

import numpy as np
import xarray as xr

tessera, d, launcher = sys.argv[1], sys.argv[2], sys.argv[3:]
shutil.rmtree(d, ignore_errors=True)
p = subprocess.run([*launcher, tessera, "demo", "--dir", d, "--years", "1", "--resolution", "6"],
                   capture_output=True, text=True, env=dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1"))
print(p.stdout[-3000:], p.stderr[-3000:])
if p.returncode != 0:
    print(f"FAIL demo exited {p.returncode}")
    sys.exit(1)
for f in ("climate.nc", "standardized_anomaly.nc", "monthly.nc", "standardized_anomaly.toml",
          "monthly_climatology.toml"):
    if not os.path.exists(os.path.join(d, f)):
        print(f"FAIL {f} is missing")
        sys.exit(1)
ds = xr.open_dataset(os.path.join(d, "climate.nc"), use_cftime=True)
t = ds["t2m"].astype("float64")
land = np.isnan(t.values[0])
if not (0.05 < land.mean() < 0.6) or not np.isnan(t.values).any(axis=0).sum() == land.sum():
    print(f"FAIL the land mask is not a fixed set of missing points ({land.mean():.2f} of the grid)")
    sys.exit(1)
if ds["time"].attrs.get("calendar", ds["time"].encoding.get("calendar")) != "noleap":
    print("FAIL the time axis is not in the noleap calendar")
    sys.exit(1)
anom = xr.open_dataset(os.path.join(d, "standardized_anomaly.nc"))["anom"].values
want = ((t - t.mean("time")) / t.std("time")).values
if not np.allclose(anom, want, rtol=1e-4, atol=1e-4, equal_nan=True):
    print("FAIL standardized anomaly differs from xarray")
    sys.exit(1)
m = xr.open_dataset(os.path.join(d, "monthly.nc"))
clim = t.groupby("time.month").mean("time", skipna=False)
if not np.allclose(m["climatology"].values, clim.values, rtol=1e-5, atol=1e-4, equal_nan=True):
    print("FAIL monthly climatology differs from xarray")
    sys.exit(1)
a = t.groupby("time.month") - clim
if not np.allclose(m["anomaly"].values, a.values, rtol=1e-5, atol=1e-4, equal_nan=True):
    print("FAIL monthly anomalies differ from xarray")
    sys.exit(1)
w = np.cos(np.radians(ds["lat"]))
g = a.weighted(w.fillna(0)).mean(("lat", "lon"), skipna=True)
if not np.allclose(m["global_anomaly"].values, g.values, rtol=1e-6, atol=1e-6):
    print("FAIL global mean anomaly differs from xarray")
    sys.exit(1)
print("OK climate demo")
