#include "tessera/io/archive.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <span>

#include "file_scan.h"
#include "reader.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/graph.h"

namespace tessera::io {
namespace {

// Every file's scan, in the order given, by tasks on the runtime: threads, and under MPI the workers, whose
// results reach every rank as bytes (encode_scan). On one process each task puts its scans in place instead:
// the bytes would only be decoded again (5% of scanning 1,000 small files). A file that cannot be read fails
// with its own message.
//
// A task scans a run of files and keeps the HDF5 lock from its first HDF5 file to its last. HDF5 calls are
// serialised by that lock anyway; taken per file, two threads hand it to each other a thousand times and
// HDF5's state moves between their cores each time, which made 1,000 small files 11% slower on 2 threads
// than on 1 (docs/design.md, io). NetCDF-3 files need no lock and are read by every thread.
std::vector<detail::FileScan> scan_all(Runtime& runtime, const std::vector<std::string>& files) {
  if (files.size() == 1) return {detail::scan_file(files[0])};
  std::vector<detail::FileScan> scans(files.size());
  const bool in_place = runtime.ranks() == 1;
  // Runs of up to 64 files, at least 8 per rank, so that every worker still gets several.
  const std::size_t run = std::clamp<std::size_t>(
      files.size() / (8 * static_cast<std::size_t>(std::max(1, runtime.ranks()))), 1, 64);
  const std::size_t tasks = (files.size() + run - 1) / run;
  Graph g;
  const NameId name = g.name("scan-files");
  const KernelId kernel = g.kernel([&files, &scans, in_place, run](const TaskContext& ctx) {
    const std::size_t begin = static_cast<std::size_t>(ctx.index()[0]) * run;
    const std::size_t end = std::min(files.size(), begin + run);
    std::unique_lock<std::recursive_mutex> hdf5;
    if (in_place) {
      for (std::size_t i = begin; i < end; ++i) scans[i] = detail::scan_file(files[i], &hdf5);
      return Value();
    }
    std::vector<detail::FileScan> mine;
    for (std::size_t i = begin; i < end; ++i) mine.push_back(detail::scan_file(files[i], &hdf5));
    return Value::of(detail::encode_scans(mine));
  });
  std::vector<TaskId> ids;
  ids.reserve(tasks);
  for (std::size_t t = 0; t < tasks; ++t)
    ids.push_back(g.add(name, {static_cast<std::int32_t>(t)}, kernel, {}));
  std::vector<Value> results;
  try {
    results = runtime.run(g, ids);
  } catch (const TaskError& e) {
    throw Error(e.code(), e.original_message());
  }
  if (!in_place) {
    for (std::size_t t = 0; t < tasks; ++t) {
      std::vector<detail::FileScan> mine = detail::decode_scans(results[t].get<std::vector<std::byte>>());
      const std::size_t begin = t * run;
      if (mine.size() != std::min(files.size(), begin + run) - begin)
        throw_error(ErrorCode::kInternal, "a task scanned ", mine.size(), " files, not ", run);
      for (std::size_t k = 0; k < mine.size(); ++k) scans[begin + k] = std::move(mine[k]);
    }
  }
  return scans;
}

const VariableInfo* find_variable(const FileInfo& info, const std::string& name) {
  for (const VariableInfo& v : info.variables) {
    if ((v.name == name || "/" + v.name == name) && !v.dimension_only) return &v;
  }
  return nullptr;
}

std::string dims_text(const VariableInfo& v) {
  std::string s = v.name + "(";
  for (std::size_t k = 0; k < v.dims.size(); ++k) s += (k ? ", " : "") + v.dims[k];
  return s + ")";
}

std::string number_text(double x) {
  std::string s = str_cat(x);
  return s;
}

// The first element where two value lists differ, as "lat[3] is 42.5 in A but 42.25 in B" (or their lengths).
std::optional<std::string> first_difference(const std::string& name, const std::vector<double>& a,
                                            const std::vector<double>& b, const std::string& file_a,
                                            const std::string& file_b) {
  if (a.size() != b.size()) {
    return str_cat(name, " has ", a.size(), " values in ", file_a, " but ", b.size(), " in ", file_b);
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0 && !(std::isnan(a[i]) && std::isnan(b[i]))) {
      return str_cat(name, "[", i, "] is ", number_text(a[i]), " in ", file_a, " but ", number_text(b[i]),
                     " in ", file_b);
    }
  }
  return std::nullopt;
}

// What a CF time coordinate says: its dates (as microseconds, for ordering) and its encoding.
struct FileTimes {
  bool is_time = false;
  std::string units;
  std::string calendar_name = "standard";
  Calendar calendar = Calendar::kStandard;
  std::vector<Date> dates;
  std::vector<std::int64_t> micros;  // to_micros of dates (time), or the coordinate's values (numeric)
  std::vector<double> values;        // as stored
};

FileTimes file_times(const detail::FileScan& scan, const std::string& dim) {
  FileTimes t;
  const std::vector<double>* values = scan.coordinate(dim);
  if (values == nullptr) return t;
  t.values = *values;
  const VariableInfo* v = find_variable(scan.info, dim);
  const AttributeValue* units = v ? find_attribute(v->attributes, "units") : nullptr;
  if (units != nullptr && units->is_text() && units->text().find(" since ") != std::string::npos) {
    const AttributeValue* calendar = find_attribute(v->attributes, "calendar");
    if (calendar != nullptr && calendar->is_text()) t.calendar_name = calendar->text();
    try {
      TimeAxis axis = decode_time(t.values, units->text(), t.calendar_name);
      t.is_time = true;
      t.units = units->text();
      t.calendar = axis.calendar;
      t.dates = std::move(axis.dates);
    } catch (const Error& e) {
      throw Error(e.code(), str_cat("the time coordinate \"", dim, "\" of ", scan.info.path, ": ", e.what()));
    }
    for (const Date& d : t.dates) t.micros.push_back(to_micros(t.calendar, d));
  } else {
    // A numeric coordinate: ordered by value (scaled so that fractions still order).
    for (double x : t.values) t.micros.push_back(static_cast<std::int64_t>(std::llround(x * 1e6)));
  }
  return t;
}

std::string when(const FileTimes& t, std::size_t i) {
  return t.is_time ? format_date(t.dates[i]) : number_text(t.values[i]);
}

// The CF attributes that change what a variable's numbers mean: files that differ in them cannot be one
// variable.
constexpr const char* kEncodingAttributes[] = {"_FillValue", "missing_value", "scale_factor", "add_offset",
                                               "units"};

}  // namespace

std::optional<Chunk> Archive::coordinate(const std::string& name) const {
  for (const auto& [n, values] : coordinates_) {
    if (n != name) continue;
    // Its shape in the files (bounds are (n, 2)), with the whole archive's length along dim().
    Shape shape{static_cast<std::int64_t>(values.size())};
    if (const VariableInfo* v = find_variable(first(), name); v != nullptr && !v->shape.empty()) {
      Shape s = v->shape;
      if (!v->dims.empty() && v->dims[0] == dim_) s[0] = length_;
      if (num_elements(s) == shape[0]) shape = s;
    }
    return Chunk::from<double>(shape, values);
  }
  return std::nullopt;
}

const Attributes* Archive::attributes_of(const std::string& name) const {
  const VariableInfo* v = find_variable(first(), name);
  return v ? &v->attributes : nullptr;
}

Archive open_archive(Runtime& runtime, const std::vector<std::string>& files, const std::string& variable,
                     const ArchiveOptions& options) {
  if (files.empty()) throw_error(ErrorCode::kInvalidArgument, "an archive needs at least one file");
  std::vector<detail::FileScan> scans = scan_all(runtime, files);

  const FileInfo& first = scans.front().info;
  const VariableInfo* v0 = find_variable(first, variable);
  if (v0 == nullptr) first.variable(variable);  // throws kNotFound, listing what the file has
  Archive a;
  a.variable_ = v0->name;
  // The concatenated dimension.
  if (!options.concat_dim.empty()) {
    if (std::find(v0->dims.begin(), v0->dims.end(), options.concat_dim) == v0->dims.end()) {
      throw_error(ErrorCode::kInvalidArgument, "concat_dim \"", options.concat_dim,
                  "\" is not a dimension of ", dims_text(*v0), " in ", first.path);
    }
    a.dim_ = options.concat_dim;
  } else {
    for (const std::string& d : v0->dims) {
      if (first.unlimited.count(d) != 0) {
        a.dim_ = d;
        break;
      }
    }
    if (a.dim_.empty() && std::find(v0->dims.begin(), v0->dims.end(), "time") != v0->dims.end())
      a.dim_ = "time";
    if (a.dim_.empty()) {
      throw_error(ErrorCode::kInvalidArgument, "cannot tell which dimension to concatenate ", files.size(),
                  " files along: none of ", dims_text(*v0), " in ", first.path,
                  " is unlimited or named time; give concat_dim");
    }
  }
  a.axis_ = static_cast<int>(std::find(v0->dims.begin(), v0->dims.end(), a.dim_) - v0->dims.begin());
  const auto axis = static_cast<std::size_t>(a.axis_);

  // Every file against the first: the same variable, dims, type, encoding and other coordinates.
  for (std::size_t i = 1; i < scans.size(); ++i) {
    const FileInfo& info = scans[i].info;
    const VariableInfo* v = find_variable(info, variable);
    if (v == nullptr) {
      std::string have;
      for (const VariableInfo& x : info.variables) {
        if (!x.dimension_only) have += (have.empty() ? "" : ", ") + x.name;
      }
      throw_error(ErrorCode::kNotFound, "variable \"", variable, "\" is in ", first.path, " but not in ",
                  info.path, " (it has: ", have.empty() ? std::string("no variables") : have, ")");
    }
    if (v->dims != v0->dims) {
      throw_error(ErrorCode::kInvalidArgument, first.path, " has ", dims_text(*v0), " but ", info.path,
                  " has ", dims_text(*v));
    }
    for (std::size_t k = 0; k < v->shape.size(); ++k) {
      if (k != axis && v->shape[k] != v0->shape[k]) {
        throw_error(ErrorCode::kInvalidArgument, "dimension ", v->dims[k], " of ", variable, " has length ",
                    v0->shape[k], " in ", first.path, " but ", v->shape[k], " in ", info.path);
      }
    }
    if (v->stored_type != v0->stored_type) {
      throw_error(ErrorCode::kInvalidArgument, variable, " is stored as ", v0->stored_type, " in ",
                  first.path, " but as ", v->stored_type, " in ", info.path);
    }
    for (const char* name : kEncodingAttributes) {
      const AttributeValue* x = find_attribute(v0->attributes, name);
      const AttributeValue* y = find_attribute(v->attributes, name);
      if ((x == nullptr) != (y == nullptr) || (x != nullptr && x->value != y->value)) {
        throw_error(ErrorCode::kInvalidArgument, variable, "'s ", name, " is ",
                    x ? x->str() : std::string("not set"), " in ", first.path, " but ",
                    y ? y->str() : std::string("not set"), " in ", info.path);
      }
    }
    for (std::size_t k = 0; k < v0->dims.size(); ++k) {
      if (k == axis) continue;
      const std::string& dim = v0->dims[k];
      const std::vector<double>* x = scans.front().coordinate(dim);
      if (x == nullptr) continue;
      const std::vector<double>* y = scans[i].coordinate(dim);
      if (y == nullptr) {
        throw_error(ErrorCode::kInvalidArgument, first.path, " has a coordinate ", dim, " but ", info.path,
                    " has none");
      }
      if (auto d = first_difference(dim, *x, *y, first.path, info.path)) {
        throw_error(ErrorCode::kInvalidArgument, "the files' grids differ: ", *d);
      }
      // Its bounds (lat_bnds, ...) too, where both files have them.
      const VariableInfo* c = find_variable(first, dim);
      const AttributeValue* b = c ? find_attribute(c->attributes, "bounds") : nullptr;
      if (b != nullptr && b->is_text()) {
        const std::vector<double>* bx = scans.front().coordinate(b->text());
        const std::vector<double>* by = scans[i].coordinate(b->text());
        if (bx != nullptr && by != nullptr) {
          if (auto d = first_difference(b->text(), *bx, *by, first.path, info.path)) {
            throw_error(ErrorCode::kInvalidArgument, "the files' grids differ: ", *d);
          }
        }
      }
    }
  }

  // Records: each file's times, the files in time order, no overlaps.
  std::vector<FileTimes> times;
  times.reserve(scans.size());
  for (const detail::FileScan& s : scans) times.push_back(file_times(s, a.dim_));
  for (std::size_t i = 0; i < scans.size(); ++i) {
    const std::int64_t length = find_variable(scans[i].info, variable)->shape[axis];
    if (!times[i].values.empty() && static_cast<std::int64_t>(times[i].values.size()) != length) {
      throw_error(ErrorCode::kCorrupt, "the coordinate ", a.dim_, " of ", scans[i].info.path, " has ",
                  times[i].values.size(), " values but ", variable, " has ", length, " records");
    }
    if (times[i].is_time != times[0].is_time ||
        (times[i].is_time && times[i].calendar != times[0].calendar)) {
      throw_error(ErrorCode::kInvalidArgument, "the time coordinate ", a.dim_, " is in the ",
                  times[0].is_time ? std::string(name_of(times[0].calendar)) + " calendar" : "no calendar",
                  " in ", scans[0].info.path, " but in the ",
                  times[i].is_time ? std::string(name_of(times[i].calendar)) + " calendar" : "no calendar",
                  " in ", scans[i].info.path);
    }
    for (std::size_t k = 1; k < times[i].micros.size(); ++k) {
      if (times[i].micros[k] <= times[i].micros[k - 1]) {
        throw_error(ErrorCode::kInvalidArgument, "the records of ", scans[i].info.path,
                    " are not in increasing order: ", a.dim_, "[", k, "] = ", when(times[i], k),
                    " does not come after ", a.dim_, "[", k - 1, "] = ", when(times[i], k - 1));
      }
    }
  }
  std::vector<std::size_t> order(scans.size());
  std::iota(order.begin(), order.end(), 0);
  const bool ordered = !times[0].micros.empty();
  if (ordered) {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      const auto& tx = times[x].micros;
      const auto& ty = times[y].micros;
      if (tx.empty() || ty.empty()) return !tx.empty() && ty.empty();
      return tx.front() < ty.front();
    });
  }
  std::vector<std::int64_t> steps;
  for (const FileTimes& t : times) {
    for (std::size_t k = 1; k < t.micros.size(); ++k) steps.push_back(t.micros[k] - t.micros[k - 1]);
  }
  std::int64_t step = 0;
  if (!steps.empty()) {
    std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2),
                     steps.end());
    step = steps[steps.size() / 2];
  }
  for (std::size_t j = 1; ordered && j < order.size(); ++j) {
    const FileTimes& p = times[order[j - 1]];
    const FileTimes& n = times[order[j]];
    if (p.micros.empty() || n.micros.empty()) continue;
    const std::string& pa = scans[order[j - 1]].info.path;
    const std::string& na = scans[order[j]].info.path;
    if (n.micros.front() <= p.micros.back()) {
      throw_error(ErrorCode::kInvalidArgument, "the records of ", pa, " and ", na, " overlap: ", pa,
                  " ends at ", when(p, p.micros.size() - 1), " but ", na, " starts at ", when(n, 0));
    }
    if (step > 0 &&
        static_cast<double>(n.micros.front() - p.micros.back()) > 1.5 * static_cast<double>(step)) {
      a.notes_.push_back(str_cat("gap: no records between ", when(p, p.micros.size() - 1), " (the end of ",
                                 pa, ") and ", when(n, 0), " (the start of ", na, ")"));
    }
  }

  // The pieces in order, their coordinates along dim() in one encoding.
  std::vector<double> concat;
  const VariableInfo* c0 = find_variable(first, a.dim_);
  const AttributeValue* bounds = c0 ? find_attribute(c0->attributes, "bounds") : nullptr;
  const std::string bounds_name = bounds && bounds->is_text() ? bounds->text() : std::string();
  std::vector<double> concat_bounds;
  bool have_bounds = !bounds_name.empty();
  const FileTimes& t0 = times[order.front()];
  if (t0.is_time) {
    a.time_.units = t0.units;
    a.time_.calendar = t0.calendar;
  }
  for (std::size_t i : order) {
    Archive::Piece piece;
    piece.path = scans[i].info.path;
    piece.length = find_variable(scans[i].info, variable)->shape[axis];
    piece.start = a.length_;
    a.length_ += piece.length;
    const FileTimes& t = times[i];
    if (t.is_time) {
      a.time_.dates.insert(a.time_.dates.end(), t.dates.begin(), t.dates.end());
      const std::vector<double> values =
          t.units == t0.units ? t.values : encode_time(t.dates, t0.units, t0.calendar);
      concat.insert(concat.end(), values.begin(), values.end());
    } else {
      concat.insert(concat.end(), t.values.begin(), t.values.end());
    }
    if (have_bounds) {
      const std::vector<double>* b = scans[i].coordinate(bounds_name);
      if (b == nullptr) {
        have_bounds = false;
      } else if (t.is_time && t.units != t0.units) {
        const TimeAxis decoded = decode_time(*b, t.units, t.calendar_name);
        const std::vector<double> values = encode_time(decoded.dates, t0.units, t0.calendar);
        concat_bounds.insert(concat_bounds.end(), values.begin(), values.end());
      } else {
        concat_bounds.insert(concat_bounds.end(), b->begin(), b->end());
      }
    }
    piece.info = std::move(scans[i].info);
    a.pieces_.push_back(std::move(piece));
  }
  if (!concat.empty()) a.coordinates_.emplace_back(a.dim_, std::move(concat));
  if (have_bounds) a.coordinates_.emplace_back(bounds_name, std::move(concat_bounds));
  for (auto& [name, values] : scans[order.front()].coordinates) {
    if (name != a.dim_ && name != bounds_name) a.coordinates_.emplace_back(name, std::move(values));
  }
  a.variable_info_ = *find_variable(a.pieces_.front().info, variable);
  a.variable_info_.shape[axis] = a.length_;
  return a;
}

Variable read(const Archive& archive, const ReadOptions& options) {
  const auto axis = static_cast<std::size_t>(archive.axis());
  std::vector<Array> parts;
  Variable out;
  for (const Archive::Piece& piece : archive.pieces()) {
    if (piece.length == 0) continue;
    ReadOptions o = options;
    o.decode_cf = false;  // decoded once after joining (the files agree on fill values and packing: checked)
    if (o.chunks && axis < o.chunks->size()) {
      std::int64_t& c = (*o.chunks)[axis];
      if (c <= 0 || c > piece.length) c = piece.length;
    }
    Variable v = detail::read_variable(piece.path, piece.info, archive.variable(), o);
    out.notes.insert(out.notes.end(), v.notes.begin(), v.notes.end());
    parts.push_back(std::move(v.data));
  }
  if (parts.empty()) {
    throw_error(ErrorCode::kInvalidArgument, "the archive of ", archive.variable(), " has no records along ",
                archive.dim());
  }
  out.file = archive.pieces().front().path;
  out.info = archive.variable_info();
  out.dims = out.info.dims;
  out.data = parts.size() == 1 ? parts.front() : concatenate(parts, archive.axis());
  // One elementwise decoding over the joined array, which its readers evaluate in their own tasks, rather
  // than one per file under the join, whose decoded chunks would be tasks' results held in memory.
  if (options.decode_cf) out.data = detail::decode_cf(out.data, out.info);
  return out;
}

}  // namespace tessera::io
