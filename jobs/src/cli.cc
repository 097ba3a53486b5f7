#include "tessera/jobs/cli.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include "tessera/jobs/demo.h"
#include "tessera/runtime/error.h"
#include "tessera/version.h"

namespace tessera::jobs {

int run_cli(int argc, char** argv) {
  CLI::App app{"tessera: chunked task graphs for HPC batch jobs"};
  app.set_version_flag("--version", std::string("tessera ") + TESSERA_VERSION);
  app.require_subcommand(1);

  RuntimeOptions runtime_options;
  std::string executor = "threads";
  DemoOptions demo_options;
  auto* demo = app.add_subcommand("demo", "Run a small self-checking pipeline on this machine");
  demo->add_option("--threads", runtime_options.threads, "Worker threads (default: all CPUs this process may use)")
      ->check(CLI::NonNegativeNumber);
  demo->add_option("--executor", executor, "threads or sync")->check(CLI::IsMember({"threads", "sync"}));
  demo->add_option("--samples", demo_options.samples, "Random points in total")->check(CLI::PositiveNumber);
  demo->add_option("--chunk", demo_options.chunk, "Points per task")->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (demo->parsed()) {
      runtime_options.executor = executor == "sync" ? ExecutorKind::kSync : ExecutorKind::kThreads;
      Runtime runtime(runtime_options);
      run_demo(runtime, demo_options, std::cout);
    }
  } catch (const Error& e) {
    std::cerr << "tessera: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tessera::jobs
