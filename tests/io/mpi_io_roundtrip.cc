// Under mpiexec: the same read -> anomaly -> store pipeline on the MPI executor and on local threads must
// write byte-identical files (NetCDF-4, compressed and not). Exit status non-zero on any rank when they
// differ.
#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "tessera/io/io.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

void pipeline(Runtime& rt, const std::string& dir) {
  Array t = random_normal({48, 20, 30}, {12, 10, 15}, 5, DType::kFloat32) * 5 + 280;
  io::OutputFile in(dir + "/in.nc");
  in.add("t", t, {.dims = {"time", "lat", "lon"}, .attributes = {{"units", "K"}}});
  io::store(rt, in);
  io::Variable v = io::read(dir + "/in.nc", "t", {.chunks = Shape{8, 20, 15}});
  Array anom = (v.data - v.data.mean(0)) / v.data.std(0);
  io::OutputFile out(dir + "/anom.nc");
  out.add("anom", anom, {.dims = v.dims, .gzip = 1});
  out.add("clim", v.data.mean(0), {.dims = {"lat", "lon"}});
  io::OutputFile raw(dir + "/anom_raw.h5", {.netcdf = false});
  raw.add("anom", anom);
  io::OutputFile both[] = {std::move(out), std::move(raw)};
  io::store(rt, both);
}

std::string bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: mpi_io_roundtrip WORKDIR\n";
    return 2;
  }
  const std::string work = argv[1];
  Runtime rt;
  if (rt.rank() == 0) {
    fs::remove_all(work);
    fs::create_directories(work + "/mpi");
    fs::create_directories(work + "/local");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  try {
    pipeline(rt, work + "/mpi");
  } catch (const std::exception& e) {
    std::cerr << "rank " << rt.rank() << ": " << e.what() << "\n";
    return 1;
  }
  if (rt.rank() != 0) return 0;
  RuntimeOptions o;
  o.executor = ExecutorKind::kThreads;
  o.threads = 2;
  Runtime local(o);
  pipeline(local, work + "/local");
  int failures = 0;
  for (const char* name : {"in.nc", "anom.nc", "anom_raw.h5"}) {
    const std::string a = bytes_of(work + "/mpi/" + name), b = bytes_of(work + "/local/" + name);
    const bool same = !a.empty() && a == b;
    std::cout << name << ": " << (same ? "identical" : "DIFFERENT") << " (" << a.size() << " / " << b.size()
              << " bytes, " << rt.ranks() << " ranks vs local threads)\n";
    failures += same ? 0 : 1;
  }
  if (failures == 0) fs::remove_all(work);
  return failures == 0 ? 0 : 1;
}
