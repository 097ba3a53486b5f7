// What a file holds: its format, variables, dimensions and attributes (io::inspect), read from the HDF5 or
// NetCDF-3 metadata.
#include "inspect.h"

#include <sys/stat.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "filters.h"
#include "io_util.h"
#include "netcdf3.h"

namespace tessera::io {

using detail::check;
using detail::check_id;
using detail::Hid;

// ---- small public helpers

std::string_view name_of(FileFormat f) noexcept {
  switch (f) {
    case FileFormat::kHdf5:
      return "HDF5";
    case FileFormat::kNetcdf4:
      return "NetCDF-4 (HDF5)";
    case FileFormat::kNetcdf3Classic:
      return "NetCDF-3 classic";
    case FileFormat::kNetcdf3Offset64:
      return "NetCDF-3 64-bit offset";
    case FileFormat::kNetcdf3Cdf5:
      return "NetCDF-3 CDF-5";
  }
  return "?";
}

double AttributeValue::number() const {
  if (is_text() || numbers().empty()) {
    throw_error(ErrorCode::kInvalidArgument, "attribute value ", str(), " is not a number");
  }
  return numbers().front();
}

std::string AttributeValue::str() const {
  if (is_text()) return "\"" + text() + "\"";
  std::ostringstream out;
  out.precision(9);
  const auto& v = numbers();
  const bool integral = type.rfind("int", 0) == 0 || type.rfind("uint", 0) == 0;
  if (v.size() != 1) out << "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out << (i ? ", " : "");
    if (integral && std::abs(v[i]) < 9.2e18) {
      out << static_cast<long long>(v[i]);  // integers print whole, never as 1.09951163e+12
    } else if (type == "float32") {
      // The shortest text that reads back as the same float: 1e+20, not 1.00000002e+20 (its double).
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v[i]));
      out << std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
    } else {
      out << v[i];
    }
  }
  if (v.size() != 1) out << "]";
  return out.str();
}

const AttributeValue* find_attribute(const Attributes& attributes, std::string_view name) noexcept {
  for (const auto& [k, v] : attributes) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::uint64_t VariableInfo::logical_bytes() const noexcept {
  return static_cast<std::uint64_t>(num_elements(shape)) * size_of(dtype);
}

const VariableInfo& FileInfo::variable(std::string_view name) const {
  std::string_view wanted = name;
  if (!wanted.empty() && wanted.front() == '/') wanted.remove_prefix(1);
  for (const auto& v : variables) {
    if (v.name == wanted) return v;
  }
  std::string have;
  for (const auto& v : variables) {
    if (v.dimension_only) continue;
    have += (have.empty() ? "" : ", ") + v.name;
  }
  throw_error(ErrorCode::kNotFound, "no variable \"", name, "\" in ", path,
              have.empty() ? std::string(" (it has no variables)") : " (it has: " + have + ")");
}

namespace detail {

// ---- file identification

namespace {

constexpr unsigned char kHdf5Magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

}  // namespace

FileKind sniff(const std::string& path, std::uint64_t* bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw_error(ErrorCode::kNotFound, "no such file: ", path);
    throw_error(ErrorCode::kIo, "cannot access ", path, ": ", std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw_error(ErrorCode::kInvalidArgument, path, " is a directory, not a file");
  if (bytes != nullptr) *bytes = static_cast<std::uint64_t>(st.st_size);
  detail::Fd fd(path, O_RDONLY);
  std::byte head[8] = {};
  const ssize_t n = ::pread(fd.get(), head, sizeof(head), 0);
  if (n < 0) throw_error(ErrorCode::kIo, "cannot read ", path, ": ", std::strerror(errno));
  if (n >= 4 && detail::is_netcdf3(std::span<const std::byte>(head, static_cast<std::size_t>(n)))) {
    return FileKind::kNetcdf3;
  }
  // HDF5's signature at the start: H5Fis_hdf5 would open the file once more to find it there (a damaged
  // superblock is found by the open that follows, open_hdf5).
  if (n >= 8 && std::memcmp(head, kHdf5Magic, 8) == 0) return FileKind::kHdf5;
  {
    auto lock = detail::hdf5_lock();
    if (H5Fis_hdf5(path.c_str()) > 0) return FileKind::kHdf5;
    H5Eclear2(H5E_DEFAULT);
  }
  // Say what it looks like, so a user who passed the wrong file sees why.
  std::string what;
  if (n == 0) {
    what = "it is empty";
  } else if (n >= 3 && std::memcmp(head, "CDF", 3) == 0) {
    throw_error(ErrorCode::kInvalidArgument, path, " is a NetCDF-3 file of an unknown version (byte 4 is ",
                static_cast<int>(head[3]), ")");
  } else if (n >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
             static_cast<unsigned char>(head[1]) == 0x8b) {
    what = "it is gzip-compressed: gunzip it first";
  } else {
    bool text = true;
    for (ssize_t i = 0; i < n; ++i) {
      const auto c = static_cast<unsigned char>(head[i]);
      if (c < 9 || (c > 13 && c < 32 && c != 27) || c == 127) text = false;
    }
    what = text ? "it looks like a text file" : "its first bytes are no HDF5 or NetCDF signature";
  }
  throw_error(ErrorCode::kInvalidArgument, path, " is not an HDF5 or NetCDF file (", what, ")");
}

// ---- HDF5 metadata

namespace {

Hid open_with(const std::string& path, hid_t fapl) {
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl);
  if (id >= 0) return Hid(id);
  const std::string why = detail::hdf5_message();
  // A file that starts with HDF5's signature is not asked H5Fis_hdf5 by sniff; where HDF5 does not take it
  // for one, say so as sniff did.
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    struct stat st {};
    ::stat(path.c_str(), &st);
    throw_error(ErrorCode::kCorrupt, path,
                " starts like an HDF5 file but its superblock is damaged or the file is truncated (",
                st.st_size, " bytes)");
  }
  const std::string context = str_cat("cannot open ", path, ": the file is damaged or truncated");
  throw Error(ErrorCode::kCorrupt, why.empty() ? context : context + " (HDF5: " + why + ")");
}

}  // namespace

Hid open_hdf5(const std::string& path) {
  Hid fapl = detail::sec2_access();
  return open_with(path, fapl.get());
}

Hid open_hdf5_metadata(const std::string& path, std::uint64_t bytes) {
  if (bytes > kWholeFileBytes) return open_hdf5(path);
  Hid fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), ErrorCode::kInternal, "cannot make a file access list"));
  check(H5Pset_fapl_core(fapl.get(), 1 << 20, /*backing_store=*/0), ErrorCode::kInternal,
        "cannot select the core file driver");
  return open_with(path, fapl.get());
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

namespace {

// The dataset's dimensions as the H5DS library names them: per axis, the last component of the first
// attached scale's path, else phony_dim_<axis>.
std::vector<std::string> scale_dims(hid_t dset, int rank) {
  std::vector<std::string> dims;
  for (int axis = 0; axis < rank; ++axis) {
    std::string dim;
    if (H5DSget_num_scales(dset, static_cast<unsigned>(axis)) > 0) {
      H5DSiterate_scales(
          dset, static_cast<unsigned>(axis), nullptr,
          [](hid_t, unsigned, hid_t scale, void* data) -> herr_t {
            char buf[1024] = {};
            if (H5Iget_name(scale, buf, sizeof(buf)) > 0) *static_cast<std::string*>(data) = base_name(buf);
            return 1;  // the first scale names the dimension
          },
          &dim);
    }
    H5Eclear2(H5E_DEFAULT);
    dims.push_back(dim.empty() ? str_cat("phony_dim_", axis) : dim);
  }
  return dims;
}

}  // namespace

VariableInfo describe_dataset(hid_t dset, const std::string& name, const DatasetNames* names,
                              Bookkeeping* bookkeeping) {
  VariableInfo v;
  v.name = name;
  Hid space(check_id(H5Dget_space(dset), ErrorCode::kCorrupt, str_cat("cannot read the shape of ", name)));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw_error(ErrorCode::kCorrupt, "cannot read the shape of ", name);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  std::vector<hsize_t> max_dims(static_cast<std::size_t>(rank));
  if (H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data()) < 0) {
    throw_error(ErrorCode::kCorrupt, "cannot read the shape of ", name);
  }
  v.shape.assign(dims.begin(), dims.end());
  for (hsize_t m : max_dims) v.growable.push_back(m == H5S_UNLIMITED);
  Hid type(check_id(H5Dget_type(dset), ErrorCode::kCorrupt, str_cat("cannot read the type of ", name)));
  detail::StoredType st = detail::describe_type(type.get());
  v.stored_type = st.numpy;
  v.dtype = st.dtype;
  if (!st.supported) v.unsupported = st.why;
  Hid dcpl(
      check_id(H5Dget_create_plist(dset), ErrorCode::kCorrupt, str_cat("cannot read the layout of ", name)));
  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  if (layout < 0) throw_error(ErrorCode::kCorrupt, "cannot read the layout of ", name);
  if (layout == H5D_CHUNKED) {
    v.chunked = true;
    std::vector<hsize_t> c(static_cast<std::size_t>(rank));
    check(H5Pget_chunk(dcpl.get(), rank, c.data()), ErrorCode::kCorrupt,
          str_cat("cannot read the storage chunks of ", name));
    v.storage_chunks.assign(c.begin(), c.end());
  }
  v.filters = read_filters(dcpl.get());
  Bookkeeping local;
  Bookkeeping& b = bookkeeping != nullptr ? *bookkeeping : local;
  v.attributes = detail::read_attributes(dset, b);
  v.storage_bytes = H5Dget_storage_size(dset);
  // NetCDF-4 dimensions: a dimension scale is its own dimension; other datasets list theirs.
  if (b.dimension_scale) {
    v.dims = {name};
    v.dimension_only = b.scale_name.rfind("This is a netCDF dimension but not a netCDF variable", 0) == 0;
  } else if (!b.has_dimension_list) {
    for (int axis = 0; axis < rank; ++axis) v.dims.push_back(str_cat("phony_dim_", axis));
  } else {
    // The scales' names from the addresses DIMENSION_LIST refers to, without opening them (H5DS opens each
    // scale and asks its path); where an address is not a dataset of this file, the H5DS library decides.
    bool resolved = names != nullptr && b.dimension_list.size() == static_cast<std::size_t>(rank);
    for (int axis = 0; resolved && axis < rank; ++axis) {
      const std::vector<haddr_t>& refs = b.dimension_list[static_cast<std::size_t>(axis)];
      if (refs.empty()) {
        v.dims.push_back(str_cat("phony_dim_", axis));
        continue;
      }
      auto it = names->find(refs.front());
      if (it == names->end()) {
        resolved = false;
      } else {
        v.dims.push_back(base_name(it->second));
      }
    }
    if (!resolved) v.dims = scale_dims(dset, rank);
  }
  H5Eclear2(H5E_DEFAULT);
  return v;
}

FileInfo inspect_hdf5(const std::string& path) {
  auto lock = detail::hdf5_lock();
  Hid file = open_hdf5(path);
  return inspect_hdf5(path, file.get());
}

FileInfo inspect_hdf5(const std::string& path, hid_t file_id, std::vector<Hid>* datasets) {
  FileInfo info;
  info.path = path;
  hsize_t size = 0;
  check(H5Fget_filesize(file_id, &size), ErrorCode::kIo, str_cat("cannot tell the size of ", path));
  info.file_bytes = size;
  // The root group's attributes, through the file's id (which stands for its root group).
  detail::Bookkeeping root;
  info.attributes = detail::read_attributes(file_id, root);
  bool netcdf = root.nc_properties;
  struct Ctx {
    std::vector<std::string> datasets;
    DatasetNames names;  // object header address -> the first path it was found by
  } ctx;
  check(H5Lvisit(
            file_id, H5_INDEX_NAME, H5_ITER_INC,
            [](hid_t group, const char* name, const H5L_info_t* linfo, void* data) -> herr_t {
              if (linfo->type != H5L_TYPE_HARD) return 0;
              // Only what the object is and where: the full H5Oget_info also counts its attributes and
              // header bytes, which reads more of the file (a tenth of a file scan).
              H5O_info_t oinfo;
              if (H5Oget_info_by_name2(group, name, &oinfo, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
              if (oinfo.type == H5O_TYPE_DATASET) {
                auto* c = static_cast<Ctx*>(data);
                c->datasets.emplace_back(name);
                c->names.emplace(oinfo.addr, name);
              }
              return 0;
            },
            &ctx),
        ErrorCode::kCorrupt, str_cat("cannot list the datasets of ", path, ": the file is damaged"));
  for (const auto& name : ctx.datasets) {
    Hid dset(check_id(H5Dopen2(file_id, name.c_str(), H5P_DEFAULT), ErrorCode::kCorrupt,
                      str_cat("cannot open dataset ", name, " in ", path)));
    detail::Bookkeeping b;
    VariableInfo v = describe_dataset(dset.get(), name, &ctx.names, &b);
    if (b.dimension_scale || b.has_dimension_list) netcdf = true;
    if (b.dimension_scale && !v.shape.empty()) {
      info.dimensions[v.name] = v.shape[0];
      if (v.growable[0]) info.unlimited.insert(v.name);
    }
    info.variables.push_back(std::move(v));
    if (datasets != nullptr) datasets->push_back(std::move(dset));
  }
  // An unlimited dimension's scale without a coordinate variable stays empty in NetCDF-4 files; its current
  // length is the most records a variable using it has (what ncdump shows).
  for (VariableInfo& v : info.variables) {
    for (std::size_t axis = 0; axis < v.dims.size() && axis < v.shape.size(); ++axis) {
      auto d = info.dimensions.find(v.dims[axis]);
      if (d != info.dimensions.end() && info.unlimited.count(d->first))
        d->second = std::max(d->second, v.shape[axis]);
    }
  }
  for (VariableInfo& v : info.variables) {
    if (v.dimension_only && info.unlimited.count(v.name)) v.shape = {info.dimensions[v.name]};
  }
  H5Eclear2(H5E_DEFAULT);
  info.format = netcdf ? FileFormat::kNetcdf4 : FileFormat::kHdf5;
  return info;
}

}  // namespace detail

FileInfo inspect(const std::string& path) {
  if (detail::sniff(path) == detail::FileKind::kNetcdf3) return detail::parse_netcdf3(path).info;
  return detail::inspect_hdf5(path);
}

}  // namespace tessera::io
