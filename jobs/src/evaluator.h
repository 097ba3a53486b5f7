// The expression evaluator: maps a job's expressions onto the arrays API, checking names, arguments, shapes
// and axes as it goes, so that every error is located in the job file before any work. Its parts: the
// expressions themselves (evaluator.cc), binding and coercing function arguments (arguments.cc), the
// function table (builtins.cc) and calendar grouping (calendar_grouping.cc). Internal to jobs/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "expr_value.h"
#include "tessera/jobs/diagnostic.h"
#include "tessera/jobs/evaluate.h"
#include "tessera/jobs/expr.h"
#include "tessera/jobs/job_file.h"

namespace tessera::jobs::detail {

// Chunks along one axis at most: a larger count is a mistake (or hostile) and would exhaust memory at
// planning.
constexpr std::int64_t kMaxChunksPerAxis = 10'000'000;

// kRange: a list of two numbers or two dates as strings ([-30, 30], ["1981", "2010"]).
enum class ParamType { kArray, kArrayOrNumber, kNumber, kInt, kBool, kString, kAxes, kInts, kRange };

struct Param {
  std::string name;
  ParamType type;
  bool required = true;
  std::string default_text;  // for signatures
};

struct Call {
  const Expr& expr;
  std::vector<std::optional<ExprValue>> values;  // one per parameter
  // Keyword arguments that name no parameter, in order (functions with Function::extra_keywords: sel's
  // DIM=VALUE), with the keyword's span.
  struct Extra {
    std::string keyword;
    Span keyword_span;
    ExprValue value;
  };
  std::vector<Extra> extra;
  Span span(std::size_t i) const { return values[i] ? values[i]->span : expr.span; }
  bool has(std::size_t i) const { return values[i].has_value(); }
  const ExprValue& operator[](std::size_t i) const { return *values[i]; }
};

class Evaluator {
 public:
  Evaluator(const JobSpec& job, InputResolver& resolver) : job_(job), resolver_(resolver) {}

  void define(const std::string& name, const EvaluatedArray* a) { names_[name] = a; }
  void set_later(std::map<std::string, int> later) { later_ = std::move(later); }

  ExprValue evaluate(const ExprSource& src, const Expr& e) {
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

  ExprValue array_value(Array data, std::vector<AxisOrigin> axes, Span span) const {
    ExprValue v;
    v.kind = ExprValue::Kind::kArray;
    if (static_cast<int>(axes.size()) != data.ndim())
      axes.assign(static_cast<std::size_t>(data.ndim()), AxisOrigin{});
    v.a.data = std::move(data);
    v.a.axes = std::move(axes);
    v.span = span;
    return v;
  }

  // A note for `tessera check` (an incomplete resampling period, ...).
  void note(std::string text) { notes_.push_back(std::move(text)); }
  std::vector<std::string> take_notes() { return std::move(notes_); }

  // --- coordinates (coordinates.cc) ----------------------------------------------------------------------
  // The axis of `a` named `dim`; a located error listing the array's dims when there is none.
  int find_axis(const ExprValue& a, const std::string& dim, Span span) const;
  // What is known of the coordinate along `axis` of `a`: its values as stored (from the input's coordinate
  // variable, or made by the expression), attributes, cell bounds (two per value, when the input has them)
  // and, for a CF time axis, the dates. Located errors when the axis has no coordinate.
  struct AxisValues {
    std::string dim;
    std::vector<double> values;
    std::vector<double> bounds;
    io::Attributes attributes;
    bool is_time = false;
    io::TimeAxis time;
  };
  AxisValues axis_values(const ExprValue& a, int axis, Span span) const;
  // The axis origin of elements `indices` of `origin` (positions, made values and bounds picked alike).
  static AxisOrigin picked(const AxisOrigin& origin, const std::vector<std::int64_t>& indices);

  // --- argument coercion (arguments.cc) ---------------------------------------------------------------
  const Array& array(const Call& c, std::size_t i) const;
  std::int64_t integer(const Call& c, std::size_t i, std::int64_t fallback) const;
  double number(const Call& c, std::size_t i, double fallback) const;
  bool boolean(const Call& c, std::size_t i, bool fallback) const;
  int axis(const Call& c, std::size_t i, int ndim, std::int64_t value, Span span,
           const std::string& of) const;
  int axis_arg(const Call& c, std::size_t i, const ExprValue& of, std::int64_t fallback) const;
  // None: all axes.
  std::optional<std::vector<int>> axes_arg(const Call& c, std::size_t i, const ExprValue& of) const;
  std::vector<std::int64_t> ints(const ExprValue& v) const;
  DType dtype_arg(const Call& c, std::size_t i, DType fallback) const;
  // A shape for creation functions, with limits that keep hostile jobs from exhausting memory at planning.
  Shape shape_arg(const Call& c, std::size_t i) const;
  Shape chunks_for(const Call& c, std::size_t i, const Shape& shape, DType dtype) const;
  void check_chunk_counts(Span span, const Shape& shape, const Shape& chunks) const;
  // Whole trailing axes, the leading ones cut so that a chunk stays near the target size.
  Shape auto_chunks(const Shape& shape, DType dtype) const;

  // Broadcast shapes; a located error with both shapes when they do not.
  Shape broadcast(Span span, const std::string& what, const std::vector<const ExprValue*>& operands) const;
  // Axis origins of a broadcast result: from an operand whose axis has the result's length.
  static std::vector<AxisOrigin> broadcast_axes(const Shape& shape,
                                                const std::vector<const ExprValue*>& operands);
  std::vector<AxisOrigin> without(const std::vector<AxisOrigin>& axes, const std::vector<int>& removed,
                                  bool keepdims) const;

  // The labels of calendar grouping `key` ("time.month") along an array's time axis.
  struct Grouping {
    int axis = 0;
    std::vector<std::int64_t> labels;
    std::int64_t groups = 0;
    std::string dim;
    std::vector<double> coordinate;
    io::Attributes attributes;  // of the groups' coordinate (long_name; seasons' names as flag_meanings)
  };
  Grouping grouping(const ExprValue& a, const ExprValue& key) const;  // calendar_grouping.cc

 private:
  ExprValue eval(const Expr& e);
  ExprValue eval_name(const Expr& e);
  ExprValue eval_unary(const Expr& e);
  ExprValue eval_binary(const Expr& e);
  ExprValue eval_call(const Expr& e, const std::string& name, std::size_t first_arg);  // arguments.cc
  ExprValue eval_subscript(const Expr& e);

  const JobSpec& job_;
  InputResolver& resolver_;
  const ExprSource* src_ = nullptr;
  std::map<std::string, const EvaluatedArray*> names_;
  std::map<std::string, int> later_;  // arrays defined further down: name -> line
  std::vector<std::string> notes_;
};

}  // namespace tessera::jobs::detail
