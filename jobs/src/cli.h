// The `tessera` command line.
#pragma once

namespace tessera::jobs {

// Runs the command line and returns the process exit status (see docs/cli.md for the codes).
int run_cli(int argc, char** argv);

}  // namespace tessera::jobs
