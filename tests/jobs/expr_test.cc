// The expression language's lexer and parser: structure (printed fully parenthesised), spans, and syntax
// errors with their located, underlined messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/jobs/expr.h"

namespace tessera::jobs {
namespace {

using ::testing::HasSubstr;

std::string parsed(const std::string& text) {
  return to_string(*parse_expression(ExprSource::standalone(text)));
}

std::string syntax_error(const std::string& text) {
  try {
    parse_expression(ExprSource::standalone(text));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return "";
}

TEST(Lexer, NumbersNamesStringsAndOperators) {
  const auto tokens = tokenize(ExprSource::standalone("t2m_1 + 2.5e-3 * 10 ** -x <= 'time.month' != \"a\""));
  std::vector<TokenKind> kinds;
  for (const Token& t : tokens) kinds.push_back(t.kind);
  EXPECT_EQ(kinds,
            (std::vector<TokenKind>{TokenKind::kName, TokenKind::kPlus, TokenKind::kNumber, TokenKind::kStar,
                                    TokenKind::kNumber, TokenKind::kPower, TokenKind::kMinus,
                                    TokenKind::kName, TokenKind::kLe, TokenKind::kString, TokenKind::kNe,
                                    TokenKind::kString, TokenKind::kEnd}));
  EXPECT_EQ(tokens[0].text, "t2m_1");
  EXPECT_DOUBLE_EQ(tokens[2].number, 2.5e-3);
  EXPECT_FALSE(tokens[2].integer);
  EXPECT_TRUE(tokens[4].integer);
  EXPECT_EQ(tokens[9].text, "time.month");
  EXPECT_EQ(tokens[2].span.begin, 8u);
  EXPECT_EQ(tokens[2].span.end, 14u);
}

TEST(Lexer, NumberForms) {
  for (const char* text : {"1", "1.", ".5", "1.5", "1e3", "1E+3", "2.5e-7"}) {
    const auto tokens = tokenize(ExprSource::standalone(text));
    ASSERT_EQ(tokens.size(), 2u) << text;
    EXPECT_EQ(tokens[0].kind, TokenKind::kNumber) << text;
  }
  EXPECT_THAT(syntax_error("2e"), HasSubstr("malformed number '2e'"));
  EXPECT_THAT(syntax_error("3abc"), HasSubstr("malformed number '3abc'"));
  EXPECT_THAT(syntax_error("99999999999999999999"), HasSubstr("does not fit in 64 bits"));
}

TEST(Parser, Precedence) {
  EXPECT_EQ(parsed("a + b * c"), "(a + (b * c))");
  EXPECT_EQ(parsed("a - b - c"), "((a - b) - c)");
  EXPECT_EQ(parsed("a / b * c"), "((a / b) * c)");
  EXPECT_EQ(parsed("-x ** 2"), "(-(x ** 2))");
  EXPECT_EQ(parsed("2 ** -1"), "(2 ** (-1))");
  EXPECT_EQ(parsed("a ** b ** c"), "(a ** (b ** c))");
  EXPECT_EQ(parsed("a + b > c * 2"), "((a + b) > (c * 2))");
  EXPECT_EQ(parsed("a > 0 & b < 1 | ~c"), "(((a > 0) & (b < 1)) | (~c))");
  EXPECT_EQ(parsed("not a and b or c"), "(((~a) & b) | c)");
  EXPECT_EQ(parsed("(a + b) * c"), "((a + b) * c)");
}

TEST(Parser, CallsKeywordsMethodsAttributes) {
  EXPECT_EQ(parsed("mean(t, axis=0, keepdims=true)"), "mean(t, axis=0, keepdims=true)");
  EXPECT_EQ(parsed("groupby_mean(t, \"time.month\")"), "groupby_mean(t, \"time.month\")");
  EXPECT_EQ(parsed("mean(t, axis=[1, 2])"), "mean(t, axis=[1, 2])");
  EXPECT_EQ(parsed("(X + X.T) - X.mean(axis=0)"), "((X + X.T) - X.mean(axis=0))");
  EXPECT_EQ(parsed("f()"), "f()");
  EXPECT_EQ(parsed("f(a,)"), "f(a)");
  const ExprPtr e = parse_expression(ExprSource::standalone("X.mean(axis=0)"));
  ASSERT_EQ(e->kind, ExprKind::kMethod);
  EXPECT_EQ(e->text, "mean");
  ASSERT_EQ(e->args.size(), 2u);
  EXPECT_EQ(e->keywords[0], "");
  EXPECT_EQ(e->keywords[1], "axis");
}

TEST(Parser, Slicing) {
  EXPECT_EQ(parsed("t[0:365, :, 10]"), "t[0:365, :, 10]");
  EXPECT_EQ(parsed("t[::-1]"), "t[::(-1)]");
  EXPECT_EQ(parsed("t[-10:]"), "t[(-10):]");
  EXPECT_EQ(parsed("t[1:-1:2, ::3]"), "t[1:(-1):2, ::3]");
  EXPECT_EQ(parsed("t[0][1]"), "t[0][1]");
  const ExprPtr e = parse_expression(ExprSource::standalone("t[0:365, :, 10]"));
  ASSERT_EQ(e->kind, ExprKind::kSubscript);
  ASSERT_EQ(e->slices.size(), 3u);
  EXPECT_TRUE(e->slices[1].start == nullptr && e->slices[1].stop == nullptr && e->slices[1].index == nullptr);
  EXPECT_NE(e->slices[2].index, nullptr);
}

TEST(Parser, SpansCoverTheirText) {
  const std::string text = "a + mean(b, axis=1)";
  const ExprPtr e = parse_expression(ExprSource::standalone(text));
  EXPECT_EQ(e->span.begin, 0u);
  EXPECT_EQ(e->span.end, text.size());
  const Expr& call = *e->args[1];
  EXPECT_EQ(text.substr(call.span.begin, call.span.end - call.span.begin), "mean(b, axis=1)");
  EXPECT_EQ(text.substr(call.name_span.begin, call.name_span.end - call.name_span.begin), "mean");
}

TEST(ParserErrors, MessagesPointAtTheOffendingText) {
  const std::string m = syntax_error("(t - mean(t) / 2");
  EXPECT_THAT(
      m,
      HasSubstr("<expression>:1:17: error: expected ')' to close the parenthesis, found end of expression"));
  EXPECT_THAT(m, HasSubstr("the '(' at column 1 is not closed"));

  const std::string bad = syntax_error("t + $x");
  EXPECT_THAT(bad, HasSubstr("1:5: error: unexpected '$' in expression"));
  EXPECT_THAT(bad, HasSubstr(" 1 | t + $x\n   |     ^"));

  EXPECT_THAT(syntax_error("a < b < c"), HasSubstr("comparisons cannot be chained"));
  EXPECT_THAT(syntax_error("f(axis=0, t)"), HasSubstr("positional argument after a keyword argument"));
  EXPECT_THAT(syntax_error("f(t, axis=0, axis=1)"), HasSubstr("keyword argument 'axis' is given twice"));
  EXPECT_THAT(syntax_error("t[]"), HasSubstr("empty subscript"));
  EXPECT_THAT(syntax_error("'abc"), HasSubstr("unterminated string"));
  EXPECT_THAT(syntax_error("a = b"), HasSubstr("use '==' to compare"));
  EXPECT_THAT(syntax_error("1(2)"), HasSubstr("only functions can be called"));
  EXPECT_THAT(syntax_error("a +"), HasSubstr("expected an operand, found end of expression"));
  EXPECT_THAT(syntax_error("a ! b"), HasSubstr("unexpected '!'"));
  EXPECT_THAT(syntax_error("t.(1)"), HasSubstr("expected a name after '.'"));
  EXPECT_THAT(syntax_error(""), HasSubstr("expected an operand"));
}

TEST(ParserErrors, UnderlineCoversTheToken) {
  const std::string m = syntax_error("mean(t, axis=0) 42");
  EXPECT_THAT(m, HasSubstr("1:17: error: unexpected number 42 after the end of the expression"));
  EXPECT_THAT(m, HasSubstr("|                 ^~"));
}

TEST(ParserErrors, DeepNestingIsRefusedNotACrash) {
  std::string deep(5000, '(');
  deep += "1";
  deep += std::string(5000, ')');
  EXPECT_THAT(syntax_error(deep), HasSubstr("nested too deeply"));
  EXPECT_THAT(syntax_error(std::string(5000, '-') + "1"), HasSubstr("nested too deeply"));
}

TEST(Locate, MultiLineExpressions) {
  ExprSource src = ExprSource::standalone("a +\n  bogus$");
  try {
    parse_expression(src);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("<expression>:2:8: error: unexpected '$'"));
    EXPECT_THAT(e.what(), HasSubstr(" 2 |   bogus$"));
  }
}

}  // namespace
}  // namespace tessera::jobs
