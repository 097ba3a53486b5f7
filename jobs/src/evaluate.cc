#include "tessera/jobs/evaluate.h"

#include <algorithm>

#include "builtins.h"
#include "evaluator.h"

namespace tessera::jobs {

using detail::Evaluator;
using detail::ExprValue;
using detail::Function;
using detail::functions;

void MemoryResolver::add(const std::string& name, Array data, std::vector<std::string> dims) {
  inputs_[name] = BoundInput{std::move(data), std::move(dims)};
}

void MemoryResolver::add_time_axis(const std::string& dim, io::TimeAxis axis) {
  time_axes_[dim] = std::move(axis);
}

void MemoryResolver::add_coordinate(io::Coordinate coordinate) {
  coordinates_.push_back(std::move(coordinate));
}

std::optional<io::Coordinate> MemoryResolver::coordinate(const JobSpec&, const InputSpec&,
                                                         const std::string& name) {
  for (const io::Coordinate& c : coordinates_) {
    if (c.dim == name) return c;
  }
  return std::nullopt;
}

BoundInput MemoryResolver::bind(const JobSpec& job, const InputSpec& input) {
  auto it = inputs_.find(input.name);
  if (it == inputs_.end()) {
    throw_diagnostic(ErrorCode::kNotFound, job.source.get(), input.at,
                     "no in-memory array is bound to input '" + input.name + "'");
  }
  return it->second;
}

io::TimeAxis MemoryResolver::time_axis(const JobSpec& job, const InputSpec& input, const std::string& dim) {
  auto it = time_axes_.find(dim);
  if (it == time_axes_.end())
    throw_error(ErrorCode::kNotFound, "input '", input.name, "' has no time coordinate '", dim, "'");
  return it->second;
}

namespace {

std::vector<std::string> output_dims(const EvaluatedArray& a) {
  std::vector<std::string> dims;
  for (std::size_t k = 0; k < a.axes.size(); ++k) {
    std::string d = a.axes[k].dim.empty() ? "dim_" + std::to_string(k) : a.axes[k].dim;
    // A dimension name may appear once per variable; keep later repeats apart.
    std::string unique = d;
    for (int n = 1; std::find(dims.begin(), dims.end(), unique) != dims.end(); ++n)
      unique = d + "_" + std::to_string(n);
    dims.push_back(unique);
  }
  return dims;
}

}  // namespace

std::vector<std::string> function_signatures() {
  std::vector<std::string> out;
  for (const Function& f : functions()) out.push_back(f.signature());
  return out;
}

JobPlan plan_job(const JobSpec& job, InputResolver& resolver) {
  JobPlan plan;
  plan.inputs.reserve(job.inputs.size());
  plan.arrays.reserve(job.arrays.size());
  const std::string prefix = job.source ? job.source->name + ":" : std::string();
  for (std::size_t i = 0; i < job.inputs.size(); ++i) {
    const InputSpec& in = job.inputs[i];
    BoundInput bound;
    try {
      bound = resolver.bind(job, in);
    } catch (const Error& e) {
      const std::string what = e.what();
      if (!prefix.empty() && what.rfind(prefix, 0) == 0) throw;
      throw_diagnostic(e.code(), job.source.get(), in.at, "input '" + in.name + "': " + what);
    }
    EvaluatedArray a;
    a.name = in.name;
    a.data = bound.data;
    for (int k = 0; k < bound.data.ndim(); ++k) {
      AxisOrigin o;
      o.dim = static_cast<std::size_t>(k) < bound.dims.size() ? bound.dims[static_cast<std::size_t>(k)]
                                                              : "dim_" + std::to_string(k);
      o.input = static_cast<int>(i);
      o.input_axis = k;
      o.positions.resize(static_cast<std::size_t>(bound.data.shape()[static_cast<std::size_t>(k)]));
      for (std::size_t p = 0; p < o.positions.size(); ++p) o.positions[p] = static_cast<std::int64_t>(p);
      a.axes.push_back(std::move(o));
    }
    plan.inputs.push_back(std::move(a));
  }
  Evaluator ev(job, resolver);
  for (const EvaluatedArray& in : plan.inputs) ev.define(in.name, &in);
  std::map<std::string, int> later;
  for (const ArraySpec& a : job.arrays) later[a.name] = a.at.line;
  for (const ArraySpec& spec : job.arrays) {
    later.erase(spec.name);
    ev.set_later(later);
    if (spec.expr == nullptr)
      throw_error(ErrorCode::kInvalidArgument, "array '", spec.name, "' has no parsed expression");
    ExprValue v = ev.evaluate(spec.source, *spec.expr);
    if (!v.is_array()) {
      ev.fail(spec.expr->span,
              "array '" + spec.name + "' must be an array, but its expression gives " + v.describe(),
              "constants are written inside expressions; to make an array of them use full-like forms such "
              "as zeros(shape) + 1");
    }
    v.a.name = spec.name;
    plan.arrays.push_back(std::move(v.a));
    ev.define(spec.name, &plan.arrays.back());
  }
  ev.set_later({});
  for (const OutputSpec& spec : job.outputs) {
    if (spec.expr == nullptr)
      throw_error(ErrorCode::kInvalidArgument, "output '", spec.name, "' has no parsed expression");
    ExprValue v = ev.evaluate(spec.source, *spec.expr);
    if (!v.is_array())
      ev.fail(spec.expr->span,
              "output '" + spec.name + "' must be an array, but its expression gives " + v.describe());
    PlannedOutput out;
    out.spec = &spec;
    v.a.name = spec.name;
    out.value = std::move(v.a);
    const int nd = out.value.data.ndim();
    if (spec.dims) {
      if (static_cast<int>(spec.dims->size()) != nd) {
        throw_diagnostic(ErrorCode::kInvalidArgument, job.source.get(), spec.dims_at,
                         "output '" + spec.name + "' has " + std::to_string(nd) + " dimension" +
                             (nd == 1 ? "" : "s") + " (shape " + format_shape(out.value.data.shape()) +
                             ") but 'dims' names " + std::to_string(spec.dims->size()));
      }
      out.dims = *spec.dims;
      for (std::size_t k = 0; k < out.dims.size(); ++k) out.value.axes[k].dim = out.dims[k];
    } else {
      out.dims = output_dims(out.value);
    }
    if (spec.chunks && static_cast<int>(spec.chunks->size()) != nd) {
      throw_diagnostic(ErrorCode::kInvalidArgument, job.source.get(), spec.chunks_at,
                       "'chunks' of output '" + spec.name + "' has " + std::to_string(spec.chunks->size()) +
                           " entries but the output has shape " + format_shape(out.value.data.shape()));
    }
    plan.outputs.push_back(std::move(out));
  }
  plan.notes = ev.take_notes();
  return plan;
}

}  // namespace tessera::jobs
