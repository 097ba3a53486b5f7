// The job commands of the `tessera` command line: run, check, graph and info. Each returns the process exit
// status documented in docs/cli.md and writes its report to `out`, errors to `err` (rank 0 only under MPI).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "tessera/runtime/runtime.h"

namespace tessera::jobs {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the work failed (I/O, a task's error, an existing output, ...)
inline constexpr int kExitRejected =
    2;  // the job was rejected before any work: job file, expressions, inputs

struct RunCommandOptions {
  std::optional<int> threads;                 // overrides [options] threads
  std::optional<std::uint64_t> memory_limit;  // overrides [options] memory_limit
  ExecutorKind executor = ExecutorKind::kAuto;
  bool overwrite = false;
  bool resume = false;
  int verbosity = 1;          // 0: errors only (-q), 1: progress and summary, 2: plan too (-v)
  std::string report;         // HTML report file; overrides [options] report
  std::string trace;          // Chrome trace-event file; overrides [options] trace
  bool show_binding = false;  // under MPI, rank 0 prints each worker's cores and threads
  std::string dashboard;      // "[HOST:]PORT": rank 0 serves a live dashboard; overrides [options] dashboard
};

// `tessera run JOB`: checks everything, then computes the outputs and writes them with io::store.
int run_command(const std::string& job_path, const RunCommandOptions& options, std::ostream& out,
                std::ostream& err);

// `tessera check JOB`: validates the job and prints the plan (arrays, shapes, dtypes, chunks, tasks,
// outputs).
int check_command(const std::string& job_path, std::ostream& out, std::ostream& err);

// `tessera graph JOB [--full]`: Graphviz DOT of the graph computing the outputs: one node per layer (an
// operation's tasks) with its task count, or one node per task with `full`.
int graph_command(const std::string& job_path, bool full, std::ostream& out, std::ostream& err);
// `tessera graph JOB --svg FILE`: the same graph rendered by Graphviz's `dot` (found on PATH). Without `dot`,
// says how to install it or to render the DOT text elsewhere (exit 1).
int graph_svg_command(const std::string& job_path, bool full, const std::string& svg, std::ostream& out,
                      std::ostream& err);

// `tessera info FILE [VAR]`: what io::describe says about a file (or one variable of it).
int info_command(const std::string& file, const std::string& variable, std::ostream& out, std::ostream& err);

// Whether this process prints: rank 0 of an MPI launch (told by the launcher's environment), or a plain run.
bool is_printing_rank() noexcept;

}  // namespace tessera::jobs
