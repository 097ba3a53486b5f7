// Checked, RAII access to the HDF5 C library. Internal to io/.
//
// Debian's parallel HDF5 is not built thread-safe, so every HDF5 call in the process holds hdf5_lock(). Bulk
// data avoids the library where it can (pread of raw chunks, decoded by tessera; see read.cc), so the lock
// guards metadata, not throughput.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/io/io.h"
#include "tessera/runtime/error.h"

namespace tessera::io::detail {

// The process-wide lock around the HDF5 library (the library itself is process-global state).
std::unique_lock<std::recursive_mutex> hdf5_lock();

// HDF5's own description of the most recent failure on this thread ("unable to open file: truncated file:
// eof = 96, sblock->base_addr = 0, stored_eof = 2048"), or "" when there is none. Clears the stack.
std::string hdf5_message();

// Throws Error(code, context + ": " + hdf5_message()) when `status` is negative; returns it otherwise.
hid_t check_id(hid_t id, ErrorCode code, const std::string& context);
herr_t check(herr_t status, ErrorCode code, const std::string& context);
// Whether the error on HDF5's stack (not cleared) came from reading the file (a transient I/O failure may
// pass on a retry) rather than from its contents (a filter that fails, damaged metadata: a retry cannot
// help).
bool hdf5_error_is_io();

// An HDF5 identifier closed (by its type) when the owner goes. Move-only; the destructor never throws.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) noexcept : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Hid& operator=(Hid&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.id_;
      other.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  ~Hid() { reset(); }
  hid_t get() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ >= 0; }
  void reset() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// A file access list for plain POSIX I/O (the sec2 driver): tessera reads and writes chunks at the offsets
// HDF5 gives, with pread and pwrite, so the file must be one plain file.
Hid sec2_access();

// Tessera's view of a stored HDF5 type.
struct StoredType {
  bool supported = false;
  std::string why;                // when not supported: "compound", "variable-length string", ...
  std::string numpy;              // "<f4", ">i2"
  DType dtype = DType::kFloat64;  // what it is read as
  bool big_endian = false;
  bool is_float = false;
  bool is_signed = false;
  std::size_t size = 0;  // bytes per stored element
};
StoredType describe_type(hid_t type);

// Attribute values of an object, in creation order when the file tracks it (NetCDF-4 files do), else by name.
// HDF5/NetCDF bookkeeping (CLASS, NAME, DIMENSION_LIST, REFERENCE_LIST, _Netcdf4*, _NCProperties) is left
// out unless `all`.
Attributes read_attributes(hid_t object, bool all = false);

// The bookkeeping that read_attributes leaves out and that says what an object is: whether it is a dimension
// scale (CLASS) and its NAME, the scales attached to each axis (DIMENSION_LIST), and NetCDF-4's
// _NCProperties on the root group.
struct Bookkeeping {
  bool dimension_scale = false;  // CLASS is "DIMENSION_SCALE" (what H5DSis_scale asks)
  std::string scale_name;        // NAME, as text
  bool has_dimension_list = false;
  // Per axis, the object header addresses of the scales DIMENSION_LIST refers to; empty when it could not be
  // read as object references (the caller then asks the H5DS library).
  std::vector<std::vector<haddr_t>> dimension_list;
  bool nc_properties = false;
};
// read_attributes (without the bookkeeping) and the bookkeeping, in one pass over the object's attributes:
// each attribute is opened once, where H5DSis_scale, H5DSget_num_scales and H5DSiterate_scales each open
// them again (a file scan's dominant cost, docs/design.md "io").
Attributes read_attributes(hid_t object, Bookkeeping& bookkeeping);

// Writes a scalar text attribute (fixed-length, NUL-terminated ASCII: NetCDF reads it as text) or a numeric
// one of `type` (1 or more values).
void write_attribute(hid_t object, const std::string& name, const AttributeValue& value);
void write_numeric_attribute(hid_t object, const std::string& name, hid_t type,
                             const std::vector<double>& values);

// The HDF5 native type for a tessera dtype.
hid_t native_type(DType dtype);

}  // namespace tessera::io::detail
