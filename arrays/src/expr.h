// Fused elementwise expressions: a tree of operations over input chunks, evaluated per output chunk in row
// segments small enough to stay in cache, so a chain of operations costs one pass over memory.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tessera/arrays/chunk.h"

namespace tessera::detail {

enum class Op : std::uint8_t {
  kInput,
  kConst,
  kCast,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMaximum,
  kMinimum,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kXor,
  kNeg,
  kAbs,
  kSqrt,
  kExp,
  kLog,
  kSin,
  kCos,
  kFloor,
  kIsnan,
  kNot,
  kWhere,
};

struct ExprNode {
  Op op = Op::kInput;
  DType dtype = DType::kFloat64;    // of the result
  DType compute = DType::kFloat64;  // operands are converted to this before the operation
  int a = -1, b = -1, c = -1;       // operand nodes
  int input = -1;                   // kInput: which input chunk
  double fvalue = 0;                // kConst
  std::int64_t ivalue = 0;          // kConst (exact for integer constants)
};

struct Expr {
  std::vector<ExprNode> nodes;
  int root = -1;

  int add(ExprNode n) {
    nodes.push_back(n);
    return static_cast<int>(nodes.size() - 1);
  }
};

// Result dtype rules (NumPy's) for an operation on operands of these dtypes.
DType binary_result(Op op, DType compute);
DType unary_result(Op op, DType input);

// Evaluates `expr` into a chunk of `shape`; input i must broadcast to `shape` (same ndim after left-padding).
Chunk evaluate(const Expr& expr, const Shape& shape, std::span<const Chunk* const> inputs);

}  // namespace tessera::detail
