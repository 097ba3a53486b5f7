#include "tessera/jobs/file_inputs.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

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

const io::FileInfo& FileResolver::info(const std::string& path) {
  auto it = infos_.find(path);
  if (it == infos_.end()) it = infos_.emplace(path, io::inspect(path)).first;
  return it->second;
}

BoundInput FileResolver::bind(const JobSpec& job, const InputSpec& input) {
  const SourceFile* src = job.source.get();
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
  io::ReadOptions options;
  options.chunks = input.chunks;
  options.target_chunk_bytes = job.options.target_chunk_bytes;
  try {
    io::Variable v = io::read(input.path, input.variable, options);
    return BoundInput{v.data, v.dims};
  } catch (const Error& e) {
    throw_diagnostic(e.code(), src, input.chunks ? input.chunks_at : input.at,
                     std::string("cannot read input '") + input.name + "': " + e.what());
  }
}

io::TimeAxis FileResolver::time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) {
  return io::read_time(input.path, dim);
}

std::vector<io::OutputFile> output_files(const JobSpec& job, const JobPlan& plan, FileResolver& files,
                                         const io::OutputOptions& options) {
  std::vector<io::OutputFile> out;
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
        file->add_coordinate(io::Coordinate{
            dim,
            Chunk::from<double>({static_cast<std::int64_t>(axis.coordinate.size())}, axis.coordinate),
            {}});
        continue;
      }
      if (axis.input < 0) continue;
      const InputSpec& input = job.inputs[static_cast<std::size_t>(axis.input)];
      const std::string& source_dim = plan.inputs[static_cast<std::size_t>(axis.input)]
                                          .axes[static_cast<std::size_t>(axis.input_axis)]
                                          .dim;
      const io::FileInfo& info = files.info(input.path);
      const auto var =
          std::find_if(info.variables.begin(), info.variables.end(), [&](const io::VariableInfo& v) {
            return v.name == source_dim && !v.dimension_only && v.shape.size() == 1;
          });
      if (var == info.variables.end()) continue;
      Chunk values = io::read_all(input.path, source_dim, /*decode_cf=*/false);
      io::Attributes attributes;
      for (const auto& [name, value] : var->attributes) {
        // Dimension-scale bookkeeping belongs to the file that had it; the writer makes its own.
        if (name == "CLASS" || name == "NAME" || name == "REFERENCE_LIST" || name == "DIMENSION_LIST" ||
            name == "_Netcdf4Dimid" || name == "_Netcdf4Coordinates") {
          continue;
        }
        attributes.emplace_back(name, value);
      }
      file->add_coordinate(io::Coordinate{dim, pick(values, axis.positions), std::move(attributes)});
    }
  }
  return out;
}

}  // namespace tessera::jobs
