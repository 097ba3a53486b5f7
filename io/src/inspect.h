// Reading a file's metadata: what kind of file it is, and its HDF5 variables, dimensions and attributes.
// Internal to io/.
#pragma once

#include <hdf5.h>

#include <string>
#include <string_view>

#include "hdf5_file.h"
#include "tessera/io/io.h"

namespace tessera::io::detail {

enum class FileKind { kHdf5, kNetcdf3 };

// What `path` is. Throws Error(kNotFound) when it does not exist, kInvalidArgument when it is neither HDF5
// nor NetCDF-3 (saying what it looks like), kCorrupt for a damaged HDF5 superblock.
FileKind sniff(const std::string& path);

// Opens an HDF5 file read-only (caller holds the HDF5 lock). Error(kCorrupt) when it cannot be opened.
Hid open_hdf5(const std::string& path);

// The last component of an HDF5 path ("group/var" -> "var").
std::string base_name(std::string_view path);

// One dataset's metadata (caller holds the HDF5 lock).
VariableInfo describe_dataset(hid_t dset, const std::string& name);

// An HDF5 file's metadata (takes the HDF5 lock).
FileInfo inspect_hdf5(const std::string& path);
// The same for a file the caller opened (and holds the HDF5 lock for).
FileInfo inspect_hdf5(const std::string& path, hid_t file);

}  // namespace tessera::io::detail
