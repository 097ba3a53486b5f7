#include "tessera/jobs/job_file.h"

#include <toml.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "job_variables.h"
#include "tessera/runtime/dashboard.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"

namespace tessera::jobs {
namespace {

const std::vector<std::string> kSections = {"inputs", "arrays", "outputs", "options"};
const std::vector<std::string> kInputKeys = {"file", "files", "concat_dim", "variable", "chunks"};
const std::vector<std::string> kOutputKeys = {"file",       "variable", "expression", "compression",
                                              "attributes", "dims",     "chunks",     "fill_value"};
const std::vector<std::string> kOptionKeys = {"target_chunk_mb", "threads", "memory_limit",
                                              "report",          "trace",   "dashboard"};
const std::vector<std::string> kReserved = {"true", "false", "True", "False", "and",
                                            "or",   "not",   "pi",   "nan",   "inf"};

bool is_identifier(const std::string& s) {
  if (s.empty()) return false;
  auto start = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!start(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return start(c) || (c >= '0' && c <= '9'); });
}

std::string type_name(const toml::value& v) {
  switch (v.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      return "empty";
    default:
      return "a date or time";
  }
}

// The file column of each byte of a TOML basic string's value (and one past its end), reading the raw text
// from `start` (just after the opening quote); empty when the raw text does not decode to `length` bytes.
std::vector<int> basic_string_columns(const std::string& raw, std::size_t start, std::size_t length) {
  std::vector<int> columns;
  std::size_t i = start;
  while (i < raw.size() && raw[i] != '"') {
    const int column = static_cast<int>(i) + 1;
    if (raw[i] != '\\') {
      columns.push_back(column);
      ++i;
      continue;
    }
    if (i + 1 >= raw.size()) return {};
    const char e = raw[i + 1];
    if (e == 'u' || e == 'U') {
      // One code point: as many bytes as its UTF-8 form.
      const std::size_t digits = e == 'u' ? 4 : 8;
      if (i + 2 + digits > raw.size()) return {};
      const unsigned long cp = std::strtoul(raw.substr(i + 2, digits).c_str(), nullptr, 16);
      const int bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      for (int b = 0; b < bytes; ++b) columns.push_back(column);
      i += 2 + digits;
    } else {
      columns.push_back(column);
      i += 2;
    }
  }
  columns.push_back(static_cast<int>(i) + 1);
  if (columns.size() != length + 1) return {};
  return columns;
}

class Reader {
 public:
  Reader(std::shared_ptr<const SourceFile> file, std::string directory, const JobVariables& variables)
      : file_(std::move(file)), directory_(std::move(directory)), variables_(variables) {}

  Location loc(const toml::value& v) const {
    const toml::source_location l = v.location();
    if (l.line() == 0 || l.line() > file_->lines.size()) return {};
    return Location{static_cast<int>(l.line()), static_cast<int>(l.column()), static_cast<int>(l.region())};
  }
  // toml11 keeps no locations for keys: find the key on its value's line (or the table header's).
  Location key_loc(const toml::value& v, const std::string& key) const {
    Location l = loc(v);
    if (l.line == 0) return l;
    const std::string& text = file_->lines[static_cast<std::size_t>(l.line - 1)];
    std::size_t p = text.rfind(key, static_cast<std::size_t>(std::max(0, l.column - 1)));
    if (p == std::string::npos) p = text.find(key);
    if (p == std::string::npos) return l;
    return Location{l.line, static_cast<int>(p) + 1, static_cast<int>(key.size())};
  }

  [[noreturn]] void fail(Location at, const std::string& message, const std::string& help = {}) const {
    throw_diagnostic(ErrorCode::kInvalidArgument, file_.get(), at, message, help);
  }

  void check_keys(const toml::value& table, const std::vector<std::string>& allowed,
                  const std::string& where) const {
    for (const auto& [key, value] : table.as_table()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        fail(key_loc(value, key), "unknown key '" + key + "' in " + where, suggest(key, allowed));
      }
    }
  }

  const toml::value* find(const toml::value& table, const std::string& key) const {
    const auto& t = table.as_table();
    auto it = t.find(key);
    return it == t.end() ? nullptr : &it->second;
  }

  // A string value with its ${NAME}s expanded. `columns`, when given, receives the file column of each byte
  // of the result (and one past its end) for a one-line string, else is left empty.
  std::string string_of(const toml::value& v, const std::string& what,
                        std::vector<int>* columns = nullptr) const {
    if (!v.is_string()) fail(loc(v), what + " must be a string, not " + type_name(v));
    const std::string& raw = v.as_string().str;
    if (columns != nullptr) columns->clear();
    if (raw.find('$') == std::string::npos && columns == nullptr) return raw;
    auto expanded = detail::expand_variables(raw, variables_);
    const std::vector<int> raw_columns = string_columns(v, raw);
    if (const auto* e = std::get_if<detail::ExpansionError>(&expanded)) {
      Location at = loc(v);
      if (!raw_columns.empty()) {
        at.column = raw_columns[e->offset];
        at.length = static_cast<int>(e->length);
      }
      fail(at, e->message + " in " + what, e->help);
    }
    auto& x = std::get<detail::Expansion>(expanded);
    if (columns != nullptr && !raw_columns.empty()) {
      for (std::size_t origin : x.origin) columns->push_back(raw_columns[origin]);
    }
    return std::move(x.text);
  }
  std::int64_t integer_of(const toml::value& v, const std::string& what) const {
    if (!v.is_integer()) fail(loc(v), what + " must be an integer, not " + type_name(v));
    return v.as_integer();
  }
  double number_of(const toml::value& v, const std::string& what) const {
    if (v.is_integer()) return static_cast<double>(v.as_integer());
    if (!v.is_floating()) fail(loc(v), what + " must be a number, not " + type_name(v));
    return v.as_floating();
  }
  Shape shape_of(const toml::value& v, const std::string& what) const {
    if (!v.is_array())
      fail(loc(v), what + " must be an array of integers such as [73, 90, 180], not " + type_name(v));
    Shape s;
    for (const toml::value& e : v.as_array()) {
      const std::int64_t n = integer_of(e, "each entry of " + what);
      if (n == 0 || n < -1)
        fail(loc(e), what + " entries must be positive, or -1 for the whole axis; got " + std::to_string(n));
      s.push_back(n);
    }
    if (s.empty()) fail(loc(v), what + " must not be empty");
    return s;
  }
  std::vector<std::string> strings_of(const toml::value& v, const std::string& what) const {
    if (!v.is_array()) fail(loc(v), what + " must be an array of strings, not " + type_name(v));
    std::vector<std::string> out;
    for (const toml::value& e : v.as_array()) out.push_back(string_of(e, "each entry of " + what));
    return out;
  }
  std::string resolve_path(const std::string& p) const {
    if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (std::filesystem::path(directory_) / p).lexically_normal().string();
  }

  // The file column of each byte of a one-line string value `text` (and one past its end); empty for
  // multi-line strings and when the file's text does not match.
  std::vector<int> string_columns(const toml::value& v, const std::string& text) const {
    const Location l = loc(v);
    if (l.line <= 0 || text.find('\n') != std::string::npos) return {};
    const std::string& line = file_->lines[static_cast<std::size_t>(l.line - 1)];
    const std::size_t c = static_cast<std::size_t>(l.column - 1);
    if (line.compare(c, 3, "\"\"\"") == 0 || line.compare(c, 3, "'''") == 0) return {};
    if (line.compare(c, 1, "\"") == 0) return basic_string_columns(line, c + 1, text.size());
    if (line.compare(c, 1, "'") != 0 || line.compare(c + 1, text.size(), text) != 0) return {};
    std::vector<int> columns;
    for (std::size_t i = 0; i <= text.size(); ++i) columns.push_back(l.column + 1 + static_cast<int>(i));
    return columns;
  }

  // The expression inside a TOML string value: where its first character sits in the file.
  ExprSource expression(const toml::value& v, const std::string& what) const {
    ExprSource src;
    src.file = file_;
    std::vector<int> columns;
    src.text = string_of(v, what, &columns);
    const Location l = loc(v);
    src.line = std::max(l.line, 1);
    src.column = std::max(l.column, 1) + 1;
    if (l.line > 0) {
      const std::string& text = file_->lines[static_cast<std::size_t>(l.line - 1)];
      const std::size_t c = static_cast<std::size_t>(l.column - 1);
      if (text.compare(c, 3, "\"\"\"") == 0 || text.compare(c, 3, "'''") == 0) {
        // A newline right after the opening quotes is not part of a multi-line string.
        if (text.size() == c + 3) {
          src.line = l.line + 1;
          src.column = 1;
        } else {
          src.column = l.column + 3;
        }
      } else {
        src.columns = std::move(columns);
      }
    }
    return src;
  }

  void check_name(const std::string& name, const toml::value& v, const std::string& kind) const {
    if (!is_identifier(name)) {
      fail(key_loc(v, name), kind + " name '" + name + "' is not a valid name",
           "names start with a letter or '_' and contain letters, digits and '_' only, so that expressions "
           "can use them");
    }
    if (std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end()) {
      fail(key_loc(v, name), kind + " name '" + name + "' is reserved by the expression language");
    }
  }

 private:
  std::shared_ptr<const SourceFile> file_;
  std::string directory_;
  const JobVariables& variables_;
};

// Entries of a table in the order they appear in the file (toml11 keeps tables unordered).
std::vector<std::pair<std::string, const toml::value*>> in_file_order(const Reader& r,
                                                                      const toml::value& table) {
  std::vector<std::pair<std::string, const toml::value*>> entries;
  for (const auto& [key, value] : table.as_table()) entries.emplace_back(key, &value);
  std::sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    const Location la = r.loc(*a.second), lb = r.loc(*b.second);
    if (la.line != lb.line) return la.line < lb.line;
    if (la.column != lb.column) return la.column < lb.column;
    return a.first < b.first;
  });
  return entries;
}

// The offset of the first byte that is not part of a well-formed UTF-8 sequence (overlong forms, surrogates
// and code points above U+10FFFF included), if any.
std::optional<std::size_t> first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return i;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    const std::uint32_t min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::nullopt;
}

}  // namespace

JobSpec parse_job(std::string_view text, const std::string& file_name, const std::string& directory,
                  const JobVariables& variables) {
  JobSpec job;
  job.source = SourceFile::from_text(file_name, text);
  job.directory = directory;
  Reader r(job.source, directory, variables);

  // TOML is UTF-8; toml11 3.7 reads past the end of its buffer on some malformed sequences (found by the
  // fuzzer), so invalid text never reaches it.
  if (auto bad = first_invalid_utf8(text)) {
    const std::string_view before = text.substr(0, *bad);
    const int line = 1 + static_cast<int>(std::count(before.begin(), before.end(), '\n'));
    const std::size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
    r.fail(Location{line, static_cast<int>(*bad - line_start) + 1, 1},
           "the job file is not valid UTF-8 (byte " + std::to_string(*bad) + ")", "save it as UTF-8 text");
  }

  // toml11 parses nested arrays and inline tables recursively: refuse depths no job needs before it could
  // exhaust the stack (brackets inside strings and comments are counted too, which only errs on the safe
  // side).
  int depth = 0, deepest = 0;
  for (char c : text) {
    depth += (c == '[' || c == '{') ? 1 : (c == ']' || c == '}') ? -1 : 0;
    deepest = std::max(deepest, depth);
  }
  if (deepest > 64) r.fail({}, "the job file nests arrays or tables more than 64 levels deep");

  toml::value root;
  try {
    std::istringstream in{std::string(text)};
    root = toml::parse(in, file_name);
  } catch (const toml::syntax_error& e) {
    const toml::source_location l = e.location();
    Location at{static_cast<int>(l.line()), static_cast<int>(l.column()), static_cast<int>(l.region())};
    if (at.line <= 0 || at.line > static_cast<int>(job.source->lines.size())) at = {};
    // toml11's message repeats the location in its own format; keep its first line (what went wrong).
    std::string what = e.what();
    if (auto p = what.find('\n'); p != std::string::npos) what = what.substr(0, p);
    if (what.rfind("[error] ", 0) == 0) what = what.substr(8);
    r.fail(at, "TOML syntax error: " + what);
  } catch (const std::exception& e) {
    r.fail({}, std::string("TOML syntax error: ") + e.what());
  }
  if (!root.is_table()) r.fail({}, "a job file must be a TOML table");
  r.check_keys(root, kSections, "the job file");

  if (const toml::value* inputs = r.find(root, "inputs")) {
    if (!inputs->is_table()) r.fail(r.loc(*inputs), "'inputs' must be a table of [inputs.NAME] tables");
    for (const auto& [name, v] : in_file_order(r, *inputs)) {
      if (!v->is_table()) {
        r.fail(r.key_loc(*v, name), "inputs." + name + " must be a table such as [inputs." + name + "]",
               "each input needs at least: file = \"data.nc\"");
      }
      r.check_name(name, *v, "input");
      const std::string where = "[inputs." + name + "]";
      r.check_keys(*v, kInputKeys, where);
      InputSpec in;
      in.name = name;
      in.at = r.loc(*v);
      const toml::value* file = r.find(*v, "file");
      const toml::value* files = r.find(*v, "files");
      if (file != nullptr && files != nullptr) {
        r.fail(r.loc(*files), where + " has both 'file' and 'files'",
               "'file' names one file; 'files' a list or glob pattern of files joined into one input");
      }
      if (file == nullptr && files == nullptr) {
        r.fail(in.at, where + " has no 'file'",
               "add: file = \"path/to/data.nc\", or files = \"data/tas_*.nc\" for an archive of many files");
      }
      if (file != nullptr) {
        in.file = r.string_of(*file, "'file' in " + where);
        in.file_at = r.loc(*file);
        in.path = r.resolve_path(in.file);
      } else {
        in.file_at = r.loc(*files);
        const std::vector<std::string> written =
            files->is_array() ? r.strings_of(*files, "'files' in " + where)
                              : std::vector<std::string>{r.string_of(*files, "'files' in " + where)};
        if (written.empty()) r.fail(in.file_at, "'files' in " + where + " is empty");
        for (const std::string& f : written) {
          if (f.empty()) r.fail(in.file_at, "'files' in " + where + " has an empty name");
          in.file += (in.file.empty() ? "" : ", ") + f;
          in.files.push_back(r.resolve_path(f));
        }
        in.path = in.files.front();
      }
      if (const toml::value* dim = r.find(*v, "concat_dim")) {
        in.concat_dim = r.string_of(*dim, "'concat_dim' in " + where);
        in.concat_dim_at = r.loc(*dim);
        if (files == nullptr) {
          r.fail(in.concat_dim_at, "'concat_dim' in " + where + " needs 'files'",
                 "it names the dimension along which the files of an archive are joined");
        }
      }
      in.variable = name;
      if (const toml::value* var = r.find(*v, "variable")) {
        in.variable = r.string_of(*var, "'variable' in " + where);
        in.variable_at = r.loc(*var);
      } else {
        in.variable_at = in.file_at;
      }
      if (const toml::value* chunks = r.find(*v, "chunks")) {
        in.chunks = r.shape_of(*chunks, "'chunks' in " + where);
        in.chunks_at = r.loc(*chunks);
      }
      job.inputs.push_back(std::move(in));
    }
  }

  auto defined = [&](const std::string& name) -> std::optional<Location> {
    for (const InputSpec& in : job.inputs) {
      if (in.name == name) return in.at;
    }
    for (const ArraySpec& a : job.arrays) {
      if (a.name == name) return a.at;
    }
    return std::nullopt;
  };

  if (const toml::value* arrays = r.find(root, "arrays")) {
    if (!arrays->is_table()) r.fail(r.loc(*arrays), "'arrays' must be a table: NAME = \"expression\"");
    for (const auto& [name, v] : in_file_order(r, *arrays)) {
      r.check_name(name, *v, "array");
      if (auto previous = defined(name)) {
        r.fail(r.key_loc(*v, name),
               "'" + name + "' is defined twice (first on line " + std::to_string(previous->line) + ")");
      }
      ArraySpec a;
      a.name = name;
      a.at = r.loc(*v);
      a.source = r.expression(*v, "array '" + name + "'");
      a.expr = parse_expression(a.source);
      job.arrays.push_back(std::move(a));
    }
  }

  const toml::value* outputs = r.find(root, "outputs");
  if (outputs == nullptr || !outputs->is_table() || outputs->as_table().empty()) {
    r.fail(outputs != nullptr ? r.loc(*outputs) : Location{}, "the job has no outputs",
           "add an [outputs.NAME] table with at least: file = \"result.nc\"");
  }
  for (const auto& [name, v] : in_file_order(r, *outputs)) {
    if (!v->is_table()) {
      r.fail(r.key_loc(*v, name), "outputs." + name + " must be a table such as [outputs." + name + "]");
    }
    const std::string where = "[outputs." + name + "]";
    r.check_keys(*v, kOutputKeys, where);
    OutputSpec out;
    out.name = name;
    out.at = r.loc(*v);
    const toml::value* file = r.find(*v, "file");
    if (file == nullptr) r.fail(out.at, where + " has no 'file'", "add: file = \"result.nc\"");
    out.file = r.string_of(*file, "'file' in " + where);
    out.file_at = r.loc(*file);
    out.path = r.resolve_path(out.file);
    out.variable = name;
    if (const toml::value* var = r.find(*v, "variable"))
      out.variable = r.string_of(*var, "'variable' in " + where);
    if (const toml::value* e = r.find(*v, "expression")) {
      out.source = r.expression(*e, "'expression' in " + where);
    } else {
      // The output's own name refers to the array (or input) of that name.
      out.source.file = job.source;
      out.source.text = name;
      const Location l = out.at.line > 0 ? out.at : Location{};
      out.source.line = std::max(l.line, 1);
      out.source.column = std::max(l.column, 1);
    }
    out.expr = parse_expression(out.source);
    if (const toml::value* c = r.find(*v, "compression")) {
      const std::int64_t level = r.integer_of(*c, "'compression' in " + where);
      if (level < 0 || level > 9)
        r.fail(r.loc(*c),
               "'compression' must be a gzip level from 0 (none) to 9, not " + std::to_string(level));
      out.compression = static_cast<int>(level);
      out.compression_at = r.loc(*c);
    }
    if (const toml::value* d = r.find(*v, "dims")) {
      out.dims = r.strings_of(*d, "'dims' in " + where);
      out.dims_at = r.loc(*d);
    }
    if (const toml::value* c = r.find(*v, "chunks")) {
      out.chunks = r.shape_of(*c, "'chunks' in " + where);
      out.chunks_at = r.loc(*c);
    }
    if (const toml::value* f = r.find(*v, "fill_value"))
      out.fill_value = r.number_of(*f, "'fill_value' in " + where);
    if (const toml::value* attrs = r.find(*v, "attributes")) {
      if (!attrs->is_table())
        r.fail(r.loc(*attrs), "'attributes' in " + where + " must be a table such as { units = \"K\" }");
      for (const auto& [key, a] : in_file_order(r, *attrs)) {
        AttributeSpec spec;
        spec.name = key;
        if (a->is_string()) {
          spec.value = r.string_of(*a, "attribute '" + key + "'");
        } else if (a->is_integer() || a->is_floating()) {
          spec.value = std::vector<double>{r.number_of(*a, "attribute '" + key + "'")};
          spec.integer = a->is_integer();
        } else if (a->is_array()) {
          std::vector<double> numbers;
          bool all_int = true;
          for (const toml::value& e : a->as_array()) {
            numbers.push_back(r.number_of(e, "each entry of attribute '" + key + "'"));
            all_int = all_int && e.is_integer();
          }
          spec.value = std::move(numbers);
          spec.integer = all_int;
        } else {
          r.fail(r.loc(*a), "attribute '" + key +
                                "' must be a string, a number or an array of numbers, not " + type_name(*a));
        }
        out.attributes.push_back(std::move(spec));
      }
    }
    for (const OutputSpec& o : job.outputs) {
      if (o.path == out.path && o.variable == out.variable) {
        r.fail(out.at, "outputs '" + o.name + "' and '" + name + "' both write variable '" + out.variable +
                           "' to " + out.file);
      }
    }
    job.outputs.push_back(std::move(out));
  }

  if (const toml::value* options = r.find(root, "options")) {
    if (!options->is_table()) r.fail(r.loc(*options), "'options' must be a table");
    r.check_keys(*options, kOptionKeys, "[options]");
    if (const toml::value* v = r.find(*options, "target_chunk_mb")) {
      const double mb = r.number_of(*v, "'target_chunk_mb'");
      if (!(mb > 0 && mb <= 1e6))
        r.fail(r.loc(*v), "'target_chunk_mb' must be a positive number of megabytes");
      job.options.target_chunk_bytes = static_cast<std::size_t>(mb * 1e6);
    }
    if (const toml::value* v = r.find(*options, "threads")) {
      const std::int64_t n = r.integer_of(*v, "'threads'");
      if (n < 0 || n > 1 << 16) r.fail(r.loc(*v), "'threads' must be 0 (all CPUs) or a positive count");
      job.options.threads = static_cast<int>(n);
      job.options.threads_at = r.loc(*v);
    }
    if (const toml::value* v = r.find(*options, "memory_limit")) {
      job.options.memory_limit_at = r.loc(*v);
      if (v->is_integer()) {
        if (v->as_integer() <= 0) r.fail(r.loc(*v), "'memory_limit' must be positive");
        job.options.memory_limit = static_cast<std::uint64_t>(v->as_integer());
      } else {
        const std::string text = r.string_of(*v, "'memory_limit'");
        try {
          job.options.memory_limit = parse_size(text, "'memory_limit'");
        } catch (const Error& e) {
          r.fail(r.loc(*v), e.what());
        }
      }
    }
    if (const toml::value* v = r.find(*options, "report"))
      job.options.report = r.resolve_path(r.string_of(*v, "'report'"));
    if (const toml::value* v = r.find(*options, "trace"))
      job.options.trace = r.resolve_path(r.string_of(*v, "'trace'"));
    if (const toml::value* v = r.find(*options, "dashboard")) {
      // A bare port may be written as a number.
      job.options.dashboard =
          v->is_integer() ? std::to_string(v->as_integer()) : r.string_of(*v, "'dashboard'");
      try {
        parse_listen_address(job.options.dashboard);
      } catch (const Error& e) {
        r.fail(r.loc(*v), e.what());
      }
    }
  }
  return job;
}

JobSpec load_job(const std::string& path) {
  return load_job(path, job_variables_from_environment());
}

JobSpec load_job(const std::string& path, const JobVariables& variables) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw_error(ErrorCode::kNotFound, "job file '", path, "' does not exist");
    throw_error(ErrorCode::kIo, "cannot read job file '", path, "'");
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  return parse_job(text.str(), path, directory, variables);
}

}  // namespace tessera::jobs
