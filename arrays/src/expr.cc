#include "expr.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tessera/runtime/error.h"

namespace tessera::detail {
namespace {

constexpr std::int64_t kSegment = 1024;  // elements per row segment: a few temporaries stay in L1/L2

bool is_compare(Op op) {
  return op == Op::kEq || op == Op::kNe || op == Op::kLt || op == Op::kLe || op == Op::kGt || op == Op::kGe;
}
bool is_logical(Op op) {
  return op == Op::kAnd || op == Op::kOr || op == Op::kXor;
}

template <class T>
T int_pow(T base, T exp) {
  if (exp < 0) return (base == 1) ? 1 : (base == static_cast<T>(-1) ? ((exp % 2) ? -1 : 1) : 0);
  T result = 1;
  while (exp > 0) {
    if (exp & 1) result = static_cast<T>(result * base);
    base = static_cast<T>(base * base);
    exp >>= 1;
  }
  return result;
}

template <class T>
void arith(Op op, const T* a, const T* b, T* out, std::int64_t n) {
  switch (op) {
    case Op::kAdd:
      if constexpr (std::is_same_v<T, bool>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] || b[i];
      } else {
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(a[i] + b[i]);
      }
      break;
    case Op::kSub:
      for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(a[i] - b[i]);
      break;
    case Op::kMul:
      if constexpr (std::is_same_v<T, bool>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] && b[i];
      } else {
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(a[i] * b[i]);
      }
      break;
    case Op::kDiv:
      for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(a[i] / b[i]);
      break;
    case Op::kPow:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(std::pow(a[i], b[i]));
      } else if constexpr (std::is_same_v<T, bool>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] || !b[i];
      } else {
        for (std::int64_t i = 0; i < n; ++i) out[i] = int_pow<T>(a[i], b[i]);
      }
      break;
    case Op::kMaximum:
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
          out[i] =
              (a[i] != a[i] || b[i] != b[i]) ? a[i] + b[i] : (a[i] < b[i] ? b[i] : a[i]);  // NaN propagates
        } else {
          out[i] = a[i] < b[i] ? b[i] : a[i];
        }
      }
      break;
    case Op::kMinimum:
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
          out[i] = (a[i] != a[i] || b[i] != b[i]) ? a[i] + b[i] : (b[i] < a[i] ? b[i] : a[i]);
        } else {
          out[i] = b[i] < a[i] ? b[i] : a[i];
        }
      }
      break;
    default:
      throw_error(ErrorCode::kInternal, "not an arithmetic operation");
  }
}

template <class T>
void compare(Op op, const T* a, const T* b, bool* out, std::int64_t n) {
  switch (op) {
    case Op::kEq:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] == b[i];
      break;
    case Op::kNe:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] != b[i];
      break;
    case Op::kLt:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] < b[i];
      break;
    case Op::kLe:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] <= b[i];
      break;
    case Op::kGt:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] > b[i];
      break;
    case Op::kGe:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] >= b[i];
      break;
    default:
      throw_error(ErrorCode::kInternal, "not a comparison");
  }
}

template <class T>
void unary(Op op, const T* a, T* out, std::int64_t n) {
  switch (op) {
    case Op::kNeg:
      for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(-a[i]);
      break;
    case Op::kAbs:
      if constexpr (std::is_same_v<T, bool>) {
        std::copy(a, a + n, out);
      } else if constexpr (std::is_unsigned_v<T>) {
        std::copy(a, a + n, out);
      } else {
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(a[i] < 0 ? -a[i] : a[i]);
      }
      break;
    case Op::kSqrt:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::sqrt(a[i]);
      }
      break;
    case Op::kExp:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::exp(a[i]);
      }
      break;
    case Op::kLog:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::log(a[i]);
      }
      break;
    case Op::kSin:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::sin(a[i]);
      }
      break;
    case Op::kCos:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::cos(a[i]);
      }
      break;
    case Op::kFloor:
      if constexpr (std::is_floating_point_v<T>) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = std::floor(a[i]);
      }
      break;
    default:
      throw_error(ErrorCode::kInternal, "not a unary operation");
  }
}

template <class From, class To>
void convert(const From* in, To* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = convert_value<To>(in[i]);
}

void cast(DType from, const void* in, DType to, void* out, std::int64_t n) {
  visit_dtype(from, [&](auto f) {
    using F = typename decltype(f)::type;
    visit_dtype(to, [&](auto t) {
      using T = typename decltype(t)::type;
      convert(static_cast<const F*>(in), static_cast<T*>(out), n);
    });
  });
}

class Evaluator {
 public:
  Evaluator(const Expr& e, const Shape& shape, std::span<const Chunk* const> inputs)
      : e_(e), inputs_(inputs), n_(static_cast<int>(shape.size())) {
    scratch_.resize(e.nodes.size());
    for (auto& s : scratch_) {
      for (auto& buf : s) buf.resize(kSegment * 8);
    }
    for (const Chunk* in : inputs) {
      // Left-pad to the output's ndim; broadcast axes (extent 1 where the output is wider) get stride 0.
      Shape padded(static_cast<std::size_t>(n_) - in->shape().size(), 1);
      padded.insert(padded.end(), in->shape().begin(), in->shape().end());
      Shape st = strides_of(padded);
      for (int a = 0; a < n_; ++a) {
        if (padded[static_cast<std::size_t>(a)] == 1 && shape[static_cast<std::size_t>(a)] != 1) {
          st[static_cast<std::size_t>(a)] = 0;
        }
      }
      strides_.push_back(std::move(st));
    }
    base_.assign(inputs.size(), 0);
    const_ready_.assign(e.nodes.size(), false);
    done_.assign(e.nodes.size(), -1);
    memo_.assign(e.nodes.size(), nullptr);
  }

  void run(Chunk& out) {
    const Shape& shape = out.shape();
    const std::int64_t inner = n_ == 0 ? 1 : shape.back();
    if (out.size() == 0) return;
    const std::size_t item = size_of(out.dtype());
    std::vector<std::int64_t> idx(n_ > 0 ? static_cast<std::size_t>(n_ - 1) : 0, 0);
    const Shape outer = n_ > 0 ? Shape(shape.begin(), shape.end() - 1) : Shape{};
    std::byte* dst = out.bytes();
    do {
      for (std::size_t i = 0; i < inputs_.size(); ++i) {
        std::int64_t b = 0;
        for (int a = 0; a + 1 < n_; ++a)
          b += idx[static_cast<std::size_t>(a)] * strides_[i][static_cast<std::size_t>(a)];
        base_[i] = b;
      }
      for (std::int64_t c = 0; c < inner; c += kSegment) {
        const std::int64_t len = std::min(kSegment, inner - c);
        ++segment_;
        eval(e_.root, c, len, dst);
        dst += len * static_cast<std::int64_t>(item);
      }
    } while (n_ > 1 && next_index(idx, outer));
  }

 private:
  // The values of node k for columns [c, c+len) of the current row, converted to `want`.
  const void* eval_as(int k, DType want, std::int64_t c, std::int64_t len, int slot) {
    const void* v = eval(k, c, len, nullptr);
    const DType have = e_.nodes[static_cast<std::size_t>(k)].dtype;
    if (have == want) return v;
    void* buf = scratch_[static_cast<std::size_t>(k)][static_cast<std::size_t>(slot)].data();
    cast(have, v, want, buf, len);
    return buf;
  }

  // Evaluates node k into `dest` (or its own buffer when dest is null) and returns where the values are.
  // Within a
  // segment each node is computed once however many operations share it.
  const void* eval(int k, std::int64_t c, std::int64_t len, void* dest) {
    const auto ks = static_cast<std::size_t>(k);
    if (dest == nullptr && done_[ks] == segment_) return memo_[ks];
    const void* v = compute(k, c, len, dest);
    if (dest == nullptr) {
      done_[ks] = segment_;
      memo_[ks] = v;
    }
    return v;
  }

  const void* compute(int k, std::int64_t c, std::int64_t len, void* dest) {
    const ExprNode& node = e_.nodes[static_cast<std::size_t>(k)];
    void* out = dest != nullptr ? dest : scratch_[static_cast<std::size_t>(k)][3].data();
    switch (node.op) {
      case Op::kInput: {
        const Chunk& in = *inputs_[static_cast<std::size_t>(node.input)];
        const std::size_t item = size_of(in.dtype());
        const std::int64_t inner_stride =
            n_ == 0 ? 0 : strides_[static_cast<std::size_t>(node.input)][static_cast<std::size_t>(n_ - 1)];
        const std::byte* base =
            in.bytes() + base_[static_cast<std::size_t>(node.input)] * static_cast<std::int64_t>(item);
        if (inner_stride == 1) {
          const std::byte* p = base + c * static_cast<std::int64_t>(item);
          if (dest == nullptr) return p;
          std::memcpy(dest, p, static_cast<std::size_t>(len) * item);
          return dest;
        }
        for (std::int64_t i = 0; i < len; ++i) {
          std::memcpy(static_cast<std::byte*>(out) + i * static_cast<std::int64_t>(item), base, item);
        }
        return out;
      }
      case Op::kConst: {
        // Filled once per chunk: the same values serve every segment.
        void* filled = scratch_[static_cast<std::size_t>(k)][2].data();
        if (!const_ready_[static_cast<std::size_t>(k)]) {
          visit_dtype(node.dtype, [&](auto t) {
            using T = typename decltype(t)::type;
            const T v = is_float(node.dtype) ? static_cast<T>(node.fvalue) : static_cast<T>(node.ivalue);
            std::fill_n(static_cast<T*>(filled), kSegment, v);
          });
          const_ready_[static_cast<std::size_t>(k)] = true;
        }
        if (dest == nullptr) return filled;
        std::memcpy(dest, filled, static_cast<std::size_t>(len) * size_of(node.dtype));
        return dest;
      }
      case Op::kCast: {
        const void* v = eval(node.a, c, len, nullptr);
        cast(e_.nodes[static_cast<std::size_t>(node.a)].dtype, v, node.dtype, out, len);
        return out;
      }
      case Op::kWhere: {
        const auto* cond = static_cast<const bool*>(eval_as(node.a, DType::kBool, c, len, 0));
        const void* x = eval_as(node.b, node.compute, c, len, 1);
        const void* y = eval_as(node.c, node.compute, c, len, 2);
        visit_dtype(node.compute, [&](auto t) {
          using T = typename decltype(t)::type;
          const T* xa = static_cast<const T*>(x);
          const T* ya = static_cast<const T*>(y);
          T* o = static_cast<T*>(out);
          for (std::int64_t i = 0; i < len; ++i) o[i] = cond[i] ? xa[i] : ya[i];
        });
        return out;
      }
      case Op::kIsnan: {
        const DType in = e_.nodes[static_cast<std::size_t>(node.a)].dtype;
        const void* v = eval(node.a, c, len, nullptr);
        bool* o = static_cast<bool*>(out);
        if (in == DType::kFloat32) {
          for (std::int64_t i = 0; i < len; ++i) o[i] = std::isnan(static_cast<const float*>(v)[i]);
        } else if (in == DType::kFloat64) {
          for (std::int64_t i = 0; i < len; ++i) o[i] = std::isnan(static_cast<const double*>(v)[i]);
        } else {
          std::fill_n(o, len, false);
        }
        return out;
      }
      case Op::kNot: {
        const auto* v = static_cast<const bool*>(eval_as(node.a, DType::kBool, c, len, 0));
        bool* o = static_cast<bool*>(out);
        for (std::int64_t i = 0; i < len; ++i) o[i] = !v[i];
        return out;
      }
      case Op::kNeg:
      case Op::kAbs:
      case Op::kSqrt:
      case Op::kExp:
      case Op::kLog:
      case Op::kSin:
      case Op::kCos:
      case Op::kFloor: {
        const void* v = eval_as(node.a, node.compute, c, len, 0);
        visit_dtype(node.compute, [&](auto t) {
          using T = typename decltype(t)::type;
          unary<T>(node.op, static_cast<const T*>(v), static_cast<T*>(out), len);
        });
        return out;
      }
      default:
        break;
    }
    // Binary operations.
    const void* x = eval_as(node.a, node.compute, c, len, 0);
    const void* y = eval_as(node.b, node.compute, c, len, 1);
    if (is_logical(node.op)) {
      const auto* xa = static_cast<const bool*>(x);
      const auto* ya = static_cast<const bool*>(y);
      bool* o = static_cast<bool*>(out);
      if (node.op == Op::kAnd) {
        for (std::int64_t i = 0; i < len; ++i) o[i] = xa[i] && ya[i];
      } else if (node.op == Op::kOr) {
        for (std::int64_t i = 0; i < len; ++i) o[i] = xa[i] || ya[i];
      } else {
        for (std::int64_t i = 0; i < len; ++i) o[i] = xa[i] != ya[i];
      }
      return out;
    }
    visit_dtype(node.compute, [&](auto t) {
      using T = typename decltype(t)::type;
      if (is_compare(node.op)) {
        compare<T>(node.op, static_cast<const T*>(x), static_cast<const T*>(y), static_cast<bool*>(out), len);
      } else {
        arith<T>(node.op, static_cast<const T*>(x), static_cast<const T*>(y), static_cast<T*>(out), len);
      }
    });
    return out;
  }

  const Expr& e_;
  std::span<const Chunk* const> inputs_;
  const int n_;
  std::vector<Shape> strides_;
  std::vector<std::int64_t> base_;
  std::vector<bool> const_ready_;
  std::int64_t segment_ = 0;
  std::vector<std::int64_t> done_;  // the segment each node's memo_ belongs to
  std::vector<const void*> memo_;
  std::vector<std::array<std::vector<std::byte>, 4>> scratch_;  // per node: 3 operand casts and a result
};

}  // namespace

DType binary_result(Op op, DType compute) {
  if (is_compare(op) || is_logical(op)) return DType::kBool;
  return compute;
}

DType unary_result(Op op, DType input) {
  switch (op) {
    case Op::kIsnan:
    case Op::kNot:
      return DType::kBool;
    case Op::kSqrt:
    case Op::kExp:
    case Op::kLog:
    case Op::kSin:
    case Op::kCos:
    case Op::kFloor:
      // NumPy: small integers go to float32 (float16 for bool/uint8, which tessera does not have), the rest
      // to float64; floats keep their type.
      if (is_float(input)) return input;
      return (input == DType::kBool || input == DType::kUint8 || input == DType::kInt16) ? DType::kFloat32
                                                                                         : DType::kFloat64;
    default:
      return input;
  }
}

Chunk evaluate(const Expr& expr, const Shape& shape, std::span<const Chunk* const> inputs) {
  Chunk out(expr.nodes[static_cast<std::size_t>(expr.root)].dtype, shape);
  Evaluator ev(expr, shape, inputs);
  ev.run(out);
  return out;
}

}  // namespace tessera::detail
