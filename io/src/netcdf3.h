// NetCDF-3 files (CDF-1 classic, CDF-2 64-bit offset, CDF-5): header parsing and hyperslab reads with pread.
// Internal to io/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/io/io.h"

namespace tessera::io::detail {

// True when `head` (the first bytes of a file, at least 4) is a NetCDF-3 magic number: "CDF" 1, 2 or 5.
bool is_netcdf3(std::span<const std::byte> head) noexcept;

// Where each variable's data lies in a NetCDF-3 file.
struct Netcdf3Variable {
  std::uint64_t begin = 0;       // file offset of the first element (of the first record for record variables)
  bool record = false;           // the first dimension is the unlimited (record) dimension
  int nc_type = 0;               // NC_BYTE=1, NC_CHAR=2, NC_SHORT=3, NC_INT=4, NC_FLOAT=5, NC_DOUBLE=6, CDF-5: 7..11
  std::uint64_t vsize = 0;       // bytes per record (record variables) or whole size, padded, as the header says
};

struct Netcdf3File {
  std::string path;
  FileInfo info;                          // format, dimensions, global attributes, variables (info.variables)
  std::vector<Netcdf3Variable> layout;    // parallel to info.variables
  std::uint64_t record_bytes = 0;         // sum of record variables' vsize (the stride between records)
  std::int64_t records = 0;               // number of records (length of the unlimited dimension)
};

// Parses the header. Errors name the file: kNotFound, kCorrupt (truncated or inconsistent header: says what),
// kInvalidArgument (not a NetCDF-3 file).
Netcdf3File parse_netcdf3(const std::string& path);

// Reads the block [start, start + count) of variable `v` (index into info.variables) into `out`, row-major,
// converted to native byte order and to the variable's tessera dtype (VariableInfo::dtype; NC_BYTE widens to
// int16, ...). Thread-safe (pread on a descriptor opened per call or cached). Errors: kIo, kCorrupt (file
// shorter than the header promises), naming the file, variable and block.
void read_netcdf3(const Netcdf3File& file, std::size_t v, std::span<const std::int64_t> start,
                  std::span<const std::int64_t> count, std::byte* out);

}  // namespace tessera::io::detail
