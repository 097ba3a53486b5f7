#include "tessera/jobs/file_inputs.h"

#include <glob.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "tessera/version.h"

namespace tessera::jobs {
namespace {

// A 1-d chunk holding the elements of `c` at `positions`.
Chunk pick(const Chunk& c, const std::vector<std::int64_t>& positions) {
  Chunk out(c.dtype(), Shape{static_cast<std::int64_t>(positions.size())});
  const std::size_t item = size_of(c.dtype());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    std::memcpy(out.bytes() + i * item, c.bytes() + static_cast<std::size_t>(positions[i]) * item, item);
  }
  return out;
}

std::string nearest_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
    if (names.size() > 10000) break;
  }
  const std::string best = nearest_name(p.filename().string(), names);
  return best.empty() ? "" : "did you mean '" + (dir / best).lexically_normal().string() + "'?";
}

}  // namespace

FileResolver::~FileResolver() = default;

Runtime& FileResolver::scan_runtime() {
  if (runtime_ != nullptr) return *runtime_;
  if (!own_runtime_) {
    RuntimeOptions o;
    o.executor = ExecutorKind::kThreads;
    own_runtime_ = std::make_unique<Runtime>(o);
  }
  return *own_runtime_;
}

const io::FileInfo& FileResolver::info(const std::string& path) {
  auto it = infos_.find(path);
  if (it == infos_.end()) it = infos_.emplace(path, io::inspect(path)).first;
  return it->second;
}

const io::Archive* FileResolver::archive(const std::string& name) const {
  auto it = archives_.find(name);
  return it == archives_.end() ? nullptr : &it->second;
}

std::vector<std::string> archive_files(const JobSpec& job, const InputSpec& input) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& pattern : input.files) {
    if (pattern.find_first_of("*?[") == std::string::npos) {
      std::error_code ec;
      if (!std::filesystem::exists(pattern, ec)) {
        throw_diagnostic(ErrorCode::kNotFound, job.source.get(), input.file_at,
                         "input file '" + pattern + "' of '" + input.name + "' does not exist",
                         nearest_file(pattern));
      }
      if (seen.insert(pattern).second) out.push_back(pattern);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      ::globfree(&g);
      throw_diagnostic(ErrorCode::kIo, job.source.get(), input.file_at,
                       "cannot list the files matching '" + pattern + "'");
    }
    std::vector<std::string> matched;
    for (std::size_t i = 0; i < g.gl_pathc; ++i) matched.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    if (matched.empty()) {
      throw_diagnostic(ErrorCode::kNotFound, job.source.get(), input.file_at,
                       "no file matches '" + pattern + "' (input '" + input.name + "')",
                       nearest_file(pattern));
    }
    std::sort(matched.begin(), matched.end());
    for (std::string& m : matched) {
      if (seen.insert(m).second) out.push_back(std::move(m));
    }
  }
  return out;
}

BoundInput FileResolver::bind(const JobSpec& job, const InputSpec& input) {
  const SourceFile* src = job.source.get();
  io::ReadOptions options;
  options.chunks = input.chunks;
  options.target_chunk_bytes = job.options.target_chunk_bytes;
  if (input.is_archive()) {
    const std::vector<std::string> files = archive_files(job, input);
    try {
      io::ArchiveOptions ao;
      ao.concat_dim = input.concat_dim;
      auto [it, added] =
          archives_.insert_or_assign(input.name, io::open_archive(scan_runtime(), files, input.variable, ao));
      io::Variable v = io::read(it->second, options);
      return BoundInput{v.data, v.dims};
    } catch (const Error& e) {
      const std::string what = e.what();
      if (src != nullptr && what.rfind(src->name + ":", 0) == 0) throw;
      const Location at =
          input.concat_dim.empty() || what.find("concat_dim") == std::string::npos
              ? (input.chunks && what.find("chunks") != std::string::npos ? input.chunks_at : input.file_at)
              : input.concat_dim_at;
      throw_diagnostic(e.code(), src, at,
                       "input '" + input.name + "' (" + std::to_string(files.size()) + " files): " + what);
    }
  }
  std::error_code ec;
  if (!std::filesystem::exists(input.path, ec)) {
    std::string message = "input file '" + input.file + "' does not exist";
    if (input.path != input.file) message += " (looked for " + input.path + ")";
    throw_diagnostic(ErrorCode::kNotFound, src, input.file_at, message, nearest_file(input.path));
  }
  const io::FileInfo* file = nullptr;
  try {
    file = &info(input.path);
  } catch (const Error& e) {
    throw_diagnostic(e.code(), src, input.file_at,
                     std::string("cannot open input '") + input.name + "': " + e.what());
  }
  std::vector<std::string> names;
  bool found = false;
  for (const io::VariableInfo& v : file->variables) {
    if (v.dimension_only) continue;
    names.push_back(v.name);
    found = found || v.name == input.variable || "/" + v.name == input.variable;
  }
  if (!found) {
    std::string help = suggest(input.variable, names);
    if (help.empty()) {
      help = "the file has: ";
      for (std::size_t i = 0; i < names.size() && i < 20; ++i) help += (i ? ", " : "") + names[i];
    }
    throw_diagnostic(ErrorCode::kNotFound, src, input.variable_at,
                     "'" + input.file + "' has no variable '" + input.variable + "'", help);
  }
  try {
    io::Variable v = io::read(input.path, input.variable, options);
    return BoundInput{v.data, v.dims};
  } catch (const Error& e) {
    throw_diagnostic(e.code(), src, input.chunks ? input.chunks_at : input.at,
                     std::string("cannot read input '") + input.name + "': " + e.what());
  }
}

io::TimeAxis FileResolver::time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) {
  if (const io::Archive* a = archive(input.name)) {
    if (dim == a->dim() && a->has_time()) return a->time();
    if (dim == a->dim()) {
      throw_error(ErrorCode::kInvalidArgument, "the coordinate ", dim, " of the archive is not a CF time");
    }
    return io::read_time(a->pieces().front().path, dim);
  }
  return io::read_time(input.path, dim);
}

std::optional<io::Coordinate> FileResolver::coordinate(const JobSpec& job, const InputSpec& input,
                                                       const std::string& name) {
  io::Coordinate c;
  c.dim = name;
  const io::Attributes* attributes = nullptr;
  if (const io::Archive* a = archive(input.name)) {
    std::optional<Chunk> values = a->coordinate(name);
    if (!values) return std::nullopt;
    c.values = std::move(*values);
    attributes = a->attributes_of(name);
  } else {
    const io::FileInfo& file = info(input.path);
    const auto var =
        std::find_if(file.variables.begin(), file.variables.end(),
                     [&](const io::VariableInfo& v) { return v.name == name && !v.dimension_only; });
    if (var == file.variables.end()) return std::nullopt;
    c.values = io::read_all(input.path, name, /*decode_cf=*/false);
    attributes = &var->attributes;
  }
  if (attributes != nullptr) {
    for (const auto& [key, value] : *attributes) {
      // Dimension-scale bookkeeping belongs to the file that had it; the writer makes its own.
      if (key == "CLASS" || key == "NAME" || key == "REFERENCE_LIST" || key == "DIMENSION_LIST" ||
          key == "_Netcdf4Dimid" || key == "_Netcdf4Coordinates") {
        continue;
      }
      c.attributes.emplace_back(key, value);
    }
  }
  return c;
}

namespace {

// Rows `positions` of a (n, k) chunk.
Chunk pick_rows(const Chunk& c, const std::vector<std::int64_t>& positions) {
  const std::int64_t width = c.shape().size() > 1 ? c.shape()[1] : 1;
  Chunk out(c.dtype(), c.shape().size() > 1 ? Shape{static_cast<std::int64_t>(positions.size()), width}
                                            : Shape{static_cast<std::int64_t>(positions.size())});
  const std::size_t row = size_of(c.dtype()) * static_cast<std::size_t>(width);
  for (std::size_t i = 0; i < positions.size(); ++i) {
    std::memcpy(out.bytes() + i * row, c.bytes() + static_cast<std::size_t>(positions[i]) * row, row);
  }
  return out;
}

bool has_variable(const io::OutputFile& f, const std::string& name) {
  return std::any_of(f.variables().begin(), f.variables().end(),
                     [&](const io::OutputFile::Entry& e) { return e.name == name; });
}

void set_attribute(io::Attributes& attributes, const std::string& name, io::AttributeValue value) {
  for (auto& [k, v] : attributes) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  attributes.emplace_back(name, std::move(value));
}

// A coordinate (and its cell bounds, as the variable its `bounds` attribute names) for dimension `dim`.
void add_coordinate(io::OutputFile& file, const std::string& dim, Chunk values, io::Attributes attributes,
                    std::optional<Chunk> bounds, const std::string& bounds_name) {
  if (bounds && !has_variable(file, bounds_name)) {
    set_attribute(attributes, "bounds", io::AttributeValue(bounds_name));
    const Shape shape = bounds->shape();
    file.add(bounds_name, from_chunk(std::move(*bounds), shape), {.dims = {dim, "bnds"}});
  } else if (!bounds) {
    attributes.erase(std::remove_if(attributes.begin(), attributes.end(),
                                    [](const auto& a) { return a.first == "bounds"; }),
                     attributes.end());
  }
  file.add_coordinate(io::Coordinate{dim, std::move(values), std::move(attributes)});
}

}  // namespace

std::vector<io::OutputFile> output_files(const JobSpec& job, const JobPlan& plan, FileResolver& files,
                                         const io::OutputOptions& options) {
  std::vector<io::OutputFile> out;
  // NCO's and CDO's habit: the inputs' history, and one line saying what made this file. No time stamp: the
  // same job writes the same bytes (resume depends on it).
  std::string history;
  if (!job.inputs.empty()) {
    const InputSpec& first = job.inputs.front();
    const io::FileInfo& info =
        files.archive(first.name) ? files.archive(first.name)->first() : files.info(first.path);
    if (const io::AttributeValue* h = io::find_attribute(info.attributes, "history"); h && h->is_text()) {
      history = h->text();
    }
  }
  if (!history.empty() && history.back() != '\n') history += "\n";
  history += "tessera " TESSERA_VERSION ": tessera run " +
             std::filesystem::path(job.source->name).filename().string();
  for (const PlannedOutput& o : plan.outputs) {
    const OutputSpec& spec = *o.spec;
    auto file =
        std::find_if(out.begin(), out.end(), [&](const io::OutputFile& f) { return f.path() == spec.path; });
    if (file == out.end()) {
      out.emplace_back(spec.path, options);
      file = out.end() - 1;
      // The job file's name, not the path it was given by: the same job writes the same bytes from anywhere.
      file->set_attribute("source",
                          "tessera job " + std::filesystem::path(job.source->name).filename().string());
      file->set_attribute("history", history);
    }
    io::VariableOptions v;
    v.dims = o.dims;
    for (const AttributeSpec& a : spec.attributes) {
      if (const auto* text = std::get_if<std::string>(&a.value)) {
        v.attributes.emplace_back(a.name, io::AttributeValue(*text));
      } else {
        v.attributes.emplace_back(a.name, io::AttributeValue(std::get<std::vector<double>>(a.value),
                                                             a.integer ? "int64" : "float64"));
      }
    }
    if (!o.value.cell_methods.empty() && io::find_attribute(v.attributes, "cell_methods") == nullptr) {
      v.attributes.emplace_back("cell_methods", io::AttributeValue(o.value.cell_methods));
    }
    v.fill_value = spec.fill_value;
    v.storage_chunks = spec.chunks;
    v.gzip = spec.compression;
    try {
      file->add(spec.variable, o.value.data, std::move(v));
    } catch (const Error& e) {
      throw_diagnostic(e.code(), job.source.get(), spec.at, "output '" + spec.name + "': " + e.what());
    }
    for (std::size_t k = 0; k < o.value.axes.size(); ++k) {
      const AxisOrigin& axis = o.value.axes[k];
      const std::string& dim = o.dims[k];
      const bool have = std::any_of(file->coordinates().begin(), file->coordinates().end(),
                                    [&](const io::Coordinate& c) { return c.dim == dim; });
      if (have) continue;
      if (!axis.coordinate.empty()) {
        const auto n = static_cast<std::int64_t>(axis.coordinate.size());
        std::optional<Chunk> bounds;
        if (axis.bounds.size() == 2 * axis.coordinate.size())
          bounds = Chunk::from<double>({n, 2}, axis.bounds);
        add_coordinate(*file, dim, Chunk::from<double>({n}, axis.coordinate), axis.attributes,
                       std::move(bounds), dim + "_bnds");
        continue;
      }
      if (axis.input < 0) continue;
      const InputSpec& input = job.inputs[static_cast<std::size_t>(axis.input)];
      const std::string& source_dim = plan.inputs[static_cast<std::size_t>(axis.input)]
                                          .axes[static_cast<std::size_t>(axis.input_axis)]
                                          .dim;
      std::optional<io::Coordinate> c = files.coordinate(job, input, source_dim);
      if (!c || c->values.shape().size() != 1) continue;
      // Its cell bounds go along, sliced as the data was, under the name the input gave them (dim_bnds when
      // the dimension was renamed).
      std::optional<Chunk> bounds;
      std::string bounds_name = dim + "_bnds";
      if (const io::AttributeValue* b = io::find_attribute(c->attributes, "bounds"); b && b->is_text()) {
        if (std::optional<io::Coordinate> bc = files.coordinate(job, input, b->text());
            bc && bc->values.shape().size() == 2 && bc->values.shape()[0] == c->values.shape()[0]) {
          bounds = pick_rows(bc->values, axis.positions);
          if (dim == source_dim) bounds_name = b->text();
        }
      }
      add_coordinate(*file, dim, pick(c->values, axis.positions), std::move(c->attributes), std::move(bounds),
                     bounds_name);
    }
  }
  return out;
}

}  // namespace tessera::jobs
