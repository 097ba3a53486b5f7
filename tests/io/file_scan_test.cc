// File scans travel between ranks as bytes: what one rank read is what the others decode.
#include "file_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tessera/runtime/error.h"

namespace tessera::io::detail {
namespace {

FileScan example() {
  FileScan s;
  s.info.path = "/data/tas_day_18500101-18691231.nc";
  s.info.format = FileFormat::kNetcdf4;
  s.info.file_bytes = 123456789;
  s.info.attributes = {{"history", AttributeValue("made by a model")},
                       {"version", AttributeValue(6.0, "int32")}};
  VariableInfo v;
  v.name = "tas";
  v.shape = {7300, 180, 360};
  v.stored_type = "<f4";
  v.dtype = DType::kFloat32;
  v.chunked = true;
  v.storage_chunks = {1, 180, 360};
  v.filters = {{2, "shuffle", {4}}, {1, "deflate", {1}}};
  v.dims = {"time", "lat", "lon"};
  v.growable = {true, false, false};
  v.attributes = {{"_FillValue", AttributeValue(1e20, "float32")},
                  {"units", AttributeValue("K")},
                  {"flags", AttributeValue(std::vector<double>{1, 2, 3}, "int16")}};
  v.storage_bytes = 42;
  VariableInfo d;
  d.name = "bnds";
  d.shape = {2};
  d.dims = {"bnds"};
  d.dimension_only = true;
  d.unsupported = "";
  s.info.variables = {v, d};
  s.info.dimensions = {{"time", 7300}, {"lat", 180}, {"lon", 360}, {"bnds", 2}};
  s.info.unlimited = {"time"};
  s.coordinates = {{"time", {0.5, 1.5, 2.5}}, {"lat_bnds", {90, 89, 89, 88}}};
  return s;
}

TEST(FileScan, BytesRoundTrip) {
  const FileScan s = example();
  const std::vector<std::byte> bytes = encode_scan(s);
  const FileScan back = decode_scan(bytes);
  EXPECT_EQ(back.info.path, s.info.path);
  EXPECT_EQ(back.info.format, s.info.format);
  EXPECT_EQ(back.info.file_bytes, s.info.file_bytes);
  EXPECT_EQ(back.info.attributes, s.info.attributes);
  ASSERT_EQ(back.info.variables.size(), 2u);
  const VariableInfo& a = back.info.variables[0];
  const VariableInfo& b = s.info.variables[0];
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.stored_type, b.stored_type);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.chunked, b.chunked);
  EXPECT_EQ(a.storage_chunks, b.storage_chunks);
  ASSERT_EQ(a.filters.size(), 2u);
  EXPECT_EQ(a.filters[1].name, "deflate");
  EXPECT_EQ(a.filters[1].parameters, std::vector<unsigned>{1});
  EXPECT_EQ(a.dims, b.dims);
  EXPECT_EQ(a.growable, b.growable);
  EXPECT_EQ(a.attributes, b.attributes);
  EXPECT_EQ(a.storage_bytes, b.storage_bytes);
  EXPECT_TRUE(back.info.variables[1].dimension_only);
  EXPECT_EQ(back.info.dimensions, s.info.dimensions);
  EXPECT_EQ(back.info.unlimited, s.info.unlimited);
  EXPECT_EQ(back.coordinates, s.coordinates);
  ASSERT_NE(back.coordinate("lat_bnds"), nullptr);
  EXPECT_EQ(back.coordinate("lon"), nullptr);
}

TEST(FileScan, DamagedBytesAreRefused) {
  std::vector<std::byte> bytes = encode_scan(example());
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_THROW(decode_scan(std::span<const std::byte>(bytes.data(), cut)), Error) << cut;
  }
  bytes.push_back(std::byte{0});
  EXPECT_THROW(decode_scan(bytes), Error);
  // A count larger than the bytes left is refused before anything is allocated for it.
  std::vector<std::byte> huge = encode_scan(example());
  std::fill(huge.begin(), huge.begin() + 8, std::byte{0xff});  // the path's length
  EXPECT_THROW(decode_scan(huge), Error);
}

// A task scans a run of files and sends their scans as one record.
TEST(FileScan, SeveralScansTravelAsOneRecord) {
  FileScan second = example();
  second.info.path = "/data/tas_day_18700101-18891231.nc";
  second.coordinates = {{"time", {7300.5}}};
  const std::vector<FileScan> scans = {example(), FileScan{}, second};
  const std::vector<std::byte> bytes = encode_scans(scans);
  const std::vector<FileScan> back = decode_scans(bytes);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(encode_scan(back[0]), encode_scan(scans[0]));
  EXPECT_EQ(back[1].info.path, "");
  EXPECT_EQ(back[2].info.path, second.info.path);
  EXPECT_EQ(back[2].coordinates, second.coordinates);
  EXPECT_TRUE(decode_scans(encode_scans({})).empty());
  const std::size_t first = 8 + encode_scan(scans[0]).size();
  for (std::size_t cut : {std::size_t{3}, std::size_t{13}, first - 1, first + 4, bytes.size() - 1}) {
    EXPECT_THROW(decode_scans(std::span<const std::byte>(bytes.data(), cut)), Error) << cut;
  }
  // Cut between two scans, the rest reads as fewer scans (which scan_all counts).
  EXPECT_EQ(decode_scans(std::span<const std::byte>(bytes.data(), first)).size(), 1u);
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_THROW(decode_scans(longer), Error);
}

}  // namespace
}  // namespace tessera::io::detail
