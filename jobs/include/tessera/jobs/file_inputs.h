// The seam between job plans and files: inputs bound with io::read, dates with io::read_time, and the output
// files (variables, coordinates, attributes) that io::store writes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessera/io/io.h"
#include "tessera/jobs/evaluate.h"

namespace tessera::jobs {

// Binds inputs to HDF5/NetCDF variables. Errors point at the job file: a missing file at its `file` value
// (suggesting a similarly named file in that directory), a missing variable at `variable` (suggesting the
// nearest variable the file has), bad chunks at `chunks`.
class FileResolver : public InputResolver {
 public:
  BoundInput bind(const JobSpec& job, const InputSpec& input) override;
  io::TimeAxis time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) override;
  // Metadata of a file already opened by bind() (opened now otherwise).
  const io::FileInfo& info(const std::string& path);

 private:
  std::map<std::string, io::FileInfo> infos_;
};

// The files `tessera run` writes: one io::OutputFile per distinct output path, its variables in job order,
// with the attributes, compression, storage chunks and fill value of the job file, and a coordinate variable
// for every dimension that still follows an input's coordinate (values and attributes copied, sliced as the
// data was) or that grouping made (months 1..12, ...).
std::vector<io::OutputFile> output_files(const JobSpec& job, const JobPlan& plan, FileResolver& files,
                                         const io::OutputOptions& options);

}  // namespace tessera::jobs
