// The umbrella header alone brings every module tessera::tessera links (runtime, arrays, io, slurm).
#include <tessera/tessera.h>

#include <cstdio>
#include <iostream>

int main() {
  tessera::Runtime rt;
  auto inc = tessera::delayed([](int x) { return x + 1; }, "inc");
  auto add = tessera::delayed([](int a, int b) { return a + b; }, "add");
  std::cout << "inc(1) + inc(2) = " << rt.compute(add(inc(1), inc(2))) << " (tessera " << TESSERA_VERSION
            << ")\n";
  // The installed io module: write a small NetCDF-4 file and read it back.
  const std::string path = "consumer_roundtrip.nc";
  std::remove(path.c_str());
  tessera::io::OutputFile out(path);
  out.add("x", tessera::arange(10, 4), {.dims = {"n"}});
  tessera::io::store(rt, out);
  const tessera::Chunk back = tessera::compute(rt, tessera::io::read(path, "x").data.sum());
  std::cout << "sum read back = " << back.flat(0) << "\n";
  const tessera::slurm::Environment env = tessera::slurm::parse_environment({{"SLURM_JOB_ID", "7"}});
  std::cout << "inside a Slurm job: " << (env.inside ? "yes" : "no") << "\n";
  return 0;
}
