#include "tessera/jobs/commands.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "tessera/io/io.h"
#include "tessera/jobs/evaluate.h"
#include "tessera/jobs/file_inputs.h"
#include "tessera/jobs/job_file.h"
#include "tessera/jobs/run_view.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/plan.h"
#include "tessera/runtime/stop.h"
#include "tessera/slurm/slurm.h"

namespace tessera::jobs {
namespace {

std::string dims_text(const std::vector<std::string>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + dims[i];
  return s + (dims.size() == 1 ? ",)" : ")");
}

std::string array_line(const EvaluatedArray& a) {
  std::ostringstream out;
  const Array& d = a.data;
  out << format_shape(d.shape()) << " " << name_of(d.dtype()) << ", chunks " << d.chunks().describe() << " ("
      << d.chunks().total_chunks() << " chunk" << (d.chunks().total_chunks() == 1 ? "" : "s") << "), "
      << format_bytes(static_cast<double>(d.nbytes()));
  return out.str();
}

// This process's rank under a launcher ("" without one).
std::string launched_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* v = std::getenv(name)) return v;
  }
  return "";
}

// Says why a job is rejected before any work and returns the exit status. Every rank usually fails alike, so
// rank 0 prints and the others wait: the launcher ends the whole job when rank 0 exits with an error. A rank
// still running 2 s later failed where rank 0 did not (a file that only some nodes see, a file that changed
// during start-up), so it prints too, naming itself; its exit then ends the job (the ranks that went on are
// waiting for it in MPI start-up), and no rank is left waiting.
int rejected(std::ostream& err, const std::string& message, int status) {
  if (is_printing_rank()) {
    err << message << "\n";
    return status;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  err << "tessera: rank " << launched_rank() << " (rank 0 did not fail this way): " << message << "\n";
  err.flush();
  return status;
}

struct Loaded {
  JobSpec spec;
  FileResolver files;
  JobPlan plan;
};

// Parses and plans a job; on a user error prints it and returns null with the exit status set.
std::unique_ptr<Loaded> load(const std::string& path, std::ostream& err, int& status) {
  auto job = std::make_unique<Loaded>();
  try {
    job->spec = load_job(path);
    job->plan = plan_job(job->spec, job->files);
    return job;
  } catch (const Error& e) {
    status = rejected(
        err, e.what(),
        e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kIo ? kExitFailed : kExitRejected);
    return nullptr;
  }
}

std::vector<Array> output_arrays(const JobPlan& plan) {
  std::vector<Array> arrays;
  for (const PlannedOutput& o : plan.outputs) arrays.push_back(o.value.data);
  return arrays;
}

struct TaskCounts {
  std::size_t graph = 0, fused = 0;
  std::uint64_t largest_footprint = 0;  // bytes a task holds while it runs: its inputs and its output
};
TaskCounts count_tasks(std::span<const Array> arrays) {
  Graph graph;
  std::vector<std::vector<TaskId>> outputs;
  build_graph(arrays, graph, outputs);
  std::vector<TaskId> flat;
  for (const auto& o : outputs) flat.insert(flat.end(), o.begin(), o.end());
  const Plan plan = Plan::build(graph, flat);
  TaskCounts counts{plan.graph_tasks(), plan.size(), 0};
  auto out_bytes = [&](std::uint32_t p) { return graph.options(plan.members(p).back()).output_bytes; };
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    std::uint64_t bytes = out_bytes(p);
    for (std::uint32_t d : plan.dependencies(p)) bytes += out_bytes(d);
    counts.largest_footprint = std::max(counts.largest_footprint, bytes);
  }
  return counts;
}

void print_plan(const Loaded& job, std::ostream& out) {
  const JobSpec& spec = job.spec;
  out << "job " << spec.source->name << ": " << spec.inputs.size() << " input"
      << (spec.inputs.size() == 1 ? "" : "s") << ", " << spec.arrays.size() << " arra"
      << (spec.arrays.size() == 1 ? "y" : "ys") << ", " << spec.outputs.size() << " output"
      << (spec.outputs.size() == 1 ? "" : "s") << "\n";
  std::size_t width = 0;
  for (const auto& a : job.plan.inputs) width = std::max(width, a.name.size());
  for (const auto& a : job.plan.arrays) width = std::max(width, a.name.size());
  for (const auto& o : job.plan.outputs) width = std::max(width, o.value.name.size());
  if (!job.plan.inputs.empty()) out << "inputs\n";
  for (std::size_t i = 0; i < job.plan.inputs.size(); ++i) {
    const EvaluatedArray& a = job.plan.inputs[i];
    std::vector<std::string> dims;
    for (const AxisOrigin& o : a.axes) dims.push_back(o.dim);
    out << "  " << std::left << std::setw(static_cast<int>(width)) << a.name << "  " << array_line(a) << "\n"
        << "  " << std::string(width, ' ') << "  " << spec.inputs[i].file << ":" << spec.inputs[i].variable
        << " " << dims_text(dims) << "\n";
    if (const io::Archive* archive = job.files.archive(spec.inputs[i].name)) {
      out << "  " << std::string(width, ' ') << "  " << archive->pieces().size() << " file"
          << (archive->pieces().size() == 1 ? "" : "s") << " joined along " << archive->dim();
      if (archive->has_time() && !archive->time().dates.empty()) {
        out << ", " << io::format_date(archive->time().dates.front()) << " to "
            << io::format_date(archive->time().dates.back()) << " (" << io::name_of(archive->time().calendar)
            << " calendar)";
      }
      out << "\n";
    }
  }
  if (!job.plan.arrays.empty()) out << "arrays\n";
  for (std::size_t i = 0; i < job.plan.arrays.size(); ++i) {
    const EvaluatedArray& a = job.plan.arrays[i];
    out << "  " << std::left << std::setw(static_cast<int>(width)) << a.name << "  " << array_line(a) << "\n"
        << "  " << std::string(width, ' ') << "  = " << spec.arrays[i].source.text << "\n";
  }
  out << "outputs\n";
  for (const PlannedOutput& o : job.plan.outputs) {
    out << "  " << std::left << std::setw(static_cast<int>(width)) << o.spec->name << "  "
        << array_line(o.value) << "\n"
        << "  " << std::string(width, ' ') << "  -> " << o.spec->file << ":" << o.spec->variable << " "
        << dims_text(o.dims);
    if (o.spec->compression > 0) out << ", gzip " << o.spec->compression;
    out << "\n";
  }
  std::vector<std::string> notes;
  for (const InputSpec& in : spec.inputs) {
    if (const io::Archive* archive = job.files.archive(in.name)) {
      for (const std::string& n : archive->notes()) notes.push_back("input '" + in.name + "': " + n);
    }
  }
  notes.insert(notes.end(), job.plan.notes.begin(), job.plan.notes.end());
  for (const std::string& n : notes) out << "note: " << n << "\n";
  const std::vector<Array> arrays = output_arrays(job.plan);
  const TaskCounts tasks = count_tasks(arrays);
  out << "plan: " << tasks.graph << " tasks, " << tasks.fused << " after fusion (before the writes)\n";
  // Each running task holds its inputs and its output; the ordering keeps few other results waiting.
  const int threads = job.spec.options.threads > 0 ? job.spec.options.threads : available_cpus();
  out << "memory: about " << format_bytes(static_cast<double>(tasks.largest_footprint) * threads)
      << " per worker at most in running tasks (" << threads
      << " threads x the largest task's inputs and output, "
      << format_bytes(static_cast<double>(tasks.largest_footprint)) << ")\n";
}

}  // namespace

int graph_svg_command(const std::string& job_path, bool full, const std::string& svg, std::ostream& out,
                      std::ostream& err) {
  std::string dot;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/dot";
      if (::access(candidate.c_str(), X_OK) == 0) {
        dot = candidate;
        break;
      }
    }
  }
  if (dot.empty()) {
    if (is_printing_rank()) {
      err << "tessera: error: Graphviz's `dot` is not on PATH, so the graph cannot be rendered to " << svg
          << " (Debian: apt-get install graphviz); `tessera graph " << job_path
          << " > graph.dot` writes the DOT text for any Graphviz viewer\n";
    }
    return kExitFailed;
  }
  std::ostringstream text;
  const int status = graph_command(job_path, full, text, err);
  if (status != kExitOk || !is_printing_rank()) return status;
  const std::string cmd = "'" + dot + "' -Tsvg -o '" + svg + "'";
  FILE* pipe = ::popen(cmd.c_str(), "w");
  if (pipe == nullptr) {
    err << "tessera: error: cannot run " << dot << ": " << std::strerror(errno) << "\n";
    return kExitFailed;
  }
  const std::string dot_text = text.str();
  std::fwrite(dot_text.data(), 1, dot_text.size(), pipe);
  const int rc = ::pclose(pipe);
  if (rc != 0) {
    err << "tessera: error: " << dot << " could not render " << svg << " (status " << rc << ")\n";
    return kExitFailed;
  }
  out << "tessera graph: wrote " << svg << "\n";
  return kExitOk;
}

bool is_printing_rank() noexcept {
  const std::string rank = launched_rank();
  return rank.empty() || rank == "0";
}

int check_command(const std::string& job_path, std::ostream& out, std::ostream& err) {
  int status = kExitOk;
  auto job = load(job_path, err, status);
  if (!job) return status;
  try {
    if (is_printing_rank()) {
      print_plan(*job, out);
      const slurm::Environment env = slurm::environment_of_this_process();
      out << slurm::describe(env, slurm::derive(env));
    }
    for (const PlannedOutput& o : job->plan.outputs) {
      std::error_code ec;
      if (std::filesystem::exists(o.spec->path, ec) && is_printing_rank()) {
        out << "note: output file " << o.spec->file
            << " exists; `tessera run` needs --overwrite (or --resume)\n";
        break;
      }
    }
  } catch (const Error& e) {
    if (is_printing_rank()) err << "tessera: error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

int graph_command(const std::string& job_path, bool full, std::ostream& out, std::ostream& err) {
  int status = kExitOk;
  auto job = load(job_path, err, status);
  if (!job) return status;
  const std::vector<Array> arrays = output_arrays(job->plan);
  Graph graph;
  std::vector<std::vector<TaskId>> outputs;
  try {
    build_graph(arrays, graph, outputs);
    graph.resolve();
  } catch (const Error& e) {
    if (is_printing_rank()) err << "tessera: error: " << e.what() << "\n";
    return kExitFailed;
  }
  std::set<TaskId> is_output;
  for (const auto& o : outputs) is_output.insert(o.begin(), o.end());
  auto quoted = [](std::string_view s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  out << "digraph tessera {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  if (full) {
    for (TaskId id = 0; id < graph.size(); ++id) {
      out << "  t" << id << " [label=" << quoted(graph.key_string(id))
          << (is_output.count(id) ? ", style=bold" : "") << "];\n";
    }
    for (TaskId id = 0; id < graph.size(); ++id) {
      for (TaskId dep : graph.dependencies(id)) out << "  t" << dep << " -> t" << id << ";\n";
    }
  } else {
    std::vector<std::string> layers;
    std::map<std::string, std::size_t> counts;
    std::set<std::string> output_layers;
    for (TaskId id = 0; id < graph.size(); ++id) {
      const std::string name(graph.name_of(id));
      if (counts[name]++ == 0) layers.push_back(name);
      if (is_output.count(id)) output_layers.insert(name);
    }
    for (const std::string& l : layers) {
      // The label's two lines: DOT's own "\n" escape goes in after quoting (quoted() would escape it).
      std::string label = quoted(l);
      label.insert(label.size() - 1,
                   "\\n" + std::to_string(counts[l]) + " task" + (counts[l] == 1 ? "" : "s"));
      out << "  " << quoted(l) << " [label=" << label << (output_layers.count(l) ? ", style=bold" : "")
          << "];\n";
    }
    std::set<std::pair<std::string, std::string>> edges;
    for (TaskId id = 0; id < graph.size(); ++id) {
      for (TaskId dep : graph.dependencies(id)) {
        const auto edge = std::make_pair(std::string(graph.name_of(dep)), std::string(graph.name_of(id)));
        if (edge.first != edge.second && edges.insert(edge).second) {
          out << "  " << quoted(edge.first) << " -> " << quoted(edge.second) << ";\n";
        }
      }
    }
  }
  out << "}\n";
  return kExitOk;
}

int info_command(const std::string& file, const std::string& variable, std::ostream& out, std::ostream& err) {
  try {
    const io::FileInfo info = io::inspect(file);
    if (!variable.empty())
      info.variable(variable);  // a missing variable is an error listing the ones there are
    out << io::describe(info, variable);
    return kExitOk;
  } catch (const Error& e) {
    err << "tessera: error: " << e.what() << "\n";
    return e.code() == ErrorCode::kNotFound || e.code() == ErrorCode::kInvalidArgument ? kExitRejected
                                                                                       : kExitFailed;
  }
}

int run_command(const std::string& job_path, const RunCommandOptions& options, std::ostream& out,
                std::ostream& err) {
  const auto start = std::chrono::steady_clock::now();
  auto job = std::make_unique<Loaded>();
  try {
    job->spec = load_job(job_path);
  } catch (const Error& e) {
    return rejected(
        err, e.what(),
        e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kIo ? kExitFailed : kExitRejected);
  }
  const bool printing = is_printing_rank();
  const JobOptions& job_options = job->spec.options;
  const std::optional<std::uint64_t> memory_limit =
      options.memory_limit ? options.memory_limit : job_options.memory_limit;
  try {
    RuntimeOptions runtime_options = RuntimeOptions::from_environment();
    if (options.threads) {
      runtime_options.threads = *options.threads;
    } else if (job_options.threads > 0) {
      runtime_options.threads = job_options.threads;
    } else if (std::getenv("TESSERA_THREADS") == nullptr) {
      // Inside a Slurm allocation: the CPUs it gives each task (SLURM_CPUS_PER_TASK, or the node's CPUs
      // shared).
      const slurm::Derived derived = slurm::derive(slurm::environment_of_this_process());
      if (derived.threads_per_worker) runtime_options.threads = *derived.threads_per_worker;
    }
    // The memory limit per worker: --memory-limit, else the job's [options] memory_limit, else
    // TESSERA_MEMORY_LIMIT, else what the Slurm allocation gives each worker. Spill files go to the
    // allocation's node-local scratch when there is one (TESSERA_SPILL_DIR first), else $TMPDIR.
    {
      const slurm::Derived derived = slurm::derive(slurm::environment_of_this_process());
      if (memory_limit) {
        runtime_options.memory.limit = *memory_limit;
      } else if (runtime_options.memory.limit == 0 && derived.memory_per_worker) {
        runtime_options.memory.limit = *derived.memory_per_worker;
      }
      if (runtime_options.memory.spill_dir.empty()) runtime_options.memory.spill_dir = derived.scratch_dir;
    }
    // SIGUSR1 (Slurm's warning before the time limit), SIGTERM and Ctrl-C stop the run gracefully: running
    // tasks finish, their chunks stay in the journal, and the exit status says "resumable".
    install_stop_handlers();
    if (options.executor != ExecutorKind::kAuto) runtime_options.executor = options.executor;
    if (options.show_binding) runtime_options.mpi.show_binding = true;
    // The live dashboard: --dashboard, else [options] dashboard, else TESSERA_DASHBOARD. Its URL (the only
    // way in: it carries the token) goes to stderr even with -q.
    if (!options.dashboard.empty()) {
      runtime_options.dashboard.listen = options.dashboard;
    } else if (!job_options.dashboard.empty()) {
      runtime_options.dashboard.listen = job_options.dashboard;
    }
    ViewOptions view;
    view.report = !options.report.empty() ? options.report : job_options.report;
    view.trace = !options.trace.empty() ? options.trace : job_options.trace;
    view.summary = options.verbosity >= 1;
    configure_runtime(view, runtime_options);
    ProgressDisplay progress(err, stderr_is_tty());
    if (options.verbosity >= 1) runtime_options.progress = progress.options();
    Runtime runtime(runtime_options);
    // Planning, on every rank: archives' files are scanned by the ranks together, and the ranks agree on the
    // outcome, so that a job that cannot be planned on one rank (a file it sees differently) stops every rank
    // with the same message and status before any work.
    std::vector<io::OutputFile> files;
    std::exception_ptr failure;
    try {
      job->files = FileResolver(&runtime);
      job->plan = plan_job(job->spec, job->files);
      // Existing outputs are refused here, before any work, with the job file's location.
      if (!options.overwrite && !options.resume) {
        for (const PlannedOutput& o : job->plan.outputs) {
          std::error_code ec;
          if (std::filesystem::exists(o.spec->path, ec)) {
            throw Error(ErrorCode::kInvalidArgument,
                        format_diagnostic(job->spec.source.get(), o.spec->file_at,
                                          "output file '" + o.spec->file + "' already exists",
                                          "run with --overwrite to replace it (the old file stays until the "
                                          "new one is complete)"));
          }
        }
      }
      io::OutputOptions output_options;
      output_options.overwrite = options.overwrite;
      output_options.resume = options.resume;
      files = output_files(job->spec, job->plan, job->files, output_options);
    } catch (...) {
      failure = std::current_exception();
    }
    try {
      runtime.agree(failure);
    } catch (const Error& e) {
      if (runtime.rank() == 0) err << e.what() << "\n";
      return e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kIo ? kExitFailed : kExitRejected;
    }
    if (printing && options.verbosity >= 2) print_plan(*job, out);
    const io::StoreStats stats = io::store(runtime, files);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (runtime.rank() == 0 && options.verbosity >= 1) {
      const RunStats& run = runtime.last_stats();
      out << "tessera run " << job_path << ": done in " << std::fixed << std::setprecision(2) << seconds
          << " s\n"
          << std::defaultfloat;
      out << "  executor  " << runtime.executor().name() << " (" << runtime.executor().concurrency()
          << " threads" << (runtime.ranks() > 1 ? str_cat(" on ", runtime.ranks() - 1, " worker ranks") : "")
          << ")\n";
      out << "  tasks     " << run.graph_tasks << " (" << run.plan_tasks << " after fusion)\n";
      out << "  chunks    " << stats.chunks_written << " written";
      if (stats.chunks_resumed > 0) out << ", " << stats.chunks_resumed << " resumed from the journal";
      out << "\n  bytes     " << format_bytes(static_cast<double>(stats.logical_bytes)) << " of data, "
          << format_bytes(static_cast<double>(stats.bytes_written)) << " written\n";
      if (runtime_options.memory.limit > 0) {
        out << "  memory    limit " << format_bytes(static_cast<double>(runtime_options.memory.limit))
            << " per worker, peak " << format_bytes(static_cast<double>(run.peak_held_bytes)) << " held, "
            << format_bytes(static_cast<double>(run.bytes_spilled)) << " spilled\n";
      }
      for (const io::OutputFile& f : files) {
        out << "  wrote     " << f.path() << ":";
        for (const auto& v : f.variables()) {
          out << " " << v.name << " " << format_shape(v.data.shape()) << " " << name_of(v.data.dtype());
        }
        out << "\n";
      }
    }
    finish_views(runtime, view, out);  // rank 0: where time went, report and trace files
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kCancelled && stop_requested()) {
      if (printing) {
        err << "tessera: " << e.what() << "\n"
            << "tessera: the chunks written so far are kept in the outputs' journals; run the same command "
               "with "
               "--resume to continue (exit status "
            << slurm::kExitResumable << ": incomplete, resumable)\n";
      }
      return slurm::kExitResumable;
    }
    if (printing) err << "tessera: error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace tessera::jobs
