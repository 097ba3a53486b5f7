#include "tessera/jobs/evaluate.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <optional>
#include <set>

namespace tessera::jobs {

void MemoryResolver::add(const std::string& name, Array data, std::vector<std::string> dims) {
  inputs_[name] = BoundInput{std::move(data), std::move(dims)};
}

void MemoryResolver::add_time_axis(const std::string& dim, io::TimeAxis axis) {
  time_axes_[dim] = std::move(axis);
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

constexpr std::int64_t kMaxChunksPerAxis = 10'000'000;

struct Value {
  enum class Kind { kArray, kNumber, kBool, kString, kList };
  Kind kind = Kind::kNumber;
  EvaluatedArray a;
  double number = 0;
  bool integer = false;
  bool boolean = false;
  std::string text;
  std::vector<Value> list;
  Span span;

  bool is_array() const { return kind == Kind::kArray; }
  bool is_number() const { return kind == Kind::kNumber; }
  std::string describe() const {
    switch (kind) {
      case Kind::kArray:
        return "an array of shape " + format_shape(a.data.shape()) + " and dtype " +
               std::string(name_of(a.data.dtype()));
      case Kind::kNumber:
        return integer ? "an integer" : "a number";
      case Kind::kBool:
        return "a boolean";
      case Kind::kString:
        return "a string";
      case Kind::kList:
        return "a list";
    }
    return "a value";
  }
};

Value number_value(double v, bool integer, Span span) {
  Value r;
  r.kind = Value::Kind::kNumber;
  r.number = v;
  r.integer = integer && std::isfinite(v) && std::abs(v) < 9.2e18 && v == std::trunc(v);
  r.span = span;
  return r;
}

Scalar scalar_of(const Value& v) {
  if (v.kind == Value::Kind::kBool) return Scalar(v.boolean);
  if (v.integer) return Scalar(static_cast<std::int64_t>(v.number));
  return Scalar(v.number);
}

std::string shape_text(const Array& a) {
  return format_shape(a.shape());
}

enum class ParamType { kArray, kArrayOrNumber, kNumber, kInt, kBool, kString, kAxes, kInts };

struct Param {
  std::string name;
  ParamType type;
  bool required = true;
  std::string default_text;  // for signatures
};

class Evaluator;
struct Call {
  const Expr& expr;
  std::vector<std::optional<Value>> values;  // one per parameter
  Span span(std::size_t i) const { return values[i] ? values[i]->span : expr.span; }
  bool has(std::size_t i) const { return values[i].has_value(); }
  const Value& operator[](std::size_t i) const { return *values[i]; }
};

struct Function {
  std::string name;
  std::vector<Param> params;
  std::function<Value(Evaluator&, Call&)> impl;

  std::string signature() const {
    std::string s = name + "(";
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (i) s += ", ";
      s += params[i].name;
      if (!params[i].required) s += "=" + (params[i].default_text.empty() ? "None" : params[i].default_text);
    }
    return s + ")";
  }
};

const std::vector<Function>& functions();

const Function* find_function(const std::string& name) {
  for (const Function& f : functions()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<std::string> function_names() {
  std::vector<std::string> names;
  for (const Function& f : functions()) names.push_back(f.name);
  return names;
}

// Python's slice.indices(): the positions a slice selects along an axis of length n.
std::vector<std::int64_t> slice_positions(std::optional<std::int64_t> start, std::optional<std::int64_t> stop,
                                          std::int64_t step, std::int64_t n) {
  std::int64_t b, e;
  auto norm = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
    if (v < 0) v += n;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    b = start ? norm(*start, 0, n) : 0;
    e = stop ? norm(*stop, 0, n) : n;
  } else {
    b = start ? norm(*start, -1, n - 1) : n - 1;
    e = stop ? norm(*stop, -1, n - 1) : -1;
  }
  std::vector<std::int64_t> out;
  for (std::int64_t i = b; step > 0 ? i < e : i > e;) {
    out.push_back(i);
    // Stop before i + step could pass the end (or overflow, for huge steps).
    if (step > 0 ? e - i <= step : i - e <= -step) break;
    i += step;
  }
  return out;
}

class Evaluator {
 public:
  Evaluator(const JobSpec& job, InputResolver& resolver) : job_(job), resolver_(resolver) {}

  void define(const std::string& name, const EvaluatedArray* a) { names_[name] = a; }
  void set_later(std::map<std::string, int> later) { later_ = std::move(later); }

  Value evaluate(const ExprSource& src, const Expr& e) {
    src_ = &src;
    return eval(e);
  }

  [[noreturn]] void fail(Span span, ErrorCode code, const std::string& message,
                         const std::string& help = {}) const {
    throw_diagnostic(code, src_->file.get(), src_->locate(span), message, help);
  }
  [[noreturn]] void fail(Span span, const std::string& message, const std::string& help = {}) const {
    fail(span, ErrorCode::kInvalidArgument, message, help);
  }

  // Runs an arrays API call, turning its errors into located ones.
  template <class F>
  auto guarded(Span span, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error& e) {
      fail(span, e.code() == ErrorCode::kInternal ? ErrorCode::kInternal : e.code(), e.what());
    }
  }

  Value array_value(Array data, std::vector<AxisOrigin> axes, Span span) const {
    Value v;
    v.kind = Value::Kind::kArray;
    if (static_cast<int>(axes.size()) != data.ndim())
      axes.assign(static_cast<std::size_t>(data.ndim()), AxisOrigin{});
    v.a.data = std::move(data);
    v.a.axes = std::move(axes);
    v.span = span;
    return v;
  }

  // --- argument helpers -------------------------------------------------------------------------------
  const Array& array(const Call& c, std::size_t i) const { return c[i].a.data; }
  std::int64_t integer(const Call& c, std::size_t i, std::int64_t fallback) const {
    return c.has(i) ? static_cast<std::int64_t>(c[i].number) : fallback;
  }
  double number(const Call& c, std::size_t i, double fallback) const {
    if (!c.has(i)) return fallback;
    return c[i].kind == Value::Kind::kBool ? (c[i].boolean ? 1.0 : 0.0) : c[i].number;
  }
  bool boolean(const Call& c, std::size_t i, bool fallback) const {
    return c.has(i) ? c[i].boolean : fallback;
  }

  int axis(const Call& c, std::size_t i, int ndim, std::int64_t value, Span span,
           const std::string& of) const {
    if (value < -ndim || value >= ndim) {
      fail(span,
           "axis " + std::to_string(value) + " is out of range for " + of + " with " + std::to_string(ndim) +
               " dimension" + (ndim == 1 ? "" : "s"),
           ndim > 0
               ? "valid axes are 0.." + std::to_string(ndim - 1) + " (or -" + std::to_string(ndim) + "..-1)"
               : "a 0-d array has no axes");
    }
    return static_cast<int>(value < 0 ? value + ndim : value);
  }
  int axis_arg(const Call& c, std::size_t i, const Value& of, std::int64_t fallback) const {
    const std::int64_t v = c.has(i) ? static_cast<std::int64_t>(c[i].number) : fallback;
    return axis(c, i, of.a.data.ndim(), v, c.span(i), "an array of shape " + shape_text(of.a.data));
  }
  // None: all axes.
  std::optional<std::vector<int>> axes_arg(const Call& c, std::size_t i, const Value& of) const {
    if (!c.has(i)) return std::nullopt;
    std::vector<int> axes;
    const std::string what = "an array of shape " + shape_text(of.a.data);
    const int ndim = of.a.data.ndim();
    if (c[i].kind == Value::Kind::kList) {
      for (const Value& v : c[i].list)
        axes.push_back(axis(c, i, ndim, static_cast<std::int64_t>(v.number), v.span, what));
    } else {
      axes.push_back(axis(c, i, ndim, static_cast<std::int64_t>(c[i].number), c[i].span, what));
    }
    std::set<int> seen;
    for (std::size_t k = 0; k < axes.size(); ++k) {
      if (!seen.insert(axes[k]).second) fail(c.span(i), "axis " + std::to_string(axes[k]) + " is repeated");
    }
    return axes;
  }
  std::vector<std::int64_t> ints(const Value& v) const {
    std::vector<std::int64_t> out;
    if (v.kind == Value::Kind::kList) {
      for (const Value& e : v.list) out.push_back(static_cast<std::int64_t>(e.number));
    } else {
      out.push_back(static_cast<std::int64_t>(v.number));
    }
    return out;
  }
  DType dtype_arg(const Call& c, std::size_t i, DType fallback) const {
    if (!c.has(i)) return fallback;
    std::vector<std::string> names;
    for (DType t : kAllDTypes) names.emplace_back(name_of(t));
    for (DType t : kAllDTypes) {
      if (name_of(t) == c[i].text) return t;
    }
    fail(c.span(i), "unknown dtype '" + c[i].text + "'", suggest(c[i].text, names));
  }

  // A shape for creation functions, with limits that keep hostile jobs from exhausting memory at planning.
  Shape shape_arg(const Call& c, std::size_t i) const {
    Shape s = ints(c[i]);
    double elements = 1;
    for (std::int64_t n : s) {
      if (n < 0) fail(c.span(i), "shape entries must not be negative; got " + format_shape(s));
      elements *= static_cast<double>(n);
    }
    if (elements > 4.0e18) fail(c.span(i), "shape " + format_shape(s) + " has too many elements");
    return s;
  }
  Shape chunks_for(const Call& c, std::size_t i, const Shape& shape, DType dtype) const {
    Shape chunks;
    if (c.has(i)) {
      chunks = ints(c[i]);
      if (chunks.size() != shape.size()) {
        fail(c.span(i), "chunks " + format_shape(chunks) + " do not match the " +
                            std::to_string(shape.size()) + " dimensions of shape " + format_shape(shape));
      }
    } else {
      chunks = auto_chunks(shape, dtype);
    }
    check_chunk_counts(c.span(i), shape, chunks);
    return chunks;
  }
  void check_chunk_counts(Span span, const Shape& shape, const Shape& chunks) const {
    for (std::size_t k = 0; k < shape.size() && k < chunks.size(); ++k) {
      if (chunks[k] == 0 || chunks[k] < -1)
        fail(span, "chunk sizes must be positive (or -1 for the whole axis)");
      const std::int64_t c = chunks[k] == -1 ? std::max<std::int64_t>(shape[k], 1) : chunks[k];
      if (shape[k] / c > kMaxChunksPerAxis) {
        fail(span, "chunks " + format_shape(chunks) + " cut shape " + format_shape(shape) +
                       " into more than " + std::to_string(kMaxChunksPerAxis) + " chunks along axis " +
                       std::to_string(k));
      }
    }
  }
  Shape auto_chunks(const Shape& shape, DType dtype) const {
    // Whole trailing axes, the leading ones cut so that a chunk stays near the target size.
    Shape chunks = shape;
    double bytes = static_cast<double>(size_of(dtype));
    for (std::int64_t n : shape) bytes *= static_cast<double>(std::max<std::int64_t>(n, 1));
    const double target = static_cast<double>(job_.options.target_chunk_bytes);
    for (std::size_t k = 0; k < chunks.size() && bytes > target; ++k) {
      const double per = bytes / static_cast<double>(std::max<std::int64_t>(chunks[k], 1));
      const std::int64_t fit = std::max<std::int64_t>(1, static_cast<std::int64_t>(target / per));
      chunks[k] = std::min(chunks[k], fit);
      bytes = per * static_cast<double>(chunks[k]);
    }
    for (std::int64_t& c : chunks) c = std::max<std::int64_t>(c, 1);
    return chunks;
  }

  // Broadcast shapes; a located error with both shapes when they do not.
  Shape broadcast(Span span, const std::string& what, const std::vector<const Value*>& operands) const {
    Shape out;
    for (const Value* v : operands) {
      if (!v->is_array()) continue;
      const Shape& s = v->a.data.shape();
      Shape merged(std::max(out.size(), s.size()), 1);
      for (std::size_t k = 0; k < merged.size(); ++k) {
        const std::int64_t a = k < out.size() ? out[out.size() - 1 - k] : 1;
        const std::int64_t b = k < s.size() ? s[s.size() - 1 - k] : 1;
        if (a != b && a != 1 && b != 1) {
          std::string shapes;
          for (const Value* o : operands) {
            if (o->is_array()) shapes += (shapes.empty() ? "" : " and ") + shape_text(o->a.data);
          }
          fail(span, what + ": shapes " + shapes + " do not broadcast",
               "sizes " + std::to_string(a) + " and " + std::to_string(b) + " meet on axis -" +
                   std::to_string(k + 1) +
                   "; aligned from the right, sizes must match or be 1 (expand_dims(a, axis) adds an axis of "
                   "1)");
        }
        merged[merged.size() - 1 - k] = a == 1 ? b : a;
      }
      out = std::move(merged);
    }
    return out;
  }
  // Axis origins of a broadcast result: from an operand whose axis has the result's length.
  static std::vector<AxisOrigin> broadcast_axes(const Shape& shape,
                                                const std::vector<const Value*>& operands) {
    std::vector<AxisOrigin> out(shape.size());
    for (std::size_t k = 0; k < shape.size(); ++k) {
      bool found = false;
      for (const Value* v : operands) {
        if (!v->is_array()) continue;
        const int nd = v->a.data.ndim();
        const int j = nd - static_cast<int>(shape.size() - k);
        if (j < 0 || v->a.data.shape()[static_cast<std::size_t>(j)] != shape[k]) continue;
        const AxisOrigin& o = v->a.axes[static_cast<std::size_t>(j)];
        if (!found || (out[k].input < 0 && o.input >= 0) || (out[k].dim.empty() && !o.dim.empty())) {
          out[k] = o;
          found = true;
        }
      }
    }
    return out;
  }

  std::vector<AxisOrigin> without(const std::vector<AxisOrigin>& axes, const std::vector<int>& removed,
                                  bool keepdims) const {
    std::vector<AxisOrigin> out;
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const bool gone = std::find(removed.begin(), removed.end(), static_cast<int>(k)) != removed.end();
      if (!gone) {
        out.push_back(axes[k]);
      } else if (keepdims) {
        out.push_back(AxisOrigin{axes[k].dim});
      }
    }
    return out;
  }

  // The labels of calendar grouping `key` ("time.month") along an array's time axis.
  struct Grouping {
    int axis = 0;
    std::vector<std::int64_t> labels;
    std::int64_t groups = 0;
    std::string dim;
    std::vector<double> coordinate;
  };
  Grouping grouping(const Value& a, const Value& key) const {
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

 private:
  Value eval(const Expr& e);
  Value eval_name(const Expr& e);
  Value eval_unary(const Expr& e);
  Value eval_binary(const Expr& e);
  Value eval_call(const Expr& e, const std::string& name, std::size_t first_arg);
  Value eval_subscript(const Expr& e);

  const JobSpec& job_;
  InputResolver& resolver_;
  const ExprSource* src_ = nullptr;
  std::map<std::string, const EvaluatedArray*> names_;
  std::map<std::string, int> later_;  // arrays defined further down: name -> line
};

Value Evaluator::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kNumber:
      return number_value(e.number, e.integer, e.span);
    case ExprKind::kBool: {
      Value v;
      v.kind = Value::Kind::kBool;
      v.boolean = e.boolean;
      v.span = e.span;
      return v;
    }
    case ExprKind::kString: {
      Value v;
      v.kind = Value::Kind::kString;
      v.text = e.text;
      v.span = e.span;
      return v;
    }
    case ExprKind::kList: {
      Value v;
      v.kind = Value::Kind::kList;
      v.span = e.span;
      for (const ExprPtr& a : e.args) v.list.push_back(eval(*a));
      return v;
    }
    case ExprKind::kName:
      return eval_name(e);
    case ExprKind::kUnary:
      return eval_unary(e);
    case ExprKind::kBinary:
      return eval_binary(e);
    case ExprKind::kCall:
      return eval_call(e, e.text, 0);
    case ExprKind::kMethod:
      return eval_call(e, e.text, 0);
    case ExprKind::kAttribute: {
      Value v = eval(*e.args[0]);
      if (e.text == "T") {
        if (!v.is_array()) fail(e.args[0]->span, ".T needs an array, not " + v.describe());
        std::vector<AxisOrigin> axes(v.a.axes.rbegin(), v.a.axes.rend());
        return array_value(guarded(e.span, [&] { return v.a.data.T(); }), std::move(axes), e.span);
      }
      const std::vector<std::string> attrs = {"T"};
      std::string help = suggest(e.text, attrs);
      if (find_function(e.text) != nullptr) help = "call it as a method: ." + e.text + "(...)";
      fail(e.name_span, ErrorCode::kNotFound, "unknown attribute '" + e.text + "'", help);
    }
    case ExprKind::kSubscript:
      return eval_subscript(e);
  }
  fail(e.span, ErrorCode::kInternal, "unhandled expression");
}

Value Evaluator::eval_name(const Expr& e) {
  if (auto it = names_.find(e.text); it != names_.end()) {
    Value v = array_value(it->second->data, it->second->axes, e.span);
    v.a.name = e.text;
    return v;
  }
  if (e.text == "pi") return number_value(std::numbers::pi, false, e.span);
  if (e.text == "e") return number_value(std::numbers::e, false, e.span);
  if (e.text == "nan") return number_value(std::numeric_limits<double>::quiet_NaN(), false, e.span);
  if (e.text == "inf") return number_value(std::numeric_limits<double>::infinity(), false, e.span);
  if (auto it = later_.find(e.text); it != later_.end()) {
    fail(e.span, ErrorCode::kNotFound,
         "'" + e.text + "' is defined later in [arrays] (line " + std::to_string(it->second) + ")",
         "an expression can use the inputs and the arrays defined above it");
  }
  std::vector<std::string> candidates;
  for (const auto& [name, a] : names_) candidates.push_back(name);
  for (const char* c : {"pi", "e", "nan", "inf"}) candidates.emplace_back(c);
  if (find_function(e.text) != nullptr) {
    fail(e.span, ErrorCode::kNotFound, "'" + e.text + "' is a function, not an array",
         "call it: " + find_function(e.text)->signature());
  }
  std::string help = suggest(e.text, candidates);
  fail(e.span, ErrorCode::kNotFound, "unknown name '" + e.text + "': not an input, an array or a constant",
       help);
}

Value Evaluator::eval_unary(const Expr& e) {
  Value v = eval(*e.args[0]);
  if (e.op == TokenKind::kTilde) {
    if (v.kind == Value::Kind::kBool) {
      v.boolean = !v.boolean;
      v.span = e.span;
      return v;
    }
    if (!v.is_array() || v.a.data.dtype() != DType::kBool) {
      fail(e.span, "'not' / '~' needs a bool array or a boolean, not " + v.describe(),
           "compare first, e.g. ~(t > 0)");
    }
    return array_value(guarded(e.span, [&] { return !v.a.data; }), v.a.axes, e.span);
  }
  if (v.is_number()) return number_value(e.op == TokenKind::kMinus ? -v.number : v.number, v.integer, e.span);
  if (!v.is_array())
    fail(e.span,
         "unary '" + std::string(token_text(e.op)) + "' needs an array or a number, not " + v.describe());
  if (e.op == TokenKind::kPlus) {
    v.span = e.span;
    return v;
  }
  return array_value(guarded(e.span, [&] { return -v.a.data; }), v.a.axes, e.span);
}

Value Evaluator::eval_binary(const Expr& e) {
  Value l = eval(*e.args[0]);
  Value r = eval(*e.args[1]);
  const std::string op(token_text(e.op));
  const bool logical = e.op == TokenKind::kAmp || e.op == TokenKind::kPipe;
  if (logical) {
    if (l.kind == Value::Kind::kBool && r.kind == Value::Kind::kBool) {
      Value v = l;
      v.boolean = e.op == TokenKind::kAmp ? (l.boolean && r.boolean) : (l.boolean || r.boolean);
      v.span = e.span;
      return v;
    }
    for (const Value* side : {&l, &r}) {
      if (!side->is_array() || side->a.data.dtype() != DType::kBool) {
        fail(side->span, "'" + op + "' needs bool arrays (comparisons), but this is " + side->describe(),
             "compare first, e.g. (t > 0) & (t < 10)");
      }
    }
    const Shape shape = broadcast(e.span, "operands of '" + op + "'", {&l, &r});
    auto axes = broadcast_axes(shape, {&l, &r});
    return array_value(
        guarded(e.span,
                [&] { return e.op == TokenKind::kAmp ? (l.a.data && r.a.data) : (l.a.data || r.a.data); }),
        std::move(axes), e.span);
  }
  for (const Value* side : {&l, &r}) {
    if (!side->is_array() && !side->is_number() && side->kind != Value::Kind::kBool) {
      fail(side->span, "'" + op + "' needs arrays or numbers, but this is " + side->describe());
    }
  }
  if (!l.is_array() && !r.is_array()) {
    const double a = l.kind == Value::Kind::kBool ? l.boolean : l.number;
    const double b = r.kind == Value::Kind::kBool ? r.boolean : r.number;
    const bool ints =
        (l.integer || l.kind == Value::Kind::kBool) && (r.integer || r.kind == Value::Kind::kBool);
    auto truth = [&](bool t) {
      Value v;
      v.kind = Value::Kind::kBool;
      v.boolean = t;
      v.span = e.span;
      return v;
    };
    switch (e.op) {
      case TokenKind::kPlus:
        return number_value(a + b, ints, e.span);
      case TokenKind::kMinus:
        return number_value(a - b, ints, e.span);
      case TokenKind::kStar:
        return number_value(a * b, ints, e.span);
      case TokenKind::kSlash:
        return number_value(a / b, false, e.span);
      case TokenKind::kPower:
        return number_value(std::pow(a, b), ints && b >= 0, e.span);
      case TokenKind::kEq:
        return truth(a == b);
      case TokenKind::kNe:
        return truth(a != b);
      case TokenKind::kLt:
        return truth(a < b);
      case TokenKind::kLe:
        return truth(a <= b);
      case TokenKind::kGt:
        return truth(a > b);
      case TokenKind::kGe:
        return truth(a >= b);
      default:
        fail(e.name_span, ErrorCode::kInternal, "unhandled operator '" + op + "'");
    }
  }
  const Shape shape = broadcast(e.span, "operands of '" + op + "'", {&l, &r});
  auto axes = broadcast_axes(shape, {&l, &r});
  Array result = guarded(e.span, [&]() -> Array {
    // Array with array, or array with a number on the right: the same operators apply.
    auto apply = [&](const Array& a, const auto& b) -> std::optional<Array> {
      switch (e.op) {
        case TokenKind::kPlus:
          return a + b;
        case TokenKind::kMinus:
          return a - b;
        case TokenKind::kStar:
          return a * b;
        case TokenKind::kSlash:
          return a / b;
        case TokenKind::kPower:
          return power(a, b);
        case TokenKind::kEq:
          return a == b;
        case TokenKind::kNe:
          return a != b;
        case TokenKind::kLt:
          return a < b;
        case TokenKind::kLe:
          return a <= b;
        case TokenKind::kGt:
          return a > b;
        case TokenKind::kGe:
          return a >= b;
        default:
          return std::nullopt;
      }
    };
    if (l.is_array()) {
      std::optional<Array> out = r.is_array() ? apply(l.a.data, r.a.data) : apply(l.a.data, scalar_of(r));
      if (out) return std::move(*out);
    } else {
      const Scalar a = scalar_of(l);
      const Array& b = r.a.data;
      switch (e.op) {
        case TokenKind::kPlus:
          return a + b;
        case TokenKind::kMinus:
          return a - b;
        case TokenKind::kStar:
          return a * b;
        case TokenKind::kSlash:
          return a / b;
        case TokenKind::kPower:
          fail(e.name_span, "a number raised to an array power is not supported",
               "write exp(log(base) * exponent) for a positive base");
        // Comparisons with the number on the left: the mirrored comparison.
        case TokenKind::kEq:
          return b == a;
        case TokenKind::kNe:
          return b != a;
        case TokenKind::kLt:
          return b > a;
        case TokenKind::kLe:
          return b >= a;
        case TokenKind::kGt:
          return b < a;
        case TokenKind::kGe:
          return b <= a;
        default:
          break;
      }
    }
    fail(e.name_span, ErrorCode::kInternal, "unhandled operator '" + op + "'");
  });
  return array_value(std::move(result), std::move(axes), e.span);
}

Value Evaluator::eval_subscript(const Expr& e) {
  Value v = eval(*e.args[0]);
  if (!v.is_array()) fail(e.args[0]->span, "only arrays can be subscripted, not " + v.describe());
  const Shape& shape = v.a.data.shape();
  if (e.slices.size() > shape.size()) {
    fail(e.span, "too many indices: " + std::to_string(e.slices.size()) + " for an array of shape " +
                     format_shape(shape) + " (" + std::to_string(shape.size()) + " dimension" +
                     (shape.size() == 1 ? "" : "s") + ")");
  }
  auto integer_of = [&](const ExprPtr& x, const char* what) -> std::optional<std::int64_t> {
    if (!x) return std::nullopt;
    Value n = eval(*x);
    if (!n.is_number() || !n.integer)
      fail(x->span, std::string(what) + " must be an integer, not " + n.describe());
    return static_cast<std::int64_t>(n.number);
  };
  std::vector<Slice> selection;
  std::vector<AxisOrigin> axes;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    AxisOrigin origin = v.a.axes[k];
    if (k >= e.slices.size()) {
      selection.push_back(Slice::all());
      axes.push_back(origin);
      continue;
    }
    const SliceExpr& s = e.slices[k];
    if (s.index) {
      const std::int64_t i = *integer_of(s.index, "an index");
      if (i < -shape[k] || i >= shape[k]) {
        fail(s.span, "index " + std::to_string(i) + " is out of range for axis " + std::to_string(k) +
                         " of length " + std::to_string(shape[k]) + " (shape " + format_shape(shape) + ")");
      }
      selection.push_back(Slice::at(i));
      continue;
    }
    const auto start = integer_of(s.start, "a slice start");
    const auto stop = integer_of(s.stop, "a slice stop");
    const std::int64_t step = integer_of(s.step, "a slice step").value_or(1);
    if (step == 0) fail(s.step->span, "slice step cannot be zero");
    selection.push_back(Slice::range(start, stop, step));
    if (origin.input >= 0 || !origin.coordinate.empty()) {
      const std::vector<std::int64_t> picked = slice_positions(start, stop, step, shape[k]);
      AxisOrigin o;
      o.dim = origin.dim;
      o.input = origin.input;
      o.input_axis = origin.input_axis;
      for (std::int64_t p : picked) {
        if (!origin.positions.empty()) o.positions.push_back(origin.positions[static_cast<std::size_t>(p)]);
        if (!origin.coordinate.empty())
          o.coordinate.push_back(origin.coordinate[static_cast<std::size_t>(p)]);
      }
      origin = std::move(o);
    }
    axes.push_back(std::move(origin));
  }
  return array_value(guarded(e.span, [&] { return v.a.data.select(selection); }), std::move(axes), e.span);
}

bool matches(ParamType t, const Value& v) {
  switch (t) {
    case ParamType::kArray:
      return v.is_array();
    case ParamType::kArrayOrNumber:
      return v.is_array() || v.is_number() || v.kind == Value::Kind::kBool;
    case ParamType::kNumber:
      return v.is_number();
    case ParamType::kInt:
      return v.is_number() && v.integer;
    case ParamType::kBool:
      return v.kind == Value::Kind::kBool;
    case ParamType::kString:
      return v.kind == Value::Kind::kString;
    case ParamType::kAxes:
    case ParamType::kInts:
      if (v.is_number()) return v.integer;
      if (v.kind != Value::Kind::kList) return false;
      return std::all_of(v.list.begin(), v.list.end(),
                         [](const Value& x) { return x.is_number() && x.integer; });
  }
  return false;
}

std::string expected_text(ParamType t) {
  switch (t) {
    case ParamType::kArray:
      return "an array";
    case ParamType::kArrayOrNumber:
      return "an array or a number";
    case ParamType::kNumber:
      return "a number";
    case ParamType::kInt:
      return "an integer";
    case ParamType::kBool:
      return "true or false";
    case ParamType::kString:
      return "a string";
    case ParamType::kAxes:
      return "an axis or a list of axes";
    case ParamType::kInts:
      return "a list of integers";
  }
  return "?";
}

Value Evaluator::eval_call(const Expr& e, const std::string& name, std::size_t) {
  const Function* f = find_function(name);
  if (f == nullptr) {
    std::string help = suggest(name, function_names());
    if (names_.count(name) != 0) help = "'" + name + "' is an array; arrays cannot be called";
    fail(e.name_span, ErrorCode::kNotFound, "unknown function '" + name + "'", help);
  }
  Call call{e, std::vector<std::optional<Value>>(f->params.size())};
  std::size_t positional = 0;
  for (std::size_t i = 0; i < e.args.size(); ++i) {
    const std::string& keyword = i < e.keywords.size() ? e.keywords[i] : std::string();
    std::size_t slot;
    if (keyword.empty()) {
      if (positional >= f->params.size()) {
        fail(e.args[i]->span,
             name + " takes at most " + std::to_string(f->params.size()) + " argument" +
                 (f->params.size() == 1 ? "" : "s") + ", got " + std::to_string(e.args.size()),
             "signature: " + f->signature());
      }
      slot = positional++;
    } else {
      std::vector<std::string> names;
      slot = f->params.size();
      for (std::size_t p = 0; p < f->params.size(); ++p) {
        names.push_back(f->params[p].name);
        if (f->params[p].name == keyword) slot = p;
      }
      if (slot == f->params.size()) {
        std::string help = suggest(keyword, names);
        help += (help.empty() ? "" : "; ") + std::string("signature: ") + f->signature();
        fail(e.keyword_spans[i], "unknown keyword argument '" + keyword + "' for " + name, help);
      }
      if (call.values[slot]) {
        fail(e.keyword_spans[i],
             "argument '" + keyword + "' of " + name + " is given twice (by position and by keyword)");
      }
    }
    Value v = eval(*e.args[i]);
    if (v.kind == Value::Kind::kBool && f->params[slot].type == ParamType::kNumber)
      v = number_value(v.boolean, true, v.span);
    if (!matches(f->params[slot].type, v)) {
      fail(v.span,
           "argument '" + f->params[slot].name + "' of " + name + " must be " +
               expected_text(f->params[slot].type) + ", not " + v.describe(),
           "signature: " + f->signature());
    }
    call.values[slot] = std::move(v);
  }
  for (std::size_t p = 0; p < f->params.size(); ++p) {
    if (f->params[p].required && !call.values[p]) {
      fail(e.span, name + " is missing its argument '" + f->params[p].name + "'",
           "signature: " + f->signature());
    }
  }
  Value result = f->impl(*this, call);
  result.span = e.span;
  return result;
}

// --- the function table -------------------------------------------------------------------------------

using ReduceMember = Array (Array::*)(Axes, ReduceOptions) const;
using ReduceDdofMember = Array (Array::*)(Axes, ReduceOptions, int) const;

Function reduction(const std::string& name, ReduceMember member) {
  return Function{name,
                  {{"a", ParamType::kArray},
                   {"axis", ParamType::kAxes, false},
                   {"keepdims", ParamType::kBool, false, "false"}},
                  [member](Evaluator& ev, Call& c) {
                    const Value& a = c[0];
                    auto axes = ev.axes_arg(c, 1, a);
                    const bool keep = ev.boolean(c, 2, false);
                    std::vector<int> removed;
                    if (axes) {
                      removed = *axes;
                    } else {
                      for (int k = 0; k < a.a.data.ndim(); ++k) removed.push_back(k);
                    }
                    Array r = ev.guarded(c.expr.span, [&] {
                      return (a.a.data.*member)(axes ? Axes(*axes) : Axes(), ReduceOptions{keep});
                    });
                    return ev.array_value(std::move(r), ev.without(a.a.axes, removed, keep), c.expr.span);
                  }};
}

Function reduction_ddof(const std::string& name, ReduceDdofMember member) {
  Function f = reduction(name, nullptr);
  f.params.push_back({"ddof", ParamType::kInt, false, "0"});
  f.impl = [member](Evaluator& ev, Call& c) {
    const Value& a = c[0];
    auto axes = ev.axes_arg(c, 1, a);
    const bool keep = ev.boolean(c, 2, false);
    const std::int64_t ddof = ev.integer(c, 3, 0);
    if (ddof < 0 || ddof > 1'000'000) ev.fail(c.span(3), "ddof must be a small non-negative integer");
    std::vector<int> removed;
    if (axes) {
      removed = *axes;
    } else {
      for (int k = 0; k < a.a.data.ndim(); ++k) removed.push_back(k);
    }
    Array r = ev.guarded(c.expr.span, [&] {
      return (a.a.data.*member)(axes ? Axes(*axes) : Axes(), ReduceOptions{keep}, static_cast<int>(ddof));
    });
    return ev.array_value(std::move(r), ev.without(a.a.axes, removed, keep), c.expr.span);
  };
  return f;
}

Function elementwise(const std::string& name, Array (*array_fn)(const Array&), double (*number_fn)(double)) {
  return Function{name, {{"a", ParamType::kArrayOrNumber}}, [array_fn, number_fn](Evaluator& ev, Call& c) {
                    const Value& a = c[0];
                    if (!a.is_array()) {
                      const double x = a.kind == Value::Kind::kBool ? a.boolean : a.number;
                      if (number_fn == nullptr) {
                        Value v;
                        v.kind = Value::Kind::kBool;
                        v.boolean = std::isnan(x);
                        return v;
                      }
                      return number_value(number_fn(x), false, c.expr.span);
                    }
                    return ev.array_value(ev.guarded(c.expr.span, [&] { return array_fn(a.a.data); }),
                                          a.a.axes, c.expr.span);
                  }};
}

Function grouped(const std::string& op) {
  return Function{
      "groupby_" + op, {{"a", ParamType::kArray}, {"key", ParamType::kString}}, [op](Evaluator& ev, Call& c) {
        const Value& a = c[0];
        auto g = ev.grouping(a, c[1]);
        Array r =
            ev.guarded(c.expr.span, [&] { return group_reduce(a.a.data, g.axis, g.labels, g.groups, op); });
        auto axes = a.a.axes;
        axes[static_cast<std::size_t>(g.axis)] = AxisOrigin{g.dim, -1, -1, {}, g.coordinate};
        return ev.array_value(std::move(r), std::move(axes), c.expr.span);
      }};
}

Function creation(const std::string& name) {
  // zeros / ones / random_*: shape first, then chunks, dtype and (random) seed and parameters.
  std::vector<Param> params = {{"shape", ParamType::kInts},
                               {"chunks", ParamType::kInts, false, "auto"},
                               {"dtype", ParamType::kString, false, "\"float64\""}};
  if (name == "random_uniform") {
    params.push_back({"seed", ParamType::kInt, false, "0"});
    params.push_back({"low", ParamType::kNumber, false, "0"});
    params.push_back({"high", ParamType::kNumber, false, "1"});
  } else if (name == "random_normal") {
    params.push_back({"seed", ParamType::kInt, false, "0"});
    params.push_back({"mean", ParamType::kNumber, false, "0"});
    params.push_back({"std", ParamType::kNumber, false, "1"});
  }
  return Function{
      name, params, [name](Evaluator& ev, Call& c) {
        const Shape shape = ev.shape_arg(c, 0);
        const DType dtype = ev.dtype_arg(c, 2, DType::kFloat64);
        const Shape chunks = ev.chunks_for(c, 1, shape, dtype);
        Array r = ev.guarded(c.expr.span, [&]() -> Array {
          if (name == "zeros") return zeros(shape, chunks, dtype);
          if (name == "ones") return ones(shape, chunks, dtype);
          const auto seed = static_cast<std::uint64_t>(ev.integer(c, 3, 0));
          if (name == "random_uniform") {
            return random_uniform(shape, chunks, seed, dtype, ev.number(c, 4, 0), ev.number(c, 5, 1));
          }
          return random_normal(shape, chunks, seed, dtype, ev.number(c, 4, 0), ev.number(c, 5, 1));
        });
        return ev.array_value(std::move(r), {}, c.expr.span);
      }};
}

const std::vector<Function>& functions() {
  static const std::vector<Function> table = [] {
    std::vector<Function> t;
    t.push_back(reduction("sum", &Array::sum));
    t.push_back(reduction("prod", &Array::prod));
    t.push_back(reduction("mean", &Array::mean));
    t.push_back(reduction("min", &Array::min));
    t.push_back(reduction("max", &Array::max));
    t.push_back(reduction_ddof("var", &Array::var));
    t.push_back(reduction_ddof("std", &Array::std));
    t.push_back(reduction("count", &Array::count));
    t.push_back(reduction("any", &Array::any));
    t.push_back(reduction("all", &Array::all));
    t.push_back(reduction("nansum", &Array::nansum));
    t.push_back(reduction("nanmean", &Array::nanmean));
    t.push_back(reduction("nanmin", &Array::nanmin));
    t.push_back(reduction("nanmax", &Array::nanmax));
    t.push_back(reduction_ddof("nanvar", &Array::nanvar));
    t.push_back(reduction_ddof("nanstd", &Array::nanstd));
    for (const char* name : {"argmin", "argmax"}) {
      const bool is_min = std::string(name) == "argmin";
      t.push_back(Function{name,
                           {{"a", ParamType::kArray},
                            {"axis", ParamType::kInt},
                            {"keepdims", ParamType::kBool, false, "false"}},
                           [is_min](Evaluator& ev, Call& c) {
                             const Value& a = c[0];
                             const int axis = ev.axis_arg(c, 1, a, 0);
                             const bool keep = ev.boolean(c, 2, false);
                             Array r = ev.guarded(c.expr.span, [&] {
                               return is_min ? a.a.data.argmin(axis, ReduceOptions{keep})
                                             : a.a.data.argmax(axis, ReduceOptions{keep});
                             });
                             return ev.array_value(std::move(r), ev.without(a.a.axes, {axis}, keep),
                                                   c.expr.span);
                           }});
    }
    t.push_back(elementwise("abs", &tessera::abs, [](double x) { return std::abs(x); }));
    t.push_back(elementwise("sqrt", &tessera::sqrt, [](double x) { return std::sqrt(x); }));
    t.push_back(elementwise("exp", &tessera::exp, [](double x) { return std::exp(x); }));
    t.push_back(elementwise("log", &tessera::log, [](double x) { return std::log(x); }));
    t.push_back(elementwise("sin", &tessera::sin, [](double x) { return std::sin(x); }));
    t.push_back(elementwise("cos", &tessera::cos, [](double x) { return std::cos(x); }));
    t.push_back(elementwise("floor", &tessera::floor, [](double x) { return std::floor(x); }));
    t.push_back(elementwise("isnan", &tessera::isnan, nullptr));
    t.push_back(elementwise(
        "radians", [](const Array& a) { return a * (std::numbers::pi / 180.0); },
        [](double x) { return x * std::numbers::pi / 180.0; }));
    t.push_back(elementwise(
        "degrees", [](const Array& a) { return a * (180.0 / std::numbers::pi); },
        [](double x) { return x * 180.0 / std::numbers::pi; }));
    for (const char* name : {"maximum", "minimum"}) {
      const bool is_max = std::string(name) == "maximum";
      t.push_back(Function{
          name, {{"a", ParamType::kArray}, {"b", ParamType::kArray}}, [is_max, name](Evaluator& ev, Call& c) {
            const Shape shape =
                ev.broadcast(c.expr.span, std::string("arguments of ") + name, {&c[0], &c[1]});
            Array r = ev.guarded(c.expr.span, [&] {
              return is_max ? maximum(c[0].a.data, c[1].a.data) : minimum(c[0].a.data, c[1].a.data);
            });
            return ev.array_value(std::move(r), Evaluator::broadcast_axes(shape, {&c[0], &c[1]}),
                                  c.expr.span);
          }});
    }
    t.push_back(
        Function{"where",
                 {{"condition", ParamType::kArray},
                  {"x", ParamType::kArrayOrNumber},
                  {"y", ParamType::kArrayOrNumber}},
                 [](Evaluator& ev, Call& c) {
                   const Value& cond = c[0];
                   if (cond.a.data.dtype() != DType::kBool) {
                     ev.fail(cond.span, "the condition of where must be a bool array, not " + cond.describe(),
                             "use a comparison such as t > 0, or isnan(t)");
                   }
                   const Shape shape = ev.broadcast(c.expr.span, "arguments of where", {&c[0], &c[1], &c[2]});
                   auto axes = Evaluator::broadcast_axes(shape, {&c[0], &c[1], &c[2]});
                   Array r = ev.guarded(c.expr.span, [&]() -> Array {
                     const Array& k = cond.a.data;
                     if (c[1].is_array() && c[2].is_array()) return where(k, c[1].a.data, c[2].a.data);
                     if (c[1].is_array()) return where(k, c[1].a.data, scalar_of(c[2]));
                     if (c[2].is_array()) return where(k, scalar_of(c[1]), c[2].a.data);
                     const bool ints = c[1].integer && c[2].integer;
                     const DType dt = ints ? DType::kInt64 : DType::kFloat64;
                     const Array x = full(k.shape(), k.chunks().max_chunk_shape(), scalar_of(c[1]), dt);
                     return where(k, x, scalar_of(c[2]));
                   });
                   return ev.array_value(std::move(r), std::move(axes), c.expr.span);
                 }});
    t.push_back(Function{
        "clip",
        {{"a", ParamType::kArray}, {"min", ParamType::kNumber, false}, {"max", ParamType::kNumber, false}},
        [](Evaluator& ev, Call& c) {
          const Array& a = c[0].a.data;
          if (!c.has(1) && !c.has(2)) ev.fail(c.expr.span, "clip needs min, max or both");
          auto bound = [&](std::size_t i, bool low) -> Scalar {
            if (c.has(i)) return scalar_of(c[i]);
            if (is_float(a.dtype())) {
              return Scalar(low ? -std::numeric_limits<double>::infinity()
                                : std::numeric_limits<double>::infinity());
            }
            switch (a.dtype()) {
              case DType::kBool:
              case DType::kUint8:
                return Scalar(std::int64_t{low ? 0 : 255});
              case DType::kInt16:
                return Scalar(std::int64_t{low ? -32768 : 32767});
              case DType::kInt32:
                return Scalar(std::int64_t{low ? std::numeric_limits<std::int32_t>::min()
                                               : std::numeric_limits<std::int32_t>::max()});
              default:
                return Scalar(low ? std::numeric_limits<std::int64_t>::min()
                                  : std::numeric_limits<std::int64_t>::max());
            }
          };
          if (c.has(1) && c.has(2) && c[1].number > c[2].number) {
            ev.fail(c.expr.span, "clip's min (" + std::to_string(c[1].number) +
                                     ") is greater than its max (" + std::to_string(c[2].number) + ")");
          }
          Array r = ev.guarded(c.expr.span, [&] { return clip(a, bound(1, true), bound(2, false)); });
          return ev.array_value(std::move(r), c[0].a.axes, c.expr.span);
        }});
    t.push_back(Function{
        "astype", {{"a", ParamType::kArray}, {"dtype", ParamType::kString}}, [](Evaluator& ev, Call& c) {
          const DType to = ev.dtype_arg(c, 1, DType::kFloat64);
          return ev.array_value(ev.guarded(c.expr.span, [&] { return c[0].a.data.astype(to); }), c[0].a.axes,
                                c.expr.span);
        }});
    t.push_back(Function{
        "rolling_mean",
        {{"a", ParamType::kArray}, {"window", ParamType::kInt}, {"axis", ParamType::kInt, false, "0"}},
        [](Evaluator& ev, Call& c) {
          const Value& a = c[0];
          const int axis = ev.axis_arg(c, 2, a, 0);
          const std::int64_t window = ev.integer(c, 1, 1);
          const std::int64_t n = a.a.data.shape()[static_cast<std::size_t>(axis)];
          if (window < 1 || window > n) {
            ev.fail(c.span(1), "window " + std::to_string(window) +
                                   " must be between 1 and the length of axis " + std::to_string(axis) +
                                   " (" + std::to_string(n) + ")");
          }
          Array r = ev.guarded(c.expr.span, [&] { return rolling_mean(a.a.data, axis, window); });
          return ev.array_value(std::move(r), a.a.axes, c.expr.span);
        }});
    t.push_back(Function{
        "weighted_mean",
        {{"a", ParamType::kArray}, {"weights", ParamType::kArray}, {"axis", ParamType::kAxes, false}},
        [](Evaluator& ev, Call& c) {
          const Value& a = c[0];
          const Shape shape = ev.broadcast(c.expr.span, "weighted_mean's array and weights", {&c[0], &c[1]});
          if (shape != a.a.data.shape()) {
            ev.fail(c.span(1),
                    "weights of shape " + shape_text(c[1].a.data) +
                        " do not broadcast to the array's shape " + shape_text(a.a.data),
                    "weights may have fewer dimensions (aligned from the right) or sizes of 1");
          }
          auto axes = ev.axes_arg(c, 2, a);
          std::vector<int> removed;
          if (axes) {
            removed = *axes;
          } else {
            for (int k = 0; k < a.a.data.ndim(); ++k) removed.push_back(k);
          }
          Array r = ev.guarded(
              c.expr.span, [&] { return weighted_mean(a.a.data, c[1].a.data, axes ? Axes(*axes) : Axes()); });
          return ev.array_value(std::move(r), ev.without(a.a.axes, removed, false), c.expr.span);
        }});
    for (const char* name : {"quantile", "nanquantile", "median"}) {
      const std::string n = name;
      std::vector<Param> params = {{"a", ParamType::kArray}};
      if (n != "median") params.push_back({"q", ParamType::kNumber});
      params.push_back({"axis", ParamType::kInt});
      params.push_back({"keepdims", ParamType::kBool, false, "false"});
      t.push_back(Function{n, params, [n](Evaluator& ev, Call& c) {
                             const std::size_t off = n == "median" ? 0 : 1;
                             const Value& a = c[0];
                             const int axis = ev.axis_arg(c, 1 + off, a, 0);
                             const bool keep = ev.boolean(c, 2 + off, false);
                             const double q = off ? ev.number(c, 1, 0.5) : 0.5;
                             if (!(q >= 0 && q <= 1))
                               ev.fail(c.span(1), "q must be between 0 and 1 (a quantile, not a percentile)");
                             Array r = ev.guarded(c.expr.span, [&] {
                               if (n == "median") return median(a.a.data, axis, keep);
                               return n == "quantile" ? quantile(a.a.data, q, axis, keep)
                                                      : nanquantile(a.a.data, q, axis, keep);
                             });
                             return ev.array_value(std::move(r), ev.without(a.a.axes, {axis}, keep),
                                                   c.expr.span);
                           }});
    }
    t.push_back(Function{
        "rechunk", {{"a", ParamType::kArray}, {"chunks", ParamType::kInts}}, [](Evaluator& ev, Call& c) {
          const Value& a = c[0];
          const Shape chunks = ev.ints(c[1]);
          if (static_cast<int>(chunks.size()) != a.a.data.ndim()) {
            ev.fail(c.span(1),
                    "chunks " + format_shape(chunks) + " have " + std::to_string(chunks.size()) +
                        " entries but the array has shape " + shape_text(a.a.data),
                    "give one chunk length per axis; -1 keeps an axis whole");
          }
          ev.check_chunk_counts(c.span(1), a.a.data.shape(), chunks);
          return ev.array_value(ev.guarded(c.expr.span, [&] { return a.a.data.rechunk(chunks); }), a.a.axes,
                                c.expr.span);
        }});
    t.push_back(Function{
        "transpose",
        {{"a", ParamType::kArray}, {"axes", ParamType::kInts, false, "reversed"}},
        [](Evaluator& ev, Call& c) {
          const Value& a = c[0];
          const int nd = a.a.data.ndim();
          std::vector<int> perm;
          if (c.has(1)) {
            for (std::int64_t x : ev.ints(c[1]))
              perm.push_back(ev.axis(c, 1, nd, x, c.span(1), "an array of shape " + shape_text(a.a.data)));
            std::vector<int> sorted = perm;
            std::sort(sorted.begin(), sorted.end());
            bool ok = static_cast<int>(perm.size()) == nd;
            for (int k = 0; ok && k < nd; ++k) ok = sorted[static_cast<std::size_t>(k)] == k;
            if (!ok) ev.fail(c.span(1), "axes must be a permutation of 0.." + std::to_string(nd - 1));
          } else {
            for (int k = nd - 1; k >= 0; --k) perm.push_back(k);
          }
          std::vector<AxisOrigin> axes;
          for (int p : perm) axes.push_back(a.a.axes[static_cast<std::size_t>(p)]);
          return ev.array_value(ev.guarded(c.expr.span, [&] { return a.a.data.transpose(perm); }),
                                std::move(axes), c.expr.span);
        }});
    for (const char* name : {"expand_dims", "squeeze"}) {
      const bool expand = std::string(name) == "expand_dims";
      t.push_back(Function{
          name, {{"a", ParamType::kArray}, {"axis", ParamType::kInt}}, [expand](Evaluator& ev, Call& c) {
            const Value& a = c[0];
            const int nd = a.a.data.ndim() + (expand ? 1 : 0);
            const int axis = ev.axis(c, 1, nd, ev.integer(c, 1, 0), c.span(1), "the result");
            auto axes = a.a.axes;
            if (expand) {
              axes.insert(axes.begin() + axis, AxisOrigin{});
            } else {
              if (a.a.data.shape()[static_cast<std::size_t>(axis)] != 1) {
                ev.fail(c.span(1), "cannot squeeze axis " + std::to_string(axis) + " of shape " +
                                       shape_text(a.a.data) + ": its length is not 1");
              }
              axes.erase(axes.begin() + axis);
            }
            Array r = ev.guarded(
                c.expr.span, [&] { return expand ? expand_dims(a.a.data, axis) : squeeze(a.a.data, axis); });
            return ev.array_value(std::move(r), std::move(axes), c.expr.span);
          }});
    }
    for (const char* name : {"cumsum", "cumprod"}) {
      const bool sum = std::string(name) == "cumsum";
      t.push_back(Function{
          name, {{"a", ParamType::kArray}, {"axis", ParamType::kInt}}, [sum](Evaluator& ev, Call& c) {
            const int axis = ev.axis_arg(c, 1, c[0], 0);
            Array r = ev.guarded(
                c.expr.span, [&] { return sum ? cumsum(c[0].a.data, axis) : cumprod(c[0].a.data, axis); });
            return ev.array_value(std::move(r), c[0].a.axes, c.expr.span);
          }});
    }
    t.push_back(
        Function{"matmul", {{"a", ParamType::kArray}, {"b", ParamType::kArray}}, [](Evaluator& ev, Call& c) {
                   const Array &a = c[0].a.data, &b = c[1].a.data;
                   if (a.ndim() != 2 || b.ndim() != 2 || a.shape()[1] != b.shape()[0]) {
                     ev.fail(c.expr.span, "matmul needs 2-d arrays (n, k) and (k, m); got " + shape_text(a) +
                                              " and " + shape_text(b));
                   }
                   std::vector<AxisOrigin> axes = {c[0].a.axes[0], c[1].a.axes[1]};
                   return ev.array_value(ev.guarded(c.expr.span, [&] { return matmul(a, b); }),
                                         std::move(axes), c.expr.span);
                 }});
    for (const char* op : {"sum", "mean", "min", "max", "count", "var", "std", "nansum", "nanmean", "nanmin",
                           "nanmax", "nanvar", "nanstd"}) {
      t.push_back(grouped(op));
    }
    t.push_back(Function{
        "anomaly",
        {{"a", ParamType::kArray}, {"key", ParamType::kString}, {"skipna", ParamType::kBool, false, "false"}},
        [](Evaluator& ev, Call& c) {
          const Value& a = c[0];
          auto g = ev.grouping(a, c[1]);
          const bool skipna = ev.boolean(c, 2, false);
          Array r = ev.guarded(c.expr.span, [&] {
            const Array climatology =
                group_reduce(a.a.data, g.axis, g.labels, g.groups, skipna ? "nanmean" : "mean");
            // take() chunks its output like the climatology (12 along time); following the data's chunks
            // instead keeps the subtraction one task per chunk of the data.
            return a.a.data - take(climatology, g.labels, g.axis).rechunk(a.a.data.chunks());
          });
          return ev.array_value(std::move(r), a.a.axes, c.expr.span);
        }});
    for (const char* name : {"zeros", "ones", "random_uniform", "random_normal"}) t.push_back(creation(name));
    t.push_back(Function{
        "arange",
        {{"stop", ParamType::kInt}, {"chunks", ParamType::kInt, false, "auto"}},
        [](Evaluator& ev, Call& c) {
          const std::int64_t stop = ev.integer(c, 0, 0);
          if (stop < 0 || stop > (std::int64_t{1} << 50))
            ev.fail(c.span(0), "arange's stop must be between 0 and 2**50");
          const Shape chunks = c.has(1) ? Shape{ev.integer(c, 1, 1)} : ev.auto_chunks({stop}, DType::kInt64);
          ev.check_chunk_counts(c.span(1), {stop}, chunks);
          return ev.array_value(ev.guarded(c.expr.span, [&] { return arange(stop, chunks[0]); }), {},
                                c.expr.span);
        }});
    t.push_back(Function{
        "linspace",
        {{"start", ParamType::kNumber},
         {"stop", ParamType::kNumber},
         {"num", ParamType::kInt},
         {"chunks", ParamType::kInt, false, "auto"},
         {"endpoint", ParamType::kBool, false, "true"}},
        [](Evaluator& ev, Call& c) {
          const std::int64_t num = ev.integer(c, 2, 50);
          if (num < 0 || num > (std::int64_t{1} << 50))
            ev.fail(c.span(2), "linspace's num must be between 0 and 2**50");
          const Shape chunks = c.has(3) ? Shape{ev.integer(c, 3, 1)} : ev.auto_chunks({num}, DType::kFloat64);
          ev.check_chunk_counts(c.span(3), {num}, chunks);
          return ev.array_value(ev.guarded(c.expr.span,
                                           [&] {
                                             return linspace(ev.number(c, 0, 0), ev.number(c, 1, 1), num,
                                                             chunks[0], ev.boolean(c, 4, true));
                                           }),
                                {}, c.expr.span);
        }});
    return t;
  }();
  return table;
}

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
    Value v = ev.evaluate(spec.source, *spec.expr);
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
    Value v = ev.evaluate(spec.source, *spec.expr);
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
  return plan;
}

}  // namespace tessera::jobs
