// Diagnostics for job files and expressions: messages that point at file:line:column with the offending text
// underlined, and "did you mean" suggestions for misspelt names.
//
//   anomaly.toml:7:15: error: unknown function 'meen'
//      7 | anom = "(t - meen(t, axis=0)) / std_t"
//        |              ^~~~
//        = help: did you mean 'mean'?
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/runtime/error.h"

namespace tessera::jobs {

// The text of a job file (or of a lone expression), kept so that errors can quote any of its lines.
struct SourceFile {
  std::string name;  // as shown in messages: the path given on the command line, or "<expression>"
  std::vector<std::string> lines;

  static std::shared_ptr<const SourceFile> from_text(std::string name, std::string_view text);
};

// A place in a SourceFile: 1-based line and column (in bytes), and how many bytes to underline. Line 0: the
// file as a whole (no line to quote).
struct Location {
  int line = 0;
  int column = 0;
  int length = 1;
};

// "FILE:LINE:COL: error: MESSAGE", the line with a caret underline, and "= help: HELP" when help is given.
std::string format_diagnostic(const SourceFile* file, Location at, std::string_view message,
                              std::string_view help = {});

// Throws Error(code) whose message is format_diagnostic(...).
[[noreturn]] void throw_diagnostic(ErrorCode code, const SourceFile* file, Location at,
                                   std::string_view message, std::string_view help = {});

// Optimal string alignment distance (Levenshtein with adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `name` when it is close enough to be a likely misspelling (distance at most 2, and
// at most a third of the name's length, rounded up), else an empty string.
std::string nearest_name(std::string_view name, std::span<const std::string> candidates);

// "did you mean 'X'?" for the nearest candidate, else (when there are few) "expected one of: a, b, c", else
// "".
std::string suggest(std::string_view name, std::span<const std::string> candidates);

}  // namespace tessera::jobs
