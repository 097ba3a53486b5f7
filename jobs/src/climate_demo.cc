#include "climate_demo.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <utility>

#include <unistd.h>

#include "tessera/io/io.h"

namespace tessera::jobs {

namespace {

constexpr double kPi = 3.14159265358979323846;

constexpr const char* kAnomalyJob =
    R"JOB(# Standardized anomaly: how unusual each day is at each grid point, in standard deviations of that point's
# whole record. Land is missing in the input and stays missing.
[inputs.t]
file = "climate.nc"
variable = "t2m"

[arrays]
mean_t = "mean(t, axis=0)"
std_t = "std(t, axis=0)"
anom = "(t - mean_t) / std_t"

[outputs.anom]
file = "standardized_anomaly.nc"
compression = 1
attributes = { units = "1", long_name = "standardized 2 metre temperature anomaly" }
)JOB";

constexpr const char* kMonthlyJob =
    R"JOB(# Monthly climatology (the mean of every January, every February, ...) from the decoded CF time axis (a noleap
# calendar here), the anomalies from it, and the area-weighted (cos latitude) global mean of those anomalies.
[inputs.t]
file = "climate.nc"
variable = "t2m"

[inputs.lat]
file = "climate.nc"
variable = "lat"

[arrays]
clim = 'groupby_mean(t, "time.month")'
anom = 'anomaly(t, "time.month")'
weights = "expand_dims(cos(radians(lat)), 1)"    # (lat, 1): lines up with the lat axis of anom
global_anom = "weighted_mean(anom, weights, axis=[1, 2])"

[outputs.climatology]
file = "monthly.nc"
expression = "clim"
attributes = { units = "K", long_name = "monthly climatology of 2 metre temperature" }

[outputs.anomaly]
file = "monthly.nc"
expression = "anom"
compression = 1
attributes = { units = "K", long_name = "2 metre temperature anomaly from the monthly climatology" }

[outputs.global_anomaly]
file = "monthly.nc"
expression = "global_anom"
attributes = { units = "K", long_name = "area-weighted global mean anomaly" }
)JOB";

}  // namespace

std::string write_demo_climate(Runtime& runtime, const ClimateDemoOptions& o) {
  if (o.years < 1 || o.years > 200)
    throw_error(ErrorCode::kInvalidArgument, "--years ", o.years, ": 1 to 200");
  if (!(o.resolution >= 0.1 && o.resolution <= 30)) {
    throw_error(ErrorCode::kInvalidArgument, "--resolution ", o.resolution, ": 0.1 to 30 degrees");
  }
  const std::int64_t days = 365LL * o.years;
  const auto nlat = static_cast<std::int64_t>(std::lround(180.0 / o.resolution));
  const auto nlon = static_cast<std::int64_t>(std::lround(360.0 / o.resolution));
  // One storage chunk per 73 days (a fifth of a year) of a quarter of the globe: several MB each.
  const Shape chunks{73, std::max<std::int64_t>(1, nlat / 2), std::max<std::int64_t>(1, nlon / 2)};

  const double d = o.resolution;
  Array lat1 = arange(-90 + d / 2, 90, d, nlat, DType::kFloat64);  // cell centres
  Array lon1 = arange(d / 2, 360, d, nlon, DType::kFloat64);
  Array time1 = arange(0, static_cast<double>(days), 1, days, DType::kFloat64);
  Array lat = expand_dims(expand_dims(lat1, 0), 2);  // (1, nlat, 1)
  Array lon = expand_dims(expand_dims(lon1, 0), 0);  // (1, 1, nlon)
  Array t = expand_dims(expand_dims(time1, 1), 2);   // (days, 1, 1)
  Array phi = lat * (kPi / 180), lam = lon * (kPi / 180);
  Array base = 288.0 - 30.0 * sin(phi) * sin(phi);
  Array seasonal = 12.0 * sin(phi) * cos((t - 15.0) * (2 * kPi / 365));
  Array noise = random_normal({days, nlat, nlon}, chunks, 2026, DType::kFloat64, 0, 2.0);
  // Continents: smooth blobs of the sphere, the same at every time.
  Array land = (sin(lam * 2.0 + 0.5) * cos(phi * 3.0) + 0.6 * cos(lam * 5.0 - 1.0) * cos(phi)) > 0.75;
  Array t2m = where(land, Scalar(1e20), base + seasonal + noise).astype(DType::kFloat32).rechunk(chunks);

  std::filesystem::create_directories(o.dir);
  const std::string path = (std::filesystem::path(o.dir) / "climate.nc").string();
  io::OutputFile out(path, {.overwrite = true});
  out.add("t2m", t2m,
          {.dims = {"time", "lat", "lon"},
           .attributes = {{"units", "K"},
                          {"long_name", "2 metre temperature"},
                          {"standard_name", "air_temperature"}},
           .fill_value = 1e20,
           .storage_chunks = chunks,
           .gzip = 1});
  const Chunk lat_values = compute(runtime, lat1);
  const Chunk lon_values = compute(runtime, lon1);
  const Chunk time_values = compute(runtime, time1);
  out.add_coordinate({"time", time_values, {{"units", "days since 2000-01-01"}, {"calendar", "noleap"}}});
  out.add_coordinate({"lat", lat_values, {{"units", "degrees_north"}, {"standard_name", "latitude"}}});
  out.add_coordinate({"lon", lon_values, {{"units", "degrees_east"}, {"standard_name", "longitude"}}});
  out.set_attribute("title", "tessera demo: synthetic daily 2 metre temperature");
  out.set_attribute("Conventions", "CF-1.8");
  io::store(runtime, out);
  return path;
}

int run_climate_demo(const ClimateDemoOptions& o, const RuntimeOptions& runtime_options, std::ostream& out,
                     std::ostream& err) {
  const bool printing = is_printing_rank();
  const auto start = std::chrono::steady_clock::now();
  std::string input;
  {
    Runtime runtime(runtime_options);
    if (printing) {
      out << "tessera demo: writing a synthetic climate file (" << o.years
          << " years of daily 2 metre temperature, " << o.resolution << " degree grid, land missing) to "
          << o.dir << "/climate.nc\n";
    }
    input = write_demo_climate(runtime, o);
    if (printing) {
      const io::FileInfo info = io::inspect(input);
      out << io::describe(info);
    }
  }
  const std::string anomaly_job = (std::filesystem::path(o.dir) / "standardized_anomaly.toml").string();
  const std::string monthly_job = (std::filesystem::path(o.dir) / "monthly_climatology.toml").string();
  // Every rank reads the job files, so every rank writes them (same bytes, atomically renamed into place):
  // no rank may look for a file another has not written yet.
  for (const auto& [path, text] :
       {std::pair{anomaly_job, kAnomalyJob}, std::pair{monthly_job, kMonthlyJob}}) {
    const std::string tmp = str_cat(path, ".tmp-", ::getpid());
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path);
  }
  RunCommandOptions run = o.run;
  run.overwrite = true;
  for (const std::string& job : {anomaly_job, monthly_job}) {
    if (printing) out << "\n$ tessera run " << job << "\n";
    const int status = run_command(job, run, out, err);
    if (status != kExitOk) return status;
  }
  if (printing) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out << "\ntessera demo: done in " << std::fixed << std::setprecision(1) << seconds << " s. In " << o.dir
        << ":\n"
        << "  climate.nc                 the input (tessera info " << o.dir << "/climate.nc)\n"
        << "  standardized_anomaly.nc    (t - mean) / std per grid point        <- "
           "standardized_anomaly.toml\n"
        << "  monthly.nc                 monthly climatology, anomalies, global mean anomaly  <- "
           "monthly_climatology.toml\n"
        << "Look at them with xarray (xarray.open_dataset(\"" << o.dir
        << "/monthly.nc\")) or ncdump -h; edit the\n"
        << "job files and run them again with `tessera run JOB --overwrite`, or across ranks with\n"
        << "`mpirun --bind-to none -n 3 tessera run JOB --overwrite`.\n";
  }
  return kExitOk;
}

}  // namespace tessera::jobs
