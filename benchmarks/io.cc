// `read` and `write` benchmarks: a float32 chunked HDF5 dataset (1 GiB; --quick 256 MiB) read through tessera
// vs the raw file's page-cache read in the same run, and written by tessera vs a plain sequential write of
// the same bytes (both synced to disk). h5py and Dask are the peers (benchmarks/peers/io_dask.py).
//
//   bench_io read|write [--quick] [--reps N] [--dir DIR]
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "bench_util.h"
#include "tessera/io/io.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

struct Setup {
  Shape shape, chunks;
  std::string dir, file;
  std::string case_name;
};

Setup setup(int argc, char** argv) {
  Setup s;
  const bool quick = bench::has_flag(argc, argv, "--quick");
  s.shape = quick ? Shape{256, 512, 512} : Shape{1024, 512, 512};
  s.chunks = {64, 128, 128};  // 4 MiB storage chunks
  s.dir = fs::temp_directory_path() / "tessera-bench-io";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--dir") s.dir = argv[i + 1];
  }
  fs::create_directories(s.dir);
  s.case_name = str_cat(quick ? "256MiB" : "1GiB", "-f32-c64x128x128");
  s.file = s.dir + "/data-" + s.case_name + ".h5";
  return s;
}

Runtime& runtime() {
  static Runtime rt;
  return rt;
}

Array data(const Setup& s) {
  return full(s.shape, s.chunks, 1.5, DType::kFloat32);
}

double gbps(double bytes, double seconds) {
  return bytes / seconds / 1e9;
}

void bench_read(const Setup& s, int reps) {
  if (!fs::exists(s.file)) {
    io::OutputFile out(s.file, {.netcdf = false});
    out.add("x", data(s), {.storage_chunks = s.chunks});
    io::store(runtime(), out);
  }
  const double bytes = static_cast<double>(num_elements(s.shape)) * 4;
  const std::uint64_t file_bytes = fs::file_size(s.file);
  const int threads = runtime().executor().concurrency();
  // Raw: the whole file with pread into memory (a destination as large as the data, touched beforehand, as
  // tessera's reused chunk buffers are), split among the same number of threads.
  std::vector<char> dest(file_bytes);
  std::memset(dest.data(), 1, dest.size());
  std::vector<double> raw, raw_cached, tess;
  for (int r = 0; r < reps + 1; ++r) {  // first rep warms the page cache
    const double t0 = bench::now_seconds();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const int fd = ::open(s.file.c_str(), O_RDONLY);
        const std::uint64_t lo = file_bytes * t / threads, hi = file_bytes * (t + 1) / threads;
        const std::uint64_t block = std::uint64_t{8} << 20;
        for (std::uint64_t at = lo; at < hi; at += block) {
          if (::pread(fd, dest.data() + at, std::min(block, hi - at), static_cast<off_t>(at)) < 0) break;
        }
        ::close(fd);
      });
    }
    for (auto& p : pool) p.join();
    if (r > 0) raw.push_back(bench::now_seconds() - t0);

    // The same reads into one reused 8 MiB buffer per thread (cache-resident: the kernel's copy alone, not
    // what reading a file into memory costs; shown for reference).
    const double t2 = bench::now_seconds();
    pool.clear();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const int fd = ::open(s.file.c_str(), O_RDONLY);
        std::vector<char> buf(std::size_t{8} << 20);
        const std::uint64_t lo = file_bytes * t / threads, hi = file_bytes * (t + 1) / threads;
        for (std::uint64_t at = lo; at < hi; at += buf.size()) {
          if (::pread(fd, buf.data(), std::min<std::uint64_t>(buf.size(), hi - at), static_cast<off_t>(at)) <
              0)
            break;
        }
        ::close(fd);
      });
    }
    for (auto& p : pool) p.join();
    if (r > 0) raw_cached.push_back(bench::now_seconds() - t2);

    const double t1 = bench::now_seconds();
    io::Variable v = io::read(s.file, "x");
    // Keep one element per chunk: the chunks are read into memory, nothing else is computed.
    std::vector<std::vector<std::int64_t>> ones;
    for (int a = 0; a < 3; ++a) ones.emplace_back(static_cast<std::size_t>(v.data.chunks().num_chunks(a)), 1);
    Array firsts = map_blocks(
        [](std::span<const Chunk* const> in, std::span<const std::int64_t>) {
          return Chunk::from<float>({1, 1, 1}, std::vector<float>{in[0]->data<float>()[0]});
        },
        std::vector<Array>{v.data}, DType::kFloat32, ChunkGrid(v.data.chunks().grid_shape(), ones));
    compute(runtime(), firsts);
    if (r > 0) tess.push_back(bench::now_seconds() - t1);
  }
  bench::emit("read", "raw", s.case_name, "throughput", gbps(bytes, bench::median(raw)), "GB/s");
  bench::emit("read", "raw-reused-buffer", s.case_name, "throughput", gbps(bytes, bench::median(raw_cached)),
              "GB/s");
  bench::emit("read", "tessera-local", s.case_name, "throughput", gbps(bytes, bench::median(tess)), "GB/s");
  bench::emit("read", "tessera-local", s.case_name, "wall", bench::median(tess), "s");
}

void bench_write(const Setup& s, int reps) {
  const double bytes = static_cast<double>(num_elements(s.shape)) * 4;
  std::vector<double> raw, tess;
  std::vector<char> block(std::size_t{8} << 20, 0);
  for (int r = 0; r < reps; ++r) {
    const std::string plain = s.dir + "/plain.bin";
    fs::remove(plain);
    const double t0 = bench::now_seconds();
    const int fd = ::open(plain.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (double done = 0; done < bytes; done += static_cast<double>(block.size())) {
      if (::write(fd, block.data(), block.size()) < 0) break;
    }
    ::fdatasync(fd);
    ::close(fd);
    raw.push_back(bench::now_seconds() - t0);
    fs::remove(plain);

    const std::string out = s.dir + "/out.h5";
    fs::remove(out);
    const double t1 = bench::now_seconds();
    io::OutputFile f(out, {.netcdf = false});
    f.add("x", data(s), {.storage_chunks = s.chunks});
    io::store(runtime(), f);
    tess.push_back(bench::now_seconds() - t1);
    fs::remove(out);
  }
  bench::emit("write", "raw", s.case_name, "throughput", gbps(bytes, bench::median(raw)), "GB/s");
  bench::emit("write", "tessera-local", s.case_name, "throughput", gbps(bytes, bench::median(tess)), "GB/s");
  bench::emit("write", "tessera-local", s.case_name, "wall", bench::median(tess), "s");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::string_view(argv[1]) != "read" && std::string_view(argv[1]) != "write")) {
    std::fprintf(stderr, "usage: bench_io read|write [--quick] [--reps N] [--dir DIR]\n");
    return 2;
  }
  const Setup s = setup(argc, argv);
  const int reps = static_cast<int>(bench::flag_value(argc, argv, "--reps", 3));
  if (std::string_view(argv[1]) == "read") {
    bench_read(s, reps);
  } else {
    bench_write(s, reps);
  }
  return 0;
}
