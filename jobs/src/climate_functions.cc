// The functions of climate archives: selecting by coordinate values (sel), resampling to calendar periods
// (resample), anomalies from a baseline period's climatology (anomaly), and area-weighted field means
// (fldmean, area_weights), as CDO and xarray do them.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "builtins.h"
#include "evaluator.h"

namespace tessera::jobs::detail {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string attribute_text(const io::Attributes& a, const char* name) {
  const io::AttributeValue* v = io::find_attribute(a, name);
  return v != nullptr && v->is_text() ? lower(v->text()) : std::string();
}

bool is_longitude(const std::string& dim, const io::Attributes& a) {
  const std::string d = lower(dim), units = attribute_text(a, "units");
  return d == "lon" || d == "longitude" || attribute_text(a, "standard_name") == "longitude" ||
         units == "degrees_east" || units == "degree_east" || units == "degrees_e" || units == "degree_e";
}

bool is_latitude(const std::string& dim, const io::Attributes& a) {
  const std::string d = lower(dim), units = attribute_text(a, "units");
  return d == "lat" || d == "latitude" || attribute_text(a, "standard_name") == "latitude" ||
         units == "degrees_north" || units == "degree_north" || units == "degrees_n" || units == "degree_n";
}

std::string number_text(double x) {
  return str_cat(x);
}

// "1850-01-16" (a date without the time of day when it is midnight).
std::string date_text(const io::Date& d) {
  std::string s = io::format_date(d);
  if (d.hour == 0 && d.minute == 0 && d.second == 0) s = s.substr(0, s.size() - 9);
  return s;
}

std::string coordinate_range(const Evaluator::AxisValues& av) {
  if (av.values.empty()) return av.dim + " is empty";
  if (av.is_time) {
    return av.dim + " runs from " + date_text(av.time.dates.front()) + " to " +
           date_text(av.time.dates.back());
  }
  const bool descending = av.values.size() > 1 && av.values.back() < av.values.front();
  return av.dim + " runs from " + number_text(av.values.front()) + (descending ? " down to " : " to ") +
         number_text(av.values.back());
}

// Selecting indices along one axis, and whether the axis goes (one value picked by a number).
struct Selection {
  std::vector<std::int64_t> indices;
  bool drop = false;
};

double angular_distance(double a, double b) {
  const double d = std::fmod(std::fabs(a - b), 360.0);
  return std::min(d, 360.0 - d);
}

Selection select_values(const Evaluator& ev, const Evaluator::AxisValues& av, const Call::Extra& x,
                        const std::string& method) {
  Selection sel;
  const ExprValue& v = x.value;
  const auto n = static_cast<std::int64_t>(av.values.size());
  const bool nearest = method == "nearest";
  if (av.is_time) {
    const io::Calendar cal = av.time.calendar;
    std::vector<std::int64_t> micros;
    for (const io::Date& d : av.time.dates) micros.push_back(io::to_micros(cal, d));
    auto span_of = [&](const ExprValue& s) {
      if (s.kind != ExprValue::Kind::kString) {
        ev.fail(s.span, "dates along " + av.dim +
                            " are written as strings such as \"1981\", \"1981-06\" or "
                            "\"1981-06-15\", not " +
                            s.describe());
      }
      try {
        return io::parse_date_span(s.text, cal);
      } catch (const Error& e) {
        ev.fail(s.span, e.what());
      }
    };
    if (v.kind == ExprValue::Kind::kList) {
      if (v.list.size() != 2 || nearest) {
        ev.fail(v.span, nearest ? "method=\"nearest\" picks one date, not a range"
                                : "a range along " + av.dim + " is two dates, such as [\"1981\", \"2010\"]");
      }
      const std::int64_t lo = span_of(v.list[0]).first, hi = span_of(v.list[1]).end;
      for (std::int64_t i = 0; i < n; ++i) {
        if (micros[static_cast<std::size_t>(i)] >= lo && micros[static_cast<std::size_t>(i)] < hi) {
          sel.indices.push_back(i);
        }
      }
      if (sel.indices.empty()) {
        ev.fail(v.span, "sel: no " + av.dim + " between " + v.list[0].text + " and " + v.list[1].text + ": " +
                            coordinate_range(av));
      }
      return sel;
    }
    const io::DateSpan s = span_of(v);
    if (nearest) {
      std::int64_t best = 0;
      for (std::int64_t i = 1; i < n; ++i) {
        if (std::llabs(micros[static_cast<std::size_t>(i)] - s.first) <
            std::llabs(micros[static_cast<std::size_t>(best)] - s.first)) {
          best = i;
        }
      }
      sel.indices = {best};
      sel.drop = true;
      return sel;
    }
    for (std::int64_t i = 0; i < n; ++i) {
      if (micros[static_cast<std::size_t>(i)] >= s.first && micros[static_cast<std::size_t>(i)] < s.end) {
        sel.indices.push_back(i);
      }
    }
    if (sel.indices.empty())
      ev.fail(v.span, "sel: no " + av.dim + " on " + v.text + ": " + coordinate_range(av));
    return sel;
  }
  const bool lon = is_longitude(av.dim, av.attributes);
  auto number_of = [&](const ExprValue& e) {
    if (!e.is_number()) {
      ev.fail(e.span, av.dim + " is numeric: select it with numbers, not " + e.describe());
    }
    return e.number;
  };
  if (v.kind == ExprValue::Kind::kList) {
    if (v.list.size() != 2 || nearest) {
      ev.fail(v.span, nearest ? "method=\"nearest\" picks one value, not a range"
                              : "a range along " + av.dim + " is two numbers, such as [-30, 30]");
    }
    double lo = number_of(v.list[0]), hi = number_of(v.list[1]);
    if (lon && !av.values.empty()) {
      // Longitudes in the file's convention (0..360 or -180..180); a range with lo > hi crosses the seam.
      const double vmin = *std::min_element(av.values.begin(), av.values.end());
      const bool east = vmin >= 0;
      auto norm = [east](double x) {
        double r = std::fmod(east ? x : x + 180.0, 360.0);
        if (r < 0) r += 360.0;
        return east ? r : r - 180.0;
      };
      const bool all = std::fabs(hi - lo) >= 360.0;
      if (!all) {
        lo = norm(lo);
        hi = norm(hi);
      }
      if (all) {
        for (std::int64_t i = 0; i < n; ++i) sel.indices.push_back(i);
      } else if (lo <= hi) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double c = av.values[static_cast<std::size_t>(i)];
          if (c >= lo && c <= hi) sel.indices.push_back(i);
        }
      } else {
        // Across the seam: from lo eastwards to the end of the file's range, then from its start to hi.
        for (std::int64_t i = 0; i < n; ++i) {
          if (av.values[static_cast<std::size_t>(i)] >= lo) sel.indices.push_back(i);
        }
        for (std::int64_t i = 0; i < n; ++i) {
          if (av.values[static_cast<std::size_t>(i)] <= hi) sel.indices.push_back(i);
        }
      }
    } else {
      const double a = std::min(lo, hi), b = std::max(lo, hi);
      for (std::int64_t i = 0; i < n; ++i) {
        const double c = av.values[static_cast<std::size_t>(i)];
        if (c >= a && c <= b) sel.indices.push_back(i);
      }
    }
    if (sel.indices.empty()) {
      ev.fail(v.span, "sel: no " + av.dim + " in [" + number_text(number_of(v.list[0])) + ", " +
                          number_text(number_of(v.list[1])) + "]: " + coordinate_range(av));
    }
    return sel;
  }
  const double target = number_of(v);
  auto distance = [&](double c) { return lon ? angular_distance(c, target) : std::fabs(c - target); };
  std::int64_t best = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (best < 0 || distance(av.values[static_cast<std::size_t>(i)]) <
                        distance(av.values[static_cast<std::size_t>(best)])) {
      best = i;
    }
  }
  if (best < 0) ev.fail(v.span, "sel: " + coordinate_range(av));
  const double found = av.values[static_cast<std::size_t>(best)];
  if (!nearest && distance(found) > 1e-9 * std::max(1.0, std::fabs(target))) {
    ev.fail(v.span,
            "sel: no " + av.dim + " equals " + number_text(target) + "; the nearest is " +
                number_text(found) + " (" + coordinate_range(av) + ")",
            "add method=\"nearest\" to take the nearest one");
  }
  sel.indices = {best};
  sel.drop = true;
  return sel;
}

// `a` reduced to `indices` along `axis`: slices of the runs of consecutive indices (concatenated when there
// are several), so that the array keeps its chunks.
Array take_along(const Array& a, int axis, const std::vector<std::int64_t>& indices) {
  std::vector<Array> parts;
  std::size_t i = 0;
  while (i < indices.size()) {
    std::size_t j = i + 1;
    while (j < indices.size() && indices[j] == indices[j - 1] + 1) ++j;
    std::vector<Slice> s(static_cast<std::size_t>(a.ndim()), Slice::all());
    s[static_cast<std::size_t>(axis)] = Slice::range(indices[i], indices[j - 1] + 1);
    parts.push_back(a.select(s));
    i = j;
  }
  return parts.size() == 1 ? parts.front() : concatenate(parts, axis);
}

ExprValue sel(Evaluator& ev, Call& c) {
  ExprValue cur = c[0];
  const std::string method = c.has(1) ? c[1].text : std::string();
  if (!method.empty() && method != "nearest") {
    ev.fail(c.span(1), "unknown method '" + method + "'", "the only method is \"nearest\"");
  }
  if (c.extra.empty()) {
    ev.fail(c.expr.span, "sel needs at least one DIM=VALUE", "for example sel(t, time=[\"1981\", \"2010\"])");
  }
  for (const Call::Extra& x : c.extra) {
    const int axis = ev.find_axis(cur, x.keyword, x.keyword_span);
    const Evaluator::AxisValues av = ev.axis_values(cur, axis, x.keyword_span);
    const Selection s = select_values(ev, av, x, method);
    const AxisOrigin& origin = cur.a.axes[static_cast<std::size_t>(axis)];
    std::vector<AxisOrigin> axes = cur.a.axes;
    Array data;
    if (s.drop) {
      std::vector<Slice> sl(static_cast<std::size_t>(cur.a.data.ndim()), Slice::all());
      sl[static_cast<std::size_t>(axis)] = Slice::at(s.indices.front());
      data = ev.guarded(x.keyword_span, [&] { return cur.a.data.select(sl); });
      axes.erase(axes.begin() + axis);
    } else {
      data = ev.guarded(x.keyword_span, [&] { return take_along(cur.a.data, axis, s.indices); });
      axes[static_cast<std::size_t>(axis)] = Evaluator::picked(origin, s.indices);
    }
    const std::string methods = cur.a.cell_methods;
    cur = ev.array_value(std::move(data), std::move(axes), c.expr.span);
    cur.a.cell_methods = methods;
  }
  return cur;
}

// The calendar period holding a date: its first instant and the first instant after it.
struct Period {
  io::Date start, end;
};

Period period_of(io::Calendar cal, const io::Date& d, const std::string& period) {
  Period p;
  if (period == "day") {
    p.start = io::Date{d.year, d.month, d.day, 0, 0, 0};
    p.end = io::from_micros(cal, io::to_micros(cal, p.start) + std::int64_t{86'400'000'000});
  } else if (period == "month") {
    p.start = io::Date{d.year, d.month, 1, 0, 0, 0};
    p.end = io::add_months(cal, p.start, 1);
  } else if (period == "season") {
    // DJF, MAM, JJA, SON: December opens the next year's DJF (xarray's QS-DEC).
    const int first = d.month == 12 ? 12 : d.month < 3 ? 0 : (d.month / 3) * 3;
    p.start = io::add_months(cal, io::Date{d.year, 1, 1, 0, 0, 0}, first - 1);
    p.end = io::add_months(cal, p.start, 3);
  } else {
    p.start = io::Date{d.year, 1, 1, 0, 0, 0};
    p.end = io::add_months(cal, p.start, 12);
  }
  return p;
}

void add_cell_method(ExprValue& v, const std::string& dim, const std::string& method) {
  if (method.empty()) return;
  v.a.cell_methods += (v.a.cell_methods.empty() ? "" : " ") + dim + ": " + method;
}

const std::vector<std::string>& reductions() {
  static const std::vector<std::string> kHow = {"mean",   "sum",    "min",     "max",    "count",
                                                "std",    "var",    "nanmean", "nansum", "nanmin",
                                                "nanmax", "nanstd", "nanvar"};
  return kHow;
}

ExprValue resample(Evaluator& ev, Call& c) {
  const ExprValue& a = c[0];
  const std::string& dim = c[1].text;
  const std::string& period = c[2].text;
  const std::string how = c.has(3) ? c[3].text : "mean";
  static const std::vector<std::string> kPeriods = {"day", "month", "season", "year"};
  if (std::find(kPeriods.begin(), kPeriods.end(), period) == kPeriods.end()) {
    ev.fail(c.span(2), "unknown period '" + period + "'",
            suggest(period, kPeriods) + " (periods: day, month, season, year)");
  }
  if (std::find(reductions().begin(), reductions().end(), how) == reductions().end()) {
    ev.fail(c.span(3), "unknown reduction '" + how + "'", suggest(how, reductions()));
  }
  const int axis = ev.find_axis(a, dim, c.span(1));
  const Evaluator::AxisValues av = ev.axis_values(a, axis, c.span(1));
  if (!av.is_time) {
    ev.fail(c.span(1), "resample needs dates along '" + dim +
                           "', but its coordinate is not a CF time (units \"" +
                           attribute_text(av.attributes, "units") + "\")");
  }
  const io::Calendar cal = av.time.calendar;
  std::vector<std::int64_t> labels;
  std::vector<Period> periods;
  std::vector<std::int64_t> counts;
  std::int64_t last = std::numeric_limits<std::int64_t>::min();
  for (std::size_t i = 0; i < av.time.dates.size(); ++i) {
    const Period p = period_of(cal, av.time.dates[i], period);
    const std::int64_t start = io::to_micros(cal, p.start);
    if (start < last) {
      ev.fail(c.span(1), "resample needs the dates along '" + dim + "' in order; " +
                             date_text(av.time.dates[i]) + " comes after " + date_text(av.time.dates[i - 1]));
    }
    if (start != last) {
      periods.push_back(p);
      counts.push_back(0);
      last = start;
    }
    labels.push_back(static_cast<std::int64_t>(periods.size()) - 1);
    ++counts.back();
  }
  if (periods.empty()) ev.fail(c.span(0), "resample: '" + dim + "' has no dates");
  const auto groups = static_cast<std::int64_t>(periods.size());
  // The chunks along time are cut at period boundaries (each moved to the next period start, so a chunk
  // still ends near where the files end): then every chunk reduces to its own periods, and no partial holds
  // all periods of the record.
  std::vector<std::int64_t> cuts;
  std::int64_t at = 0;
  for (std::int64_t len : a.a.data.chunks().chunks(axis)) {
    std::int64_t end = at + len;
    while (end < static_cast<std::int64_t>(labels.size()) &&
           labels[static_cast<std::size_t>(end)] == labels[static_cast<std::size_t>(end - 1)]) {
      ++end;
    }
    if (end > (cuts.empty() ? 0 : cuts.back())) cuts.push_back(end);
    at += len;
  }
  Array input = a.a.data;
  std::vector<std::vector<std::int64_t>> per_axis;
  for (int k = 0; k < input.ndim(); ++k) per_axis.push_back(input.chunks().chunks(k));
  std::vector<std::int64_t>& along = per_axis[static_cast<std::size_t>(axis)];
  along.clear();
  std::int64_t from = 0;
  for (std::int64_t cut : cuts) {
    along.push_back(cut - from);
    from = cut;
  }
  const ChunkGrid aligned(input.shape(), per_axis);
  Array r = ev.guarded(c.expr.span, [&] {
    return group_reduce(aligned == input.chunks() ? input : input.rechunk(aligned), axis, labels, groups,
                        how);
  });
  // Periods with fewer records than the usual step gives them (a record series that starts or ends within a
  // period) are kept, and said.
  std::vector<std::int64_t> steps;
  for (std::size_t i = 1; i < av.time.dates.size(); ++i) {
    steps.push_back(io::to_micros(cal, av.time.dates[i]) - io::to_micros(cal, av.time.dates[i - 1]));
  }
  if (!steps.empty()) {
    std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2),
                     steps.end());
    const double step = static_cast<double>(steps[steps.size() / 2]);
    for (std::size_t g = 0; g < periods.size(); ++g) {
      const double span =
          static_cast<double>(io::to_micros(cal, periods[g].end) - io::to_micros(cal, periods[g].start));
      const auto expected = static_cast<std::int64_t>(std::floor(span / step + 1e-9));
      if (step > 0 && counts[g] < expected) {
        ev.note("resample(" + dim + ", \"" + period + "\"): the period from " + date_text(periods[g].start) +
                " to " + date_text(periods[g].end) + " has " + std::to_string(counts[g]) + " of " +
                std::to_string(expected) + " records (incomplete; kept)");
      }
    }
  }
  const std::string units = attribute_text(av.attributes, "units").empty()
                                ? av.time.units
                                : io::find_attribute(av.attributes, "units")->text();
  std::vector<io::Date> starts, ends;
  for (const Period& p : periods) {
    starts.push_back(p.start);
    ends.push_back(p.end);
  }
  const std::vector<double> s = io::encode_time(starts, units, cal), e = io::encode_time(ends, units, cal);
  AxisOrigin o;
  o.dim = dim;
  o.coordinate = s;
  for (std::size_t g = 0; g < s.size(); ++g) {
    o.bounds.push_back(s[g]);
    o.bounds.push_back(e[g]);
  }
  for (const auto& [k, value] : av.attributes) {
    if (k != "bounds") o.attributes.emplace_back(k, value);
  }
  auto axes = a.a.axes;
  axes[static_cast<std::size_t>(axis)] = std::move(o);
  ExprValue out = ev.array_value(std::move(r), std::move(axes), c.expr.span);
  out.a.cell_methods = a.a.cell_methods;
  add_cell_method(out, dim, cf_method(how));
  return out;
}

ExprValue anomaly(Evaluator& ev, Call& c) {
  const ExprValue& a = c[0];
  const Evaluator::Grouping g = ev.grouping(a, c[1]);
  const bool skipna = ev.boolean(c, 3, false);
  const std::string how = skipna ? "nanmean" : "mean";
  Array base = a.a.data;
  std::vector<std::int64_t> base_labels = g.labels;
  if (c.has(2)) {
    // The climatology of the baseline period only, subtracted from every record.
    const ExprValue& range = c[2];
    if (range.list[0].kind != ExprValue::Kind::kString) {
      ev.fail(range.span, "the baseline is two dates as strings, such as [\"1981\", \"2010\"]");
    }
    const Evaluator::AxisValues av = ev.axis_values(a, g.axis, range.span);
    Call::Extra x{"", range.span, range};
    const Selection s = select_values(ev, av, x, "");
    base = ev.guarded(range.span, [&] { return take_along(a.a.data, g.axis, s.indices); });
    base_labels.clear();
    for (std::int64_t i : s.indices) base_labels.push_back(g.labels[static_cast<std::size_t>(i)]);
  }
  Array r = ev.guarded(c.expr.span, [&] {
    const Array climatology = group_reduce(base, g.axis, base_labels, g.groups, how);
    // The climatology spread over the records, chunked like the data: each chunk of the anomalies is one
    // task reading a chunk of the data and the climatology (readers make a small take's chunks).
    return a.a.data - take(climatology, g.labels, g.axis, a.a.data.chunks().chunks(g.axis));
  });
  ExprValue out = ev.array_value(std::move(r), a.a.axes, c.expr.span);
  out.a.cell_methods = a.a.cell_methods;
  return out;
}

// Area weights of a grid, as a (lat, lon) block of doubles summing to 1: where the input has cell bounds for
// both axes, each cell's area as a spherical quadrilateral whose edges are great-circle arcs (what CDO's
// gridarea and fldmean compute: equal to it to 1e-14 relative), else cos(latitude) (xarray's usual
// weighting). The area (on the unit sphere) of the spherical triangle u, v, w (unit vectors), by L'Huilier's
// theorem.
double triangle_area(const double* u, const double* v, const double* w) {
  auto arc = [](const double* a, const double* b) {
    const double c[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
    return std::atan2(std::sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]),
                      a[0] * b[0] + a[1] * b[1] + a[2] * b[2]);
  };
  const double a = arc(v, w), b = arc(u, w), c = arc(u, v), s = (a + b + c) / 2;
  const double t = std::tan(s / 2) * std::tan((s - a) / 2) * std::tan((s - b) / 2) * std::tan((s - c) / 2);
  return 4 * std::atan(std::sqrt(std::max(t, 0.0)));
}

// The area of the quadrilateral with corners (lat0, lon0), (lat0, lon1), (lat1, lon1), (lat1, lon0), degrees,
// joined by great-circle arcs.
double quadrilateral_area(double lat0, double lat1, double lon0, double lon1) {
  constexpr double kRad = std::numbers::pi / 180.0;
  auto corner = [](double lat, double lon, double* v) {
    v[0] = std::cos(lat * kRad) * std::cos(lon * kRad);
    v[1] = std::cos(lat * kRad) * std::sin(lon * kRad);
    v[2] = std::sin(lat * kRad);
  };
  double p[4][3];
  corner(lat0, lon0, p[0]);
  corner(lat0, lon1, p[1]);
  corner(lat1, lon1, p[2]);
  corner(lat1, lon0, p[3]);
  return triangle_area(p[0], p[1], p[2]) + triangle_area(p[0], p[2], p[3]);
}

struct Weights {
  int lat_axis = -1, lon_axis = -1;
  Chunk block;  // shape: 1 along the array's other axes, nlat and nlon along its lat and lon axes
  bool exact = false;
};

Weights area_weights_of(const Evaluator& ev, const ExprValue& a, Span span) {
  Weights w;
  for (std::size_t k = 0; k < a.a.axes.size(); ++k) {
    const std::string d = lower(a.a.axes[k].dim);
    if (d == "lat" || d == "latitude") w.lat_axis = static_cast<int>(k);
    if (d == "lon" || d == "longitude") w.lon_axis = static_cast<int>(k);
  }
  for (std::size_t k = 0; k < a.a.axes.size() && (w.lat_axis < 0 || w.lon_axis < 0); ++k) {
    if (static_cast<int>(k) == w.lat_axis || static_cast<int>(k) == w.lon_axis) continue;
    if (a.a.axes[k].input < 0 && a.a.axes[k].coordinate.empty()) continue;
    const Evaluator::AxisValues av = ev.axis_values(a, static_cast<int>(k), span);
    if (w.lat_axis < 0 && is_latitude(av.dim, av.attributes)) w.lat_axis = static_cast<int>(k);
    if (w.lon_axis < 0 && is_longitude(av.dim, av.attributes)) w.lon_axis = static_cast<int>(k);
  }
  if (w.lat_axis < 0 || w.lon_axis < 0) {
    ev.fail(span, std::string("the array has no ") + (w.lat_axis < 0 ? "latitude" : "longitude") +
                      " axis (a dimension named lat/latitude or lon/longitude, or with units degrees_" +
                      (w.lat_axis < 0 ? "north" : "east") + ")");
  }
  const Evaluator::AxisValues lat = ev.axis_values(a, w.lat_axis, span);
  const Evaluator::AxisValues lon = ev.axis_values(a, w.lon_axis, span);
  const std::size_t nlat = lat.values.size(), nlon = lon.values.size();
  constexpr double kRad = std::numbers::pi / 180.0;
  std::vector<double> area(nlat * nlon);
  w.exact = lat.bounds.size() == 2 * nlat && lon.bounds.size() == 2 * nlon;
  if (w.exact) {
    // A cell's area depends on its latitude bounds and its width in longitude only: one per (row, width).
    for (std::size_t i = 0; i < nlat; ++i) {
      std::vector<std::pair<double, double>> by_width;
      for (std::size_t j = 0; j < nlon; ++j) {
        const double width = lon.bounds[2 * j + 1] - lon.bounds[2 * j];
        auto it =
            std::find_if(by_width.begin(), by_width.end(), [&](const auto& p) { return p.first == width; });
        if (it == by_width.end()) {
          by_width.emplace_back(width,
                                quadrilateral_area(lat.bounds[2 * i], lat.bounds[2 * i + 1], 0.0, width));
          it = by_width.end() - 1;
        }
        area[i * nlon + j] = it->second;
      }
    }
  } else {
    for (std::size_t i = 0; i < nlat; ++i) {
      for (std::size_t j = 0; j < nlon; ++j)
        area[i * nlon + j] = std::max(0.0, std::cos(lat.values[i] * kRad));
    }
  }
  double total = 0;
  for (double x : area) total += x;
  if (!(total > 0)) ev.fail(span, "the grid's area weights sum to zero");
  Shape shape(static_cast<std::size_t>(a.a.data.ndim()), 1);
  shape[static_cast<std::size_t>(w.lat_axis)] = static_cast<std::int64_t>(nlat);
  shape[static_cast<std::size_t>(w.lon_axis)] = static_cast<std::int64_t>(nlon);
  w.block = Chunk(DType::kFloat64, shape);
  double* p = w.block.data<double>().data();
  const bool lat_first = w.lat_axis < w.lon_axis;
  for (std::size_t i = 0; i < nlat; ++i) {
    for (std::size_t j = 0; j < nlon; ++j) {
      p[lat_first ? i * nlon + j : j * nlat + i] = area[i * nlon + j] / total;
    }
  }
  return w;
}

ExprValue area_weights(Evaluator& ev, Call& c) {
  const ExprValue& a = c[0];
  Weights w = area_weights_of(ev, a, c.expr.span);
  const Shape shape = w.block.shape();
  Shape two{shape[static_cast<std::size_t>(std::min(w.lat_axis, w.lon_axis))],
            shape[static_cast<std::size_t>(std::max(w.lat_axis, w.lon_axis))]};
  Chunk block(DType::kFloat64, two);  // the same elements: only axes of length 1 go
  std::memcpy(block.bytes(), w.block.bytes(), w.block.nbytes());
  std::vector<AxisOrigin> axes = {a.a.axes[static_cast<std::size_t>(std::min(w.lat_axis, w.lon_axis))],
                                  a.a.axes[static_cast<std::size_t>(std::max(w.lat_axis, w.lon_axis))]};
  return ev.array_value(from_chunk(std::move(block), two), std::move(axes), c.expr.span);
}

ExprValue fldmean(Evaluator& ev, Call& c) {
  const ExprValue& a = c[0];
  Weights w = area_weights_of(ev, a, c.expr.span);
  const Shape shape = w.block.shape();
  Array r = ev.guarded(c.expr.span, [&] {
    const Array weights = from_chunk(std::move(w.block), shape);
    const Axes axes{w.lat_axis, w.lon_axis};
    // Missing values (NaN) take no weight: the mean is over the valid cells, as in CDO and xarray.
    const Array x = a.a.data.astype(DType::kFloat64);
    return (x * weights).nansum(axes) / where(isnan(x), 0.0, weights).sum(axes);
  });
  ExprValue out =
      ev.array_value(std::move(r), ev.without(a.a.axes, {w.lat_axis, w.lon_axis}, false), c.expr.span);
  out.a.cell_methods = a.a.cell_methods;
  add_cell_method(out, "area", "mean");
  return out;
}

}  // namespace

std::string cf_method(std::string how) {
  if (how.rfind("nan", 0) == 0) how = how.substr(3);
  if (how == "min") return "minimum";
  if (how == "max") return "maximum";
  if (how == "std") return "standard_deviation";
  if (how == "var") return "variance";
  if (how == "mean" || how == "sum") return how;
  return "";
}

void reduced_cell_methods(ExprValue& out, const ExprValue& from, std::span<const int> axes,
                          const std::string& how) {
  out.a.cell_methods = from.a.cell_methods;
  const std::string method = cf_method(how);
  if (method.empty()) return;
  std::string dims;
  for (int k : axes) {
    const std::string& d = from.a.axes[static_cast<std::size_t>(k)].dim;
    if (!d.empty()) dims += d + ": ";
  }
  if (!dims.empty()) out.a.cell_methods += (out.a.cell_methods.empty() ? "" : " ") + dims + method;
}

void add_climate_functions(std::vector<Function>& t) {
  Function s{"sel", {{"a", ParamType::kArray}, {"method", ParamType::kString, false, "None"}}, sel};
  s.extra_keywords = "DIM=VALUE";
  t.push_back(std::move(s));
  t.push_back(Function{"resample",
                       {{"a", ParamType::kArray},
                        {"dim", ParamType::kString},
                        {"period", ParamType::kString},
                        {"how", ParamType::kString, false, "\"mean\""}},
                       resample});
  t.push_back(Function{"anomaly",
                       {{"a", ParamType::kArray},
                        {"key", ParamType::kString},
                        {"baseline", ParamType::kRange, false, "None"},
                        {"skipna", ParamType::kBool, false, "false"}},
                       anomaly});
  t.push_back(Function{"fldmean", {{"a", ParamType::kArray}}, fldmean});
  t.push_back(Function{"area_weights", {{"a", ParamType::kArray}}, area_weights});
}

}  // namespace tessera::jobs::detail
