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
  std::uint64_t begin = 0;  // file offset of the first element (of the first record for record variables)
  bool record = false;      // the first dimension is the unlimited (record) dimension
  int nc_type = 0;  // NC_BYTE=1, NC_CHAR=2, NC_SHORT=3, NC_INT=4, NC_FLOAT=5, NC_DOUBLE=6, CDF-5: 7..11
  std::uint64_t vsize = 0;  // bytes per record (record variables) or whole size, padded, as the header says
};

struct Netcdf3File {
  std::string path;
  FileInfo info;                        // format, dimensions, global attributes, variables (info.variables)
  std::vector<Netcdf3Variable> layout;  // parallel to info.variables
  std::uint64_t record_bytes = 0;       // stride between records: record variables' sizes padded to 4
                                        // (a lone one unpadded), from the shapes (vsize saturates past 4 GiB)
  std::int64_t records = 0;             // number of records (length of the unlimited dimension)
};

// Parses the header. info.variables are in name order and include, as dimension_only entries (float32, no
// stored type, layout unused), the dimensions that have no coordinate variable, as for NetCDF-4 files. Types:
// NC_BYTE and NC_SHORT read as int16, NC_USHORT and NC_INT as int32, NC_UINT and NC_INT64 as int64, NC_UBYTE
// as uint8; NC_CHAR and NC_UINT64 variables are listed with VariableInfo::unsupported set. Attributes keep
// their stored type's NumPy name ("int8", "uint16", ...; text is "string", trailing NULs dropped). A record
// count of 0xFFFFFFFF (a streamed file) is taken from the file size. Errors name the file: kNotFound,
// kCorrupt (truncated: expected vs actual size; inconsistent header: says what), kInvalidArgument (not a
// NetCDF-3 file: shows its first bytes), kIo.
Netcdf3File parse_netcdf3(const std::string& path);

// Reads the block [start, start + count) of variable `v` (index into info.variables) into `out`, row-major,
// converted to native byte order and to the variable's tessera dtype (VariableInfo::dtype; NC_BYTE widens to
// int16, ...). Thread-safe (pread on a descriptor opened per call; contiguous runs are read whole, one run
// per record for record variables). Errors: kInvalidArgument (a block outside the variable, a character,
// uint64 or dimension-only variable), kIo, kCorrupt (file shorter than the header promises), naming the
// file, variable and block.
void read_netcdf3(const Netcdf3File& file, std::size_t v, std::span<const std::int64_t> start,
                  std::span<const std::int64_t> count, std::byte* out);

}  // namespace tessera::io::detail
