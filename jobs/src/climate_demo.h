// `tessera demo`: writes a realistic synthetic climate file and runs the standardized-anomaly and
// monthly-climatology job files on it, printing where the results are.
#pragma once

#include <ostream>
#include <string>

#include "tessera/jobs/commands.h"
#include "tessera/runtime/runtime.h"

namespace tessera::jobs {

struct ClimateDemoOptions {
  std::string dir = "tessera-demo";  // created if missing; the files in it are replaced
  int years = 2;                     // daily values, noleap calendar
  double resolution = 1.0;           // grid spacing in degrees (1.0: 180 x 360)
  RunCommandOptions run;             // threads, executor, report/trace, verbosity for the two jobs
};

// The synthetic input: t2m(time, lat, lon) in K, float32: a latitude profile, a seasonal cycle of opposite
// sign in the two hemispheres, day-to-day weather noise (counter-based, so the file is the same on any
// executor), and continents whose points are missing (_FillValue 1e20); CF time "days since 2000-01-01",
// noleap; lat/lon coordinates. Collective under MPI. Returns the file's path.
std::string write_demo_climate(Runtime& runtime, const ClimateDemoOptions& options);

// Writes the input and the two job files into options.dir, runs them (as `tessera run` does) and prints where
// everything is. Returns the exit status of the first job that fails, else 0.
int run_climate_demo(const ClimateDemoOptions& options, const RuntimeOptions& runtime_options,
                     std::ostream& out, std::ostream& err);

}  // namespace tessera::jobs
