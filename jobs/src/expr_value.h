// What evaluating an expression gives: an array (with where its axes came from), a number, a boolean, a
// string or a list. Internal to jobs/.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "tessera/arrays/array.h"
#include "tessera/jobs/evaluate.h"
#include "tessera/jobs/expr.h"

namespace tessera::jobs::detail {

struct ExprValue {
  enum class Kind { kArray, kNumber, kBool, kString, kList };
  Kind kind = Kind::kNumber;
  EvaluatedArray a;
  double number = 0;
  bool integer = false;
  bool boolean = false;
  std::string text;
  std::vector<ExprValue> list;
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

inline ExprValue number_value(double v, bool integer, Span span) {
  ExprValue r;
  r.kind = ExprValue::Kind::kNumber;
  r.number = v;
  r.integer = integer && std::isfinite(v) && std::abs(v) < 9.2e18 && v == std::trunc(v);
  r.span = span;
  return r;
}

inline Scalar scalar_of(const ExprValue& v) {
  if (v.kind == ExprValue::Kind::kBool) return Scalar(v.boolean);
  if (v.integer) return Scalar(static_cast<std::int64_t>(v.number));
  return Scalar(v.number);
}

inline std::string shape_text(const Array& a) {
  return format_shape(a.shape());
}

}  // namespace tessera::jobs::detail
