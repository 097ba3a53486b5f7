// The expression language of job files: a lexer and a recursive-descent parser producing a syntax tree whose
// nodes carry their source spans (see docs/jobs.md for the grammar).
//
//   (t - mean(t, axis=0)) / std(t, axis=0)
//   groupby_mean(t[0:365, :, 10], "time.month")
//   (X + X.T) - X.mean(axis=0)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/jobs/diagnostic.h"

namespace tessera::jobs {

// A byte range [begin, end) of an expression's text.
struct Span {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

// Where an expression's text sits in its source file, so that spans can be turned into file locations.
struct ExprSource {
  std::shared_ptr<const SourceFile> file;
  std::string text;  // the expression as the parser saw it
  int line = 1;      // of text[0] in the file
  int column = 1;    // of text[0] in the file
  // For text that came from a TOML basic string with escapes (\" \\ \u00e9 ...): the file column of each byte
  // of text, plus one past the end. Empty: text is verbatim from `column` on.
  std::vector<int> columns;

  // The file location of a span (the first line of it, when it spans several).
  Location locate(Span span) const;
  // A source holding a lone expression: "<expression>" line 1, column 1.
  static ExprSource standalone(std::string text, std::string name = "<expression>");
};

enum class TokenKind {
  kEnd,
  kNumber,
  kName,
  kString,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPower,  // **
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kColon,
  kDot,
  kAssign,  // = (keyword arguments)
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAmp,    // &
  kPipe,   // |
  kTilde,  // ~
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  Span span;
  std::string text;  // names and strings (unescaped); numbers as written
  double number = 0;
  bool integer = false;  // a number without '.', exponent: an int literal
};

// Splits an expression into tokens (the last one kEnd). Throws Error(kInvalidArgument) at a bad character,
// an unterminated string or a malformed number.
std::vector<Token> tokenize(const ExprSource& source);

enum class ExprKind {
  kNumber,     // number, integer
  kBool,       // true / false
  kString,     // text
  kName,       // text: an input, array or constant
  kUnary,      // op (kMinus, kPlus, kTilde/"not"), args[0]
  kBinary,     // op, args[0], args[1]
  kCall,       // text: function name; args (positional then keyword, see keywords)
  kMethod,     // text: method name; args[0] is the receiver, then as kCall
  kAttribute,  // text: attribute name (e.g. "T"); args[0] is the receiver
  kSubscript,  // args[0] is the array; slices
  kList,       // args: [a, b, c]
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct SliceExpr {
  ExprPtr start, stop, step;  // null when omitted
  ExprPtr index;              // a single index instead of a range
  Span span;
};

struct Expr {
  ExprKind kind = ExprKind::kNumber;
  Span span;       // the whole expression
  Span name_span;  // the function / attribute / operator token
  TokenKind op = TokenKind::kEnd;
  std::string text;
  double number = 0;
  bool integer = false;
  bool boolean = false;
  std::vector<ExprPtr> args;
  // For calls and methods: keyword names, one per argument ("" for positional ones), and their spans.
  std::vector<std::string> keywords;
  std::vector<Span> keyword_spans;
  std::vector<SliceExpr> slices;
};

// Parses one expression. Throws Error(kInvalidArgument) with a located message on a syntax error. Nesting is
// limited (to 200 levels) so hostile input cannot overflow the stack.
ExprPtr parse_expression(const ExprSource& source);

// The expression back as text (normalised spacing and full parenthesisation): for tests and `tessera check`.
std::string to_string(const Expr& e);

// "+", "**", "<=", ...
std::string_view token_text(TokenKind kind) noexcept;

}  // namespace tessera::jobs
