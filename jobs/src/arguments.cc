// Binding a call's arguments to a function's parameters, checking their types, and coercing them to what
// the arrays API takes (axes, shapes, chunks, dtypes).
#include <algorithm>
#include <set>

#include "builtins.h"
#include "evaluator.h"

namespace tessera::jobs::detail {

namespace {

bool matches(ParamType t, const ExprValue& v) {
  switch (t) {
    case ParamType::kArray:
      return v.is_array();
    case ParamType::kArrayOrNumber:
      return v.is_array() || v.is_number() || v.kind == ExprValue::Kind::kBool;
    case ParamType::kNumber:
      return v.is_number();
    case ParamType::kInt:
      return v.is_number() && v.integer;
    case ParamType::kBool:
      return v.kind == ExprValue::Kind::kBool;
    case ParamType::kString:
      return v.kind == ExprValue::Kind::kString;
    case ParamType::kRange:
      return v.kind == ExprValue::Kind::kList && v.list.size() == 2 &&
             ((v.list[0].is_number() && v.list[1].is_number()) ||
              (v.list[0].kind == ExprValue::Kind::kString && v.list[1].kind == ExprValue::Kind::kString));
    case ParamType::kAxes:
    case ParamType::kInts:
      if (v.is_number()) return v.integer;
      if (v.kind != ExprValue::Kind::kList) return false;
      return std::all_of(v.list.begin(), v.list.end(),
                         [](const ExprValue& x) { return x.is_number() && x.integer; });
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
    case ParamType::kRange:
      return "a list of two numbers or two dates, such as [-30, 30] or [\"1981\", \"2010\"]";
  }
  return "?";
}

}  // namespace

ExprValue Evaluator::eval_call(const Expr& e, const std::string& name, std::size_t) {
  const Function* f = find_function(name);
  if (f == nullptr) {
    std::string help = suggest(name, function_names());
    if (names_.count(name) != 0) help = "'" + name + "' is an array; arrays cannot be called";
    fail(e.name_span, ErrorCode::kNotFound, "unknown function '" + name + "'", help);
  }
  Call call{e, std::vector<std::optional<ExprValue>>(f->params.size())};
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
      if (slot == f->params.size() && !f->extra_keywords.empty()) {
        for (const Call::Extra& x : call.extra) {
          if (x.keyword == keyword) fail(e.keyword_spans[i], "'" + keyword + "' is given twice to " + name);
        }
        call.extra.push_back({keyword, e.keyword_spans[i], eval(*e.args[i])});
        continue;
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
    ExprValue v = eval(*e.args[i]);
    if (v.kind == ExprValue::Kind::kBool && f->params[slot].type == ParamType::kNumber)
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
  ExprValue result = f->impl(*this, call);
  result.span = e.span;
  return result;
}

const Array& Evaluator::array(const Call& c, std::size_t i) const {
  return c[i].a.data;
}
std::int64_t Evaluator::integer(const Call& c, std::size_t i, std::int64_t fallback) const {
  return c.has(i) ? static_cast<std::int64_t>(c[i].number) : fallback;
}
double Evaluator::number(const Call& c, std::size_t i, double fallback) const {
  if (!c.has(i)) return fallback;
  return c[i].kind == ExprValue::Kind::kBool ? (c[i].boolean ? 1.0 : 0.0) : c[i].number;
}
bool Evaluator::boolean(const Call& c, std::size_t i, bool fallback) const {
  return c.has(i) ? c[i].boolean : fallback;
}

int Evaluator::axis(const Call& c, std::size_t i, int ndim, std::int64_t value, Span span,
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
int Evaluator::axis_arg(const Call& c, std::size_t i, const ExprValue& of, std::int64_t fallback) const {
  const std::int64_t v = c.has(i) ? static_cast<std::int64_t>(c[i].number) : fallback;
  return axis(c, i, of.a.data.ndim(), v, c.span(i), "an array of shape " + shape_text(of.a.data));
}
// None: all axes.
std::optional<std::vector<int>> Evaluator::axes_arg(const Call& c, std::size_t i, const ExprValue& of) const {
  if (!c.has(i)) return std::nullopt;
  std::vector<int> axes;
  const std::string what = "an array of shape " + shape_text(of.a.data);
  const int ndim = of.a.data.ndim();
  if (c[i].kind == ExprValue::Kind::kList) {
    for (const ExprValue& v : c[i].list)
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
std::vector<std::int64_t> Evaluator::ints(const ExprValue& v) const {
  std::vector<std::int64_t> out;
  if (v.kind == ExprValue::Kind::kList) {
    for (const ExprValue& e : v.list) out.push_back(static_cast<std::int64_t>(e.number));
  } else {
    out.push_back(static_cast<std::int64_t>(v.number));
  }
  return out;
}
DType Evaluator::dtype_arg(const Call& c, std::size_t i, DType fallback) const {
  if (!c.has(i)) return fallback;
  std::vector<std::string> names;
  for (DType t : kAllDTypes) names.emplace_back(name_of(t));
  for (DType t : kAllDTypes) {
    if (name_of(t) == c[i].text) return t;
  }
  fail(c.span(i), "unknown dtype '" + c[i].text + "'", suggest(c[i].text, names));
}

// A shape for creation functions, with limits that keep hostile jobs from exhausting memory at planning.
Shape Evaluator::shape_arg(const Call& c, std::size_t i) const {
  Shape s = ints(c[i]);
  double elements = 1;
  for (std::int64_t n : s) {
    if (n < 0) fail(c.span(i), "shape entries must not be negative; got " + format_shape(s));
    elements *= static_cast<double>(n);
  }
  if (elements > 4.0e18) fail(c.span(i), "shape " + format_shape(s) + " has too many elements");
  return s;
}
Shape Evaluator::chunks_for(const Call& c, std::size_t i, const Shape& shape, DType dtype) const {
  Shape chunks;
  if (c.has(i)) {
    chunks = ints(c[i]);
    if (chunks.size() != shape.size()) {
      fail(c.span(i), "chunks " + format_shape(chunks) + " do not match the " + std::to_string(shape.size()) +
                          " dimensions of shape " + format_shape(shape));
    }
  } else {
    chunks = auto_chunks(shape, dtype);
  }
  check_chunk_counts(c.span(i), shape, chunks);
  return chunks;
}
void Evaluator::check_chunk_counts(Span span, const Shape& shape, const Shape& chunks) const {
  for (std::size_t k = 0; k < shape.size() && k < chunks.size(); ++k) {
    if (chunks[k] == 0 || chunks[k] < -1)
      fail(span, "chunk sizes must be positive (or -1 for the whole axis)");
    const std::int64_t c = chunks[k] == -1 ? std::max<std::int64_t>(shape[k], 1) : chunks[k];
    if (shape[k] / c > kMaxChunksPerAxis) {
      fail(span, "chunks " + format_shape(chunks) + " cut shape " + format_shape(shape) + " into more than " +
                     std::to_string(kMaxChunksPerAxis) + " chunks along axis " + std::to_string(k));
    }
  }
}
Shape Evaluator::auto_chunks(const Shape& shape, DType dtype) const {
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

}  // namespace tessera::jobs::detail
