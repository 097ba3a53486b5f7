"""End-to-end test of climate archives through the `tessera` command line: archives of yearly files (noleap,
standard and 360_day calendars, time units that change from file to file, descending latitude, longitude
0..360 with bounds, missing values, deflate) are read by jobs that select periods and boxes, resample, compute
climatologies and anomalies from a baseline and area-weighted means; every output is compared with CDO
(`cdo -P 2`: mergetime, seldate, sellonlatbox, monmean, seasmean, yearmean, ymonmean, fldmean, timmean) and
xarray (open_mfdataset, sel, resample, groupby, weighted), and checked for CF (time_bnds, cell_methods, carried
bounds, history; `cdo sinfon` and `ncdump -h` read it). Archives that do not fit together are refused by
`tessera check` with exit 2 and a message naming both files. Sixty small files, scanned several to a task (whose
scans travel between ranks as one record under a LAUNCHER), join as xarray joins them. With a LAUNCHER the jobs
run under it and their outputs must be byte-identical to a local run.

Usage: check_climate.py TESSERA WORK [LAUNCHER...]"""
import datetime
import glob
import os
import shutil
import subprocess
import sys
import warnings

import cftime
import netCDF4
import numpy as np
import xarray as xr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_archive  # noqa: E402

warnings.simplefilter("ignore")
failures = []


def check(name, ok, detail=""):
    print(("OK   " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)[:3000]))
    if not ok:
        failures.append(name)


def close(name, got, want, rtol=2e-6, atol=2e-5):
    got, want = np.asarray(got, dtype=np.float64), np.squeeze(np.asarray(want, dtype=np.float64))
    if got.shape != want.shape:
        return check(name, False, f"shape {got.shape}, expected {want.shape}")
    same_nan = np.array_equal(np.isnan(got), np.isnan(want))
    ok = same_nan and np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    worst = np.nanmax(np.abs(got - want)) if got.size else 0
    check(name, ok, f"NaN pattern same: {same_nan}; worst difference {worst}")


def run(cmd, cwd, timeout=600):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def cdo(args, cwd):
    r = run(["cdo", "-s", "-P", "2"] + args, cwd)
    if r.returncode != 0:
        raise RuntimeError(f"cdo {' '.join(args)}: {r.stderr}")


PIPELINES = '''
[inputs.t]
files = "archive/tas_day_*.nc"
variable = "tas"

[arrays]
monthly = 'resample(t, "time", "month", "nanmean")'
baseline = 'sel(t, time=["1981", "1984"])'

[outputs.monthly]
file = "monthly.nc"
expression = "monthly"
[outputs.monthly_strict]
file = "monthly_strict.nc"
expression = 'resample(t, "time", "month", "mean")'
[outputs.monthly_max]
file = "monthly_max.nc"
expression = 'resample(t, "time", "month", "nanmax")'
[outputs.clim]
file = "clim.nc"
expression = 'groupby_nanmean(baseline, "time.month")'
[outputs.anom]
file = "anom.nc"
expression = 'anomaly(t, "time.month", baseline=["1981", "1984"], skipna=true)'
[outputs.glob]
file = "glob.nc"
expression = 'fldmean(resample(t, "time", "year", "nanmean"))'
[outputs.box]
file = "box.nc"
expression = 'resample(sel(t, lat=[-30, 30], lon=[350, 10]), "time", "season", "nanmean")'
[outputs.timmean]
file = "timmean.nc"
expression = 'nanmean(sel(t, time=["1980-03", "1982-02"]), axis=0)'
[outputs.station]
file = "station.nc"
expression = 'sel(t, lat=52.5, lon=13.4, method="nearest")'
[outputs.std_anom]
file = "std_anom.nc"
expression = '(t - nanmean(t, axis=0)) / nanstd(t, axis=0)'
'''


def pipelines(tessera, launcher, work):
    arch = os.path.join(work, "archive")
    files = make_archive.write_archive(arch, (1979, 1986), "noleap", 10.0)
    # The files are given out of order on purpose, and their time units differ: the archive orders them by date.
    with open(os.path.join(work, "pipelines.toml"), "w") as f:
        f.write(PIPELINES)
    r = run([tessera, "check", "pipelines.toml"], work)
    check("check: exit 0", r.returncode == 0, r.stderr)
    check("check: the archive's span", "8 files joined along time, 1979-01-01 12:00:00 to 1986-12-31 12:00:00 "
          "(noleap calendar)" in r.stdout, r.stdout)
    check("check: the incomplete first and last seasons are noted",
          'resample(time, "season"): the period from 1978-12-01 to 1979-03-01 has 59 of 90 records' in r.stdout
          and "the period from 1986-12-01 to 1987-03-01 has 31 of 90 records" in r.stdout, r.stdout)
    r = run(launcher + [tessera, "run", "pipelines.toml", "--threads", "2", "-q"], work)
    check("run: exit 0", r.returncode == 0, r.stdout + r.stderr)
    if r.returncode != 0:
        return

    # The oracles: CDO on the merged archive, xarray on the files.
    cdo(["-mergetime"] + files + ["c_merged.nc"], work)
    cdo(["monmean", "c_merged.nc", "c_monmean.nc"], work)
    cdo(["monmax", "c_merged.nc", "c_monmax.nc"], work)
    cdo(["ymonmean", "-seldate,1981-01-01,1984-12-31", "c_merged.nc", "c_ymonmean.nc"], work)
    cdo(["fldmean", "-yearmean", "c_merged.nc", "c_fldmean.nc"], work)
    cdo(["seasmean", "-sellonlatbox,350,10,-30,30", "c_merged.nc", "c_seasmean.nc"], work)
    cdo(["timmean", "-seldate,1980-03-01,1982-02-28T23:59:59", "c_merged.nc", "c_timmean.nc"], work)
    cdo(["div", "-sub", "c_merged.nc", "-timmean", "c_merged.nc", "-timstd", "c_merged.nc", "c_std_anom.nc"],
        work)
    p = lambda name: os.path.join(work, name)  # noqa: E731
    out = lambda name, var: xr.open_dataset(p(name), decode_times=False)[var].values  # noqa: E731
    ref = lambda name: xr.open_dataset(p(name), decode_times=False)["tas"].values  # noqa: E731
    close("monthly nanmean = cdo monmean", out("monthly.nc", "monthly"), ref("c_monmean.nc"))
    close("monthly nanmax = cdo monmax", out("monthly_max.nc", "monthly_max"), ref("c_monmax.nc"))
    close("1981-1984 climatology = cdo ymonmean -seldate", out("clim.nc", "clim"), ref("c_ymonmean.nc"))
    close("global mean of annual means = cdo fldmean -yearmean (cell areas)", out("glob.nc", "glob"),
          ref("c_fldmean.nc"), 1e-6, 1e-4)
    close("seasonal means of a box across 0 E = cdo seasmean -sellonlatbox,350,10,-30,30", out("box.nc", "box"),
          ref("c_seasmean.nc"))
    close("time mean of a period = cdo timmean -seldate", out("timmean.nc", "timmean"), ref("c_timmean.nc"))
    # CDO's missing values stay missing in its anomaly; tessera's NaN propagate the same way.
    close("standardized anomaly = cdo div -sub x -timmean x -timstd x", out("std_anom.nc", "std_anom"),
          ref("c_std_anom.nc"), 1e-5, 1e-4)

    ds = xr.open_mfdataset(files, combine="by_coords", use_cftime=True)
    t = ds.tas.load().astype("f8")
    close("monthly mean (NaN kept) = xarray resample(skipna=False)", out("monthly_strict.nc", "monthly_strict"),
          t.resample(time="MS").mean(skipna=False))
    base = t.sel(time=slice("1981", "1984")).groupby("time.month").mean()
    close("anomaly from a baseline = xarray groupby", out("anom.nc", "anom"), t.groupby("time.month") - base)
    close("nearest station = xarray sel(method=nearest)", out("station.nc", "station"),
          t.sel(lat=52.5, lon=13.4, method="nearest"))
    box = t.sel(lat=slice(30, -30)).isel(lon=np.r_[np.where(t.lon >= 350)[0], np.where(t.lon <= 10)[0]])
    close("box across 0 E = xarray", out("box.nc", "box"), box.resample(time="QS-DEC").mean())

    # CF: time_bnds of the periods, in the input calendar; cell_methods; carried bounds; history.
    m = netCDF4.Dataset(p("monthly.nc"))
    tv = m.variables["time"]
    starts = netCDF4.num2date(tv[:], tv.units, tv.calendar)
    bounds = netCDF4.num2date(m.variables["time_bnds"][:], tv.units, tv.calendar)
    check("monthly: time at each month's start, time_bnds its start and end, noleap",
          tv.calendar == "noleap" and len(starts) == 96 and str(starts[0])[:10] == "1979-01-01"
          and str(starts[1])[:10] == "1979-02-01" and str(bounds[0][1])[:10] == "1979-02-01"
          and str(bounds[-1][1])[:10] == "1987-01-01" and tv.bounds == "time_bnds", f"{starts[:2]} {bounds[:2]}")
    check("monthly: cell_methods", m.variables["monthly"].cell_methods == "time: mean",
          m.variables["monthly"].ncattrs())
    check("monthly: lat and lon keep their bounds",
          m.variables["lat"].bounds == "lat_bnds" and "lat_bnds" in m.variables and "lon_bnds" in m.variables
          and np.allclose(m.variables["lat_bnds"][0], [90, 80]))
    check("monthly: history appended", m.history.endswith("tessera run pipelines.toml")
          and m.history.startswith("1979-01-01: written by make_archive.py"), m.history)
    m.close()
    g = netCDF4.Dataset(p("glob.nc"))
    check("glob: cell_methods say time then area", g.variables["glob"].cell_methods == "time: mean area: mean",
          g.variables["glob"].cell_methods)
    g.close()
    c = netCDF4.Dataset(p("clim.nc"))
    check("clim: a month coordinate 1..12", list(c.variables["month"][:]) == list(range(1, 13))
          and c.variables["month"].long_name == "month")
    c.close()
    for name in ["monthly.nc", "clim.nc", "anom.nc", "glob.nc", "box.nc", "timmean.nc", "station.nc"]:
        r = run(["cdo", "-s", "sinfon", name], work)
        check(f"cdo sinfon reads {name}", r.returncode == 0, r.stderr)
        r = run(["ncdump", "-h", name], work)
        check(f"ncdump -h reads {name}", r.returncode == 0, r.stderr)

    if launcher:
        # The same job on local threads writes the same bytes.
        local = os.path.join(work, "local")
        shutil.rmtree(local, ignore_errors=True)
        os.makedirs(local)
        os.symlink(arch, os.path.join(local, "archive"))
        shutil.copy(os.path.join(work, "pipelines.toml"), local)
        r = run([tessera, "run", "pipelines.toml", "-q"], local)
        check("local run: exit 0", r.returncode == 0, r.stderr)
        for name in sorted(glob.glob(os.path.join(local, "*.nc"))):
            with open(name, "rb") as a, open(os.path.join(work, os.path.basename(name)), "rb") as b:
                check(f"{os.path.basename(name)}: the same bytes under the launcher as locally", a.read() == b.read())


def calendars(tessera, launcher, work):
    """Monthly means in the standard and 360_day calendars (a leap day, 30-day months) against CDO."""
    for calendar, years in [("standard", (1999, 2001)), ("360_day", (1990, 1991))]:
        d = os.path.join(work, calendar)
        files = make_archive.write_archive(os.path.join(d, "archive"), years, calendar, 30.0, fixed_units=True)
        with open(os.path.join(d, "m.toml"), "w") as f:
            f.write('[inputs.t]\nfiles = ["archive/*.nc"]\nvariable = "tas"\n[outputs.m]\nfile = "m.nc"\n'
                    'expression = \'resample(t, "time", "month", "nanmean")\'\n[outputs.y]\nfile = "y.nc"\n'
                    'expression = \'resample(t, "time", "year", "nanmin")\'\n')
        r = run(launcher + [tessera, "run", "m.toml", "-q"], d)
        check(f"{calendar}: run exit 0", r.returncode == 0, r.stderr)
        if r.returncode != 0:
            continue
        cdo(["monmean", "-mergetime"] + files + ["c_m.nc"], d)
        cdo(["yearmin", "-mergetime"] + files + ["c_y.nc"], d)
        got = xr.open_dataset(os.path.join(d, "m.nc"), decode_times=False)
        close(f"{calendar}: monthly means = cdo monmean", got.m.values,
              xr.open_dataset(os.path.join(d, "c_m.nc")).tas.values)
        close(f"{calendar}: yearly minima = cdo yearmin", xr.open_dataset(os.path.join(d, "y.nc")).y.values,
              xr.open_dataset(os.path.join(d, "c_y.nc")).tas.values)
        n = (years[1] - years[0] + 1) * 12
        check(f"{calendar}: {n} months", got.m.shape[0] == n, got.m.shape)


def bad_archives(tessera, work):
    """Archives that do not fit together: check refuses them (exit 2) naming both files and the difference."""
    base = os.path.join(work, "bad")
    shutil.rmtree(base, ignore_errors=True)

    def archive(name, second, **first_kw):
        d = os.path.join(base, name)
        os.makedirs(d)
        a = os.path.join(d, "a_1979.nc")
        make_archive.write_file(a, first_kw.get("calendar", "noleap"), [1979], 30.0, "days since 1979-01-01", 1)
        b = os.path.join(d, "b_1980.nc")
        second(b)
        with open(os.path.join(d, "job.toml"), "w") as f:
            f.write('[inputs.t]\nfiles = "*.nc"\nvariable = "tas"\n[outputs.m]\nfile = "out.nc"\n'
                    'expression = \'resample(t, "time", "year", "mean")\'\n')
        return d

    def year(calendar="noleap", y=1980, **kw):
        return lambda path: make_archive.write_file(path, calendar, [y], 30.0, f"days since {y}-01-01", 2, **kw)

    def pr(path):
        make_archive.write_file(path, "noleap", [1980], 30.0, "days since 1980-01-01", 2, variable="pr")

    def swapped_records(path):
        make_archive.write_file(path, "noleap", [1980], 30.0, "days since 1980-01-01", 2)
        with netCDF4.Dataset(path, "a") as nc:
            t = nc.variables["time"][:]
            t[[10, 11]] = t[[11, 10]]
            nc.variables["time"][:] = t

    def lon_lat(path):
        with netCDF4.Dataset(path, "w") as nc:
            nc.createDimension("time", None)
            nc.createDimension("lon", 12)
            nc.createDimension("lat", 6)
            tv = nc.createVariable("time", "f8", ("time",))
            tv.units, tv.calendar = "days since 1980-01-01", "noleap"
            tv[:] = np.arange(365) + 0.5
            nc.createVariable("tas", "f4", ("time", "lon", "lat"))[:] = np.zeros((365, 12, 6), "f4")

    cases = [
        ("missing variable", archive("missing", pr),
         ['variable "tas" is in', "a_1979.nc but not in", "b_1980.nc (it has: ", "pr"]),
        ("another dtype", archive("dtype", year(dtype="f8", fill=1e20)),
         ["tas is stored as <f4 in", "a_1979.nc but as <f8 in", "b_1980.nc"]),
        ("another _FillValue", archive("fill", year(fill=-999.0)),
         ["tas's _FillValue is 1e+20 in", "a_1979.nc but -999 in", "b_1980.nc"]),
        ("another grid", archive("grid", year(lon_shift=1.0)),
         ["the files' grids differ: lon[0] is 15 in", "a_1979.nc but 16 in", "b_1980.nc"]),
        ("overlapping years", archive("overlap", year(y=1979)),
         ["overlap:", "a_1979.nc ends at 1979-12-31 12:00:00 but", "b_1980.nc starts at 1979-01-01 12:00:00"]),
        ("records out of order", archive("order", swapped_records),
         ["the records of", "b_1980.nc are not in increasing order: time[11] = 1980-01-11 12:00:00 does not come "
          "after time[10] = 1980-01-12 12:00:00"]),
        ("another calendar", archive("calendar", year(calendar="standard")),
         ["is in the noleap calendar in", "a_1979.nc but in the standard calendar in", "b_1980.nc"]),
        ("other dims", archive("dims", lon_lat), ["has tas(time, lat, lon) but", "b_1980.nc has tas(time, lon, lat)"]),
    ]
    for name, d, parts in cases:
        r = run([tessera, "check", "job.toml"], d)
        check(f"bad archive, {name}: exit 2 with both files and the difference",
              r.returncode == 2 and all(p in r.stderr for p in parts) and "job.toml:2:9: error:" in r.stderr,
              f"{r.returncode} {r.stderr}")
    # A gap is allowed, and said.
    d = archive("gap", year(y=1981))
    r = run([tessera, "check", "job.toml"], d)
    check("a gap between files: check says where", r.returncode == 0 and
          "note: input 't': gap: no records between 1979-12-31 12:00:00 (the end of" in r.stdout and
          "and 1981-01-01 12:00:00 (the start of" in r.stdout, f"{r.returncode} {r.stdout} {r.stderr}")
    # A pattern that matches nothing.
    with open(os.path.join(d, "nomatch.toml"), "w") as f:
        f.write('[inputs.t]\nfiles = "tas_*.nc"\n[outputs.m]\nfile = "out.nc"\n')
    r = run([tessera, "check", "nomatch.toml"], d)
    check("a pattern that matches nothing: exit 2", r.returncode == 2 and "no file matches" in r.stderr
          and "tas_*.nc" in r.stderr, r.stderr)
    # sel outside the record: the error shows the coordinate's range.
    with open(os.path.join(d, "empty.toml"), "w") as f:
        f.write('[inputs.t]\nfiles = "*.nc"\nvariable = "tas"\n[outputs.m]\nfile = "out.nc"\n'
                'expression = \'sel(t, time=["2050", "2060"])\'\n')
    r = run([tessera, "check", "empty.toml"], d)
    check("an empty selection: exit 2 with the coordinate's range", r.returncode == 2 and
          "sel: no time between 2050 and 2060: time runs from 1979-01-01 12:00:00 to 1981-12-31 12:00:00" in r.stderr,
          r.stderr)


def many_files(tessera, launcher, work):
    """Sixty small yearly files (each with its own time units, as open_many in benchmarks/climate.py writes them):
    scanned in runs of several files per task, whose scans travel between ranks as one record under a launcher."""
    d = os.path.join(work, "many")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "archive"))
    files = []
    for i in range(60):
        y = 1900 + i
        files.append(os.path.join(d, "archive", f"tas_mon_{y}.nc"))
        make_archive.write_file(files[-1], "noleap", [y], 30.0, f"days since {y}-01-01", i, days_per_record=30)
    with open(os.path.join(d, "job.toml"), "w") as f:
        f.write('[inputs.t]\nfiles = "archive/tas_mon_*.nc"\nvariable = "tas"\n[outputs.m]\nfile = "m.nc"\n'
                "expression = 'mean(t, axis=0)'\n[outputs.t]\nfile = \"t.nc\"\nexpression = 't'\n")
    r = run([tessera, "check", "job.toml"], d)
    check("60 files: check names their span", r.returncode == 0 and "60 files joined along time, 1900-01-01 12:00:00 "
          "to 1959-12-27 12:00:00 (noleap calendar)" in r.stdout, r.stdout + r.stderr)
    r = run(launcher + [tessera, "run", "job.toml", "--threads", "2", "-q", "--overwrite"], d)
    check("60 files: run exit 0", r.returncode == 0, r.stdout + r.stderr)
    if r.returncode != 0:
        return
    ds = xr.open_mfdataset(files, combine="by_coords", use_cftime=True)
    t = ds.tas.load().astype("f8")
    out = lambda name, var: xr.open_dataset(os.path.join(d, name), decode_times=False)[var]  # noqa: E731
    close("60 files: the records joined = xarray open_mfdataset", out("t.nc", "t").values, t)
    close("60 files: their mean = xarray", out("m.nc", "m").values, t.mean("time", skipna=False))
    first = xr.open_dataset(files[0], decode_times=False).time.units
    times = xr.open_dataset(os.path.join(d, "t.nc"), decode_times=False).time
    want = netCDF4.date2num(list(t.time.values), first, calendar="noleap")
    check("60 files: one time axis in the first file's units", times.units == first and
          np.allclose(times.values, want), f"{times.units} {times.values[:3]} {want[:3]}")


def main():
    tessera, work = sys.argv[1], sys.argv[2]
    launcher = [a for a in sys.argv[3:] if a]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    pipelines(tessera, launcher, work)
    calendars(tessera, launcher, work)
    many_files(tessera, launcher, work)
    if not launcher:
        bad_archives(tessera, work)
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
