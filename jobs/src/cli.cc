#include "cli.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "climate_demo.h"
#include "demo.h"
#include "tessera/jobs/commands.h"
#include "tessera/jobs/job_file.h"
#include "tessera/jobs/run_view.h"
#include "tessera/runtime/dashboard.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "tessera/slurm/slurm.h"
#include "tessera/version.h"

namespace tessera::jobs {
namespace {

// The node shape `tessera slurm` writes for: --node-shape, else what Slurm says of the partition, else this
// machine's (with a warning). Says which on `err`.
slurm::NodeShape node_shape_for_script(const std::string& spec, const std::string& partition,
                                       std::ostream& err) {
  if (!spec.empty()) return slurm::parse_node_shape(spec);
  std::string why_not;
  if (auto shape = slurm::query_node_shape(partition, &why_not)) return *shape;
  err << "tessera slurm: warning: Slurm cannot be asked for the nodes' shape (" << why_not
      << "); writing for this machine's. Give --node-shape to write for the cluster's nodes\n";
  return slurm::this_machine_shape();
}

// The job file must parse (a mistake found now does not wait in the queue), and the tasks of a job array
// must not write the same files.
void check_job_for_slurm(const std::string& path, const std::string& array) {
  if (array.empty()) {
    load_job(path, {});
    return;
  }
  const slurm::ArraySpec spec = slurm::parse_array(array);
  auto task = [&](int id) { return load_job(path, {{"SLURM_ARRAY_TASK_ID", std::to_string(id)}}); };
  const JobSpec first = task(spec.ids.front());
  if (spec.ids.size() < 2) return;
  const JobSpec second = task(spec.ids[1]);
  for (std::size_t i = 0; i < first.outputs.size(); ++i) {
    if (first.outputs[i].path == second.outputs[i].path) {
      const std::filesystem::path file = first.outputs[i].file;
      const std::string suggestion = (file.parent_path() / (file.stem().string() + "_${SLURM_ARRAY_TASK_ID}" +
                                                            file.extension().string()))
                                         .string();
      throw_error(ErrorCode::kInvalidArgument, "--array ", array, ": every task would write ", file.string(),
                  " (output '", first.outputs[i].name,
                  "'): put ${SLURM_ARRAY_TASK_ID} in its file name, e.g. "
                  "file = \"",
                  suggestion, "\" (docs/slurm.md, \"Job arrays\")");
    }
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"tessera: chunked task graphs for HPC batch jobs"};
  app.set_version_flag("--version", std::string("tessera ") + TESSERA_VERSION);
  app.require_subcommand(1);

  RuntimeOptions runtime_options = RuntimeOptions::from_environment();
  std::string executor = "auto";
  bool show_binding = false;
  bool no_bind = false;
  DemoOptions demo_options;
  ClimateDemoOptions climate;
  bool pi_demo = false;
  auto* demo = app.add_subcommand(
      "demo", "Write a synthetic climate file and run the anomaly and monthly-climatology jobs on it");
  demo->add_option("--threads", runtime_options.threads,
                   "Worker threads (default: all CPUs this process may use)")
      ->check(CLI::NonNegativeNumber);
  demo->add_option("--executor", executor, "auto (MPI under mpirun/srun, else threads), threads, sync or mpi")
      ->check(CLI::IsMember({"auto", "threads", "sync", "mpi"}));
  demo->add_flag("--show-binding", show_binding,
                 "Under MPI: print where each worker runs (NUMA domains, cores)");
  demo->add_flag("--no-bind", no_bind, "Under MPI: do not pin workers and threads with hwloc");
  demo->add_option("--dir", climate.dir, "Where the demo writes its files")->capture_default_str();
  demo->add_option("--years", climate.years, "Years of daily data")
      ->check(CLI::Range(1, 200))
      ->capture_default_str();
  demo->add_option("--resolution", climate.resolution, "Grid spacing in degrees")
      ->check(CLI::Range(0.1, 30.0))
      ->capture_default_str();
  demo->add_flag("--pi", pi_demo,
                 "Instead: estimate pi by Monte Carlo (a self-checking task-graph pipeline)");
  demo->add_option("--samples", demo_options.samples, "--pi: random points in total")
      ->check(CLI::PositiveNumber);
  demo->add_option("--chunk", demo_options.chunk, "--pi: points per task")->check(CLI::PositiveNumber);
  ViewOptions demo_view;
  demo->add_option("--report", demo_view.report,
                   "Write an HTML performance report of the run (docs/tracing.md)");
  demo->add_option("--trace", demo_view.trace, "Write a Chrome trace-event file of the run (Perfetto)");

  std::string job_path;
  RunCommandOptions run_options;
  std::string run_executor = "auto";
  std::string memory_limit;
  bool verbose = false, quiet = false;
  auto* run = app.add_subcommand("run", "Run a job file: compute its arrays and write its outputs");
  run->add_option("job", job_path, "The job file (TOML; see docs/jobs.md)")->required();
  run->add_option("--threads", run_options.threads,
                  "Threads (per worker under MPI); overrides [options] threads")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--memory-limit", memory_limit,
                  "Memory limit per worker, e.g. 8GB: results past 60% of it spill to disk (docs/memory.md)")
      ->check([](const std::string& text) -> std::string {
        try {
          parse_size(text, "--memory-limit");
          return "";
        } catch (const Error& e) {
          return e.what();
        }
      });
  run->add_flag("--overwrite", run_options.overwrite,
                "Replace existing output files (once the new ones are complete)");
  run->add_flag("--resume", run_options.resume, "Continue an interrupted run from its journal");
  run->add_option("--executor", run_executor,
                  "auto (MPI under mpirun/srun, else threads), threads, sync or mpi")
      ->check(CLI::IsMember({"auto", "threads", "sync", "mpi"}));
  auto* verbose_flag = run->add_flag("-v,--verbose", verbose, "Print the plan before running");
  run->add_flag("-q,--quiet", quiet, "Print errors only")->excludes(verbose_flag);
  run->add_option(
      "--report", run_options.report,
      "Write an HTML performance report of the run (docs/tracing.md); overrides [options] report");
  run->add_option("--trace", run_options.trace,
                  "Write a Chrome trace-event file of the run (Perfetto); overrides [options] trace");
  run->add_flag("--show-binding", run_options.show_binding,
                "Under MPI: print where each worker runs (NUMA domains, cores) and its threads");
  run->add_option(
         "--dashboard", run_options.dashboard,
         "Serve a live dashboard of the run on [HOST:]PORT (default host 127.0.0.1; 0: a free port); "
         "rank 0 prints its URL with an access token (docs/dashboard.md); overrides [options] "
         "dashboard")
      ->check([](const std::string& text) -> std::string {
        try {
          parse_listen_address(text);
          return "";
        } catch (const Error& e) {
          return e.what();
        }
      });

  std::string check_path;
  auto* check =
      app.add_subcommand("check", "Validate a job file and print its plan without running anything");
  check->add_option("job", check_path, "The job file")->required();

  std::string graph_path;
  bool graph_full = false;
  auto* graph = app.add_subcommand("graph", "Print the job's task graph as Graphviz DOT (dot -Tsvg)");
  graph->add_option("job", graph_path, "The job file")->required();
  graph->add_flag("--full", graph_full, "One node per task instead of one per operation");
  std::string graph_svg;
  graph->add_option("--svg", graph_svg, "Render the graph to this SVG file with Graphviz's dot");

  std::string info_file, info_variable;
  auto* info = app.add_subcommand(
      "info", "Describe an HDF5/NetCDF file: variables, shapes, dtypes, chunks, attributes");
  info->add_option("file", info_file, "The file")->required();
  info->add_option("variable", info_variable, "Only this variable, with all its attributes");

  slurm::ScriptOptions script;
  std::string script_job, node_shape;
  std::optional<int> workers_per_node, cpus_per_worker;
  bool no_requeue = false, no_exclusive = false;
  auto* sbatch = app.add_subcommand(
      "slurm",
      "Print an sbatch script that runs a job on whole nodes of a Slurm cluster (see docs/slurm.md)");
  sbatch->add_option("job", script_job, "The job file")->required();
  sbatch->add_option("-N,--nodes", script.nodes, "Nodes")->check(CLI::PositiveNumber)->capture_default_str();
  sbatch
      ->add_option(
          "--workers-per-node", workers_per_node,
          "Worker ranks per node (default: one per NUMA domain, else per socket, of the partition's nodes)")
      ->check(CLI::PositiveNumber);
  sbatch
      ->add_option(
          "--cpus-per-worker", cpus_per_worker,
          "CPUs per worker rank, Slurm's --cpus-per-task (default: the node's CPUs / workers per node)")
      ->check(CLI::PositiveNumber);
  sbatch->add_option("-p,--partition", script.partition, "Partition (its node shape comes from sinfo)");
  sbatch->add_option("--node-shape", node_shape,
                     "The nodes' shape when Slurm cannot be asked, e.g. sockets=2,cores=32,mem=256GB "
                     "(keys: sockets, cores per socket, threads per core, numa, mem)");
  sbatch->add_option("-t,--time", script.time, "Time limit (Slurm formats: HH:MM:SS, D-HH:MM, ...)")
      ->capture_default_str();
  sbatch->add_option("-A,--account", script.account, "Account to charge");
  sbatch->add_option(
      "--mem", script.mem,
      "Memory per node, in bytes or with a unit (e.g. 200GB, 256GiB); default: all of it (--mem=0)");
  sbatch->add_flag(
      "--no-exclusive", no_exclusive,
      "Share nodes with other jobs: hold only the workers' CPUs (and --mem) instead of whole nodes");
  sbatch->add_option(
      "--array", script.array,
      "A job array: N tasks (0..N-1) or Slurm's syntax (1981-2010, 0-49%10); the job file uses "
      "${SLURM_ARRAY_TASK_ID}");
  sbatch
      ->add_option("--stop-lead", script.stop_lead_seconds,
                   "Seconds before the time limit at which tessera stops gracefully")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sbatch->add_flag("--no-requeue", no_requeue, "Do not requeue the job when it stops at the time limit");
  sbatch->add_option("--output", script.output,
                     "Slurm's --output pattern (default %x-%j.out, arrays %x-%A_%a.out)");
  sbatch->add_option("run-args", script.run_args,
                     "Extra arguments for `tessera run`, after --: tessera slurm job.toml -- --threads 8");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (sbatch->parsed()) {
    try {
      std::error_code ec;
      script.job = std::filesystem::absolute(script_job, ec).lexically_normal().string();
      if (!std::filesystem::exists(script.job)) {
        throw_error(ErrorCode::kNotFound, "no such job file: ", script_job);
      }
      check_job_for_slurm(script.job, script.array);
      const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (!ec) script.tessera = self.string();
      script.node = node_shape_for_script(node_shape, script.partition, std::cerr);
      script.workers_per_node = workers_per_node;
      script.cpus_per_worker = cpus_per_worker;
      script.exclusive = !no_exclusive;
      script.requeue = !no_requeue;
      const std::string text = slurm::make_script(script);
      for (const std::string& note : slurm::plan_layout(script).notes) {
        std::cerr << "tessera slurm: " << note << "\n";
      }
      std::cout << text;
    } catch (const Error& e) {
      std::cerr << "tessera: error: " << e.what() << "\n";
      return e.code() == ErrorCode::kNotFound ? 1 : 2;
    }
    return 0;
  }

  if (run->parsed()) {
    if (!memory_limit.empty()) run_options.memory_limit = parse_size(memory_limit, "--memory-limit");
    run_options.executor = run_executor == "sync"      ? ExecutorKind::kSync
                           : run_executor == "threads" ? ExecutorKind::kThreads
                           : run_executor == "mpi"     ? ExecutorKind::kMpi
                                                       : ExecutorKind::kAuto;
    run_options.verbosity = quiet ? 0 : verbose ? 2 : 1;
    return run_command(job_path, run_options, std::cout, std::cerr);
  }
  if (check->parsed()) return check_command(check_path, std::cout, std::cerr);
  if (graph->parsed()) {
    if (graph_svg.empty()) return graph_command(graph_path, graph_full, std::cout, std::cerr);
    return graph_svg_command(graph_path, graph_full, graph_svg, std::cout, std::cerr);
  }
  if (info->parsed()) return info_command(info_file, info_variable, std::cout, std::cerr);

  try {
    if (demo->parsed()) {
      if (demo->count("--executor") > 0) {
        runtime_options.executor = executor == "sync"      ? ExecutorKind::kSync
                                   : executor == "threads" ? ExecutorKind::kThreads
                                   : executor == "mpi"     ? ExecutorKind::kMpi
                                                           : ExecutorKind::kAuto;
      }
      if (show_binding) runtime_options.mpi.show_binding = true;
      if (no_bind) runtime_options.mpi.bind = false;
      if (!pi_demo) {
        climate.run.executor = runtime_options.executor;
        if (runtime_options.threads > 0) climate.run.threads = runtime_options.threads;
        climate.run.report = demo_view.report;  // of the second job (the monthly climatology)
        climate.run.trace = demo_view.trace;
        return run_climate_demo(climate, runtime_options, std::cout, std::cerr);
      }
      demo_view.summary = !demo_view.report.empty() || !demo_view.trace.empty();
      configure_runtime(demo_view, runtime_options);
      ProgressDisplay progress(std::cerr, stderr_is_tty());
      runtime_options.progress = progress.options();
      Runtime runtime(runtime_options);
      run_demo(runtime, demo_options, std::cout);
      finish_views(runtime, demo_view, std::cout);
    }
  } catch (const Error& e) {
    // Errors are the same on every rank (the runtime makes sure), so one rank says it.
    if (is_printing_rank()) std::cerr << "tessera: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tessera::jobs
