"""Files, xarray and jobs: ts.open, ts.to_netcdf, ts.inspect, ts.from_xarray / Array.to_xarray, ts.run_job."""
import glob as _glob
import numbers
import os

import numpy as np

from . import _tessera
from ._array import Array, asarray
from ._errors import InvalidArgumentError, NotFoundError
from ._runtime import get_runtime


def _is_pattern(path):
    return any(c in path for c in "*?[")


def open(path, variable=None, chunks=None, decode_cf=True, concat_dim=None, runtime=None):  # noqa: A001
    """A variable of an HDF5, NetCDF-4 or NetCDF-3 file as a lazy array, with `dims`, `coords` (the dimensions'
    coordinate variables, read now) and `attrs`. Chunks follow the file's storage chunks (grown toward 64 MiB)
    unless `chunks` says otherwise (a chunk shape, -1 for a whole axis, or a dict {axis: length}).
    decode_cf: _FillValue/missing_value become NaN and packed values are unpacked, as xarray does.
    Without `variable`, the file's only data variable.

    `path` may also be a list of files or a glob pattern ("data/tas_day_*.nc"): an archive, joined along its
    record dimension (`concat_dim`, default the unlimited one, else time) in the order of the files' decoded
    times, like xarray.open_mfdataset. Every file's metadata is read once, on the runtime's threads (under MPI
    its ranks: then ts.open is collective, like compute()), and the files are checked to fit together; a
    misfit raises naming both files. `x.files` lists them in order, `x.notes` reports gaps.

    Every rank of an MPI job opens the file's metadata (a missing file or variable is the same error
    everywhere); chunks are read by the tasks that need them."""
    if isinstance(path, (list, tuple)) or (isinstance(path, str) and _is_pattern(path) and not os.path.exists(path)):
        files = []
        for entry in ([path] if isinstance(path, str) else list(path)):
            entry = os.fspath(entry)
            if _is_pattern(entry) and not os.path.exists(entry):
                matched = sorted(_glob.glob(entry))
                if not matched:
                    raise NotFoundError(f"no file matches {entry!r}")
                files.extend(matched)
            else:
                files.append(entry)
        if not files:
            raise InvalidArgumentError("ts.open: the list of files is empty")
        chunk_shape = None if chunks is None else _chunk_shape(files[0], variable, chunks)
        rt = runtime or get_runtime()
        r = _tessera.open_archive(rt._rt, files, variable, chunk_shape, bool(decode_cf), concat_dim or "")
    else:
        path = os.fspath(path)
        chunk_shape = None if chunks is None else _chunk_shape(path, variable, chunks)
        r = _tessera.open_variable(path, variable, chunk_shape, bool(decode_cf))
    coords = {dim: values for dim, (values, _) in r["coords"].items()}
    x = Array(r["array"], dims=r["dims"], coords=coords, attrs=dict(r["attrs"]), name=r["name"])
    x.coord_attrs = {dim: attrs for dim, (_, attrs) in r["coords"].items()}
    x.files = list(r.get("files", [path]))
    x.notes = list(r["notes"])
    return x


def _chunk_shape(path, variable, chunks):
    if isinstance(chunks, dict) or isinstance(chunks, numbers.Integral):
        info = inspect(path)
        name = variable or next(iter(info["data_variables"]), None)
        shape = info["variables"][name]["shape"] if name in info["variables"] else []
        if isinstance(chunks, numbers.Integral):
            chunks = {a: chunks for a in range(len(shape))}
        return [int(chunks.get(a, -1)) for a in range(len(shape))]
    return [-1 if c is None else int(c) for c in chunks]


def coord_attrs(x, dim):
    return (x.coord_attrs or {}).get(dim, {})


def inspect(path):
    """What a file holds: format, global attributes, dimensions and every variable's shape, dtype, dims,
    storage chunks, filters and attributes (`description` is what `tessera info` prints)."""
    info = _tessera.inspect(os.fspath(path))
    info["data_variables"] = [n for n, v in info["variables"].items()
                              if not v["dimension_only"] and not v["unsupported"] and n not in info["dimensions"]]
    return info


def _encode_times(values, attrs):
    """datetime64 coordinate values as CF numbers with units and calendar (via xarray)."""
    if np.asarray(values).dtype.kind != "M":
        return np.asarray(values), dict(attrs)
    from xarray.coding.times import encode_cf_datetime
    numbers_, units, calendar = encode_cf_datetime(np.asarray(values), attrs.get("units"), attrs.get("calendar"))
    out = dict(attrs)
    out["units"], out["calendar"] = units, calendar
    return np.asarray(numbers_), out


def _variables_of(variables):
    """(name -> array, dims, attrs, coords, coordinate attributes) from a dict, an xarray Dataset or DataArray."""
    try:
        import xarray
    except ImportError:
        xarray = None
    if xarray is not None and isinstance(variables, xarray.DataArray):
        variables = variables.to_dataset(name=variables.name or "data")
    if xarray is not None and isinstance(variables, xarray.Dataset):
        out = {}
        for name, v in variables.data_vars.items():
            out[str(name)] = from_xarray(v)
        return out, dict(variables.attrs)
    if not isinstance(variables, dict):
        raise InvalidArgumentError("to_netcdf: variables must be a dict {name: array}, an xarray Dataset or "
                                   "DataArray")
    return {str(k): (v if isinstance(v, Array) else asarray(v)) for k, v in variables.items()}, {}


def to_netcdf(path, variables, dims=None, attrs=None, coords=None, var_attrs=None, encoding=None,
              overwrite=False, resume=False, format="NETCDF4", durable=True, runtime=None):
    """Computes the arrays and writes them to one NetCDF-4 (or plain HDF5: format="HDF5") file through tessera's
    writer: every task writes its own chunk, the file appears only when complete (atomic rename), an existing
    file is refused unless overwrite=True, and an interrupted write resumes with resume=True.

    variables: {name: array} (tessera arrays, NumPy arrays), or an xarray Dataset/DataArray.
    dims: one tuple of dimension names for every variable, or {name: dims}; default: each array's dims.
    attrs: the file's global attributes. var_attrs: {name: {attribute: value}} (default: each array's attrs).
    coords: {dim: values or (values, attrs)}; default: the coordinates the arrays carry.
    encoding: xarray-style, per variable: zlib/complevel (gzip), chunksizes (storage chunks), _FillValue.
    Collective under MPI. Returns what was written (chunks, bytes)."""
    arrays, dataset_attrs = _variables_of(variables)
    if not arrays:
        raise InvalidArgumentError("to_netcdf: no variables to write")
    if format not in ("NETCDF4", "HDF5"):
        raise InvalidArgumentError(f"to_netcdf: format {format!r} is not NETCDF4 or HDF5 (tessera writes HDF5 "
                                   "files, with NetCDF-4 conventions by default)")
    encoding = encoding or {}
    var_attrs = var_attrs or {}
    specs, coord_values, coord_attributes = [], {}, {}
    for name, x in arrays.items():
        d = dims.get(name) if isinstance(dims, dict) else dims
        d = tuple(d) if d is not None else x.dims
        if d is not None and len(d) != x.ndim:
            raise InvalidArgumentError(f"to_netcdf: variable {name!r} has {x.ndim} dimensions but dims {d} name "
                                       f"{len(d)}")
        enc = encoding.get(name, {})
        unknown = set(enc) - {"zlib", "complevel", "chunksizes", "_FillValue", "dtype", "shuffle"}
        if unknown:
            raise InvalidArgumentError(f"to_netcdf: encoding of {name!r} has {sorted(unknown)}; tessera knows zlib, "
                                       "complevel, chunksizes, _FillValue")
        gzip = int(enc.get("complevel", 4 if enc.get("zlib") else 0)) if enc.get("zlib", "complevel" in enc) else 0
        fill = enc.get("_FillValue")
        storage = enc.get("chunksizes")
        a = dict(x.attrs) if var_attrs.get(name) is None else dict(var_attrs[name])
        a.pop("_FillValue", None)
        specs.append((name, x._a, list(d) if d is not None else None, a, None if fill is None else float(fill),
                      [int(c) for c in storage] if storage is not None else None, gzip))
        if d is not None:
            for axis, dim in enumerate(d):
                if dim in x.coords and dim not in coord_values and len(x.coords[dim]) == x.shape[axis]:
                    coord_values[dim] = x.coords[dim]
                    coord_attributes[dim] = coord_attrs(x, dim)
    for dim, v in (coords or {}).items():
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], dict):
            coord_values[dim], coord_attributes[dim] = v
        else:
            coord_values[dim], coord_attributes[dim] = v, coord_attributes.get(dim, {})
    coordinates = []
    for dim, values in coord_values.items():
        values = np.asarray(values.compute() if isinstance(values, Array) else values)
        values, a = _encode_times(values, coord_attributes.get(dim, {}))
        coordinates.append((dim, np.ascontiguousarray(values), a))
    global_attrs = dict(dataset_attrs)
    global_attrs.update(attrs or {})
    rt = runtime or get_runtime()
    return _tessera.to_netcdf(rt._rt, os.fspath(path), specs, coordinates, global_attrs, bool(overwrite),
                              bool(resume), format == "NETCDF4", bool(durable))


def from_xarray(da, chunks=None):
    """An xarray DataArray as a tessera Array with its dims, coordinates and attributes. A Dask-backed one keeps
    its chunks (its values are computed by Dask first); a NumPy-backed one is chunked by `chunks` (default
    "auto")."""
    import xarray
    if not isinstance(da, xarray.DataArray):
        raise InvalidArgumentError(f"from_xarray takes an xarray.DataArray, not {type(da).__name__}")
    if chunks is None:
        chunks = da.chunks if da.chunks is not None else "auto"
    from ._array import from_numpy
    x = from_numpy(np.asarray(da.values), chunks=chunks, name=str(da.name) if da.name is not None else None)
    coords = {str(d): np.asarray(da[d].values) for d in da.dims if d in da.coords}
    attrs = {str(d): dict(da[d].attrs) for d in da.dims if d in da.coords}
    for d in coords:
        enc = da[d].encoding
        if coords[d].dtype.kind == "M" and "units" in enc:
            attrs[d].setdefault("units", enc["units"])
            if "calendar" in enc:
                attrs[d].setdefault("calendar", enc["calendar"])
    out = Array(x._a, dims=[str(d) for d in da.dims], coords=coords, attrs=dict(da.attrs),
                name=None if da.name is None else str(da.name))
    out.coord_attrs = attrs
    return out


def to_xarray(x, dims=None, coords=None, attrs=None, name=None, decode_times=True):
    """The computed array as an xarray DataArray, with the dims, coordinates and attributes it carries (or
    those given). decode_times: CF time coordinates ("days since ...") become dates, as xarray.open_dataset
    does."""
    import xarray
    values = np.asarray(x.compute())
    dims = tuple(dims) if dims is not None else x.dims
    coord_values = {}
    if dims is not None:
        for axis, dim in enumerate(dims):
            if dim in x.coords and len(x.coords[dim]) == x.shape[axis]:
                coord_values[dim] = xarray.Variable(dim, np.asarray(x.coords[dim]), coord_attrs(x, dim))
    for dim, v in (coords or {}).items():
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], dict):
            coord_values[dim] = xarray.Variable(dim, np.asarray(v[0]), v[1])
        else:
            coord_values[dim] = v
    da = xarray.DataArray(values, dims=dims, coords=coord_values or None,
                          attrs=dict(x.attrs) if attrs is None else attrs, name=name if name is not None else x.name)
    if decode_times and any("since" in str(getattr(c, "attrs", {}).get("units", "")) for c in da.coords.values()):
        key = da.name if da.name is not None else "__tessera__"
        da = xarray.decode_cf(da.to_dataset(name=key))[key]
        if name is None and x.name is None:
            da.name = None
    return da


def run_job(job, threads=None, memory_limit=None, executor=None, overwrite=False, resume=False, progress=False,
            report=None, trace=None):
    """Runs a job file as `tessera run` does (checks, then computes and writes every output; threads and memory
    from the arguments, else the job's [options], else the environment and Slurm) and returns its summary:
    seconds, tasks, chunks and bytes written, executor, outputs. A rejected job raises ts.Error with the job
    file's location in the message. Collective under MPI."""
    if isinstance(memory_limit, str):
        memory_limit = _tessera.parse_size(memory_limit)
    return _tessera.run_job(os.fspath(job), threads, memory_limit, executor or "env", bool(overwrite), bool(resume),
                            bool(progress), os.fspath(report) if report else "", os.fspath(trace) if trace else "")

