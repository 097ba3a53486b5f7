#include "tessera/jobs/cli.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "tessera/jobs/demo.h"
#include "tessera/runtime/error.h"
#include "tessera/version.h"

namespace tessera::jobs {

int run_cli(int argc, char** argv) {
  CLI::App app{"tessera: chunked task graphs for HPC batch jobs"};
  app.set_version_flag("--version", std::string("tessera ") + TESSERA_VERSION);
  app.require_subcommand(1);

  RuntimeOptions runtime_options = RuntimeOptions::from_environment();
  std::string executor = "auto";
  bool show_binding = false;
  bool no_bind = false;
  DemoOptions demo_options;
  auto* demo = app.add_subcommand("demo", "Run a small self-checking pipeline on this machine");
  demo->add_option("--threads", runtime_options.threads,
                   "Worker threads (default: all CPUs this process may use)")
      ->check(CLI::NonNegativeNumber);
  demo->add_option("--executor", executor, "auto (MPI under mpirun/srun, else threads), threads, sync or mpi")
      ->check(CLI::IsMember({"auto", "threads", "sync", "mpi"}));
  demo->add_flag("--show-binding", show_binding,
                 "Under MPI: print where each worker runs (NUMA domains, cores)");
  demo->add_flag("--no-bind", no_bind, "Under MPI: do not pin workers and threads with hwloc");
  demo->add_option("--samples", demo_options.samples, "Random points in total")->check(CLI::PositiveNumber);
  demo->add_option("--chunk", demo_options.chunk, "Points per task")->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

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
      Runtime runtime(runtime_options);
      run_demo(runtime, demo_options, std::cout);
    }
  } catch (const Error& e) {
    // Errors are the same on every rank (the runtime makes sure), so one rank says it.
    if (std::getenv("OMPI_COMM_WORLD_RANK") == nullptr ||
        std::string(std::getenv("OMPI_COMM_WORLD_RANK")) == "0") {
      std::cerr << "tessera: error: " << e.what() << "\n";
    }
    return 1;
  }
  return 0;
}

}  // namespace tessera::jobs
