// What `tessera run` and `tessera demo` show of a run: progress while it goes on (a bar on a terminal, a line
// every few seconds in a batch log) and, at the end, the summary, the HTML report and the trace file.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "tessera/runtime/runtime.h"
#include "tessera/runtime/trace.h"

namespace tessera::jobs {

struct ViewOptions {
  std::string report;    // write the HTML report here (empty: none)
  std::string trace;     // write the Chrome trace-event file here (empty: none)
  bool progress = true;  // show progress while running
  bool summary = true;   // print the where-time-went summary at the end
};

// Progress for a run, on `err`: a bar redrawn in place when `tty`, else one line every `line_seconds`.
// Callbacks come from a runtime thread, one at a time (see ProgressFn).
class ProgressDisplay {
 public:
  ProgressDisplay(std::ostream& err, bool tty, double line_seconds = 10);
  // The runtime's callback, bound to this display (which must outlive the run).
  ProgressOptions options();

 private:
  void show(const Progress& p);

  std::ostream& err_;
  bool tty_;
  double line_seconds_;
  double next_line_ = 0;
  double last_elapsed_ = 0;
  std::uint64_t last_done_ = 0;
  double rate_ = 0;  // tasks per second, smoothed
  bool drawn_ = false;
};

// Whether standard error is a terminal (and TERM is not "dumb").
bool stderr_is_tty();

// Sets what `options` needs into the runtime's options: recording when a report, trace or summary is wanted.
void configure_runtime(const ViewOptions& options, RuntimeOptions& runtime);

// After a run, on rank 0: prints the summary of runtime.last_trace() to `out` and writes the report and trace
// files. Throws Error(kIo) naming a file that cannot be written. Other ranks do nothing.
void finish_views(const Runtime& runtime, const ViewOptions& options, std::ostream& out);

}  // namespace tessera::jobs
