// The NetCDF-3 reader (CDF-1, CDF-2, CDF-5), checked against files written and read back by netCDF4-python
// (make_netcdf3.py) and against hand-made damaged files.
#include "../../io/src/netcdf3.h"  // internal to io/, tested directly

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"
#include "tessera/runtime/error.h"

namespace tessera::io::detail {
namespace {

using ::testing::HasSubstr;

using TempDir = tessera::testing::TempDir;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  return parts;
}

std::vector<std::string> list(const std::string& s) {
  return s == "-" ? std::vector<std::string>{} : split(s, ',');
}

Shape shape_of(const std::string& s) {
  Shape out;
  for (const std::string& x : list(s)) out.push_back(std::stoll(x));
  return out;
}

std::string unhex(const std::string& hex) {
  if (hex == "-") return "";
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

AttributeValue attribute_of(const std::string& type, const std::string& values) {
  if (type == "string") return AttributeValue(unhex(values));
  std::vector<double> numbers;
  for (const std::string& x : list(values)) numbers.push_back(std::strtod(x.c_str(), nullptr));
  return AttributeValue(std::move(numbers), type);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// What make_netcdf3.py says one file holds.
struct Expected {
  struct Var {
    std::string stored_type, dtype;
    Shape shape;
    std::vector<std::string> dims;
    Attributes attributes;
  };
  struct Block {
    std::string var;
    Shape start, count;
    std::string bin;
  };
  std::string format;
  std::vector<std::pair<std::string, std::int64_t>> dims;
  std::set<std::string> unlimited;
  Attributes attributes;
  std::map<std::string, Var> vars;
  std::vector<Block> blocks;
};

// Writes the test files into `dir` and parses the manifest.
std::map<std::string, Expected> make_files(const TempDir& dir) {
  const std::string command =
      std::string(TESSERA_PYTHON) + " " + TESSERA_IO_TEST_DIR + "/make_netcdf3.py " + dir.file("");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::map<std::string, Expected> files;
  std::ifstream in(dir.file("manifest.txt"));
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> f = split(line, ' ');
    Expected& e = files[f.at(1)];
    if (f[0] == "file") {
      e.format = f.at(2);
    } else if (f[0] == "dim") {
      e.dims.emplace_back(f.at(2), std::stoll(f.at(3)));
      if (f.at(4) == "1") e.unlimited.insert(f[2]);
    } else if (f[0] == "gatt") {
      e.attributes.emplace_back(f.at(2), attribute_of(f.at(3), f.at(4)));
    } else if (f[0] == "var") {
      e.vars[f.at(2)] = {f.at(3), f.at(4), shape_of(f.at(5)), list(f.at(6)), {}};
    } else if (f[0] == "vatt") {
      e.vars.at(f.at(2)).attributes.emplace_back(f.at(3), attribute_of(f.at(4), f.at(5)));
    } else if (f[0] == "data") {
      e.blocks.push_back({f.at(2), shape_of(f.at(3)), shape_of(f.at(4)), dir.file(f.at(5))});
    } else {
      ADD_FAILURE() << "bad manifest line: " << line;
    }
  }
  EXPECT_EQ(files.size(), 6u);
  return files;
}

std::size_t index_of(const Netcdf3File& file, const std::string& name) {
  const auto& vars = file.info.variables;
  const auto it =
      std::find_if(vars.begin(), vars.end(), [&](const VariableInfo& v) { return v.name == name; });
  EXPECT_NE(it, vars.end()) << name;
  return static_cast<std::size_t>(it - vars.begin());
}

std::string read_block(const Netcdf3File& file, std::size_t v, const Shape& start, const Shape& count) {
  std::int64_t n = 1;
  for (std::int64_t c : count) n *= c;
  std::string out(static_cast<std::size_t>(n) * size_of(file.info.variables[v].dtype), '\0');
  read_netcdf3(file, v, start, count, reinterpret_cast<std::byte*>(out.data()));
  return out;
}

template <class F>
void expect_error(F&& f, ErrorCode code, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& s : fragments) EXPECT_THAT(e.what(), HasSubstr(s));
  }
}

TEST(Netcdf3, MagicNumbers) {
  const auto is = [](std::string s) { return is_netcdf3(std::as_bytes(std::span(s.data(), s.size()))); };
  EXPECT_TRUE(is(std::string("CDF\x01", 4)));
  EXPECT_TRUE(is(std::string("CDF\x02", 4)));
  EXPECT_TRUE(is(std::string("CDF\x05", 4)));
  EXPECT_FALSE(is(std::string("CDF\x03", 4)));
  EXPECT_FALSE(is(std::string("\x89HDF", 4)));
  EXPECT_FALSE(is(std::string("CDF", 3)));
}

TEST(Netcdf3, MetadataMatchesNetcdf4Python) {
  TempDir dir;
  const auto files = make_files(dir);
  const std::map<std::string, FileFormat> formats = {{"classic", FileFormat::kNetcdf3Classic},
                                                     {"offset64", FileFormat::kNetcdf3Offset64},
                                                     {"cdf5", FileFormat::kNetcdf3Cdf5}};
  for (const auto& [name, e] : files) {
    SCOPED_TRACE(name);
    const std::string path = dir.file(name);
    const Netcdf3File file = parse_netcdf3(path);
    const FileInfo& info = file.info;
    EXPECT_EQ(file.path, path);
    EXPECT_EQ(info.path, path);
    EXPECT_EQ(info.format, formats.at(e.format));
    EXPECT_EQ(info.file_bytes, std::filesystem::file_size(path));
    EXPECT_EQ(info.attributes, e.attributes);
    ASSERT_EQ(info.dimensions.size(), e.dims.size());
    for (const auto& [dim, length] : e.dims) EXPECT_EQ(info.dimensions.at(dim), length) << dim;
    ASSERT_EQ(file.layout.size(), info.variables.size());
    EXPECT_TRUE(std::is_sorted(info.variables.begin(), info.variables.end(),
                               [](const VariableInfo& a, const VariableInfo& b) { return a.name < b.name; }));
    std::set<std::string> seen;
    for (std::size_t i = 0; i < info.variables.size(); ++i) {
      const VariableInfo& v = info.variables[i];
      SCOPED_TRACE(v.name);
      seen.insert(v.name);
      EXPECT_FALSE(v.chunked);
      if (v.dimension_only) {
        EXPECT_EQ(e.vars.count(v.name), 0u);
        EXPECT_EQ(v.dims, std::vector<std::string>{v.name});
        EXPECT_EQ(v.shape, Shape{info.dimensions.at(v.name)});
        continue;
      }
      ASSERT_EQ(e.vars.count(v.name), 1u);
      const Expected::Var& x = e.vars.at(v.name);
      EXPECT_EQ(v.stored_type, x.stored_type);
      EXPECT_EQ(v.shape, x.shape);
      EXPECT_EQ(v.dims, x.dims);
      EXPECT_EQ(v.attributes, x.attributes);
      EXPECT_EQ(file.layout[i].record, !x.dims.empty() && e.unlimited.count(x.dims[0]) == 1);
      std::uint64_t elements = 1;
      for (std::int64_t n : x.shape) elements *= static_cast<std::uint64_t>(n);
      EXPECT_EQ(v.storage_bytes, elements * static_cast<std::uint64_t>(std::stoi(x.stored_type.substr(2))));
      if (x.dtype == "-") {
        EXPECT_FALSE(v.unsupported.empty());
      } else {
        EXPECT_EQ(name_of(v.dtype), x.dtype);
        EXPECT_TRUE(v.unsupported.empty());
      }
    }
    // Every dimension is either a variable or listed as dimension-only; the record dimension is unlimited.
    for (const auto& [dim, length] : e.dims) EXPECT_EQ(seen.count(dim), 1u) << dim;
    EXPECT_EQ(info.unlimited, e.unlimited);
    EXPECT_EQ(seen.size(), info.variables.size());
  }
  // The lone record variable is not padded; padded ones are.
  EXPECT_EQ(parse_netcdf3(dir.file("single_record.nc")).record_bytes, 14u);
  EXPECT_EQ(parse_netcdf3(dir.file("padded_records.nc")).record_bytes, 4u + 8u + 8u);
  EXPECT_EQ(parse_netcdf3(dir.file("empty_records.nc")).records, 0);
  EXPECT_EQ(parse_netcdf3(dir.file("classic.nc")).records, 6);
}

TEST(Netcdf3, WholeVariablesAndHyperslabsMatchNumpy) {
  TempDir dir;
  const auto files = make_files(dir);
  std::size_t blocks = 0;
  for (const auto& [name, e] : files) {
    const Netcdf3File file = parse_netcdf3(dir.file(name));
    for (const Expected::Block& b : e.blocks) {
      SCOPED_TRACE(name + " " + b.var + " " + b.bin);
      const std::string got = read_block(file, index_of(file, b.var), b.start, b.count);
      const std::string want = read_bytes(b.bin);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_TRUE(got == want) << "values differ";
      ++blocks;
    }
  }
  EXPECT_GT(blocks, 200u);
}

TEST(Netcdf3, ConcurrentReadsAgree) {
  TempDir dir;
  const auto files = make_files(dir);
  const Netcdf3File file = parse_netcdf3(dir.file("cdf5.nc"));
  const std::size_t v = index_of(file, "temp");
  const Shape start = {1, 1, 2}, count = {5, 3, 4};
  const std::string want = read_block(file, v, start, count);
  std::vector<std::string> got(8);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) got[t] = read_block(file, v, start, count);
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& g : got) EXPECT_TRUE(g == want);
}

TEST(Netcdf3Errors, UnreadableTypesAreRefused) {
  TempDir dir;
  make_files(dir);
  const Netcdf3File classic = parse_netcdf3(dir.file("classic.nc"));
  expect_error(
      [&] {
        read_block(classic, index_of(classic, "name"), {0, 0}, {1, 4});
      },
      ErrorCode::kInvalidArgument, {"character variable \"name\"", "is not numeric", "classic.nc"});
  const Netcdf3File cdf5 = parse_netcdf3(dir.file("cdf5.nc"));
  expect_error([&] { read_block(cdf5, index_of(cdf5, "u64v"), {0}, {5}); }, ErrorCode::kInvalidArgument,
               {"\"u64v\"", "uint64", "cdf5.nc"});
  expect_error([&] { read_block(cdf5, index_of(cdf5, "nchar"), {0}, {4}); }, ErrorCode::kInvalidArgument,
               {"\"nchar\"", "dimension without values"});
}

TEST(Netcdf3Errors, BadBlocksNameTheAxis) {
  TempDir dir;
  make_files(dir);
  const Netcdf3File file = parse_netcdf3(dir.file("classic.nc"));
  const std::size_t v = index_of(file, "temp");
  expect_error(
      [&] {
        read_block(file, v, {0, 0, 5}, {1, 1, 3});
      },
      ErrorCode::kInvalidArgument,
      {"block start (0, 0, 5) count (1, 1, 3)", "\"temp\"", "axis 2 (lon) has length 7"});
  expect_error([&] { read_block(file, v, {0, 0}, {1, 1}); }, ErrorCode::kInvalidArgument, {"has 3 axes"});
  expect_error(
      [&] {
        read_block(file, v, {-1, 0, 0}, {1, 1, 1});
      },
      ErrorCode::kInvalidArgument, {"axis 0 (time)"});
}

TEST(Netcdf3Errors, TruncatedFile) {
  TempDir dir;
  make_files(dir);
  const std::string bytes = read_bytes(dir.file("classic.nc"));
  const std::string cut = dir.file("cut.nc");
  write_bytes(cut, bytes.substr(0, bytes.size() - 10));
  expect_error([&] { parse_netcdf3(cut); }, ErrorCode::kCorrupt,
               {"cut.nc is truncated: expected at least ", "(the data of \"",
                "but the file has " + std::to_string(bytes.size() - 10) + " bytes"});
  // Inside the header.
  write_bytes(cut, bytes.substr(0, 14));
  expect_error([&] { parse_netcdf3(cut); }, ErrorCode::kCorrupt,
               {"cut.nc is truncated: the header needs at least 16 bytes but the file has 14 bytes"});
  write_bytes(cut, bytes.substr(0, 40));
  expect_error([&] { parse_netcdf3(cut); }, ErrorCode::kCorrupt, {"cut.nc is truncated"});
  // Cut after the header was read: the read names the variable and block.
  write_bytes(cut, bytes);
  const Netcdf3File file = parse_netcdf3(cut);
  std::filesystem::resize_file(cut, bytes.size() / 2);
  const std::size_t v = index_of(file, "temp");
  expect_error(
      [&] {
        read_block(file, v, {0, 0, 0}, {6, 5, 7});
      },
      ErrorCode::kCorrupt,
      {"cut.nc is truncated", "variable \"temp\" block start (0, 0, 0) count (6, 5, 7)",
       "but the file has " + std::to_string(bytes.size() / 2) + " bytes"});
}

TEST(Netcdf3Errors, BadMagicAndMissingFile) {
  TempDir dir;
  const std::string path = dir.file("bad.nc");
  write_bytes(path, std::string("CDF\x03\0\0\0\0\0\0\0\0", 12));
  expect_error([&] { parse_netcdf3(path); }, ErrorCode::kInvalidArgument,
               {"bad.nc is not a NetCDF-3 file", "bytes 67 68 70 3"});
  write_bytes(path, std::string("\x89HDF\r\n\x1a\n", 8));
  expect_error([&] { parse_netcdf3(path); }, ErrorCode::kInvalidArgument, {"not a NetCDF-3 file"});
  write_bytes(path, "CD");
  expect_error([&] { parse_netcdf3(path); }, ErrorCode::kInvalidArgument, {"only 2 bytes"});
  expect_error([&] { parse_netcdf3(dir.file("missing.nc")); }, ErrorCode::kNotFound, {"missing.nc"});
}

// A hand-made CDF-1 header, for damage netCDF-C would never write.
class Cdf1Builder {
 public:
  Cdf1Builder& u32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) bytes_ += static_cast<char>((v >> s) & 0xff);
    return *this;
  }
  Cdf1Builder& name(const std::string& n) {
    u32(static_cast<std::uint32_t>(n.size()));
    bytes_ += n;
    while (bytes_.size() % 4) bytes_ += '\0';
    return *this;
  }
  Cdf1Builder& raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  std::size_t size() const { return bytes_.size(); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_ = std::string("CDF\x01", 4);
};

// numrecs, one fixed dim "x" of 3 and a record dim "t", no global attributes, then the caller's variables.
Cdf1Builder header_start(std::uint32_t numrecs, std::uint32_t nvars) {
  Cdf1Builder b;
  b.u32(numrecs).u32(0x0A).u32(2).name("x").u32(3).name("t").u32(0);
  b.u32(0).u32(0);
  b.u32(0x0B).u32(nvars);
  return b;
}

TEST(Netcdf3Errors, DamagedHeaders) {
  TempDir dir;
  const std::string path = dir.file("damaged.nc");
  {
    Cdf1Builder b = header_start(0, 1);
    b.name("v").u32(1).u32(7).u32(0).u32(0).u32(4).u32(12).u32(100);  // dimension id 7
    write_bytes(path, b.bytes() + std::string(64, '\0'));
    expect_error([&] { parse_netcdf3(path); }, ErrorCode::kCorrupt,
                 {"damaged.nc", "variable \"v\" uses dimension id 7 but the file has 2 dimensions"});
  }
  {
    Cdf1Builder b = header_start(0, 1);
    b.name("v").u32(1).u32(0).u32(0).u32(0).u32(9).u32(12).u32(100);  // type 9 is CDF-5 only
    write_bytes(path, b.bytes() + std::string(64, '\0'));
    expect_error([&] { parse_netcdf3(path); }, ErrorCode::kCorrupt, {"variable \"v\" has type code 9"});
  }
  {
    Cdf1Builder b = header_start(0, 1);
    b.name("v").u32(2).u32(0).u32(1).u32(0).u32(0).u32(4).u32(12).u32(100);  // record dim on axis 1
    write_bytes(path, b.bytes() + std::string(64, '\0'));
    expect_error([&] { parse_netcdf3(path); }, ErrorCode::kCorrupt, {"only the first axis may be unlimited"});
  }
  {
    Cdf1Builder b;
    b.u32(0).u32(0x0A).u32(2).name("a").u32(0).name("b").u32(0);
    write_bytes(path, b.bytes() + std::string(64, '\0'));
    expect_error([&] { parse_netcdf3(path); }, ErrorCode::kCorrupt, {"\"a\" and \"b\" are both unlimited"});
  }
  {
    Cdf1Builder b;
    b.u32(0).u32(0x0A).u32(0x7fffffff);  // absurd dimension count
    write_bytes(path, b.bytes() + std::string(64, '\0'));
    expect_error([&] { parse_netcdf3(path); }, ErrorCode::kCorrupt,
                 {"truncated or damaged: the header's dimension count at offset 12 is 2147483647 but only 64 "
                  "bytes follow"});
  }
  {
    Cdf1Builder b;
    b.u32(0).u32(0x0C).u32(0);  // an attribute tag where the dimension list belongs
    write_bytes(path, b.bytes() + std::string(64, '\0'));
    expect_error([&] { parse_netcdf3(path); }, ErrorCode::kCorrupt,
                 {"expected the dimension list", "found tag 12"});
  }
}

TEST(Netcdf3, StreamingRecordCountComesFromTheFileSize) {
  // numrecs 0xFFFFFFFF: a streamed file; one record variable v(t, x) of int32, 12 bytes a record.
  TempDir dir;
  const std::string path = dir.file("stream.nc");
  Cdf1Builder b = header_start(0xFFFFFFFFu, 1);
  const std::size_t begin =
      b.size() + 8 + 4 + 8 + 8 + 4 + 4 + 4;  // name, rank, dimids, attrs, type, vsize, begin
  b.name("v").u32(2).u32(1).u32(0).u32(0).u32(0).u32(4).u32(12).u32(static_cast<std::uint32_t>(begin));
  ASSERT_EQ(b.size(), begin);
  Cdf1Builder data = b;
  for (std::uint32_t i = 0; i < 9; ++i) data.u32(i * 1000u + 1);
  write_bytes(path, data.bytes() + "xy");  // two and a bit records
  const Netcdf3File file = parse_netcdf3(path);
  EXPECT_EQ(file.records, 3);
  EXPECT_EQ(file.info.dimensions.at("t"), 3);
  const std::string got = read_block(file, index_of(file, "v"), {1, 1}, {2, 2});
  std::vector<std::int32_t> values(4);
  std::memcpy(values.data(), got.data(), got.size());
  EXPECT_EQ(values, (std::vector<std::int32_t>{4001, 5001, 7001, 8001}));
}

}  // namespace
}  // namespace tessera::io::detail
