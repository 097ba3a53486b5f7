// One look at a file, everything an archive needs of each of its files: the metadata and the values of the
// coordinate variables (and their bounds). As bytes too, so that the ranks of an MPI job can scan files for
// each other and share what they found. Internal to io/.
#pragma once

#include <cstddef>
#include <mutex>
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

// Opens `path` once (HDF5 or NetCDF-3). Errors as io::inspect. An HDF5 file is read under the HDF5 lock,
// taken into `hold` when given (and kept there: a caller scanning many files takes it once) or for this file.
FileScan scan_file(const std::string& path, std::unique_lock<std::recursive_mutex>* hold = nullptr);

std::vector<std::byte> encode_scan(const FileScan& scan);
// Throws Error(kInternal) for bytes encode_scan did not make.
FileScan decode_scan(std::span<const std::byte> bytes);

// Several scans as one record (each encode_scan's bytes after their length), and back; decode_scans throws
// Error(kInternal) for bytes encode_scans did not make.
std::vector<std::byte> encode_scans(std::span<const FileScan> scans);
std::vector<FileScan> decode_scans(std::span<const std::byte> bytes);

}  // namespace tessera::io::detail
