#include "builtins.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <optional>
#include <set>

namespace tessera::jobs::detail {

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

using ReduceMember = Array (Array::*)(Axes, ReduceOptions) const;
using ReduceDdofMember = Array (Array::*)(Axes, ReduceOptions, int) const;

Function reduction(const std::string& name, ReduceMember member) {
  return Function{name,
                  {{"a", ParamType::kArray},
                   {"axis", ParamType::kAxes, false},
                   {"keepdims", ParamType::kBool, false, "false"}},
                  [member, name](Evaluator& ev, Call& c) {
                    const ExprValue& a = c[0];
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
                    ExprValue out =
                        ev.array_value(std::move(r), ev.without(a.a.axes, removed, keep), c.expr.span);
                    reduced_cell_methods(out, a, removed, name);
                    return out;
                  }};
}

Function reduction_ddof(const std::string& name, ReduceDdofMember member) {
  Function f = reduction(name, nullptr);
  f.params.push_back({"ddof", ParamType::kInt, false, "0"});
  f.impl = [member, name](Evaluator& ev, Call& c) {
    const ExprValue& a = c[0];
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
    ExprValue out = ev.array_value(std::move(r), ev.without(a.a.axes, removed, keep), c.expr.span);
    reduced_cell_methods(out, a, removed, name);
    return out;
  };
  return f;
}

Function elementwise(const std::string& name, Array (*array_fn)(const Array&), double (*number_fn)(double)) {
  return Function{name, {{"a", ParamType::kArrayOrNumber}}, [array_fn, number_fn](Evaluator& ev, Call& c) {
                    const ExprValue& a = c[0];
                    if (!a.is_array()) {
                      const double x = a.kind == ExprValue::Kind::kBool ? a.boolean : a.number;
                      if (number_fn == nullptr) {
                        ExprValue v;
                        v.kind = ExprValue::Kind::kBool;
                        v.boolean = std::isnan(x);
                        return v;
                      }
                      return number_value(number_fn(x), false, c.expr.span);
                    }
                    ExprValue out = ev.array_value(
                        ev.guarded(c.expr.span, [&] { return array_fn(a.a.data); }), a.a.axes, c.expr.span);
                    out.a.cell_methods = a.a.cell_methods;
                    return out;
                  }};
}

Function grouped(const std::string& op) {
  return Function{
      "groupby_" + op, {{"a", ParamType::kArray}, {"key", ParamType::kString}}, [op](Evaluator& ev, Call& c) {
        const ExprValue& a = c[0];
        auto g = ev.grouping(a, c[1]);
        Array r =
            ev.guarded(c.expr.span, [&] { return group_reduce(a.a.data, g.axis, g.labels, g.groups, op); });
        auto axes = a.a.axes;
        axes[static_cast<std::size_t>(g.axis)] =
            AxisOrigin{g.dim, -1, -1, {}, g.coordinate, {}, g.attributes};
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
                             const ExprValue& a = c[0];
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
                   const ExprValue& cond = c[0];
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
          const ExprValue& a = c[0];
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
          const ExprValue& a = c[0];
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
                             const ExprValue& a = c[0];
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
          const ExprValue& a = c[0];
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
          const ExprValue& a = c[0];
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
            const ExprValue& a = c[0];
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
    add_climate_functions(t);
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

}  // namespace tessera::jobs::detail
