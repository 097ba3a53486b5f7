// Job files: TOML describing inputs, computed arrays (expressions), outputs and options. See docs/jobs.md.
//
//   [inputs.t]
//   file = "era5_t2m.nc"
//   variable = "t2m"
//
//   [arrays]
//   anom = "(t - mean(t, axis=0)) / std(t, axis=0)"
//
//   [outputs.anom]
//   file = "anom.nc"
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/arrays/chunk.h"
#include "tessera/jobs/diagnostic.h"
#include "tessera/jobs/expr.h"

namespace tessera::jobs {

struct InputSpec {
  std::string name;
  std::string file;  // as written in the job file (`file`, or `files` as one text)
  std::string path;  // resolved: relative paths are taken from the job file's directory
  // `files`: an archive of many files (each entry a path or a glob pattern, resolved like `path`), joined
  // along `concat_dim` (default: the variable's unlimited dimension, else time). Empty for `file`.
  std::vector<std::string> files;
  std::string concat_dim;
  std::string variable;                                     // default: the input's name
  std::optional<Shape> chunks;                              // -1: the whole axis
  Location at;                                              // the [inputs.NAME] table
  Location file_at, variable_at, chunks_at, concat_dim_at;  // file_at: `file` or `files`

  bool is_archive() const noexcept { return !files.empty(); }
};

struct ArraySpec {
  std::string name;
  ExprSource source;
  std::shared_ptr<const Expr> expr;  // parsed
  Location at;                       // the expression string
};

// A numeric or text attribute for an output variable.
struct AttributeSpec {
  std::string name;
  std::variant<std::string, std::vector<double>> value;
  bool integer = false;  // numbers written as int64 rather than float64
};

struct OutputSpec {
  std::string name;
  std::string file, path;            // as written / resolved
  std::string variable;              // default: the output's name
  ExprSource source;                 // `expression`; default: the output's name (an array or input)
  std::shared_ptr<const Expr> expr;  // parsed
  std::optional<std::vector<std::string>> dims;
  std::vector<AttributeSpec> attributes;
  int compression = 0;          // gzip level 0-9
  std::optional<Shape> chunks;  // storage chunks; default: the array's chunks
  std::optional<double> fill_value;
  Location at, file_at, dims_at, compression_at, chunks_at;
};

struct JobOptions {
  std::size_t target_chunk_bytes = 32'000'000;  // as io::ReadOptions
  int threads = 0;                              // 0: every CPU this process may use
  std::optional<std::uint64_t> memory_limit;    // bytes
  std::string report, trace;                    // paths (resolved), empty: none
  std::string dashboard;                        // "[HOST:]PORT" of a live dashboard, empty: none
  Location threads_at, memory_limit_at;
};

struct JobSpec {
  std::shared_ptr<const SourceFile> source;
  std::string directory;            // of the job file; relative paths start here
  std::vector<InputSpec> inputs;    // in the order of the file
  std::vector<ArraySpec> arrays;    // in the order of the file
  std::vector<OutputSpec> outputs;  // in the order of the file
  JobOptions options;
};

// Values for ${NAME} in the job file's string values (file names, output names, expressions, attributes; see
// docs/jobs.md, "Variables"): one job file for every task of a Slurm job array. Only the names of
// job_variable_names() may appear.
using JobVariables = std::map<std::string, std::string>;
const std::vector<std::string>& job_variable_names();  // SLURM_ARRAY_TASK_ID
// Those of job_variable_names() that this process's environment sets.
JobVariables job_variables_from_environment();

// Parses a job file's text. `file_name` is what messages show, `directory` where relative paths start.
// Throws Error(kInvalidArgument) with a located message for TOML syntax errors, unknown sections or keys
// (suggesting the nearest valid one), values of the wrong type, names used twice, expressions that do
// not parse, and ${NAME}s that are unknown or not in `variables`. Nothing is opened or evaluated.
JobSpec parse_job(std::string_view text, const std::string& file_name, const std::string& directory = ".",
                  const JobVariables& variables = {});

// Reads and parses the job file at `path`, with the job variables of this process's environment (or
// `variables`). Throws Error(kNotFound) when it does not exist, else as parse_job.
JobSpec load_job(const std::string& path);
JobSpec load_job(const std::string& path, const JobVariables& variables);

}  // namespace tessera::jobs
