// Reading a file's metadata: what kind of file it is, and its HDF5 variables, dimensions and attributes.
// Internal to io/.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hdf5_file.h"
#include "tessera/io/io.h"

namespace tessera::io::detail {

enum class FileKind { kHdf5, kNetcdf3 };

// What `path` is. Throws Error(kNotFound) when it does not exist, kInvalidArgument when it is neither HDF5
// nor NetCDF-3 (saying what it looks like), kCorrupt for a damaged HDF5 superblock.
// Its size in bytes goes to `bytes` when given.
FileKind sniff(const std::string& path, std::uint64_t* bytes = nullptr);

// Opens an HDF5 file read-only (caller holds the HDF5 lock). Error(kCorrupt) when it cannot be opened.
Hid open_hdf5(const std::string& path);

// Files up to this size are read whole when only their metadata is wanted (open_hdf5_metadata).
constexpr std::uint64_t kWholeFileBytes = std::uint64_t{1} << 20;
// open_hdf5 for reading metadata and coordinates only, of a file of `bytes` bytes. One up to kWholeFileBytes
// is read into memory in one read (HDF5's core driver) instead of the dozens of small preads HDF5 reads its
// metadata with, a third of the cost of scanning a 32 KB NetCDF-4 file (docs/design.md, io); chunk offsets
// are not asked of such a handle.
Hid open_hdf5_metadata(const std::string& path, std::uint64_t bytes);

// The last component of an HDF5 path ("group/var" -> "var").
std::string base_name(std::string_view path);

// A file's datasets by the address of their object headers (what object references hold), each under the
// first path H5Lvisit found it by.
using DatasetNames = std::unordered_map<haddr_t, std::string>;

// One dataset's metadata (caller holds the HDF5 lock). Its dimensions' names come from `names` where the
// dataset's DIMENSION_LIST refers to datasets in it, else from the H5DS library; what its bookkeeping
// attributes say goes to `bookkeeping` when given.
VariableInfo describe_dataset(hid_t dset, const std::string& name, const DatasetNames* names = nullptr,
                              Bookkeeping* bookkeeping = nullptr);

// An HDF5 file's metadata (takes the HDF5 lock).
FileInfo inspect_hdf5(const std::string& path);
// The same for a file the caller opened (and holds the HDF5 lock for). With `datasets`, the datasets stay
// open there, one per entry of the result's variables, for a caller that reads some of them next.
FileInfo inspect_hdf5(const std::string& path, hid_t file, std::vector<Hid>* datasets = nullptr);

}  // namespace tessera::io::detail
