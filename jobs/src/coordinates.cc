// Coordinates along an evaluated array's axes: from the input's coordinate variables (picked as the data was)
// or made by the expression (grouping, resampling).
#include <algorithm>

#include "evaluator.h"

namespace tessera::jobs::detail {

int Evaluator::find_axis(const ExprValue& a, const std::string& dim, Span span) const {
  std::vector<std::string> dims;
  for (std::size_t k = 0; k < a.a.axes.size(); ++k) {
    const std::string& d = a.a.axes[k].dim;
    if (d == dim) return static_cast<int>(k);
    dims.push_back(d.empty() ? "dim_" + std::to_string(k) : d);
  }
  std::string text;
  for (const std::string& d : dims) text += (text.empty() ? "" : ", ") + d;
  fail(span, ErrorCode::kNotFound,
       "the array has no dimension '" + dim + "' (its dimensions are (" + text + "))", suggest(dim, dims));
}

AxisOrigin Evaluator::picked(const AxisOrigin& origin, const std::vector<std::int64_t>& indices) {
  AxisOrigin o;
  o.dim = origin.dim;
  o.input = origin.input;
  o.input_axis = origin.input_axis;
  o.attributes = origin.attributes;
  for (std::int64_t p : indices) {
    const auto i = static_cast<std::size_t>(p);
    if (!origin.positions.empty()) o.positions.push_back(origin.positions[i]);
    if (!origin.coordinate.empty()) o.coordinate.push_back(origin.coordinate[i]);
    if (origin.bounds.size() == 2 * origin.coordinate.size() && !origin.coordinate.empty()) {
      o.bounds.push_back(origin.bounds[2 * i]);
      o.bounds.push_back(origin.bounds[2 * i + 1]);
    }
  }
  return o;
}

Evaluator::AxisValues Evaluator::axis_values(const ExprValue& a, int axis, Span span) const {
  const AxisOrigin& origin = a.a.axes[static_cast<std::size_t>(axis)];
  AxisValues out;
  out.dim = origin.dim.empty() ? "dim_" + std::to_string(axis) : origin.dim;
  if (!origin.coordinate.empty()) {
    out.values = origin.coordinate;
    out.bounds = origin.bounds;
    out.attributes = origin.attributes;
  } else if (origin.input >= 0) {
    const InputSpec& input = job_.inputs[static_cast<std::size_t>(origin.input)];
    std::optional<io::Coordinate> c;
    try {
      c = resolver_.coordinate(job_, input, origin.dim);
    } catch (const Error& e) {
      fail(span, e.code(),
           "cannot read the coordinate '" + origin.dim + "' of input '" + input.name + "': " + e.what());
    }
    if (!c || c->values.shape().size() != 1) {
      fail(span, ErrorCode::kNotFound,
           "dimension '" + out.dim + "' of input '" + input.name + "' has no coordinate variable",
           "select along it by position instead, e.g. t[10:20]");
    }
    const Chunk values = c->values.astype(DType::kFloat64);
    const auto n = static_cast<std::int64_t>(values.size());
    for (std::int64_t p : origin.positions) {
      if (p < 0 || p >= n) {
        fail(span, "the coordinate '" + origin.dim + "' of input '" + input.name + "' has " +
                       std::to_string(n) + " values but the data has more elements along it");
      }
      out.values.push_back(values.data<double>()[static_cast<std::size_t>(p)]);
    }
    out.attributes = c->attributes;
    // Cell bounds, where the coordinate names them.
    if (const io::AttributeValue* b = io::find_attribute(c->attributes, "bounds"); b && b->is_text()) {
      std::optional<io::Coordinate> bc;
      try {
        bc = resolver_.coordinate(job_, input, b->text());
      } catch (const Error&) {
        bc.reset();
      }
      if (bc && bc->values.shape().size() == 2 && bc->values.shape()[0] == n && bc->values.shape()[1] == 2) {
        const Chunk bv = bc->values.astype(DType::kFloat64);
        for (std::int64_t p : origin.positions) {
          out.bounds.push_back(bv.data<double>()[static_cast<std::size_t>(2 * p)]);
          out.bounds.push_back(bv.data<double>()[static_cast<std::size_t>(2 * p + 1)]);
        }
      }
    }
  } else {
    fail(span, ErrorCode::kNotFound,
         "dimension '" + out.dim + "' of this array has no coordinate (it was made by the expression)");
  }
  const io::AttributeValue* units = io::find_attribute(out.attributes, "units");
  if (units != nullptr && units->is_text() && units->text().find(" since ") != std::string::npos) {
    const io::AttributeValue* calendar = io::find_attribute(out.attributes, "calendar");
    try {
      out.time = io::decode_time(out.values, units->text(),
                                 calendar != nullptr && calendar->is_text() ? calendar->text() : "standard");
      out.is_time = true;
    } catch (const Error& e) {
      fail(span, e.code(), "cannot read the dates of '" + out.dim + "': " + e.what());
    }
  }
  return out;
}

}  // namespace tessera::jobs::detail
