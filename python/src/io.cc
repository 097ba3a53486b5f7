// Files and jobs from Python: ts.open (a variable as a lazy array with dims, coordinates and attributes),
// ts.to_netcdf (io's atomic, resumable writer), ts.inspect, ts.run_job (what `tessera run` does).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "calls.h"
#include "numpy_chunk.h"
#include "tessera/io/archive.h"
#include "tessera/io/io.h"
#include "tessera/jobs/diagnostic.h"
#include "tessera/jobs/evaluate.h"
#include "tessera/jobs/file_inputs.h"
#include "tessera/jobs/job_file.h"
#include "tessera/jobs/run_view.h"
#include "tessera/slurm/slurm.h"

namespace tessera::python {
namespace {

py::object attribute_value(const io::AttributeValue& a) {
  if (a.is_text()) return py::str(a.text());
  py::object numpy = py::module_::import("numpy");
  py::object type = numpy.attr("dtype")(a.type.empty() ? std::string("float64") : a.type);
  py::array values = numpy.attr("array")(a.numbers()).attr("astype")(type);
  if (a.numbers().size() == 1) return values[py::int_(0)];
  return values;
}

py::dict attributes_dict(const io::Attributes& attributes) {
  py::dict d;
  for (const auto& [name, value] : attributes) d[py::str(name)] = attribute_value(value);
  return d;
}

io::AttributeValue attribute_from(py::handle v, const std::string& name) {
  if (py::isinstance<py::str>(v)) return io::AttributeValue(v.cast<std::string>());
  py::object numpy = py::module_::import("numpy");
  py::array a = numpy.attr("asarray")(v);
  const char kind = a.dtype().kind();
  if (a.ndim() > 1 || (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')) {
    throw Error(ErrorCode::kInvalidArgument, "attribute \"" + name + "\" is " +
                                                 py::str(py::type::handle_of(v)).cast<std::string>() +
                                                 "; attributes are text, numbers or 1-d lists of numbers");
  }
  std::string type = py::str(a.dtype()).cast<std::string>();
  if (kind == 'b') type = "int8";
  std::vector<double> numbers = py::cast<std::vector<double>>(a.attr("ravel")().attr("astype")("float64"));
  return io::AttributeValue(std::move(numbers), type);
}

io::Attributes attributes_from(py::handle dict) {
  io::Attributes out;
  if (dict.is_none()) return out;
  for (auto [k, v] : py::reinterpret_borrow<py::dict>(dict)) {
    const std::string name = py::str(k).cast<std::string>();
    out.emplace_back(name, attribute_from(v, name));
  }
  return out;
}

// The data variables of a file: not a coordinate (named like a dimension), not a coordinate's cell bounds
// (named by its `bounds` attribute) and not a bare dimension.
std::vector<std::string> data_variables(const io::FileInfo& info) {
  std::set<std::string> bounds;
  for (const io::VariableInfo& v : info.variables) {
    if (const io::AttributeValue* b = io::find_attribute(v.attributes, "bounds"); b && b->is_text()) {
      bounds.insert(b->text());
    }
  }
  std::vector<std::string> out;
  for (const io::VariableInfo& v : info.variables) {
    if (v.dimension_only || !v.unsupported.empty() || info.dimensions.count(v.name) || bounds.count(v.name)) {
      continue;
    }
    out.push_back(v.name);
  }
  return out;
}

py::dict open_variable(const std::string& path, const std::optional<std::string>& variable,
                       const std::optional<Shape>& chunks, bool decode_cf) {
  const io::FileInfo info = io::inspect(path);
  std::string name;
  if (variable) {
    name = *variable;
  } else {
    const std::vector<std::string> candidates = data_variables(info);
    if (candidates.size() != 1) {
      std::string list;
      for (const auto& c : candidates) list += (list.empty() ? "" : ", ") + c;
      throw Error(ErrorCode::kInvalidArgument,
                  path + " has " + std::to_string(candidates.size()) + " data variables (" + list +
                      "): say which one, e.g. ts.open(\"" + path + "\", \"" +
                      (candidates.empty() ? std::string("name") : candidates[0]) + "\")");
    }
    name = candidates[0];
  }
  io::ReadOptions options;
  options.chunks = chunks;
  options.decode_cf = decode_cf;
  io::Variable v = io::read(path, name, options);
  py::dict out;
  out["array"] = py::cast(v.data);
  out["name"] = v.info.name;
  out["dims"] = v.dims;
  out["attrs"] = attributes_dict(v.info.attributes);
  out["notes"] = v.notes;
  out["stored_type"] = v.info.stored_type;
  // Coordinates: a 1-d variable named like one of the dimensions and as long, read now (they are small).
  py::dict coords;
  for (std::size_t axis = 0; axis < v.dims.size(); ++axis) {
    const std::string& dim = v.dims[axis];
    for (const io::VariableInfo& c : info.variables) {
      if (c.name != dim || c.name == v.info.name || c.dimension_only || !c.unsupported.empty()) continue;
      if (c.shape.size() != 1 || c.shape[0] != v.data.shape()[axis]) continue;
      auto chunk = std::make_shared<const Chunk>(io::read_all(path, c.name, decode_cf));
      coords[py::str(dim)] =
          py::make_tuple(chunk_view(std::move(chunk), true), attributes_dict(c.attributes));
    }
  }
  out["coords"] = coords;
  return out;
}

// An archive of many files as one variable (io::open_archive): the files' metadata is scanned on the runtime
// (its threads; under MPI its ranks), so this is collective like compute().
py::dict open_archive(PyRuntime& rt, const std::vector<std::string>& files,
                      const std::optional<std::string>& variable, const std::optional<Shape>& chunks,
                      bool decode_cf, const std::string& concat_dim) {
  std::string name;
  if (variable) {
    name = *variable;
  } else {
    const std::vector<std::string> candidates = data_variables(io::inspect(files.front()));
    if (candidates.size() != 1) {
      std::string list;
      for (const auto& c : candidates) list += (list.empty() ? "" : ", ") + c;
      throw Error(ErrorCode::kInvalidArgument, files.front() + " has " + std::to_string(candidates.size()) +
                                                   " data variables (" + list + "): say which one");
    }
    name = candidates[0];
  }
  io::ArchiveOptions ao;
  ao.concat_dim = concat_dim;
  const io::Archive archive =
      rt.run_released([&](Runtime& r) { return io::open_archive(r, files, name, ao); });
  io::ReadOptions options;
  options.chunks = chunks;
  options.decode_cf = decode_cf;
  io::Variable v = io::read(archive, options);
  py::dict out;
  out["array"] = py::cast(v.data);
  out["name"] = v.info.name;
  out["dims"] = v.dims;
  out["attrs"] = attributes_dict(v.info.attributes);
  out["notes"] = archive.notes();
  out["stored_type"] = v.info.stored_type;
  std::vector<std::string> ordered;
  for (const io::Archive::Piece& p : archive.pieces()) ordered.push_back(p.path);
  out["files"] = ordered;
  py::dict coords;
  for (std::size_t axis = 0; axis < v.dims.size(); ++axis) {
    const std::string& dim = v.dims[axis];
    std::optional<Chunk> values = archive.coordinate(dim);
    if (!values || values->shape().size() != 1 || values->shape()[0] != v.data.shape()[axis]) continue;
    const io::Attributes* attributes = archive.attributes_of(dim);
    coords[py::str(dim)] = py::make_tuple(chunk_view(std::make_shared<const Chunk>(std::move(*values)), true),
                                          attributes ? attributes_dict(*attributes) : py::dict());
  }
  out["coords"] = coords;
  return out;
}

py::dict inspect_file(const std::string& path) {
  const io::FileInfo info = io::inspect(path);
  py::dict out;
  out["path"] = info.path;
  out["format"] = std::string(io::name_of(info.format));
  out["bytes"] = info.file_bytes;
  out["attrs"] = attributes_dict(info.attributes);
  out["dimensions"] = info.dimensions;
  py::dict vars;
  for (const io::VariableInfo& v : info.variables) {
    py::dict d;
    d["shape"] = v.shape;
    d["dtype"] = v.unsupported.empty() ? py::object(py::str(std::string(name_of(v.dtype)))) : py::none();
    d["stored_type"] = v.stored_type;
    d["dims"] = v.dims;
    d["chunks"] = v.chunked ? py::object(py::cast(v.storage_chunks)) : py::none();
    std::vector<std::string> filters;
    for (const io::Filter& f : v.filters) filters.push_back(f.name);
    d["filters"] = filters;
    d["attrs"] = attributes_dict(v.attributes);
    d["dimension_only"] = v.dimension_only;
    d["unsupported"] = v.unsupported;
    vars[py::str(v.name)] = d;
  }
  out["variables"] = vars;
  out["description"] = io::describe(info);
  return out;
}

py::dict store_stats(const io::StoreStats& s) {
  py::dict d;
  d["chunks_written"] = s.chunks_written;
  d["chunks_resumed"] = s.chunks_resumed;
  d["bytes_written"] = s.bytes_written;
  d["logical_bytes"] = s.logical_bytes;
  return d;
}

// variables: (name, array, dims or None, attrs dict, fill value or None, storage chunks or None, gzip level)
using VariableSpec = std::tuple<std::string, Array, std::optional<std::vector<std::string>>, py::object,
                                std::optional<double>, std::optional<Shape>, int>;
// coordinates: (dim, 1-d NumPy values, attrs dict)
using CoordinateSpec = std::tuple<std::string, py::array, py::object>;

py::dict to_netcdf(PyRuntime& rt, const std::string& path, const std::vector<VariableSpec>& variables,
                   const std::vector<CoordinateSpec>& coordinates, py::object attrs, bool overwrite,
                   bool resume, bool netcdf, bool durable) {
  io::OutputFile out(
      path,
      io::OutputOptions{.overwrite = overwrite, .resume = resume, .netcdf = netcdf, .durable = durable});
  for (const auto& [name, array, dims, var_attrs, fill, storage, gzip] : variables) {
    io::VariableOptions o;
    if (dims) o.dims = *dims;
    o.attributes = attributes_from(var_attrs);
    o.fill_value = fill;
    o.storage_chunks = storage;
    o.gzip = gzip;
    out.add(name, array, std::move(o));
  }
  for (const auto& [dim, values, coord_attrs] : coordinates) {
    out.add_coordinate(io::Coordinate{dim, chunk_from_numpy(values, tessera_dtype(values.dtype())),
                                      attributes_from(coord_attrs)});
  }
  for (const auto& [name, value] : attributes_from(attrs)) out.set_attribute(name, value);
  const io::StoreStats stats = rt.run_released([&](Runtime& r) { return io::store(r, out); });
  return store_stats(stats);
}

// `tessera run JOB` as a function: the same checks, runtime set-up (job options, Slurm) and writing; returns
// what the command prints as a summary.
py::dict run_job(const std::string& job_path, std::optional<int> threads,
                 std::optional<std::uint64_t> memory_limit, const std::string& executor, bool overwrite,
                 bool resume, bool progress, const std::string& report, const std::string& trace) {
  const auto start = std::chrono::steady_clock::now();
  jobs::JobSpec spec = jobs::load_job(job_path);
  jobs::FileResolver files;
  jobs::JobPlan plan = jobs::plan_job(spec, files);
  if (!overwrite && !resume) {
    for (const jobs::PlannedOutput& o : plan.outputs) {
      std::error_code ec;
      if (std::filesystem::exists(o.spec->path, ec)) {
        jobs::throw_diagnostic(
            ErrorCode::kInvalidArgument, spec.source.get(), o.spec->file_at,
            "output file '" + o.spec->file + "' already exists",
            "pass overwrite=True to replace it (the old file stays until the new one is complete)");
      }
    }
  }
  io::OutputOptions output_options;
  output_options.overwrite = overwrite;
  output_options.resume = resume;
  std::vector<io::OutputFile> outputs = jobs::output_files(spec, plan, files, output_options);

  RuntimeOptions ro = RuntimeOptions::from_environment();
  if (executor != "env") {
    if (executor == "threads")
      ro.executor = ExecutorKind::kThreads;
    else if (executor == "sync")
      ro.executor = ExecutorKind::kSync;
    else if (executor == "mpi")
      ro.executor = ExecutorKind::kMpi;
    else if (executor == "auto")
      ro.executor = ExecutorKind::kAuto;
    else
      throw Error(ErrorCode::kInvalidArgument,
                  "executor \"" + executor + "\" is not one of auto, threads, sync, mpi");
  }
  const slurm::Derived derived = slurm::derive(slurm::environment_of_this_process());
  if (threads) {
    ro.threads = *threads;
  } else if (spec.options.threads > 0) {
    ro.threads = spec.options.threads;
  } else if (std::getenv("TESSERA_THREADS") == nullptr && derived.threads_per_worker) {
    ro.threads = *derived.threads_per_worker;
  }
  if (memory_limit) {
    ro.memory.limit = *memory_limit;
  } else if (spec.options.memory_limit) {
    ro.memory.limit = *spec.options.memory_limit;
  } else if (ro.memory.limit == 0 && derived.memory_per_worker) {
    ro.memory.limit = *derived.memory_per_worker;
  }
  if (ro.memory.spill_dir.empty()) ro.memory.spill_dir = derived.scratch_dir;
  jobs::ViewOptions view;
  view.report = !report.empty() ? report : spec.options.report;
  view.trace = !trace.empty() ? trace : spec.options.trace;
  view.summary = false;
  view.progress = progress;
  jobs::configure_runtime(view, ro);
  jobs::ProgressDisplay display(std::cerr, jobs::stderr_is_tty());
  if (progress) ro.progress = display.options();

  io::StoreStats stats;
  RunStats run;
  std::string executor_name;
  int concurrency = 0, ranks = 1;
  interruptible([&] {
    Runtime runtime(ro);
    stats = io::store(runtime, outputs);
    run = runtime.last_stats();
    executor_name = runtime.executor().name();
    concurrency = runtime.executor().concurrency();
    ranks = runtime.ranks();
    jobs::finish_views(runtime, view, std::cout);
  });
  py::dict d = store_stats(stats);
  d["job"] = job_path;
  d["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  d["executor"] = executor_name;
  d["threads"] = concurrency;
  d["ranks"] = ranks;
  d["tasks"] = run.graph_tasks;
  d["plan_tasks"] = run.plan_tasks;
  d["memory_limit"] = ro.memory.limit;
  d["peak_held_bytes"] = run.peak_held_bytes;
  d["bytes_spilled"] = run.bytes_spilled;
  py::list files_out;
  for (const io::OutputFile& f : outputs) {
    py::dict fd;
    fd["path"] = f.path();
    py::list vars;
    for (const auto& v : f.variables()) {
      py::dict vd;
      vd["name"] = v.name;
      vd["shape"] = v.data.shape();
      vd["dtype"] = std::string(name_of(v.data.dtype()));
      vars.append(vd);
    }
    fd["variables"] = vars;
    files_out.append(fd);
  }
  d["outputs"] = files_out;
  return d;
}

}  // namespace

void bind_io(py::module_& m) {
  m.def("open_variable", &open_variable, py::arg("path"), py::arg("variable"), py::arg("chunks"),
        py::arg("decode_cf"));
  m.def("open_archive", &open_archive, py::arg("runtime"), py::arg("files"), py::arg("variable"),
        py::arg("chunks"), py::arg("decode_cf"), py::arg("concat_dim"));
  m.def("inspect", &inspect_file);
  m.def("to_netcdf", &to_netcdf, py::arg("runtime"), py::arg("path"), py::arg("variables"),
        py::arg("coordinates"), py::arg("attrs"), py::arg("overwrite"), py::arg("resume"), py::arg("netcdf"),
        py::arg("durable"));
  m.def("run_job", &run_job, py::arg("job"), py::arg("threads"), py::arg("memory_limit"), py::arg("executor"),
        py::arg("overwrite"), py::arg("resume"), py::arg("progress"), py::arg("report"), py::arg("trace"));
}

}  // namespace tessera::python
