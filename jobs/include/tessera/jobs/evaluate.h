// Turning a parsed job into arrays: names are resolved, arguments checked and every expression mapped onto
// the arrays API, all before any work runs. File access goes through an InputResolver, so tests bind
// in-memory arrays where `tessera run` binds io::read.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessera/arrays/array.h"
#include "tessera/io/cf_time.h"
#include "tessera/io/io.h"
#include "tessera/jobs/job_file.h"

namespace tessera::jobs {

// One axis of an evaluated array: its dimension name and, while it still corresponds to elements of an
// input's axis, which input and which of that axis's positions (for calendar grouping and output
// coordinates).
struct AxisOrigin {
  std::string dim;      // "" when unknown
  int input = -1;       // index into JobSpec::inputs, -1 when not (or no longer) an input's axis
  int input_axis = -1;  // the axis of that input
  std::vector<std::int64_t> positions;  // positions along the input's axis, one per element
  // Values made by the expression (months 1..12 after grouping, period starts after resampling), their cell
  // bounds (two per value, or none) and attributes (units, calendar, long_name, ...).
  std::vector<double> coordinate;
  std::vector<double> bounds;
  io::Attributes attributes;
};

struct EvaluatedArray {
  std::string name;
  Array data;
  std::vector<AxisOrigin> axes;  // one per axis of data
  // CF cell_methods of what the expression did along named axes ("time: mean"), in order.
  std::string cell_methods;
};

// What an input is bound to.
struct BoundInput {
  Array data;
  std::vector<std::string> dims;  // one per axis, or empty (then dim_0, dim_1, ...)
};

// Binds a job's inputs to arrays. Implementations throw tessera::Error (kNotFound for a missing file or
// variable); errors without a file location get the input's location from the evaluator.
class InputResolver {
 public:
  virtual ~InputResolver() = default;
  virtual BoundInput bind(const JobSpec& job, const InputSpec& input) = 0;
  // The decoded CF time axis labelling dimension `dim` of `input` (one date per element along it).
  virtual io::TimeAxis time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) = 0;
  // The coordinate variable `name` of `input` (values as stored, attributes), or nullopt when it has none.
  virtual std::optional<io::Coordinate> coordinate(const JobSpec& job, const InputSpec& input,
                                                   const std::string& name) = 0;
};

// Inputs held in memory, bound by input name (the `file` and `variable` of the job are not used): for tests,
// the fuzzer and programs that build jobs from arrays they already have.
class MemoryResolver : public InputResolver {
 public:
  void add(const std::string& name, Array data, std::vector<std::string> dims = {});
  // Dates for dimension `dim` of every input that has it.
  void add_time_axis(const std::string& dim, io::TimeAxis axis);
  // A coordinate variable every input has (lat, lon, their bounds, ...).
  void add_coordinate(io::Coordinate coordinate);

  BoundInput bind(const JobSpec& job, const InputSpec& input) override;
  io::TimeAxis time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) override;
  std::optional<io::Coordinate> coordinate(const JobSpec& job, const InputSpec& input,
                                           const std::string& name) override;

 private:
  std::map<std::string, BoundInput> inputs_;
  std::map<std::string, io::TimeAxis> time_axes_;
  std::vector<io::Coordinate> coordinates_;
};

struct PlannedOutput {
  const OutputSpec* spec = nullptr;  // points into the JobSpec given to plan_job
  EvaluatedArray value;
  std::vector<std::string> dims;  // the output's dims: from the job file, else carried from the inputs
};

struct JobPlan {
  std::vector<EvaluatedArray> inputs;  // in JobSpec::inputs order
  std::vector<EvaluatedArray> arrays;  // in JobSpec::arrays order
  std::vector<PlannedOutput> outputs;  // in JobSpec::outputs order
  std::vector<std::string> notes;  // what `tessera check` reports beside the plan (incomplete periods, ...)
};

// Binds every input and evaluates every array and output expression. Nothing is computed. Throws
// tessera::Error with a located message (kNotFound for unknown names, missing files or variables;
// kInvalidArgument for wrong argument types, shapes, dtypes, axes, ...). The JobSpec must outlive the plan.
JobPlan plan_job(const JobSpec& job, InputResolver& resolver);

// The functions of the expression language, with a one-line signature each ("mean(a, axis=None,
// keepdims=false)"), for documentation and `--help`.
std::vector<std::string> function_signatures();

}  // namespace tessera::jobs
