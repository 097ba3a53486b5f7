// Calendar grouping ("time.month", "time.season", ...): the group of every element along a time axis, from
// the input's decoded CF dates.
#include <algorithm>
#include <limits>

#include "evaluator.h"

namespace tessera::jobs::detail {

Evaluator::Grouping Evaluator::grouping(const ExprValue& a, const ExprValue& key) const {
  static const std::vector<std::string> kComponents = {"month", "season", "year", "dayofyear", "hour"};
  const std::size_t dot = key.text.find('.');
  if (dot == std::string::npos) {
    fail(key.span, "grouping key '" + key.text + "' is not of the form \"DIM.COMPONENT\"",
         "for example \"time.month\"; components: month, season, year, dayofyear, hour");
  }
  const std::string dim = key.text.substr(0, dot), component = key.text.substr(dot + 1);
  if (std::find(kComponents.begin(), kComponents.end(), component) == kComponents.end()) {
    fail(key.span, "unknown date component '" + component + "'", suggest(component, kComponents));
  }
  int axis = -1;
  std::vector<std::string> dims;
  for (std::size_t k = 0; k < a.a.axes.size(); ++k) {
    dims.push_back(a.a.axes[k].dim.empty() ? "dim_" + std::to_string(k) : a.a.axes[k].dim);
    if (a.a.axes[k].dim == dim) axis = static_cast<int>(k);
  }
  std::string dims_text;
  for (const std::string& d : dims) dims_text += (dims_text.empty() ? "" : ", ") + d;
  if (axis < 0) {
    std::string help = suggest(dim, dims);
    fail(key.span, ErrorCode::kNotFound,
         "the array has no dimension '" + dim + "' (its dimensions are (" + dims_text + "))", help);
  }
  const AxisOrigin& origin = a.a.axes[static_cast<std::size_t>(axis)];
  if (origin.input < 0) {
    fail(key.span,
         "dimension '" + dim +
             "' of this array no longer carries dates (it was reduced or made by the expression)",
         "group the input before reducing it");
  }
  const InputSpec& input = job_.inputs[static_cast<std::size_t>(origin.input)];
  io::TimeAxis time;
  try {
    time = resolver_.time_axis(job_, input, dim);
  } catch (const Error& e) {
    fail(key.span, e.code(),
         std::string("cannot read the dates of '") + dim + "' of input '" + input.name + "': " + e.what());
  }
  Grouping g;
  g.axis = axis;
  g.dim = component;
  for (std::int64_t p : origin.positions) {
    if (p < 0 || p >= static_cast<std::int64_t>(time.dates.size())) {
      fail(key.span, "the time coordinate '" + dim + "' of input '" + input.name + "' has " +
                         std::to_string(time.dates.size()) +
                         " dates but the data has more elements along it");
    }
  }
  std::vector<io::Date> dates;
  for (std::int64_t p : origin.positions) dates.push_back(time.dates[static_cast<std::size_t>(p)]);
  g.attributes.emplace_back("long_name",
                            io::AttributeValue(component == "dayofyear" ? std::string("day of year")
                                               : component == "hour"    ? std::string("hour of day")
                                                                        : component));
  if (component == "month") {
    g.groups = 12;
    for (const io::Date& d : dates) g.labels.push_back(d.month - 1);
    for (int m = 1; m <= 12; ++m) g.coordinate.push_back(m);
  } else if (component == "season") {
    // xarray's order of season labels (alphabetical): DJF, JJA, MAM, SON.
    static constexpr int kSeason[12] = {0, 0, 2, 2, 2, 1, 1, 1, 3, 3, 3, 0};
    g.groups = 4;
    for (const io::Date& d : dates) g.labels.push_back(kSeason[std::clamp(d.month, 1, 12) - 1]);
    g.coordinate = {0, 1, 2, 3};
  } else if (component == "year") {
    int lo = std::numeric_limits<int>::max(), hi = std::numeric_limits<int>::min();
    for (const io::Date& d : dates) {
      lo = std::min(lo, d.year);
      hi = std::max(hi, d.year);
    }
    if (dates.empty()) lo = hi = 0;
    g.groups = static_cast<std::int64_t>(hi) - lo + 1;
    for (const io::Date& d : dates) g.labels.push_back(d.year - lo);
    for (int y = lo; y <= hi; ++y) g.coordinate.push_back(y);
  } else if (component == "dayofyear") {
    g.groups = time.calendar == io::Calendar::k360Day   ? 360
               : time.calendar == io::Calendar::kNoLeap ? 365
                                                        : 366;
    for (const io::Date& d : dates) {
      std::int64_t day = d.day - 1;
      for (int m = 1; m < d.month; ++m) day += io::days_in_month(time.calendar, d.year, m);
      g.labels.push_back(std::clamp<std::int64_t>(day, 0, g.groups - 1));
    }
    for (std::int64_t k = 1; k <= g.groups; ++k) g.coordinate.push_back(static_cast<double>(k));
  } else {
    g.groups = 24;
    for (const io::Date& d : dates) g.labels.push_back(std::clamp(d.hour, 0, 23));
    for (int h = 0; h < 24; ++h) g.coordinate.push_back(h);
  }
  return g;
}

}  // namespace tessera::jobs::detail
