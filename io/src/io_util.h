// File descriptors, positioned I/O and element conversion shared by the readers and writers. Internal to io/.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "hdf5_file.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/fd.h"

namespace tessera::io::detail {

using tessera::detail::Fd;

// Reads exactly n bytes at `offset` (retrying short reads); a file that ends first is kCorrupt ("truncated"),
// other failures kIo. `where` names what was being read.
void pread_all(int fd, void* out, std::size_t n, std::uint64_t offset, const std::string& where);
void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset, const std::string& where);

// HDF5's shuffle filter: byte k of every element together.
void shuffle(const std::byte* in, std::byte* out, std::size_t n, std::size_t width) noexcept;
void unshuffle(const std::byte* in, std::byte* out, std::size_t n, std::size_t width) noexcept;

// Converts n stored elements (any byte order) to the tessera dtype `to`.
void convert_elements(const std::byte* in, const StoredType& from, std::byte* out, DType to, std::size_t n);

// CRC-32C (Castagnoli) of n bytes: the SSE4.2 instruction where the CPU has it (several GB/s: the journal
// checksums every chunk written), a table otherwise; both give the same value.
std::uint32_t crc32c_of(const void* data, std::size_t n) noexcept;

}  // namespace tessera::io::detail
