// The seam between job plans and files: inputs bound with io::read, dates with io::read_time, and the output
// files (variables, coordinates, attributes) that io::store writes.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/io/archive.h"
#include "tessera/io/io.h"
#include "tessera/jobs/evaluate.h"

namespace tessera::jobs {

// Binds inputs to HDF5/NetCDF variables. Errors point at the job file: a missing file at its `file` value
// (suggesting a similarly named file in that directory), a missing variable at `variable` (suggesting the
// nearest variable the file has), bad chunks at `chunks`. An input with `files` is an archive (io/archive.h):
// its patterns are expanded, every file's metadata is read on the scanning runtime and checked, and the
// input is the variable of all files joined in time order.
class FileResolver : public InputResolver {
 public:
  // Archives are scanned on a thread-pool runtime made when the first one is bound.
  FileResolver() = default;
  // Archives are scanned on `runtime` (under MPI the ranks share the work: every rank must bind the same
  // inputs in the same order, as plan_job does).
  explicit FileResolver(Runtime* runtime) : runtime_(runtime) {}
  FileResolver(FileResolver&&) noexcept = default;
  FileResolver& operator=(FileResolver&&) noexcept = default;
  ~FileResolver() override;

  BoundInput bind(const JobSpec& job, const InputSpec& input) override;
  io::TimeAxis time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) override;
  std::optional<io::Coordinate> coordinate(const JobSpec& job, const InputSpec& input,
                                           const std::string& name) override;
  // Metadata of a file already opened by bind() (opened now otherwise).
  const io::FileInfo& info(const std::string& path);
  // The archive input `name` was bound to; null for a single-file input (or before bind()).
  const io::Archive* archive(const std::string& name) const;

 private:
  Runtime& scan_runtime();

  Runtime* runtime_ = nullptr;
  std::unique_ptr<Runtime> own_runtime_;
  std::map<std::string, io::FileInfo> infos_;
  std::map<std::string, io::Archive> archives_;  // by input name
};

// The files of an archive input: each entry of `files` as a path, or expanded as a glob pattern (sorted by
// name; their order in the archive comes from their times). Throws a located kNotFound for a pattern that
// matches nothing or a file that does not exist.
std::vector<std::string> archive_files(const JobSpec& job, const InputSpec& input);

// The files `tessera run` writes: one io::OutputFile per distinct output path, its variables in job order,
// with the attributes, compression, storage chunks and fill value of the job file, and a coordinate variable
// for every dimension that still follows an input's coordinate (values and attributes copied, sliced as the
// data was) or that grouping made (months 1..12, ...).
std::vector<io::OutputFile> output_files(const JobSpec& job, const JobPlan& plan, FileResolver& files,
                                         const io::OutputOptions& options);

}  // namespace tessera::jobs
