#include "tessera/jobs/expr.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace tessera::jobs {

Location ExprSource::locate(Span span) const {
  if (!columns.empty() && columns.size() == text.size() + 1) {
    const std::size_t begin = std::min<std::size_t>(span.begin, text.size());
    const std::size_t end = std::max<std::size_t>(begin, std::min<std::size_t>(span.end, text.size()));
    const int first = columns[begin];
    return Location{line, first, std::max(1, columns[end] - first)};
  }
  int line_number = line, col = column;
  const std::size_t begin = std::min<std::size_t>(span.begin, text.size());
  for (std::size_t i = 0; i < begin; ++i) {
    if (text[i] == '\n') {
      ++line_number;
      col = 1;
    } else {
      ++col;
    }
  }
  std::size_t end = std::max<std::size_t>(begin, std::min<std::size_t>(span.end, text.size()));
  const std::size_t newline = text.find('\n', begin);
  if (newline != std::string::npos && newline < end) end = newline;
  return Location{line_number, col, static_cast<int>(std::max<std::size_t>(1, end - begin))};
}

ExprSource ExprSource::standalone(std::string text, std::string name) {
  ExprSource s;
  s.file = SourceFile::from_text(std::move(name), text);
  s.text = std::move(text);
  return s;
}

std::string_view token_text(TokenKind kind) noexcept {
  switch (kind) {
    case TokenKind::kEnd:
      return "end of expression";
    case TokenKind::kNumber:
      return "number";
    case TokenKind::kName:
      return "name";
    case TokenKind::kString:
      return "string";
    case TokenKind::kPlus:
      return "+";
    case TokenKind::kMinus:
      return "-";
    case TokenKind::kStar:
      return "*";
    case TokenKind::kSlash:
      return "/";
    case TokenKind::kPower:
      return "**";
    case TokenKind::kLParen:
      return "(";
    case TokenKind::kRParen:
      return ")";
    case TokenKind::kLBracket:
      return "[";
    case TokenKind::kRBracket:
      return "]";
    case TokenKind::kComma:
      return ",";
    case TokenKind::kColon:
      return ":";
    case TokenKind::kDot:
      return ".";
    case TokenKind::kAssign:
      return "=";
    case TokenKind::kEq:
      return "==";
    case TokenKind::kNe:
      return "!=";
    case TokenKind::kLt:
      return "<";
    case TokenKind::kLe:
      return "<=";
    case TokenKind::kGt:
      return ">";
    case TokenKind::kGe:
      return ">=";
    case TokenKind::kAmp:
      return "&";
    case TokenKind::kPipe:
      return "|";
    case TokenKind::kTilde:
      return "~";
  }
  return "?";
}

namespace {

[[noreturn]] void syntax_error(const ExprSource& src, Span span, const std::string& message,
                               std::string_view help = {}) {
  throw_diagnostic(ErrorCode::kInvalidArgument, src.file.get(), src.locate(span), message, help);
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::vector<Token> tokenize(const ExprSource& src) {
  const std::string& s = src.text;
  std::vector<Token> tokens;
  std::size_t i = 0;
  auto span_of = [](std::size_t b, std::size_t e) {
    return Span{static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)};
  };
  while (true) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    Token t;
    const std::size_t b = i;
    if (i >= s.size()) {
      t.kind = TokenKind::kEnd;
      t.span = span_of(s.size(), s.size());
      tokens.push_back(std::move(t));
      return tokens;
    }
    const char c = s[i];
    if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      bool integer = true;
      while (i < s.size() && is_digit(s[i])) ++i;
      if (i < s.size() && s[i] == '.' &&
          !(i + 1 < s.size() && is_name_start(s[i + 1]) && s[i + 1] != 'e' && s[i + 1] != 'E')) {
        integer = false;
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
      }
      if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        std::size_t j = i + 1;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (j < s.size() && is_digit(s[j])) {
          integer = false;
          i = j;
          while (i < s.size() && is_digit(s[i])) ++i;
        }
      }
      if (i < s.size() && (is_name_start(s[i]) || is_digit(s[i]))) {
        std::size_t e = i;
        while (e < s.size() && (is_name_start(s[e]) || is_digit(s[e]))) ++e;
        syntax_error(src, span_of(b, e), "malformed number '" + s.substr(b, e - b) + "'");
      }
      t.kind = TokenKind::kNumber;
      t.text = s.substr(b, i - b);
      t.integer = integer;
      if (integer) {
        std::int64_t v = 0;
        auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (ec != std::errc()) {
          syntax_error(src, span_of(b, i), "integer " + t.text + " does not fit in 64 bits",
                       "write it as a float (" + t.text + ".0) if that is what you mean");
        }
        t.number = static_cast<double>(v);
      } else {
        t.number = std::strtod(t.text.c_str(), nullptr);
      }
      t.span = span_of(b, i);
      tokens.push_back(std::move(t));
      continue;
    }
    if (is_name_start(c)) {
      while (i < s.size() && (is_name_start(s[i]) || is_digit(s[i]))) ++i;
      t.kind = TokenKind::kName;
      t.text = s.substr(b, i - b);
      t.span = span_of(b, i);
      tokens.push_back(std::move(t));
      continue;
    }
    if (c == '"' || c == '\'') {
      ++i;
      std::string text;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == c) {
          closed = true;
          ++i;
          break;
        }
        if (s[i] == '\\' && i + 1 < s.size()) {
          const char e = s[i + 1];
          text += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          i += 2;
          continue;
        }
        text += s[i++];
      }
      if (!closed)
        syntax_error(src, span_of(b, s.size()), "unterminated string", "close it with " + std::string(1, c));
      t.kind = TokenKind::kString;
      t.text = std::move(text);
      t.span = span_of(b, i);
      tokens.push_back(std::move(t));
      continue;
    }
    auto two = [&](char next) { return i + 1 < s.size() && s[i + 1] == next; };
    std::size_t len = 1;
    switch (c) {
      case '+':
        t.kind = TokenKind::kPlus;
        break;
      case '-':
        t.kind = TokenKind::kMinus;
        break;
      case '*':
        if (two('*')) {
          t.kind = TokenKind::kPower;
          len = 2;
        } else {
          t.kind = TokenKind::kStar;
        }
        break;
      case '/':
        t.kind = TokenKind::kSlash;
        break;
      case '(':
        t.kind = TokenKind::kLParen;
        break;
      case ')':
        t.kind = TokenKind::kRParen;
        break;
      case '[':
        t.kind = TokenKind::kLBracket;
        break;
      case ']':
        t.kind = TokenKind::kRBracket;
        break;
      case ',':
        t.kind = TokenKind::kComma;
        break;
      case ':':
        t.kind = TokenKind::kColon;
        break;
      case '.':
        t.kind = TokenKind::kDot;
        break;
      case '&':
        t.kind = TokenKind::kAmp;
        break;
      case '|':
        t.kind = TokenKind::kPipe;
        break;
      case '~':
        t.kind = TokenKind::kTilde;
        break;
      case '=':
        if (two('=')) {
          t.kind = TokenKind::kEq;
          len = 2;
        } else {
          t.kind = TokenKind::kAssign;
        }
        break;
      case '!':
        if (!two('='))
          syntax_error(src, span_of(b, b + 1), "unexpected '!'",
                       "use '~' or 'not' for negation, '!=' for inequality");
        t.kind = TokenKind::kNe;
        len = 2;
        break;
      case '<':
        t.kind = two('=') ? TokenKind::kLe : TokenKind::kLt;
        len = two('=') ? 2 : 1;
        break;
      case '>':
        t.kind = two('=') ? TokenKind::kGe : TokenKind::kGt;
        len = two('=') ? 2 : 1;
        break;
      default: {
        // Quote a whole UTF-8 sequence rather than half a character.
        std::size_t e = i + 1;
        while (e < s.size() && (static_cast<unsigned char>(s[e]) & 0xC0) == 0x80) ++e;
        const unsigned char u = static_cast<unsigned char>(c);
        const std::string shown =
            (u < 0x20 || u == 0x7f) ? "character " + std::to_string(u) : "'" + s.substr(b, e - b) + "'";
        syntax_error(src, span_of(b, e), "unexpected " + shown + " in expression");
      }
    }
    i += len;
    t.span = span_of(b, i);
    tokens.push_back(std::move(t));
  }
}

namespace {

class Parser {
 public:
  explicit Parser(const ExprSource& src) : src_(src), tokens_(tokenize(src)) {}

  ExprPtr parse() {
    ExprPtr e = parse_expr();
    if (peek().kind != TokenKind::kEnd) {
      const Token& t = peek();
      std::string help;
      if (t.kind == TokenKind::kAssign) help = "'=' only names keyword arguments; use '==' to compare";
      syntax_error(src_, t.span, "unexpected " + describe(t) + " after the end of the expression", help);
    }
    return e;
  }

 private:
  static constexpr int kMaxDepth = 200;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser, Span at) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        syntax_error(p.src_, at, "expression is nested too deeply (more than 200 levels)");
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& peek(std::size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  Token next() {
    Token t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool accept(TokenKind k) {
    if (peek().kind != k) return false;
    next();
    return true;
  }
  bool is_word(std::string_view w) const { return peek().kind == TokenKind::kName && peek().text == w; }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEnd:
        return "end of expression";
      case TokenKind::kNumber:
        return "number " + t.text;
      case TokenKind::kName:
        return "name '" + t.text + "'";
      case TokenKind::kString:
        return "string";
      default:
        return "'" + std::string(token_text(t.kind)) + "'";
    }
  }
  Token expect(TokenKind k, std::string_view context, Span opened = {}, bool has_opened = false) {
    if (peek().kind != k) {
      std::string message = "expected '" + std::string(token_text(k)) + "' " + std::string(context) +
                            ", found " + describe(peek());
      std::string help;
      if (has_opened) {
        const Location l = src_.locate(opened);
        help = "the '" + std::string(src_.text.substr(opened.begin, 1)) + "' at column " +
               std::to_string(l.column) + " is not closed";
      }
      syntax_error(src_, peek().span, message, help);
    }
    return next();
  }

  static ExprPtr make(ExprKind kind, Span span) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->span = span;
    return e;
  }
  static Span join(Span a, Span b) { return Span{std::min(a.begin, b.begin), std::max(a.end, b.end)}; }
  static ExprPtr binary(TokenKind op, Span op_span, ExprPtr l, ExprPtr r) {
    auto e = make(ExprKind::kBinary, join(l->span, r->span));
    e->op = op;
    e->name_span = op_span;
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_expr() {
    DepthGuard guard(*this, peek().span);
    return parse_or();
  }
  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (peek().kind == TokenKind::kPipe || is_word("or")) {
      const Token t = next();
      l = binary(TokenKind::kPipe, t.span, std::move(l), parse_and());
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (peek().kind == TokenKind::kAmp || is_word("and")) {
      const Token t = next();
      l = binary(TokenKind::kAmp, t.span, std::move(l), parse_not());
    }
    return l;
  }
  ExprPtr parse_not() {
    if (peek().kind == TokenKind::kTilde || is_word("not")) {
      const Token t = next();
      DepthGuard guard(*this, t.span);
      ExprPtr operand = parse_not();
      auto e = make(ExprKind::kUnary, join(t.span, operand->span));
      e->op = TokenKind::kTilde;
      e->name_span = t.span;
      e->args.push_back(std::move(operand));
      return e;
    }
    return parse_comparison();
  }
  static bool is_comparison(TokenKind k) {
    return k == TokenKind::kEq || k == TokenKind::kNe || k == TokenKind::kLt || k == TokenKind::kLe ||
           k == TokenKind::kGt || k == TokenKind::kGe;
  }
  ExprPtr parse_comparison() {
    ExprPtr l = parse_additive();
    if (is_comparison(peek().kind)) {
      const Token t = next();
      l = binary(t.kind, t.span, std::move(l), parse_additive());
      if (is_comparison(peek().kind)) {
        syntax_error(src_, peek().span, "comparisons cannot be chained",
                     "combine two comparisons with '&': (a < b) & (b < c)");
      }
    }
    return l;
  }
  ExprPtr parse_additive() {
    ExprPtr l = parse_term();
    while (peek().kind == TokenKind::kPlus || peek().kind == TokenKind::kMinus) {
      const Token t = next();
      l = binary(t.kind, t.span, std::move(l), parse_term());
    }
    return l;
  }
  ExprPtr parse_term() {
    ExprPtr l = parse_unary();
    while (peek().kind == TokenKind::kStar || peek().kind == TokenKind::kSlash) {
      const Token t = next();
      l = binary(t.kind, t.span, std::move(l), parse_unary());
    }
    return l;
  }
  ExprPtr parse_unary() {
    if (peek().kind == TokenKind::kMinus || peek().kind == TokenKind::kPlus) {
      const Token t = next();
      DepthGuard guard(*this, t.span);
      ExprPtr operand = parse_unary();
      auto e = make(ExprKind::kUnary, join(t.span, operand->span));
      e->op = t.kind;
      e->name_span = t.span;
      e->args.push_back(std::move(operand));
      return e;
    }
    return parse_power();
  }
  ExprPtr parse_power() {
    ExprPtr base = parse_postfix();
    if (peek().kind == TokenKind::kPower) {
      const Token t = next();
      DepthGuard guard(*this, t.span);
      // Right-associative, and binds tighter than a unary minus on its left: -x**2 == -(x**2), 2**-1 is fine.
      return binary(TokenKind::kPower, t.span, std::move(base), parse_unary());
    }
    return base;
  }

  void parse_arguments(Expr& call, Span open) {
    bool keyword_seen = false;
    while (peek().kind != TokenKind::kRParen) {
      if (peek().kind == TokenKind::kName && peek(1).kind == TokenKind::kAssign) {
        const Token name = next();
        next();
        for (std::size_t i = 0; i < call.keywords.size(); ++i) {
          if (call.keywords[i] == name.text) {
            syntax_error(src_, name.span, "keyword argument '" + name.text + "' is given twice");
          }
        }
        call.keywords.push_back(name.text);
        call.keyword_spans.push_back(name.span);
        call.args.push_back(parse_expr());
        keyword_seen = true;
      } else {
        const Span at = peek().span;
        if (peek().kind == TokenKind::kEnd)
          expect(TokenKind::kRParen, "to close the argument list", open, true);
        ExprPtr arg = parse_expr();
        if (keyword_seen) {
          syntax_error(src_, arg->span, "positional argument after a keyword argument",
                       "put positional arguments first");
        }
        (void)at;
        call.keywords.emplace_back();
        call.keyword_spans.push_back(arg->span);
        call.args.push_back(std::move(arg));
      }
      if (!accept(TokenKind::kComma)) break;
    }
    const Token close = expect(TokenKind::kRParen, "to close the argument list", open, true);
    call.span.end = close.span.end;
  }

  SliceExpr parse_slice_item() {
    SliceExpr s;
    const Span first = peek().span;
    ExprPtr start;
    if (peek().kind != TokenKind::kColon) start = parse_expr();
    if (!accept(TokenKind::kColon)) {
      s.index = std::move(start);
      s.span = s.index->span;
      return s;
    }
    s.start = std::move(start);
    Span last = first;
    if (peek().kind != TokenKind::kColon && peek().kind != TokenKind::kComma &&
        peek().kind != TokenKind::kRBracket) {
      s.stop = parse_expr();
      last = s.stop->span;
    }
    if (accept(TokenKind::kColon)) {
      if (peek().kind != TokenKind::kComma && peek().kind != TokenKind::kRBracket) {
        s.step = parse_expr();
        last = s.step->span;
      }
    }
    s.span = join(first, last);
    return s;
  }

  ExprPtr parse_postfix() {
    ExprPtr e = parse_primary();
    while (true) {
      if (peek().kind == TokenKind::kLParen) {
        const Token open = next();
        if (e->kind != ExprKind::kName) {
          syntax_error(src_, open.span, "only functions can be called", "write f(x), not (expr)(x)");
        }
        auto call = make(ExprKind::kCall, e->span);
        call->text = e->text;
        call->name_span = e->span;
        parse_arguments(*call, open.span);
        e = std::move(call);
      } else if (peek().kind == TokenKind::kLBracket) {
        const Token open = next();
        DepthGuard guard(*this, open.span);
        auto sub = make(ExprKind::kSubscript, e->span);
        sub->name_span = open.span;
        if (peek().kind == TokenKind::kRBracket)
          syntax_error(src_, peek().span, "empty subscript", "write t[0], t[0:10] or t[:, 5]");
        while (true) {
          sub->slices.push_back(parse_slice_item());
          if (!accept(TokenKind::kComma)) break;
          if (peek().kind == TokenKind::kRBracket) break;
        }
        const Token close = expect(TokenKind::kRBracket, "to close the subscript", open.span, true);
        sub->span.end = close.span.end;
        sub->args.push_back(std::move(e));
        e = std::move(sub);
      } else if (peek().kind == TokenKind::kDot) {
        next();
        if (peek().kind != TokenKind::kName)
          syntax_error(src_, peek().span, "expected a name after '.', found " + describe(peek()));
        const Token name = next();
        if (peek().kind == TokenKind::kLParen) {
          const Token open = next();
          auto call = make(ExprKind::kMethod, join(e->span, name.span));
          call->text = name.text;
          call->name_span = name.span;
          call->keywords.emplace_back();
          call->keyword_spans.push_back(e->span);
          call->args.push_back(std::move(e));
          parse_arguments(*call, open.span);
          e = std::move(call);
        } else {
          auto attr = make(ExprKind::kAttribute, join(e->span, name.span));
          attr->text = name.text;
          attr->name_span = name.span;
          attr->args.push_back(std::move(e));
          e = std::move(attr);
        }
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_primary() {
    const Token t = peek();
    switch (t.kind) {
      case TokenKind::kNumber: {
        next();
        auto e = make(ExprKind::kNumber, t.span);
        e->number = t.number;
        e->integer = t.integer;
        e->text = t.text;
        return e;
      }
      case TokenKind::kString: {
        next();
        auto e = make(ExprKind::kString, t.span);
        e->text = t.text;
        return e;
      }
      case TokenKind::kName: {
        next();
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          auto e = make(ExprKind::kBool, t.span);
          e->boolean = t.text == "true" || t.text == "True";
          return e;
        }
        if (t.text == "and" || t.text == "or" || t.text == "not") {
          syntax_error(src_, t.span, "expected an operand, found '" + t.text + "'");
        }
        auto e = make(ExprKind::kName, t.span);
        e->text = t.text;
        e->name_span = t.span;
        return e;
      }
      case TokenKind::kLParen: {
        next();
        ExprPtr inner = parse_expr();
        const Token close = expect(TokenKind::kRParen, "to close the parenthesis", t.span, true);
        inner->span = join(t.span, close.span);
        return inner;
      }
      case TokenKind::kLBracket: {
        next();
        DepthGuard guard(*this, t.span);
        auto list = make(ExprKind::kList, t.span);
        while (peek().kind != TokenKind::kRBracket) {
          list->args.push_back(parse_expr());
          if (!accept(TokenKind::kComma)) break;
        }
        const Token close = expect(TokenKind::kRBracket, "to close the list", t.span, true);
        list->span.end = close.span.end;
        return list;
      }
      default: {
        std::string help;
        if (t.kind == TokenKind::kAssign) help = "arrays are named in the job file: NAME = \"expression\"";
        syntax_error(src_, t.span, "expected an operand, found " + describe(t), help);
      }
    }
  }

  const ExprSource& src_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

void print(std::ostringstream& out, const Expr& e) {
  auto args_from = [&](std::size_t first) {
    for (std::size_t i = first; i < e.args.size(); ++i) {
      if (i > first) out << ", ";
      if (i < e.keywords.size() && !e.keywords[i].empty()) out << e.keywords[i] << "=";
      print(out, *e.args[i]);
    }
  };
  switch (e.kind) {
    case ExprKind::kNumber:
      out << e.text;
      break;
    case ExprKind::kBool:
      out << (e.boolean ? "true" : "false");
      break;
    case ExprKind::kString:
      out << '"' << e.text << '"';
      break;
    case ExprKind::kName:
      out << e.text;
      break;
    case ExprKind::kUnary:
      out << "(" << (e.op == TokenKind::kTilde ? "~" : token_text(e.op));
      print(out, *e.args[0]);
      out << ")";
      break;
    case ExprKind::kBinary:
      out << "(";
      print(out, *e.args[0]);
      out << " " << token_text(e.op) << " ";
      print(out, *e.args[1]);
      out << ")";
      break;
    case ExprKind::kCall:
      out << e.text << "(";
      args_from(0);
      out << ")";
      break;
    case ExprKind::kMethod:
      print(out, *e.args[0]);
      out << "." << e.text << "(";
      args_from(1);
      out << ")";
      break;
    case ExprKind::kAttribute:
      print(out, *e.args[0]);
      out << "." << e.text;
      break;
    case ExprKind::kSubscript:
      print(out, *e.args[0]);
      out << "[";
      for (std::size_t i = 0; i < e.slices.size(); ++i) {
        const SliceExpr& s = e.slices[i];
        if (i) out << ", ";
        if (s.index) {
          print(out, *s.index);
          continue;
        }
        if (s.start) print(out, *s.start);
        out << ":";
        if (s.stop) print(out, *s.stop);
        if (s.step) {
          out << ":";
          print(out, *s.step);
        }
      }
      out << "]";
      break;
    case ExprKind::kList:
      out << "[";
      args_from(0);
      out << "]";
      break;
  }
}

}  // namespace

ExprPtr parse_expression(const ExprSource& source) {
  return Parser(source).parse();
}

std::string to_string(const Expr& e) {
  std::ostringstream out;
  print(out, e);
  return out.str();
}

}  // namespace tessera::jobs
