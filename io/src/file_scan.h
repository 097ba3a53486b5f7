// One look at a file, everything an archive needs of each of its files: the metadata and the values of the
// coordinate variables (and their bounds). As bytes too, so that the ranks of an MPI job can scan files for
// each other and share what they found. Internal to io/.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tessera/io/io.h"

namespace tessera::io::detail {

struct FileScan {
  FileInfo info;
  // Coordinate variables (1-d, named like their dimension) and the variables their `bounds` attributes name,
  // their values as stored (not CF-decoded), row-major.
  std::vector<std::pair<std::string, std::vector<double>>> coordinates;

  const std::vector<double>* coordinate(std::string_view name) const;
};

// Opens `path` once (HDF5 or NetCDF-3). Errors as io::inspect.
FileScan scan_file(const std::string& path);

std::vector<std::byte> encode_scan(const FileScan& scan);
// Throws Error(kInternal) for bytes encode_scan did not make.
FileScan decode_scan(std::span<const std::byte> bytes);

}  // namespace tessera::io::detail
