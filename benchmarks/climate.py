"""`climate` benchmark: a synthetic 30-year daily archive at 1 degree, one file per year (like a CMIP model's:
noleap calendar, time units that change between files, descending latitude, longitude 0..360 with bounds,
float32 with missing values, deflate), and five pipelines, each as a tessera job (local threads, and under
mpiexec -n 3), as one chained `cdo -P 2` command and as xarray + Dask threads (2 workers), whole processes:

  monthly     monthly means of the whole record                  cdo monmean -mergetime
  climanom    1981-2010 monthly climatology and the anomalies    cdo ymonsub x -ymonmean -seldate x
  globalmean  area-weighted global mean of the annual means      cdo fldmean -yearmean
  seasonbox   seasonal means over a box across 0 E               cdo seasmean -sellonlatbox
  stdanom     standardized anomaly                               cdo div -sub x -timmean x -timstd x

Reports wall time and peak RSS (the largest process of each run's process tree; medians of --reps runs, the
implementations taking turns), plus the time to open the metadata of 1,000 small files (`tessera check` of a
job over them vs xarray.open_mfdataset). --quick: 6 years at 2 degrees.

Usage: climate.py TESSERA [--quick] [--reps N] [--dir DIR] [--only PIPELINE,...]"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "climate"))
import make_archive  # noqa: E402

PYTHON = "/usr/bin/python3"

# Runs a command and prints its wall time and the peak RSS of its process tree (RUSAGE_CHILDREN counts every
# descendant that was waited for: mpiexec's ranks, cdo's threads' process).
MEASURE = r'''
import resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace"))
    sys.exit(p.returncode)
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
'''

XARRAY = r'''
import sys, warnings, dask, numpy as np, xarray as xr
warnings.simplefilter("ignore")
pipeline, out, base0, base1 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
files = sys.argv[5:]
with dask.config.set(scheduler="threads", num_workers=2):
    ds = xr.open_mfdataset(files, combine="by_coords", use_cftime=True, chunks={"time": 73})
    t = ds.tas
    if pipeline == "monthly":
        r = t.resample(time="MS").mean()
    elif pipeline == "climanom":
        clim = t.sel(time=slice(base0, base1)).groupby("time.month").mean()
        r = (t.groupby("time.month") - clim).to_dataset(name="anom")
        r["clim"] = clim
    elif pipeline == "globalmean":
        lb, ob = ds.lat_bnds.isel(time=0, drop=True), ds.lon_bnds.isel(time=0, drop=True)
        w = np.abs(np.sin(np.deg2rad(lb[:, 1])) - np.sin(np.deg2rad(lb[:, 0]))) * np.deg2rad(ob[:, 1] - ob[:, 0])
        r = t.resample(time="AS").mean().weighted(w.compute()).mean(("lat", "lon"))
    elif pipeline == "seasonbox":
        box = t.sel(lat=slice(30, -30))
        box = xr.concat([box.sel(lon=slice(340, 360)), box.sel(lon=slice(0, 40))], dim="lon")
        r = box.resample(time="QS-DEC").mean()
    else:
        r = (t - t.mean("time")) / t.std("time")
    r.to_netcdf(out)
'''

PIPELINES = {
    "monthly": ('resample(t, "time", "month", "nanmean")', None),
    "climanom": (None, None),
    "globalmean": ('fldmean(resample(t, "time", "year", "nanmean"))', None),
    "seasonbox": ('resample(sel(t, lat=[-30, 30], lon=[-20, 40]), "time", "season", "nanmean")', None),
    "stdanom": ('(t - nanmean(t, axis=0)) / nanstd(t, axis=0)', None),
}


def emit(impl, case, metric, value, unit):
    print(json.dumps({"bench": "climate", "impl": impl, "case": case, "metric": metric, "value": value,
                      "unit": unit}), flush=True)


def job_text(pipeline, base0, base1):
    head = '[inputs.t]\nfiles = "archive/tas_day_*.nc"\nvariable = "tas"\n'
    if pipeline == "climanom":
        return (head + f'[outputs.clim]\nfile = "out_{pipeline}.nc"\n'
                f'expression = \'groupby_nanmean(sel(t, time=["{base0}", "{base1}"]), "time.month")\'\n'
                f'[outputs.anom]\nfile = "out_{pipeline}.nc"\n'
                f'expression = \'anomaly(t, "time.month", baseline=["{base0}", "{base1}"], skipna=true)\'\n')
    return head + f'[outputs.r]\nfile = "out_{pipeline}.nc"\nexpression = \'{PIPELINES[pipeline][0]}\'\n'


def cdo_command(pipeline, files, out, base0, base1):
    """One chained `cdo -P 2` command; where the chain reads the archive more than once, CDO 2.1 refuses two
    variable-input operators (mergetime) in one chain, so the files are merged first, as users do there."""
    merged = ["-mergetime", "["] + files + ["]"]  # CDO wants a variable-input operator's files in brackets
    cdo = ["cdo", "-s", "-P", "2"]
    if pipeline == "monthly":
        return cdo + ["monmean"] + merged + [out]
    if pipeline == "globalmean":
        return cdo + ["fldmean", "-yearmean"] + merged + [out]
    if pipeline == "seasonbox":
        return cdo + ["seasmean", "-sellonlatbox,-20,40,-30,30"] + merged + [out]
    first = " ".join(shlex.quote(c) for c in cdo + ["mergetime"] + files + ["cdo_merged.nc"])
    if pipeline == "climanom":
        chain = cdo + ["ymonsub", "cdo_merged.nc", "-ymonmean", f"-seldate,{base0}-01-01,{base1}-12-31",
                       "cdo_merged.nc", out]
    else:
        chain = cdo + ["div", "-sub", "cdo_merged.nc", "-timmean", "cdo_merged.nc", "-timstd", "cdo_merged.nc", out]
    return ["bash", "-c", f"{first} && {' '.join(shlex.quote(c) for c in chain)} && rm cdo_merged.nc"]


def measure(cmd, cwd, env=None):
    p = subprocess.run([PYTHON, "-c", MEASURE] + cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"climate: {' '.join(cmd[:8])} ... failed:\n{p.stderr}")
    wall, rss = p.stdout.split()
    return float(wall), float(rss)


def mpi_launcher():
    cmd = ["mpiexec", "-n", "3", "--bind-to", "none", "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd, dict(os.environ, OMPI_MCA_mpi_yield_when_idle="1")


def open_many(tessera, base):
    """Metadata of 1,000 small files: `tessera check` of a job over them vs xarray.open_mfdataset."""
    d = os.path.join(base, "many")
    if not os.path.exists(os.path.join(d, "done")):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "archive"))
        for i in range(1000):
            y = 1000 + i
            make_archive.write_file(os.path.join(d, "archive", f"tas_mon_{y:04d}.nc"), "noleap", [y], 30.0,
                                    f"days since {y}-01-01", i, days_per_record=30)
        open(os.path.join(d, "done"), "w").close()
    with open(os.path.join(d, "job.toml"), "w") as f:
        f.write('[inputs.t]\nfiles = "archive/tas_mon_*.nc"\nvariable = "tas"\n[outputs.m]\nfile = "m.nc"\n'
                'expression = \'mean(t, axis=0)\'\n')
    files = sorted(os.path.join(d, "archive", f) for f in os.listdir(os.path.join(d, "archive")))
    xr_cmd = [PYTHON, "-c", "import sys, warnings, xarray as xr; warnings.simplefilter('ignore'); "
              "xr.open_mfdataset(sys.argv[1:], combine='by_coords', use_cftime=True)"] + files
    walls = {"tessera-local": [], "xarray-dask": []}
    for _ in range(3):
        walls["tessera-local"].append(measure([tessera, "check", "job.toml"], d)[0])
        walls["xarray-dask"].append(measure(xr_cmd, d)[0])
    for impl, w in walls.items():
        emit(impl, "open-1000files", "wall", statistics.median(w), "s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tessera")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/tessera-bench-climate")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    years, res = ((1981, 1986), 2.0) if a.quick else ((1981, 2010), 1.0)
    base0, base1 = ("1982", "1985") if a.quick else ("1981", "2010")
    name = f"{years[1] - years[0] + 1}y-{res:g}deg"
    work = os.path.join(a.dir, name)
    arch = os.path.join(work, "archive")
    if not os.path.exists(os.path.join(work, "done")):
        shutil.rmtree(work, ignore_errors=True)
        print(f"# writing the archive {arch}", file=sys.stderr, flush=True)
        make_archive.write_archive(arch, years, "noleap", res)
        open(os.path.join(work, "done"), "w").close()
    files = sorted(os.path.join(arch, f) for f in os.listdir(arch))
    launcher, mpi_env = mpi_launcher()
    pipelines = [p for p in PIPELINES if not a.only or p in a.only.split(",")]
    for pipeline in pipelines:
        with open(os.path.join(work, f"{pipeline}.toml"), "w") as f:
            f.write(job_text(pipeline, base0, base1))
        runs = {
            "tessera-local": ([a.tessera, "run", f"{pipeline}.toml", "--overwrite", "-q", "--threads", "2"], None),
            "tessera-mpi-3": (launcher + [a.tessera, "run", f"{pipeline}.toml", "--overwrite", "-q"], mpi_env),
            "cdo": (cdo_command(pipeline, files, f"cdo_{pipeline}.nc", base0, base1), None),
            "xarray-dask": ([PYTHON, "-c", XARRAY, pipeline, f"xr_{pipeline}.nc", base0, base1] + files, None),
        }
        walls = {impl: [] for impl in runs}
        rss = {impl: [] for impl in runs}
        for _ in range(a.reps):
            for impl, (cmd, env) in runs.items():
                for out in (f"cdo_{pipeline}.nc", f"xr_{pipeline}.nc"):
                    if os.path.exists(os.path.join(work, out)):
                        os.remove(os.path.join(work, out))
                os.sync()
                w, r = measure(cmd, work, env)
                walls[impl].append(w)
                rss[impl].append(r)
        case = f"{name}-{pipeline}"
        for impl in runs:
            emit(impl, case, "wall", statistics.median(walls[impl]), "s")
            emit(impl, case, "peak_rss", statistics.median(rss[impl]), "MB")
    if not a.only or "open" in a.only.split(","):
        open_many(a.tessera, a.dir)


if __name__ == "__main__":
    main()
