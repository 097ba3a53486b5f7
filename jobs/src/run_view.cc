#include "tessera/jobs/run_view.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tessera::jobs {

namespace {

std::string rate_text(double per_second) {
  char buf[32];
  if (per_second >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1fM", per_second / 1e6);
  } else if (per_second >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1fk", per_second / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", per_second);
  }
  return buf;
}

std::string duration_text(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.0fs", std::ceil(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60);
  }
  return buf;
}

// "t_anom 40/120 · clim 12/12": each output's tasks done, at most `shown` of them, then how many more.
std::string groups_text(const std::vector<GroupProgress>& groups, std::size_t shown, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < groups.size() && i < shown; ++i) {
    if (i) s += separator;
    s += groups[i].label + " " + std::to_string(groups[i].done) + "/" + std::to_string(groups[i].total);
  }
  if (groups.size() > shown) s += separator + ("+" + std::to_string(groups.size() - shown) + " more");
  return s;
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::ostream& err, bool tty, double line_seconds)
    : err_(err), tty_(tty), line_seconds_(line_seconds), next_line_(line_seconds) {}

ProgressOptions ProgressDisplay::options() {
  ProgressOptions o;
  o.callback = [this](const Progress& p) { show(p); };
  o.seconds = tty_ ? 0.2 : 1.0;
  return o;
}

void ProgressDisplay::show(const Progress& p) {
  const double dt = p.elapsed - last_elapsed_;
  if (dt > 0 && p.tasks_done >= last_done_) {
    const double now_rate = static_cast<double>(p.tasks_done - last_done_) / dt;
    rate_ = rate_ > 0 ? 0.7 * rate_ + 0.3 * now_rate : now_rate;
  }
  last_elapsed_ = p.elapsed;
  last_done_ = p.tasks_done;
  const double fraction =
      p.tasks_total > 0 ? static_cast<double>(p.tasks_done) / static_cast<double>(p.tasks_total) : 1.0;
  const double remaining = static_cast<double>(p.tasks_total - std::min(p.tasks_done, p.tasks_total));
  const std::string eta = rate_ > 0 ? duration_text(remaining / rate_) : std::string("?");
  char line[512];
  if (tty_) {
    // Outputs after the bar; a terminal line holds a few of them.
    const std::string outputs = p.groups.empty() ? "" : "  " + groups_text(p.groups, 4, " \u00b7 ");
    if (p.final && !drawn_) return;  // a run too short to have shown a bar needs no final one
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(kWidth - filled), '.');
    std::snprintf(
        line, sizeof(line), "\r[%s] %3.0f%% %llu/%llu tasks  %s tasks/s  %s%s  \x1b[K", bar.c_str(),
        100 * fraction, static_cast<unsigned long long>(p.tasks_done),
        static_cast<unsigned long long>(p.tasks_total),
        rate_text(p.final ? static_cast<double>(p.tasks_done) / std::max(p.elapsed, 1e-9) : rate_).c_str(),
        p.final ? ("in " + duration_text(p.elapsed)).c_str() : ("ETA " + eta).c_str(), outputs.c_str());
    err_ << line;
    if (p.final) err_ << "\n";
    err_.flush();
    drawn_ = true;
    return;
  }
  if (p.final || p.elapsed < next_line_) return;
  next_line_ = p.elapsed + line_seconds_;
  std::snprintf(line, sizeof(line),
                "tessera: progress %llu/%llu tasks (%.1f%%), %s tasks/s, %.0f s elapsed, ETA %s",
                static_cast<unsigned long long>(p.tasks_done), static_cast<unsigned long long>(p.tasks_total),
                100 * fraction, rate_text(rate_).c_str(), p.elapsed, eta.c_str());
  err_ << line;
  // A log line has room for every output.
  if (!p.groups.empty()) err_ << "; outputs " << groups_text(p.groups, p.groups.size(), ", ");
  err_ << "\n";
  err_.flush();
}

bool stderr_is_tty() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && (term == nullptr || std::string(term) != "dumb");
}

void configure_runtime(const ViewOptions& options, RuntimeOptions& runtime) {
  if (!options.report.empty() || !options.trace.empty() || options.summary) runtime.record.enabled = true;
}

void finish_views(const Runtime& runtime, const ViewOptions& options, std::ostream& out) {
  if (runtime.rank() != 0) return;
  const std::shared_ptr<const RunTrace> trace = runtime.last_trace();
  if (!trace) return;
  if (options.summary) out << summarize(*trace);
  if (!options.report.empty()) {
    write_html_report(*trace, options.report);
    if (options.summary) out << "  report    " << options.report << "\n";
  }
  if (!options.trace.empty()) {
    write_chrome_trace(*trace, options.trace);
    if (options.summary)
      out << "  trace     " << options.trace << " (open in https://ui.perfetto.dev or chrome://tracing)\n";
  }
}

}  // namespace tessera::jobs
