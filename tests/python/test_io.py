"""Files from Python: ts.open and ts.to_netcdf checked against xarray/netCDF4 on the same files, the xarray
round trip, ts.inspect, ts.run_job on an example job, and every error path's message."""
import importlib.util
import os
import shutil

import numpy as np
import pytest
import xarray as xr

import tessera as ts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _make_climate():
    spec = importlib.util.spec_from_file_location("make_climate",
                                                  os.path.join(ROOT, "tests", "jobs", "e2e", "make_climate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="module")
def climate(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("climate") / "climate.nc")
    _make_climate()(path, "noleap", 120)
    return path


def test_open_matches_xarray(climate):
    t = ts.open(climate, "t2m")
    ref = xr.open_dataset(climate, decode_times=False)["t2m"]
    assert t.dims == ref.dims == ("time", "lat", "lon")
    assert t.name == "t2m" and t.attrs["units"] == "K" and t.attrs["long_name"] == "2 metre temperature"
    assert set(t.coords) == {"time", "lat", "lon"}
    np.testing.assert_array_equal(t.coords["lat"], ref["lat"].values)
    assert t.coord_attrs["time"]["units"] == "days since 2000-01-01"
    assert t.coord_attrs["time"]["calendar"] == "noleap"
    values = t.compute()
    assert values.dtype == ref.dtype
    np.testing.assert_array_equal(values, ref.values)  # _FillValue decoded to NaN, as xarray does
    assert np.isnan(values).any()
    raw = ts.open(climate, "t2m", decode_cf=False).compute()
    assert (raw == -9999).any() and not np.isnan(raw).any()
    assert "dims=('time', 'lat', 'lon')" in repr(t)


def _make_archive():
    spec = importlib.util.spec_from_file_location("make_archive",
                                                  os.path.join(ROOT, "tests", "climate", "make_archive.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_archive


def test_open_an_archive_like_open_mfdataset(tmp_path):
    files = _make_archive()(str(tmp_path / "archive"), (1979, 1982), "noleap", 30.0)
    t = ts.open(str(tmp_path / "archive" / "tas_day_*.nc"), "tas")
    ref = xr.open_mfdataset(files, combine="by_coords", use_cftime=True)["tas"]
    assert t.dims == ("time", "lat", "lon") and t.shape == ref.shape
    assert t.files == files and t.notes == []
    # The files count days from their own years; the archive's time is in the first file's units.
    assert t.coord_attrs["time"]["units"] == "days since 1979-01-01"
    np.testing.assert_allclose(t.coords["time"][365:367], [365.5, 366.5])
    np.testing.assert_array_equal(t.compute(), ref.values)
    # A list in any order joins in time order; gaps are noted.
    gap = ts.open([files[3], files[0], files[1]], "tas")
    assert gap.files == [files[0], files[1], files[3]]
    assert len(gap.notes) == 1 and "gap: no records between 1980-12-31 12:00:00" in gap.notes[0]
    assert ts.open(files, chunks=(100, -1, -1)).chunks[0][:5] == (100, 100, 100, 65, 100)


def test_open_chunks_and_the_only_data_variable(climate):
    t = ts.open(climate, "t2m", chunks=(30, -1, 12))
    assert t.chunks == ((30, 30, 30, 30), (18,), (12, 12))
    assert ts.open(climate, chunks={0: 50}).chunks[0] == (50, 50, 20)
    assert ts.open(climate).name == "t2m"
    lat = ts.open(climate, "lat")
    assert lat.dims == ("lat",) and lat.shape == (18,)


def test_open_errors_name_the_file_and_the_variables(tmp_path, climate):
    missing = str(tmp_path / "nope.nc")
    with pytest.raises(ts.NotFoundError, match="nope.nc"):
        ts.open(missing, "t2m")
    with pytest.raises(LookupError, match=r"t2n.*t2m|t2m.*t2n"):
        ts.open(climate, "t2n")
    text = tmp_path / "text.nc"
    text.write_text("not a netcdf file\n")
    with pytest.raises(ts.Error, match="text.nc"):
        ts.open(str(text), "x")
    two = str(tmp_path / "two.nc")
    xr.Dataset({"a": ("x", np.arange(3.0)), "b": ("x", np.ones(3))}).to_netcdf(two)
    with pytest.raises(ValueError, match=r"2 data variables \(a, b\)"):
        ts.open(two)
    with pytest.raises(ValueError, match="overlap"):
        ts.open([climate, climate], "t2m")  # the same records twice
    with pytest.raises(ts.NotFoundError, match="no file matches"):
        ts.open(str(tmp_path / "nothing_*.nc"), "t2m")
    with pytest.raises(ValueError, match="chunk"):
        ts.open(climate, "t2m", chunks=(10, 10))
    with pytest.raises(ValueError, match="dict"):
        ts.to_netcdf(str(tmp_path / "x.nc"), [ts.zeros(3)])


def test_to_netcdf_read_back_by_xarray(tmp_path, climate):
    t = ts.open(climate, "t2m")
    anom = (t - t.mean(axis=0)) / t.std(axis=0)
    clim = t.mean(axis=0)
    path = str(tmp_path / "anom.nc")
    stats = ts.to_netcdf(path, {"anom": anom, "clim": clim}, dims={"anom": t.dims, "clim": ("lat", "lon")},
                         attrs={"title": "anomalies", "version": 2},
                         var_attrs={"anom": {"units": "1"}}, coords={"lat": t.coords["lat"]},
                         encoding={"anom": {"zlib": True, "complevel": 3, "chunksizes": (40, 18, 24)}})
    assert stats["chunks_written"] > 0 and stats["logical_bytes"] == anom.nbytes + clim.nbytes
    ds = xr.open_dataset(path, decode_times=False)
    ref = xr.open_dataset(climate, decode_times=False)["t2m"]
    # tessera reduces float32 data in float64 and rounds the result to float32 (NumPy's float32 sums are less
    # exact); elementwise arithmetic is float32, as in NumPy.
    r64 = ref.astype("float64")
    expected = (ref - r64.mean("time").astype("float32")) / r64.std("time").astype("float32")
    assert ds["anom"].dtype == np.float32
    np.testing.assert_allclose(ds["anom"].values, expected.values, rtol=1e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ds["clim"].values, r64.mean("time").values, rtol=1e-7, equal_nan=True)
    assert ds.attrs["title"] == "anomalies" and ds.attrs["version"] == 2
    assert ds["anom"].attrs["units"] == "1" and ds["anom"].dims == ("time", "lat", "lon")
    np.testing.assert_array_equal(ds["lat"].values, ref["lat"].values)
    info = ts.inspect(path)
    assert info["variables"]["anom"]["filters"][-1] == "deflate" and info["variables"]["anom"]["chunks"] == [40, 18, 24]
    assert "anom" in info["description"]


def test_to_netcdf_refuses_an_existing_file_and_overwrites_on_request(tmp_path):
    path = str(tmp_path / "out.nc")
    x = ts.arange(10, chunks=4).astype(float)
    ts.to_netcdf(path, {"x": x})
    with pytest.raises(ValueError, match="out.nc"):
        ts.to_netcdf(path, {"x": x * 2})
    np.testing.assert_array_equal(xr.open_dataset(path)["x"].values, np.arange(10.0))
    ts.to_netcdf(path, {"x": x * 2}, overwrite=True)
    np.testing.assert_array_equal(xr.open_dataset(path)["x"].values, np.arange(10.0) * 2)
    with pytest.raises(ValueError, match="dims"):
        ts.to_netcdf(str(tmp_path / "bad.nc"), {"x": x}, dims=("a", "b"))
    with pytest.raises(ValueError, match="encoding"):
        ts.to_netcdf(str(tmp_path / "bad.nc"), {"x": x}, encoding={"x": {"compression": "zstd"}})
    with pytest.raises(ValueError, match="attribute"):
        ts.to_netcdf(str(tmp_path / "bad.nc"), {"x": x}, attrs={"when": object()})
    assert not os.path.exists(tmp_path / "bad.nc")


def test_a_failing_task_leaves_no_output_file(tmp_path):
    path = str(tmp_path / "failed.nc")
    x = ts.arange(10, chunks=2).astype(float)
    bad = x.map_blocks(lambda b: b / (b[0] - 4) if b[0] != 4 else 1 / 0, dtype=float)
    with pytest.raises(ts.TaskError, match="ZeroDivisionError"):
        ts.to_netcdf(path, {"bad": bad})
    assert not os.path.exists(path)


def test_an_interrupted_write_resumes(tmp_path):
    import time
    path = str(tmp_path / "resumed.nc")
    x = ts.arange(40, chunks=8).astype(float)

    def fail_last(b):
        if b[0] == 32:
            time.sleep(0.2)  # the other chunks are written and journalled first
            raise OSError("disk went away")
        return b * 2
    with pytest.raises(ts.TaskError, match="disk went away"):
        ts.to_netcdf(path, {"y": x.map_blocks(fail_last, dtype=float)})
    assert not os.path.exists(path)
    stats = ts.to_netcdf(path, {"y": x.map_blocks(lambda b: b * 2, dtype=float)}, resume=True)
    assert stats["chunks_resumed"] >= 1 and stats["chunks_resumed"] + stats["chunks_written"] == 5
    np.testing.assert_array_equal(xr.open_dataset(path)["y"].values, np.arange(40.0) * 2)


def test_xarray_round_trip():
    time = np.array("2001-01-01", dtype="datetime64[D]") + np.arange(48)
    da = xr.DataArray(np.random.default_rng(1).standard_normal((48, 3, 4)), dims=("time", "y", "x"),
                      coords={"time": time, "y": [10.0, 20.0, 30.0]}, attrs={"units": "K"}, name="temp")
    x = ts.from_xarray(da, chunks=(10, -1, 2))
    assert x.dims == ("time", "y", "x") and x.attrs == {"units": "K"} and x.chunks[0] == (10, 10, 10, 10, 8)
    anom = x.to_xarray() - x.to_xarray().mean("time")
    back = (x - x.mean(axis=0)).to_xarray(dims=x.dims, coords={"time": x.coords["time"], "y": x.coords["y"]},
                                          name="anom")
    xr.testing.assert_allclose(back, (da - da.mean("time")).rename("anom"))
    xr.testing.assert_allclose(anom, da - da.mean("time"))
    same = x.to_xarray()
    xr.testing.assert_identical(same, da)
    dask_backed = ts.from_xarray(da.chunk({"time": 12}))
    assert dask_backed.chunks[0] == (12, 12, 12, 12)
    np.testing.assert_array_equal(dask_backed.compute(), da.values)


def test_netcdf_round_trip_keeps_dates(tmp_path):
    time = np.array("2001-01-01", dtype="datetime64[ns]") + np.arange(5) * np.timedelta64(1, "D")
    ds = xr.Dataset({"v": (("time", "x"), np.arange(10.0).reshape(5, 2), {"units": "m"})},
                    coords={"time": time, "x": [0.5, 1.5]}, attrs={"source": "test"})
    path = str(tmp_path / "dates.nc")
    ts.to_netcdf(path, ds)
    back = xr.open_dataset(path)
    xr.testing.assert_identical(back, ds)
    x = ts.open(path, "v")
    assert x.to_xarray().equals(ds["v"])


def test_run_job_returns_the_summary(tmp_path, climate):
    shutil.copy(climate, tmp_path / "climate.nc")
    job = tmp_path / "global_mean.toml"
    shutil.copy(os.path.join(ROOT, "jobs", "examples", "global_mean.toml"), job)
    summary = ts.run_job(str(job), threads=2)
    assert summary["executor"] == "threads" and summary["threads"] == 2 and summary["ranks"] == 1
    assert summary["chunks_written"] >= 1 and summary["tasks"] > 0
    assert summary["outputs"][0]["path"].endswith("global_mean.nc")
    assert summary["outputs"][0]["variables"] == [{"name": "global_mean", "shape": [120], "dtype": "float64"}]
    got = xr.open_dataset(tmp_path / "global_mean.nc", decode_times=False)["global_mean"]
    t = xr.open_dataset(climate, decode_times=False)["t2m"].astype("float64")
    w = np.cos(np.radians(t["lat"]))
    expected = t.weighted(w).mean(("lat", "lon"))  # skips missing values with their weights
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-10)
    with pytest.raises(ts.InvalidArgumentError, match=r"global_mean.toml:\d+:\d+: error: output file "
                                                       r"'global_mean.nc' already exists"):
        ts.run_job(str(job))
    assert ts.run_job(str(job), overwrite=True)["chunks_written"] >= 1


def test_run_job_errors_point_at_the_job_file(tmp_path):
    job = tmp_path / "bad.toml"
    job.write_text('[arrays]\nx = "meen(zeros(3))"\n[outputs.x]\nfile = "x.nc"\n')
    with pytest.raises(ts.Error, match=r"bad.toml:2:\d+: error: unknown function 'meen'") as e:
        ts.run_job(str(job))
    assert "did you mean 'mean'" in str(e.value)
    with pytest.raises(ts.NotFoundError, match="missing.toml"):
        ts.run_job(str(tmp_path / "missing.toml"))
