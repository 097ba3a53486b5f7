#include "tessera/jobs/diagnostic.h"

#include <algorithm>
#include <sstream>

namespace tessera::jobs {

std::shared_ptr<const SourceFile> SourceFile::from_text(std::string name, std::string_view text) {
  auto file = std::make_shared<SourceFile>();
  file->name = std::move(name);
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(pos, end - pos));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    file->lines.push_back(std::move(line));
    pos = end + 1;
  }
  return file;
}

std::string format_diagnostic(const SourceFile* file, Location at, std::string_view message,
                              std::string_view help) {
  std::ostringstream out;
  const std::string name = file != nullptr ? file->name : "<job>";
  out << name;
  const bool quote = file != nullptr && at.line >= 1 && at.line <= static_cast<int>(file->lines.size());
  if (at.line >= 1) out << ":" << at.line << ":" << std::max(at.column, 1);
  out << ": error: " << message;
  if (quote) {
    // Tabs become spaces so that the caret lines up with the quoted text.
    std::string text = file->lines[static_cast<std::size_t>(at.line - 1)];
    std::replace(text.begin(), text.end(), '\t', ' ');
    const std::string number = std::to_string(at.line);
    const std::string gutter(number.size(), ' ');
    const int column = std::clamp(at.column, 1, static_cast<int>(text.size()) + 1);
    const int length = std::clamp(at.length, 1, std::max(1, static_cast<int>(text.size()) - column + 1));
    out << "\n " << number << " | " << text << "\n " << gutter << " | " << std::string(column - 1, ' ') << '^'
        << std::string(static_cast<std::size_t>(length - 1), '~');
    if (!help.empty()) out << "\n " << gutter << " = help: " << help;
  } else if (!help.empty()) {
    out << "\n  = help: " << help;
  }
  return out.str();
}

void throw_diagnostic(ErrorCode code, const SourceFile* file, Location at, std::string_view message,
                      std::string_view help) {
  throw Error(code, format_diagnostic(file, at, message, help));
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Names are short; the full matrix is cheap and makes transpositions easy.
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::size_t> d((n + 1) * (m + 1));
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * (m + 1) + j]; };
  for (std::size_t i = 0; i <= n; ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= m; ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(n, m);
}

std::string nearest_name(std::string_view name, std::span<const std::string> candidates) {
  const std::size_t limit = std::min<std::size_t>(2, (name.size() + 2) / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    if (c == name) continue;
    // Case-only differences ("Mean") are the most likely slips of all.
    std::string lower_a(name), lower_b(c);
    std::transform(lower_a.begin(), lower_a.end(), lower_a.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    std::transform(lower_b.begin(), lower_b.end(), lower_b.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    const std::size_t d = lower_a == lower_b ? 0 : edit_distance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string suggest(std::string_view name, std::span<const std::string> candidates) {
  std::string best = nearest_name(name, candidates);
  if (!best.empty()) return "did you mean '" + best + "'?";
  if (candidates.empty() || candidates.size() > 12) return "";
  std::string list = "expected one of: ";
  for (std::size_t i = 0; i < candidates.size(); ++i) list += (i ? ", " : "") + candidates[i];
  return list;
}

}  // namespace tessera::jobs
