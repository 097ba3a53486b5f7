#include "evaluator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <optional>
#include <set>

#include "builtins.h"

namespace tessera::jobs::detail {

namespace {

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

}  // namespace

// Broadcast shapes; a located error with both shapes when they do not.
Shape Evaluator::broadcast(Span span, const std::string& what,
                           const std::vector<const ExprValue*>& operands) const {
  Shape out;
  for (const ExprValue* v : operands) {
    if (!v->is_array()) continue;
    const Shape& s = v->a.data.shape();
    Shape merged(std::max(out.size(), s.size()), 1);
    for (std::size_t k = 0; k < merged.size(); ++k) {
      const std::int64_t a = k < out.size() ? out[out.size() - 1 - k] : 1;
      const std::int64_t b = k < s.size() ? s[s.size() - 1 - k] : 1;
      if (a != b && a != 1 && b != 1) {
        std::string shapes;
        for (const ExprValue* o : operands) {
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
std::vector<AxisOrigin> Evaluator::broadcast_axes(const Shape& shape,
                                                  const std::vector<const ExprValue*>& operands) {
  std::vector<AxisOrigin> out(shape.size());
  for (std::size_t k = 0; k < shape.size(); ++k) {
    bool found = false;
    for (const ExprValue* v : operands) {
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

std::vector<AxisOrigin> Evaluator::without(const std::vector<AxisOrigin>& axes,
                                           const std::vector<int>& removed, bool keepdims) const {
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

ExprValue Evaluator::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kNumber:
      return number_value(e.number, e.integer, e.span);
    case ExprKind::kBool: {
      ExprValue v;
      v.kind = ExprValue::Kind::kBool;
      v.boolean = e.boolean;
      v.span = e.span;
      return v;
    }
    case ExprKind::kString: {
      ExprValue v;
      v.kind = ExprValue::Kind::kString;
      v.text = e.text;
      v.span = e.span;
      return v;
    }
    case ExprKind::kList: {
      ExprValue v;
      v.kind = ExprValue::Kind::kList;
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
      ExprValue v = eval(*e.args[0]);
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

ExprValue Evaluator::eval_name(const Expr& e) {
  if (auto it = names_.find(e.text); it != names_.end()) {
    ExprValue v = array_value(it->second->data, it->second->axes, e.span);
    v.a.name = e.text;
    v.a.cell_methods = it->second->cell_methods;
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

ExprValue Evaluator::eval_unary(const Expr& e) {
  ExprValue v = eval(*e.args[0]);
  if (e.op == TokenKind::kTilde) {
    if (v.kind == ExprValue::Kind::kBool) {
      v.boolean = !v.boolean;
      v.span = e.span;
      return v;
    }
    if (!v.is_array() || v.a.data.dtype() != DType::kBool) {
      fail(e.span, "'not' / '~' needs a bool array or a boolean, not " + v.describe(),
           "compare first, e.g. ~(t > 0)");
    }
    ExprValue out = array_value(guarded(e.span, [&] { return !v.a.data; }), v.a.axes, e.span);
    out.a.cell_methods = v.a.cell_methods;
    return out;
  }
  if (v.is_number()) return number_value(e.op == TokenKind::kMinus ? -v.number : v.number, v.integer, e.span);
  if (!v.is_array())
    fail(e.span,
         "unary '" + std::string(token_text(e.op)) + "' needs an array or a number, not " + v.describe());
  if (e.op == TokenKind::kPlus) {
    v.span = e.span;
    return v;
  }
  ExprValue out = array_value(guarded(e.span, [&] { return -v.a.data; }), v.a.axes, e.span);
  out.a.cell_methods = v.a.cell_methods;
  return out;
}

ExprValue Evaluator::eval_binary(const Expr& e) {
  ExprValue l = eval(*e.args[0]);
  ExprValue r = eval(*e.args[1]);
  const std::string op(token_text(e.op));
  const bool logical = e.op == TokenKind::kAmp || e.op == TokenKind::kPipe;
  if (logical) {
    if (l.kind == ExprValue::Kind::kBool && r.kind == ExprValue::Kind::kBool) {
      ExprValue v = l;
      v.boolean = e.op == TokenKind::kAmp ? (l.boolean && r.boolean) : (l.boolean || r.boolean);
      v.span = e.span;
      return v;
    }
    for (const ExprValue* side : {&l, &r}) {
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
  for (const ExprValue* side : {&l, &r}) {
    if (!side->is_array() && !side->is_number() && side->kind != ExprValue::Kind::kBool) {
      fail(side->span, "'" + op + "' needs arrays or numbers, but this is " + side->describe());
    }
  }
  if (!l.is_array() && !r.is_array()) {
    const double a = l.kind == ExprValue::Kind::kBool ? l.boolean : l.number;
    const double b = r.kind == ExprValue::Kind::kBool ? r.boolean : r.number;
    const bool ints =
        (l.integer || l.kind == ExprValue::Kind::kBool) && (r.integer || r.kind == ExprValue::Kind::kBool);
    auto truth = [&](bool t) {
      ExprValue v;
      v.kind = ExprValue::Kind::kBool;
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
  ExprValue out = array_value(std::move(result), std::move(axes), e.span);
  // What the operands' cells are (a resampled mean minus a constant is still a mean).
  out.a.cell_methods = !l.a.cell_methods.empty() ? l.a.cell_methods : r.a.cell_methods;
  return out;
}

ExprValue Evaluator::eval_subscript(const Expr& e) {
  ExprValue v = eval(*e.args[0]);
  if (!v.is_array()) fail(e.args[0]->span, "only arrays can be subscripted, not " + v.describe());
  const Shape& shape = v.a.data.shape();
  if (e.slices.size() > shape.size()) {
    fail(e.span, "too many indices: " + std::to_string(e.slices.size()) + " for an array of shape " +
                     format_shape(shape) + " (" + std::to_string(shape.size()) + " dimension" +
                     (shape.size() == 1 ? "" : "s") + ")");
  }
  auto integer_of = [&](const ExprPtr& x, const char* what) -> std::optional<std::int64_t> {
    if (!x) return std::nullopt;
    ExprValue n = eval(*x);
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

}  // namespace tessera::jobs::detail
