"""End-to-end test of the example jobs (jobs/examples/*.toml) through the `tessera` command line: makes the
synthetic climate file, runs every example (optionally under an MPI launcher) and compares each output with
xarray/NumPy computing the same thing from the same input file. Also checks the exit codes and messages of
job errors. Prints SKIPPED (and exits 0) when xarray or netCDF4 is missing.

Usage: check_examples.py TESSERA EXAMPLES_DIR WORK_DIR [LAUNCHER...]"""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import xarray as xr
    import netCDF4  # noqa: F401 (xarray's engine for the files)
except ImportError as e:
    print(f"SKIPPED LOUDLY: {e}; the end-to-end job tests need python3-xarray and python3-netcdf4")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_climate  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "..", "climate"))
import make_archive  # noqa: E402

failures = []


def check(name, ok, detail=""):
    print(("OK   " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
    if not ok:
        failures.append(name)


def close(name, got, want, rtol=1e-5, atol=1e-4):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return check(name, False, f"shape {got.shape}, expected {want.shape}")
    same_nan = np.array_equal(np.isnan(got), np.isnan(want))
    ok = same_nan and np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    worst = np.nanmax(np.abs(got - want)) if got.size else 0
    check(name, ok, f"NaN pattern same: {same_nan}; worst difference {worst}")


def run(tessera, launcher, args, cwd):
    return subprocess.run(launcher + [tessera] + args, cwd=cwd, capture_output=True, text=True, timeout=600)


def main():
    tessera, examples, work = sys.argv[1], sys.argv[2], sys.argv[3]
    launcher = [a for a in sys.argv[4:] if a]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    make_climate.main(os.path.join(work, "climate.nc"))
    for f in os.listdir(examples):
        if f.endswith(".toml"):
            shutil.copy(os.path.join(examples, f), work)

    for job in ["standardized_anomaly", "monthly_climatology", "global_mean", "rolling_mean", "seeds"]:
        r = run(tessera, launcher, ["run", job + ".toml", "--threads", "2"], work)
        check(f"run {job} exits 0", r.returncode == 0, r.stdout + r.stderr)
        check(f"run {job} prints a summary", "done in" in r.stdout and "wrote" in r.stdout, r.stdout)

    src = xr.open_dataset(os.path.join(work, "climate.nc"))
    t = src.t2m.load().astype(np.float64)  # the reference in double: tessera accumulates in double too

    out = xr.open_dataset(os.path.join(work, "standardized_anomaly.nc"))
    want = (t - t.mean("time", skipna=False)) / t.std("time", skipna=False)
    close("standardized anomaly matches xarray", out.anom, want)
    check("standardized anomaly keeps dims and units", out.anom.dims == ("time", "lat", "lon") and out.anom.attrs["units"] == "1",
          f"{out.anom.dims} {out.anom.attrs}")

    out = xr.open_dataset(os.path.join(work, "monthly.nc"))
    clim = t.groupby("time.month").mean(skipna=False)
    close("monthly climatology matches xarray groupby", out.climatology, clim)
    close("monthly anomaly matches xarray groupby", out.anomaly, t.groupby("time.month") - clim)
    check("anomaly carries the CF time axis", out.time.size == 730 and str(out.time.values[0])[:10] == "2000-01-01"
          and "noleap" in str(type(out.time.values[0])).lower() + out.time.encoding.get("calendar", ""),
          f"{out.time.values[:2]} {out.time.encoding}")

    out = xr.open_dataset(os.path.join(work, "global_mean.nc"))
    weights = np.cos(np.deg2rad(t.lat))
    close("global mean matches xarray weighted mean", out.global_mean, t.weighted(weights).mean(("lat", "lon")), 1e-6, 1e-6)

    out = xr.open_dataset(os.path.join(work, "rolling_mean.nc"))
    close("30-day rolling mean matches xarray rolling", out.t2m_30d, t.rolling(time=30).mean())

    out = xr.open_dataset(os.path.join(work, "seeds.h5"))
    X = out.X.values
    close("seeds expression matches numpy", out.Y, (X + X.T) - X.mean(axis=0), 1e-12, 1e-12)

    # The archive examples, on an archive of yearly files (tests/climate/check_climate.py checks these
    # operations against CDO and xarray in depth).
    files = make_archive.write_archive(os.path.join(work, "archive"), (1979, 1986), "noleap", 10.0)
    archive_jobs = sorted(f[:-5] for f in os.listdir(examples) if f.startswith("archive_") and f.endswith(".toml"))
    check("five archive examples", len(archive_jobs) == 5, archive_jobs)
    for job in archive_jobs:
        r = run(tessera, launcher, ["run", job + ".toml", "-q"], work)
        check(f"run {job} exits 0", r.returncode == 0, r.stdout + r.stderr)
    arch = xr.open_mfdataset(files, combine="by_coords", use_cftime=True).tas.load().astype(np.float64)
    out = xr.open_dataset(os.path.join(work, "tas_monthly.nc"))
    close("archive monthly means match xarray", out.monthly, arch.resample(time="MS").mean())
    out = xr.open_dataset(os.path.join(work, "tas_seasonal_box.nc"))
    box = arch.sel(lat=slice(30, -30)).isel(lon=np.r_[np.where(arch.lon >= 350)[0], np.where(arch.lon <= 10)[0]])
    close("archive seasonal box matches xarray", out.box, box.resample(time="QS-DEC").mean())
    out = xr.open_dataset(os.path.join(work, "tas_climatology.nc"))
    close("archive climatology matches xarray",
          out.climatology, arch.sel(time=slice("1981", "1984")).groupby("time.month").mean())

    # Errors: exit status 2 and a located message, before any output appears.
    with open(os.path.join(work, "typo.toml"), "w") as f:
        f.write('[inputs.t]\nfile = "climate.nc"\nvariable = "t2m"\n[arrays]\na = "meen(t, axis=0)"\n'
                '[outputs.a]\nfile = "typo.nc"\n')
    r = run(tessera, launcher, ["run", "typo.toml"], work)
    check("misspelt function: exit 2", r.returncode == 2, f"{r.returncode} {r.stderr}")
    check("misspelt function: located message with suggestion",
          "typo.toml:5:6: error: unknown function 'meen'" in r.stderr and "did you mean 'mean'?" in r.stderr, r.stderr)
    check("misspelt function: printed once", r.stderr.count("unknown function") == 1, r.stderr)
    check("nothing written after an error", not os.path.exists(os.path.join(work, "typo.nc")))

    if launcher:
        # A job file that fails on one rank only (as when nodes see different files): rank 1 gets the typo,
        # the others a valid job. The failing rank must say why, naming itself, and the job must end, not hang.
        for rank in range(3):
            with open(os.path.join(work, f"job_{rank}.toml"), "w") as f:
                f.write('[inputs.t]\nfile = "climate.nc"\nvariable = "t2m"\n[arrays]\n'
                        f'a = "{"meen" if rank == 1 else "mean"}(t, axis=0)"\n[outputs.a]\nfile = "one_rank.nc"\n')
        try:
            r = subprocess.run(launcher + ["sh", "-c", f'exec "{tessera}" run job_${{OMPI_COMM_WORLD_RANK:-0}}.toml'],
                               cwd=work, capture_output=True, text=True, timeout=120)
            check("a job failing on one rank only: non-zero exit", r.returncode != 0, f"{r.returncode} {r.stderr}")
            # The ranks agree on the outcome of planning: every rank stops, rank 0 says which rank failed and why.
            check("a job failing on one rank only: the rank and the located message, once",
                  "rank 1: job_1.toml:5:6: error: unknown function 'meen'" in r.stderr
                  and r.stderr.count("unknown function") == 1, r.stderr)
        except subprocess.TimeoutExpired:
            check("a job failing on one rank only ends", False, "still running after 120 s")

    with open(os.path.join(work, "novar.toml"), "w") as f:
        f.write('[inputs.t]\nfile = "climate.nc"\nvariable = "t2n"\n[outputs.t]\nfile = "novar.nc"\n')
    r = run(tessera, launcher, ["check", "novar.toml"], work)
    check("missing variable: exit 2 with suggestion",
          r.returncode == 2 and "novar.toml:3:12: error: 'climate.nc' has no variable 't2n'" in r.stderr
          and "did you mean 't2m'?" in r.stderr, f"{r.returncode} {r.stderr}")

    with open(os.path.join(work, "nofile.toml"), "w") as f:
        f.write('[inputs.t]\nfile = "climat.nc"\n[outputs.t]\nfile = "nofile.nc"\n')
    r = run(tessera, launcher, ["check", "nofile.toml"], work)
    check("missing file: exit 2 with suggestion",
          r.returncode == 2 and "input file 'climat.nc' does not exist" in r.stderr and "climate.nc'?" in r.stderr,
          f"{r.returncode} {r.stderr}")

    with open(os.path.join(work, "shapes.toml"), "w") as f:
        f.write('[inputs.t]\nfile = "climate.nc"\nvariable = "t2m"\n[inputs.lat]\nfile = "climate.nc"\n'
                '[outputs.bad]\nfile = "shapes.nc"\nexpression = "t * lat"\n')
    r = run(tessera, launcher, ["run", "shapes.toml"], work)
    check("shape mismatch: exit 2 naming both shapes",
          r.returncode == 2 and "shapes.toml:8:15: error: operands of '*': shapes (730, 18, 24) and (18,) do not broadcast"
          in r.stderr, f"{r.returncode} {r.stderr}")

    # A variable stored with an HDF5 filter that has no plugin here: refused by check (exit 2) before any work,
    # naming the variable, the filter and where HDF5 looks for plugins; run refuses it the same way.
    import h5py
    with h5py.File(os.path.join(work, "blosc.h5"), "w") as f:
        x = f.create_dataset("i4", shape=(4, 6), dtype="<i4", chunks=(2, 6), compression=32001,
                             allow_unknown_filter=True)
        x.id.write_direct_chunk((0, 0), np.arange(12, dtype="<i4").tobytes())
    with open(os.path.join(work, "blosc.toml"), "w") as f:
        f.write('[inputs.x]\nfile = "blosc.h5"\nvariable = "i4"\n[outputs.s]\nfile = "blosc_sum.nc"\n'
                'expression = "sum(x)"\n')
    for command in ["check", "run"]:
        r = run(tessera, launcher, [command, "blosc.toml"], work)
        check(f"{command}: an unavailable HDF5 filter is refused with exit 2",
              r.returncode == 2 and 'variable "i4"' in r.stderr and '"blosc" (id 32001)' in r.stderr
              and "HDF5_PLUGIN_PATH" in r.stderr and "attempt" not in r.stderr
              and not os.path.exists(os.path.join(work, "blosc_sum.nc")), f"{r.returncode} {r.stderr}")

    with open(os.path.join(work, "syntax.toml"), "w") as f:
        f.write('[outputs.o]\nfile = "o.nc"\ncompresion = 4\n')
    r = run(tessera, launcher, ["check", "syntax.toml"], work)
    check("unknown key: exit 2 with suggestion",
          r.returncode == 2 and "syntax.toml:3:1: error: unknown key 'compresion'" in r.stderr
          and "did you mean 'compression'?" in r.stderr, f"{r.returncode} {r.stderr}")

    r = run(tessera, launcher, ["check", "monthly_climatology.toml"], work)
    check("check prints the plan", r.returncode == 0 and "clim" in r.stdout and "(12, 18, 24) float32" in r.stdout
          and "plan:" in r.stdout, r.stdout)

    r = run(tessera, launcher, ["run", "global_mean.toml"], work)
    check("existing output refused: exit 2", r.returncode == 2 and "already exists" in r.stderr, f"{r.returncode} {r.stderr}")
    r = run(tessera, launcher, ["run", "global_mean.toml", "--overwrite", "-q"], work)
    check("--overwrite replaces it quietly", r.returncode == 0 and r.stdout == "", f"{r.returncode} {r.stdout} {r.stderr}")

    # [options] report and trace: written at the end of the run, relative to the job file.
    os.makedirs(os.path.join(work, "sub"), exist_ok=True)
    with open(os.path.join(work, "sub", "options.toml"), "w") as f:
        f.write('[inputs.t]\nfile = "../climate.nc"\nvariable = "t2m"\n[outputs.m]\nfile = "options.nc"\n'
                'expression = "mean(t, axis=0)"\n[options]\nreport = "opt_report.html"\ntrace = "opt_trace.json"\n')
    r = run(tessera, launcher, ["run", "sub/options.toml", "-q"], work)
    report, trace = os.path.join(work, "sub", "opt_report.html"), os.path.join(work, "sub", "opt_trace.json")
    check("[options] report and trace are written next to the job file",
          r.returncode == 0 and os.path.exists(report) and os.path.exists(trace)
          and "tessera run report" in open(report).read() and '"traceEvents"' in open(trace).read(),
          f"{r.returncode} {r.stderr} {os.listdir(os.path.join(work, 'sub'))}")

    if not launcher:
        r = run(tessera, [], ["graph", "monthly_climatology.toml"], work)
        check("graph prints DOT", r.returncode == 0 and r.stdout.startswith("digraph tessera {") and "->" in r.stdout, r.stdout[:400])
        r = run(tessera, [], ["info", "climate.nc", "t2m"], work)
        check("info describes a variable", r.returncode == 0 and "t2m" in r.stdout and "units" in r.stdout, r.stdout)
        r = run(tessera, [], ["info", "missing.nc"], work)
        check("info on a missing file: exit 2", r.returncode == 2, f"{r.returncode} {r.stderr}")

    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
