// Reading and writing HDF5 / NetCDF files, checked against h5py, netCDF4-python, xarray and ncdump.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <hdf5_hl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "../arrays/numpy_oracle.h"
#include "file_scan.h"
#include "hdf5_file.h"
#include "inspect.h"
#include "tessera/io/io.h"

namespace tessera::io {
namespace detail {
std::uint32_t crc32c_of(const void* data, std::size_t n) noexcept;  // io/src/io_util.h (internal)
}
namespace {

// The journal's checksum against the published CRC-32C check values (RFC 3720, B.4, and "123456789").
TEST(IoChecksum, Crc32cKnownValues) {
  std::vector<unsigned char> zeros(32, 0), ones(32, 0xff), ascending(32);
  for (int i = 0; i < 32; ++i) ascending[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i);
  EXPECT_EQ(detail::crc32c_of(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(detail::crc32c_of(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(detail::crc32c_of(ascending.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(detail::crc32c_of("123456789", 9), 0xE3069283u);
  EXPECT_EQ(detail::crc32c_of("", 0), 0u);
}

// Long buffers (three streams of 8 KiB and of 256 bytes, then words and bytes) at every alignment, against
// the bit-at-a-time definition.
TEST(IoChecksum, Crc32cOfLongBuffersMatchesTheDefinition) {
  auto bitwise = [](const unsigned char* p, std::size_t n) {
    std::uint32_t crc = 0xffffffffu;
    for (std::size_t i = 0; i < n; ++i) {
      crc ^= p[i];
      for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
  };
  std::vector<unsigned char> bytes((3 << 13) * 3 + 4096);
  std::uint32_t x = 12345;
  for (unsigned char& b : bytes) b = static_cast<unsigned char>((x = x * 1103515245u + 12345u) >> 24);
  for (const std::size_t n :
       {std::size_t{0}, std::size_t{7}, std::size_t{767}, std::size_t{768}, std::size_t{769},
        std::size_t{3 * 8192 - 1}, std::size_t{3 * 8192}, std::size_t{3 * 8192 + 3 * 256 + 13},
        std::size_t{2 * 3 * 8192 + 1000}, bytes.size() - 8}) {
    for (std::size_t offset = 0; offset < 8; ++offset) {
      EXPECT_EQ(detail::crc32c_of(bytes.data() + offset, n), bitwise(bytes.data() + offset, n))
          << n << " bytes at offset " << offset;
    }
  }
}

namespace fs = std::filesystem;
using testing::NumpyOracle;

// Runs a command; returns its exit status and output.
std::pair<int, std::string> run(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (p != nullptr && std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  const int rc = p == nullptr ? -1 : ::pclose(p);
  return {WEXITSTATUS(rc), out};
}

// Asserts with Python (h5py/netCDF4/xarray): `code` must exit 0.
void python_check(const std::string& code) {
  const std::string file =
      fs::temp_directory_path() / ("tessera-io-check-" + std::to_string(::getpid()) + ".py");
  std::ofstream(file) << code;
  auto [rc, out] = run(std::string(TESSERA_PYTHON) + " " + file);
  fs::remove(file);
  EXPECT_EQ(rc, 0) << "python check failed:\n" << code << "\n---\n" << out;
}

Runtime& local() {
  static Runtime rt([] {
    RuntimeOptions o;
    o.executor = ExecutorKind::kThreads;
    o.threads = 2;
    return o;
  }());
  return rt;
}

class IoFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tessera-io-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto [rc, out] =
        run(std::string(TESSERA_PYTHON) + " " + TESSERA_IO_TEST_DIR + "/make_files.py " + dir_.string());
    ASSERT_EQ(rc, 0) << out;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string path(const std::string& name) { return (dir_ / name).string(); }
  static fs::path dir_;
};
fs::path IoFiles::dir_;

TEST_F(IoFiles, InspectReportsLayoutFiltersTypesAndAttributes) {
  FileInfo info = inspect(path("plain.h5"));
  EXPECT_EQ(info.format, FileFormat::kHdf5);
  const VariableInfo& f32 = info.variable("f32_chunked");
  EXPECT_EQ(f32.shape, (Shape{37, 50, 23}));
  EXPECT_EQ(f32.stored_type, "<f4");
  EXPECT_TRUE(f32.chunked);
  EXPECT_EQ(f32.storage_chunks, (Shape{10, 16, 8}));
  const VariableInfo& gz = info.variable("gzip_shuffle");
  ASSERT_EQ(gz.filters.size(), 2u);
  EXPECT_EQ(gz.filters[0].name, "shuffle");
  EXPECT_EQ(gz.filters[1].name, "deflate");
  EXPECT_LT(gz.storage_bytes, gz.logical_bytes());
  EXPECT_EQ(info.variable("be_i2").stored_type, ">i2");
  EXPECT_EQ(info.variable("i8bit").dtype, DType::kInt16);
  EXPECT_EQ(info.variable("u16").dtype, DType::kInt32);
  EXPECT_FALSE(info.variable("f64_contiguous").chunked);
  EXPECT_EQ(info.variable("/group/nested").shape, (Shape{3, 4}));
  EXPECT_EQ(info.variable("compound").unsupported, "compound");

  FileInfo nc = inspect(path("climate.nc"));
  EXPECT_EQ(nc.format, FileFormat::kNetcdf4);
  EXPECT_EQ(nc.dimensions.at("time"), 40);
  EXPECT_EQ(nc.dimensions.at("lon"), 8);
  const VariableInfo& tas = nc.variable("tas");
  EXPECT_EQ(tas.dims, (std::vector<std::string>{"time", "lat", "lon"}));
  ASSERT_NE(find_attribute(tas.attributes, "units"), nullptr);
  EXPECT_EQ(find_attribute(tas.attributes, "units")->text(), "K");
  EXPECT_EQ(find_attribute(nc.attributes, "title")->text(), "test climate file");
  EXPECT_TRUE(nc.variable("lon").dimension_only);
  EXPECT_FALSE(nc.variable("lat").dimension_only);

  EXPECT_EQ(AttributeValue(-1099511627776.0, "int64").str(), "-1099511627776");
  EXPECT_EQ(AttributeValue(std::vector<double>{1, 2}, "int16").str(), "[1, 2]");
  EXPECT_EQ(AttributeValue(0.5, "float32").str(), "0.5");
  const std::string text = describe(nc);
  EXPECT_NE(text.find("tas(time, lat, lon)"), std::string::npos) << text;
  EXPECT_NE(text.find("shuffle+deflate(2)"), std::string::npos) << text;
  EXPECT_NE(text.find("units=\"K\""), std::string::npos) << text;
  EXPECT_EQ(text.find(" lon(lon)"), std::string::npos) << "dimension-only datasets are not variables:\n"
                                                       << text;
  EXPECT_NE(describe(nc, "tas").find("long_name = \"air temperature\""), std::string::npos);
}

// The HDF5 files make_files.py writes (NetCDF-4 ones included).
std::vector<std::string> hdf5_files() {
  return {"plain.h5",  "time_gaps.nc", "records.nc",       "climate.nc",
          "nccopy.nc", "scales.h5",    "unknown_filter.h5"};
}

// inspect names dimensions from the addresses in DIMENSION_LIST; the H5DS library (which describe_dataset
// asks without those addresses) and h5py must agree.
TEST_F(IoFiles, DimensionNamesAgreeWithTheH5dsLibraryAndH5py) {
  for (const std::string& name : hdf5_files()) {
    const FileInfo info = inspect(path(name));
    auto lock = detail::hdf5_lock();
    detail::Hid file = detail::open_hdf5(path(name));
    for (const VariableInfo& v : info.variables) {
      detail::Hid dset(H5Dopen2(file.get(), v.name.c_str(), H5P_DEFAULT));
      ASSERT_TRUE(dset) << name << " " << v.name;
      const VariableInfo by_h5ds = detail::describe_dataset(dset.get(), v.name);
      EXPECT_EQ(v.dims, by_h5ds.dims) << name << " " << v.name;
      EXPECT_EQ(v.dimension_only, by_h5ds.dimension_only) << name << " " << v.name;
      EXPECT_EQ(v.attributes, by_h5ds.attributes) << name << " " << v.name;
      EXPECT_EQ(H5DSis_scale(dset.get()) > 0 && !v.shape.empty(), info.dimensions.count(v.name) == 1)
          << name << " " << v.name;
    }
  }
  const FileInfo scales = inspect(path("scales.h5"));
  EXPECT_EQ(scales.variable("v").dims, (std::vector<std::string>{"y", "x", "phony_dim_2"}));
  EXPECT_EQ(scales.variable("w").dims, (std::vector<std::string>{"x", "y_alt"}));
  EXPECT_EQ(scales.format, FileFormat::kNetcdf4) << "dimension scales are how tessera tells NetCDF-4";
  python_check("import h5py\nf = h5py.File('" + path("scales.h5") +
               "', 'r')\n"
               "v, w = f['v'], f['w']\n"
               "assert [d[0].name for d in list(v.dims)[:2]] == ['/y', '/grid/x'], list(v.dims)\n"
               "assert len(v.dims[2]) == 0\n"
               "assert [d[0].name for d in w.dims] == ['/grid/x', '/y_alt']\n");
}

// A scan reads a small file whole (HDF5's core driver) and a large one with pread (sec2): the metadata and
// the coordinates are the same either way, and the coordinates are make_files.py's.
TEST_F(IoFiles, SmallFilesScannedWholeGiveTheSameMetadata) {
  for (const std::string& name : hdf5_files()) {
    FileInfo by_sec2, whole;
    {
      auto lock = detail::hdf5_lock();
      by_sec2 = detail::inspect_hdf5(path(name), detail::open_hdf5(path(name)).get());
      whole = detail::inspect_hdf5(path(name), detail::open_hdf5_metadata(path(name), 0).get());
    }
    EXPECT_EQ(detail::encode_scan({by_sec2, {}}), detail::encode_scan({whole, {}})) << name;
  }
  EXPECT_GT(fs::file_size(path("plain.h5")), detail::kWholeFileBytes) << "plain.h5 is scanned by sec2";
  ASSERT_LE(fs::file_size(path("climate.nc")), detail::kWholeFileBytes) << "climate.nc is read whole";
  const detail::FileScan scan = detail::scan_file(path("climate.nc"));
  ASSERT_NE(scan.coordinate("time"), nullptr);
  std::vector<double> time(40);
  for (int i = 0; i < 40; ++i) time[static_cast<std::size_t>(i)] = i * 10.0;
  EXPECT_EQ(*scan.coordinate("time"), time);
  ASSERT_NE(scan.coordinate("lat"), nullptr);
  EXPECT_EQ(*scan.coordinate("lat"), (std::vector<double>{-75, -45, -15, 15, 45, 75}));
  // A file that starts like HDF5 but is cut short is still refused naming it, read whole or not.
  for (std::uint64_t bytes : {std::uint64_t{0}, ~std::uint64_t{0}}) {
    auto lock = detail::hdf5_lock();
    EXPECT_THAT([&] { detail::open_hdf5_metadata(path("truncated.h5"), bytes); },
                ::testing::ThrowsMessage<Error>(::testing::HasSubstr("truncated.h5")));
  }
  EXPECT_THAT([&] { detail::scan_file(path("truncated.h5")); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("truncated.h5")));
}

TEST_F(IoFiles, AnUnlimitedDimensionShowsItsCurrentLength) {
  // netCDF4-python: time is UNLIMITED with 3 records and has no coordinate variable (ncdump -h says
  // "time = UNLIMITED ; // (3 currently)").
  FileInfo info = inspect(path("records.nc"));
  EXPECT_EQ(info.dimensions.at("time"), 3);
  EXPECT_EQ(info.dimensions.at("x"), 4);
  EXPECT_EQ(info.unlimited, (std::set<std::string>{"time"}));
  EXPECT_EQ(info.variable("time").shape, (Shape{3}));
  EXPECT_EQ(info.variable("v").growable, (std::vector<bool>{true, false}));
  const std::string text = describe(info);
  EXPECT_NE(text.find("time = UNLIMITED (3 currently), x = 4"), std::string::npos) << text;
  // The climate file's dimensions are fixed.
  EXPECT_TRUE(inspect(path("climate.nc")).unlimited.empty());
}

TEST_F(IoFiles, AFilterWithoutAPluginIsRefusedBeforeAnyRead) {
  const std::string file = path("unknown_filter.h5");
  const FileInfo info = inspect(file);  // describing the file still works
  ASSERT_EQ(info.variable("i4").filters.size(), 1u);
  EXPECT_EQ(info.variable("i4").filters[0].name, "blosc");
  EXPECT_NE(describe(info).find("blosc"), std::string::npos);
  try {
    read(file, "i4");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string m = e.what();
    EXPECT_NE(m.find("variable \"i4\" in " + file), std::string::npos) << m;
    EXPECT_NE(m.find("HDF5 filter \"blosc\" (id 32001), which this HDF5 library cannot decode"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("HDF5 looks for plugins in "), std::string::npos) << m;
    EXPECT_NE(m.find("HDF5_PLUGIN_PATH"), std::string::npos) << m;
  }
}

TEST_F(IoFiles, ReadsEveryLayoutAndTypeLikeH5py) {
  NumpyOracle oracle;
  const std::string file = path("plain.h5");
  struct Case {
    std::string name;
    std::optional<Shape> chunks;
    std::string dtype;
  };
  const Case cases[] = {
      {"f32_chunked", std::nullopt, "-"},
      {"f32_chunked", Shape{10, 32, 8}, "-"},  // whole multiples of the storage chunks
      {"f32_chunked", Shape{7, 13, 23}, "-"},  // misaligned: storage chunks shared by tasks
      {"f32_chunked", Shape{1, 1, -1}, "-"},
      {"f64_contiguous", std::nullopt, "-"},
      {"f64_contiguous", Shape{5, 4}, "-"},
      {"f64_contiguous", Shape{-1, 3}, "-"},
      {"gzip_shuffle", Shape{11, 13}, "-"},
      {"fletcher", std::nullopt, "-"},
      {"be_i2", Shape{4, 6}, "int16"},
      {"be_f8_contig", Shape{3, 7}, "float64"},
      {"i8bit", Shape{5}, "int16"},
      {"u16", Shape{6, 2}, "int32"},
      {"u8", Shape{5, 3}, "-"},
      {"scaleoffset", Shape{7, 7}, "-"},  // a filter tessera leaves to the HDF5 library
      {"partial", Shape{4, 6}, "-"},      // unwritten chunks read as the fill value
      {"scalar", std::nullopt, "-"},
      {"big_runs", Shape{16, 64, 64}, "-"},  // each storage chunk one pread into place
      {"big_runs", Shape{32, 64, 64}, "-"},
      {"split_runs", Shape{8, 64, 512}, "-"},  // each storage chunk four 128 KiB preads into place
      {"split_runs", Shape{4, 128, 512}, "-"},
      {"group/nested", Shape{2, 3}, "-"},
  };
  int k = 0;
  for (const Case& c : cases) {
    ReadOptions o;
    o.chunks = c.chunks;
    Variable v = read(file, c.name, o);
    if (c.chunks) EXPECT_EQ(v.data.chunks(), ChunkGrid::regular(v.info.shape, *c.chunks)) << c.name;
    oracle.expect(str_cat(c.name, "#", k++), "h5('" + file + "', '" + c.name + "')", compute(local(), v.data),
                  {}, c.dtype == "-" ? std::nullopt : std::optional<std::string>(c.dtype));
  }
  oracle.verify();
}

TEST_F(IoFiles, DefaultChunksAreStorageMultiplesTowardTheTarget) {
  // Storage chunks (10, 16, 8) of a (37, 50, 23) variable grow along the leading axis first (to its whole
  // extent here), then along the next, in whole multiples.
  ReadOptions o;
  o.target_chunk_bytes = 2 * 10 * 16 * 8 * 4;
  EXPECT_EQ(read(path("plain.h5"), "f32_chunked", o).data.chunks().max_chunk_shape(), (Shape{20, 16, 8}));
  o.target_chunk_bytes = 4 * 10 * 16 * 8 * 4;
  EXPECT_EQ(read(path("plain.h5"), "f32_chunked", o).data.chunks().max_chunk_shape(), (Shape{37, 16, 8}));
  o.target_chunk_bytes = 37 * 16 * 8 * 4 * 3;
  Variable v = read(path("plain.h5"), "f32_chunked", o);
  EXPECT_EQ(v.data.chunks().max_chunk_shape(), (Shape{37, 48, 8}));
  EXPECT_TRUE(v.notes.empty());
  ReadOptions misaligned;
  misaligned.chunks = Shape{7, 16, 8};
  Variable m = read(path("plain.h5"), "f32_chunked", misaligned);
  ASSERT_EQ(m.notes.size(), 1u);
  EXPECT_NE(m.notes[0].find("not aligned to its storage chunks (10, 16, 8) along axis 0"), std::string::npos)
      << m.notes[0];
}

TEST_F(IoFiles, NetcdfDecodingMatchesXarray) {
  NumpyOracle oracle;
  const std::string file = path("climate.nc");
  for (const char* name : {"tas", "packed", "scaled_only", "with_missing", "lat", "time"}) {
    ReadOptions o;
    o.chunks = Shape(inspect(file).variable(name).shape.size(), 3);
    Variable v = read(file, name, o);
    oracle.expect(name, "xr('" + file + "', '" + name + "')", compute(local(), v.data));
  }
  // NetCDF-3 classic, read by tessera's own reader through the same API.
  EXPECT_EQ(inspect(path("classic.nc")).format, FileFormat::kNetcdf3Classic);
  Variable classic = read(path("classic.nc"), "v", {.chunks = Shape{7, 4}});
  EXPECT_EQ(classic.dims, (std::vector<std::string>{"x", "y"}));
  oracle.expect("classic", "xr('" + path("classic.nc") + "', 'v')", compute(local(), classic.data));
  // nccopy's NetCDF-4 output (deflate + shuffle, the netCDF library's own layout).
  Variable v = read(path("nccopy.nc"), "v");
  EXPECT_EQ(v.dims, (std::vector<std::string>{"x", "y"}));
  oracle.expect("nccopy", "xr('" + path("nccopy.nc") + "', 'v')", compute(local(), v.data));
  oracle.verify();
}

TEST_F(IoFiles, TimeAxisDecodesInItsCalendar) {
  TimeAxis t = read_time(path("climate.nc"));
  EXPECT_EQ(t.calendar, Calendar::kNoLeap);
  ASSERT_EQ(t.dates.size(), 40u);
  EXPECT_EQ(format_date(t.dates[0]), "2000-01-01 00:00:00");
  // 2000 is a leap year in the standard calendar but not in noleap: day 60 is March 2nd.
  EXPECT_EQ(t.dates[6].month, 3);
  EXPECT_EQ(t.dates[6].day, 2);
  // Missing entries in a time coordinate (CF forbids them): refused, saying where they are.
  EXPECT_THAT([&] { read_time(path("time_gaps.nc")); },
              ::testing::ThrowsMessage<Error>(::testing::AllOf(
                  ::testing::HasSubstr("has 2 missing values (its _FillValue -1) at positions 2, 4"),
                  ::testing::HasSubstr("CF allows no missing values in a coordinate variable"))));
}

TEST_F(IoFiles, BadInputsGiveClearErrors) {
  auto message = [](auto&& f) -> std::pair<ErrorCode, std::string> {
    try {
      f();
    } catch (const Error& e) {
      return {e.code(), e.what()};
    }
    return {ErrorCode::kInternal, "no error"};
  };
  auto [c1, m1] = message([&] { inspect(path("missing.nc")); });
  EXPECT_EQ(c1, ErrorCode::kNotFound);
  EXPECT_NE(m1.find("no such file: " + path("missing.nc")), std::string::npos) << m1;
  auto [c2, m2] = message([&] { inspect(path("text.txt")); });
  EXPECT_EQ(c2, ErrorCode::kInvalidArgument);
  EXPECT_NE(m2.find("is not an HDF5 or NetCDF file (it looks like a text file)"), std::string::npos) << m2;
  auto [c3, m3] = message([&] { inspect(path("truncated.h5")); });
  EXPECT_EQ(c3, ErrorCode::kCorrupt);
  EXPECT_NE(m3.find("truncated.h5"), std::string::npos) << m3;
  auto [c4, m4] = message([&] { read(path("climate.nc"), "tsa"); });
  EXPECT_EQ(c4, ErrorCode::kNotFound);
  EXPECT_NE(m4.find("no variable \"tsa\" in " + path("climate.nc") + " (it has: "), std::string::npos) << m4;
  EXPECT_NE(m4.find("tas"), std::string::npos) << m4;
  auto [c5, m5] = message([&] { read(path("plain.h5"), "compound"); });
  EXPECT_EQ(c5, ErrorCode::kInvalidArgument);
  EXPECT_NE(m5.find("has a compound type"), std::string::npos) << m5;
  auto [c6, m6] = message([&] { read(path("plain.h5"), "strings"); });
  EXPECT_NE(m6.find("fixed-length string type"), std::string::npos) << m6;
  auto [c7, m7] = message([&] {
    ReadOptions o;
    o.chunks = Shape{4};
    read(path("plain.h5"), "u8", o);
  });
  EXPECT_EQ(c7, ErrorCode::kInvalidArgument);
  EXPECT_NE(m7.find("have 1 axes; the variable has 2 (9, 9)"), std::string::npos) << m7;
  auto [c8, m8] = message([&] { inspect(dir_.string()); });
  EXPECT_NE(m8.find("is a directory"), std::string::npos) << m8;

  // A chunk whose compressed bytes are damaged fails its task, naming file, variable and block.
  const std::string damaged = path("damaged.h5");
  fs::copy_file(path("plain.h5"), damaged, fs::copy_options::overwrite_existing);
  const VariableInfo gz = inspect(damaged).variable("gzip_shuffle");
  (void)gz;
  Variable v = read(damaged, "gzip_shuffle");
  {
    // Overwrite the middle of the file's data area: find a deflate stream by reading chunk 0 through h5py.
    auto [rc, out] = run(std::string(TESSERA_PYTHON) + " -c \"import h5py; f=h5py.File('" + damaged +
                         "','r'); print(f['gzip_shuffle'].id.get_chunk_info(0).byte_offset)\"");
    ASSERT_EQ(rc, 0) << out;
    const long offset = std::stol(out);
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(offset + 2);
    const char junk[16] = {'j', 'u', 'n', 'k', 'j', 'u', 'n', 'k', 'j', 'u', 'n', 'k', 'j', 'u', 'n', 'k'};
    f.write(junk, sizeof(junk));
  }
  Variable again = read(damaged, "gzip_shuffle");
  auto [c9, m9] = message([&] { compute(local(), again.data); });
  EXPECT_EQ(c9, ErrorCode::kCorrupt) << m9;
  EXPECT_NE(m9.find("variable \"gzip_shuffle\" block [0:"), std::string::npos) << m9;
  EXPECT_NE(m9.find("deflate stream is damaged"), std::string::npos) << m9;
}

class IoWrite : public IoFiles {};

TEST_F(IoWrite, NetcdfOutputOpensInXarrayAndNcdump) {
  const std::string in = path("climate.nc");
  Variable tas = read(in, "tas", ReadOptions{.chunks = Shape{10, 3, 8}});
  Array anom = (tas.data - tas.data.nanmean(0)) / tas.data.nanstd(0);
  for (int gzip : {0, 3}) {
    const std::string out = path(str_cat("anom", gzip, ".nc"));
    OutputFile file(out);
    file.add("anom", anom,
             {.dims = tas.dims,
              .attributes = {{"units", "1"}, {"long_name", "standardized anomaly"}},
              .fill_value = 1e20,
              .gzip = gzip});
    file.add("clim", tas.data.nanmean(0), {.dims = {"lat", "lon"}, .attributes = {{"units", "K"}}});
    file.add_coordinate({"lat", read_all(in, "lat"), {{"units", "degrees_north"}}});
    file.add_coordinate(
        {"time", read_all(in, "time", false), {{"units", "days since 2000-01-01"}, {"calendar", "noleap"}}});
    file.set_attribute("title", "anomalies");
    StoreStats stats = store(local(), file);
    EXPECT_EQ(stats.chunks_written, 4u * 2u * 1u + 2u);
    EXPECT_FALSE(fs::exists(path(str_cat(".anom", gzip, ".nc.tessera")))) << "the work directory is removed";
    NumpyOracle oracle;
    oracle.input("t", compute(local(), tas.data));
    oracle.expect("anom-h5py", "h5('" + out + "', 'anom')", compute(local(), anom));
    oracle.expect("anom-numpy", "(t - np.nanmean(t, 0)) / np.nanstd(t, 0)", compute(local(), anom),
                  {.rtol = 1e-5, .atol = 1e-5});
    oracle.expect("clim-xarray", "xr('" + out + "', 'clim')", compute(local(), tas.data.nanmean(0)));
    oracle.verify();
    python_check(str_cat(R"(
import xarray, numpy as np, h5py
ds = xarray.open_dataset(')",
                         out, R"(', decode_times=True, use_cftime=True)
assert ds['anom'].dims == ('time', 'lat', 'lon'), ds['anom'].dims
assert ds['anom'].attrs['units'] == '1' and ds['anom'].attrs['long_name'] == 'standardized anomaly'
assert ds['clim'].dims == ('lat', 'lon')
assert ds.attrs['title'] == 'anomalies'
assert ds['lat'].attrs['units'] == 'degrees_north'
assert float(ds['lat'][0]) == -75.0
assert ds['time'].values[6].month == 3 and ds['time'].values[6].day == 2, ds['time'].values[6]
assert ds['anom'].encoding['_FillValue'] == np.float32(1e20)
f = h5py.File(')",
                         out, R"(', 'r')
assert f['anom'].chunks == (10, 3, 8), f['anom'].chunks
assert (f['anom'].compression == 'gzip') == ()",
                         gzip > 0 ? "True" : "False", R"()
)"));
    auto [rc, dump] = run("ncdump -h " + out);
    EXPECT_EQ(rc, 0) << dump;
    EXPECT_NE(dump.find("float anom(time, lat, lon)"), std::string::npos) << dump;
    EXPECT_NE(dump.find("lon = 8 ;"), std::string::npos) << dump;
    EXPECT_NE(dump.find(":title = \"anomalies\""), std::string::npos) << dump;
  }
}

TEST_F(IoWrite, RefusesToOverwriteAndLeavesNoFinalFileOnFailure) {
  const std::string out = path("refuse.h5");
  std::ofstream(out) << "precious";
  OutputFile file(out, {.netcdf = false});
  file.add("x", arange(10, 3));
  try {
    store(local(), file);
    ADD_FAILURE() << "an existing file was overwritten";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exists (use --overwrite to replace it)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(std::ifstream(out).rdbuf() != nullptr, true);
  std::string content;
  std::getline(std::ifstream(out), content);
  EXPECT_EQ(content, "precious");

  // A failing task: no file under the final name, the partial output kept for --resume.
  const std::string failed = path("failed.h5");
  Array bad = map_blocks(
      [](std::span<const Chunk* const> in, std::span<const std::int64_t> index) -> Chunk {
        if (index[0] == 2) throw Error(ErrorCode::kIo, "disk on fire");
        return *in[0];
      },
      std::vector<Array>{arange(20, 4)}, DType::kInt64);
  OutputFile f2(failed, {.netcdf = false});
  f2.add("x", bad);
  EXPECT_THROW(store(local(), f2), TaskError);
  EXPECT_FALSE(fs::exists(failed));
  EXPECT_TRUE(fs::exists(path(".failed.h5.tessera")));
  // Without --resume or --overwrite, the leftover is not silently discarded.
  OutputFile f3(failed, {.netcdf = false});
  f3.add("x", arange(20, 4));
  try {
    store(local(), f3);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("use --resume to continue it or --overwrite"), std::string::npos)
        << e.what();
  }
  // Output directory missing.
  OutputFile f4(path("no/such/dir/out.h5"));
  f4.add("x", arange(4, 2));
  try {
    store(local(), f4);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST_F(IoWrite, StorageChunksHdf5CannotHoldAreRefusedWhenAdded) {
  // 2^32 elements in one storage chunk: more than HDF5 allows. Refused when the variable is added (before any
  // work), naming the variable and the chunks.
  OutputFile file(path("huge_chunks.h5"), {.netcdf = false});
  try {
    file.add("big", zeros({65536, 65536}, {4096, 4096}, DType::kUint8), {.storage_chunks = Shape{65536, -1}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("variable \"big\": storage chunks of (65536, -1) hold 4294967296 "
                                         "elements (4.29 GB); HDF5 stores at most"),
              std::string::npos)
        << e.what();
  }
  // The same for an array's own chunks (the default storage chunks), and for 4 GiB of bytes.
  EXPECT_THROW(file.add("big", zeros({70000, 70000}, {70000, 70000}, DType::kUint8)), Error);
  EXPECT_THROW(file.add("wide", zeros({40000, 30000}, {40000, 30000}, DType::kFloat32)), Error);
  EXPECT_NO_THROW(file.add("fits", zeros({40000, 30000}, {4000, 3000}, DType::kFloat32)));
}

TEST_F(IoWrite, ResumeSkipsJournalledChunksAndGivesIdenticalBytes) {
  for (int gzip : {0, 1}) {
    const std::string whole = path(str_cat("whole", gzip, ".nc"));
    const std::string resumed = path(str_cat("resumed", gzip, ".nc"));
    Array x = random_normal({60, 20}, {7, 20}, 11, DType::kFloat32);
    {
      OutputFile f(whole);
      f.add("x", x, {.dims = {"a", "b"}, .gzip = gzip});
      store(local(), f);
    }
    // First attempt dies at chunk 5, after chunks 0-4 were written (the sync executor runs them in order).
    Runtime sync([] {
      RuntimeOptions o;
      o.executor = ExecutorKind::kSync;
      return o;
    }());
    std::atomic<int> calls{0};
    Array flaky = map_blocks(
        [&calls](std::span<const Chunk* const> in, std::span<const std::int64_t> index) -> Chunk {
          ++calls;
          if (index[0] == 5) throw Error(ErrorCode::kCancelled, "time limit");
          return *in[0];
        },
        std::vector<Array>{x}, DType::kFloat32);
    {
      OutputFile f(resumed);
      f.add("x", flaky, {.dims = {"a", "b"}, .gzip = gzip});
      EXPECT_THROW(store(sync, f), TaskError);
    }
    ASSERT_FALSE(fs::exists(resumed));
    // The resumed run computes only what is missing.
    std::atomic<int> second{0};
    Array counted = map_blocks(
        [&second](std::span<const Chunk* const> in, std::span<const std::int64_t>) -> Chunk {
          ++second;
          return *in[0];
        },
        std::vector<Array>{x}, DType::kFloat32);
    OutputFile f(resumed, {.resume = true});
    f.add("x", counted, {.dims = {"a", "b"}, .gzip = gzip});
    StoreStats s = store(local(), f);
    EXPECT_EQ(s.chunks_resumed, 5u) << "gzip " << gzip;
    EXPECT_EQ(s.chunks_written, 4u) << "gzip " << gzip;
    EXPECT_EQ(static_cast<std::uint64_t>(second.load()), s.chunks_written);
    auto [rc, out] = run("cmp " + whole + " " + resumed);
    EXPECT_EQ(rc, 0) << "resumed output differs from an uninterrupted run (gzip " << gzip << "): " << out;
    // A resume with a different job is refused.
    const std::string other = path(str_cat("other", gzip, ".nc"));
    {
      OutputFile g(other);
      g.add("x", flaky, {.dims = {"a", "b"}, .gzip = gzip});
      EXPECT_THROW(store(local(), g), TaskError);
    }
    OutputFile g(other, {.resume = true});
    g.add("x", x * 2, {.dims = {"a", "b"}, .gzip = gzip});
    g.set_attribute("changed", "yes");
    try {
      store(local(), g);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("was made by a different job"), std::string::npos) << e.what();
    }
  }
}

// A journalled chunk whose bytes were damaged (a node that died mid-write) is computed again on resume, and
// the damaged record is never used, even from a journal whose name sorts after the resumed run's.
TEST_F(IoWrite, ResumeRecomputesDamagedChunksAndNeverUsesTheirOldRecords) {
  const std::string whole = path("damaged-whole.nc"), resumed = path("damaged-resumed.nc");
  Array x = random_normal({40, 10}, {5, 10}, 3, DType::kFloat64);
  {
    OutputFile f(whole);
    f.add("x", x, {.dims = {"a", "b"}, .gzip = 1});
    store(local(), f);
  }
  Runtime sync([] {
    RuntimeOptions o;
    o.executor = ExecutorKind::kSync;
    return o;
  }());
  Array flaky = map_blocks(
      [](std::span<const Chunk* const> in, std::span<const std::int64_t> index) -> Chunk {
        if (index[0] == 4) throw Error(ErrorCode::kCancelled, "time limit");
        return *in[0];
      },
      std::vector<Array>{x}, DType::kFloat64);
  {
    OutputFile f(resumed);
    f.add("x", flaky, {.dims = {"a", "b"}, .gzip = 1});
    EXPECT_THROW(store(sync, f), TaskError);
  }
  const fs::path dir = path(".damaged-resumed.nc.tessera");
  fs::path journal, side;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("journal-", 0) == 0) journal = e.path();
    if (n.rfind("chunks-", 0) == 0) side = e.path();
  }
  ASSERT_FALSE(journal.empty());
  ASSERT_FALSE(side.empty());
  {  // damage the first chunk's compressed bytes
    std::fstream f(side, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.write("XXXX", 4);
  }
  // Names that sort after any "journal-HOST-PID" the resumed run will write.
  fs::rename(journal, dir / "journal-~old");
  fs::rename(side, dir / "chunks-~old");
  OutputFile f(resumed, {.resume = true});
  f.add("x", x, {.dims = {"a", "b"}, .gzip = 1});
  StoreStats s = store(local(), f);
  EXPECT_EQ(s.chunks_resumed, 3u) << "chunks 1-3 intact, chunk 0 damaged";
  EXPECT_EQ(s.chunks_written, 5u);
  auto [rc, out] = run("cmp " + whole + " " + resumed);
  EXPECT_EQ(rc, 0) << "the resumed output used a damaged chunk: " << out;
}

}  // namespace
}  // namespace tessera::io
