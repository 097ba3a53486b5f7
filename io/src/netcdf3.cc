#include "netcdf3.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include "tessera/runtime/error.h"

namespace tessera::io::detail {
namespace {

// NetCDF classic format constants (the "netcdf file format" spec, also for CDF-5).
enum NcType : int {
  kNcByte = 1,
  kNcChar = 2,
  kNcShort = 3,
  kNcInt = 4,
  kNcFloat = 5,
  kNcDouble = 6,
  kNcUbyte = 7,
  kNcUshort = 8,
  kNcUint = 9,
  kNcInt64 = 10,
  kNcUint64 = 11,
};
constexpr std::uint32_t kTagAbsent = 0;
constexpr std::uint32_t kTagDimension = 0x0A;
constexpr std::uint32_t kTagVariable = 0x0B;
constexpr std::uint32_t kTagAttribute = 0x0C;
constexpr std::uint64_t kStreamingRecords = 0xFFFFFFFFu;

std::size_t type_size(int t) {
  switch (t) {
    case kNcByte:
    case kNcChar:
    case kNcUbyte:
      return 1;
    case kNcShort:
    case kNcUshort:
      return 2;
    case kNcInt:
    case kNcFloat:
    case kNcUint:
      return 4;
    case kNcDouble:
    case kNcInt64:
    case kNcUint64:
      return 8;
    default:
      return 0;
  }
}

// NumPy's name of the stored type (attributes keep it as their type name).
const char* type_name(int t) {
  switch (t) {
    case kNcByte:
      return "int8";
    case kNcChar:
      return "string";
    case kNcShort:
      return "int16";
    case kNcInt:
      return "int32";
    case kNcFloat:
      return "float32";
    case kNcDouble:
      return "float64";
    case kNcUbyte:
      return "uint8";
    case kNcUshort:
      return "uint16";
    case kNcUint:
      return "uint32";
    case kNcInt64:
      return "int64";
    case kNcUint64:
      return "uint64";
    default:
      return "?";
  }
}

const char* stored_type(int t) {
  switch (t) {
    case kNcByte:
      return "|i1";
    case kNcChar:
      return "|S1";
    case kNcShort:
      return ">i2";
    case kNcInt:
      return ">i4";
    case kNcFloat:
      return ">f4";
    case kNcDouble:
      return ">f8";
    case kNcUbyte:
      return "|u1";
    case kNcUshort:
      return ">u2";
    case kNcUint:
      return ">u4";
    case kNcInt64:
      return ">i8";
    case kNcUint64:
      return ">u8";
    default:
      return "?";
  }
}

// The dtype tessera reads a stored type as: widened until it is signed (NC_CHAR and NC_UINT64 are not read).
DType read_dtype(int t) {
  switch (t) {
    case kNcByte:
    case kNcShort:
      return DType::kInt16;
    case kNcInt:
    case kNcUshort:
      return DType::kInt32;
    case kNcFloat:
      return DType::kFloat32;
    case kNcDouble:
      return DType::kFloat64;
    case kNcUbyte:
    case kNcChar:
      return DType::kUint8;
    default:
      return DType::kInt64;
  }
}

// A file descriptor, closed on destruction.
class File {
 public:
  explicit File(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      if (err == ENOENT) throw_error(ErrorCode::kNotFound, "no such file: ", path);
      throw_error(ErrorCode::kIo, "cannot open ", path, ": ", std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      throw_error(ErrorCode::kIo, "cannot stat ", path, ": ", std::strerror(err));
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::uint64_t size() const noexcept { return size_; }

  // Reads exactly n bytes at `offset`, or throws naming `what`: kCorrupt when the file ends first.
  void read_exact(std::uint64_t offset, void* buf, std::size_t n, const std::string& what) const {
    auto* p = static_cast<char*>(buf);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_error(ErrorCode::kIo, "cannot read ", path_, " (", what, ", ", n, " bytes at offset ", offset,
                    "): ", std::strerror(errno));
      }
      if (r == 0) {
        throw_error(ErrorCode::kCorrupt, path_, " is truncated: ", what, " needs bytes up to offset ",
                    offset + n, " but the file has ", size_, " bytes");
      }
      done += static_cast<std::size_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Sequential big-endian reader of the header, fetching the file in blocks.
class HeaderReader {
 public:
  HeaderReader(const File& file, const std::string& path, int version)
      : file_(file), path_(path), version_(version) {}

  std::uint64_t position() const noexcept { return pos_; }

  void need(std::size_t n) {
    if (pos_ + n <= buf_start_ + buf_.size()) return;
    if (pos_ + n > file_.size()) {
      throw_error(ErrorCode::kCorrupt, path_, " is truncated: the header needs at least ", pos_ + n,
                  " bytes but the file has ", file_.size(), " bytes");
    }
    const std::uint64_t len =
        std::min<std::uint64_t>(file_.size() - pos_, std::max<std::uint64_t>(n, 1 << 16));
    buf_.resize(static_cast<std::size_t>(len));
    buf_start_ = pos_;
    file_.read_exact(pos_, buf_.data(), buf_.size(), "the header");
  }

  const unsigned char* take(std::size_t n) {
    need(n);
    const unsigned char* p = buf_.data() + (pos_ - buf_start_);
    pos_ += n;
    return p;
  }

  std::uint64_t u32() {
    const unsigned char* p = take(4);
    return (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) | (std::uint64_t{p[2]} << 8) | p[3];
  }
  std::uint64_t u64() {
    const unsigned char* p = take(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
  }
  // NON_NEG: 32 bits, 64 bits in CDF-5.
  std::uint64_t count(const char* what) {
    const std::uint64_t v = version_ == 5 ? u64() : u32();
    if (version_ == 5 && v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw_error(ErrorCode::kCorrupt, path_, ": header ", what, " ", v, " is negative");
    }
    return v;
  }
  // A count of items of at least `min_item_bytes` each, checked against the file's size so that a damaged
  // header cannot ask for absurd allocations.
  std::uint64_t list_count(const char* what, std::uint64_t min_item_bytes) {
    const std::uint64_t at = pos_;
    const std::uint64_t n = count(what);
    if (n > 0 &&
        n > (file_.size() - std::min(file_.size(), pos_)) / std::max<std::uint64_t>(min_item_bytes, 1)) {
      throw_error(ErrorCode::kCorrupt, path_, " is truncated or damaged: the header's ", what, " at offset ",
                  at, " is ", n, " but only ", file_.size() - std::min(file_.size(), pos_), " bytes follow");
    }
    return n;
  }
  // OFFSET: 32 bits in CDF-1, 64 bits otherwise.
  std::uint64_t offset() { return version_ == 1 ? u32() : u64(); }

  void skip_padding(std::uint64_t n) {
    const std::uint64_t pad = (4 - n % 4) % 4;
    take(static_cast<std::size_t>(pad));
  }
  std::string name(const char* what) {
    const std::uint64_t n = list_count(what, 1);
    const unsigned char* p = take(static_cast<std::size_t>(n));
    std::string s(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    skip_padding(n);
    return s;
  }

 private:
  const File& file_;
  const std::string& path_;
  int version_;
  std::vector<unsigned char> buf_;
  std::uint64_t buf_start_ = 0;
  std::uint64_t pos_ = 0;
};

template <class T>
T load_be(const unsigned char* p) {
  using U = std::conditional_t<
      sizeof(T) == 1, std::uint8_t,
      std::conditional_t<sizeof(T) == 2, std::uint16_t,
                         std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  U u = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) u = static_cast<U>((u << 8) | p[i]);
  return std::bit_cast<T>(u);
}

double element_as_double(int t, const unsigned char* p) {
  switch (t) {
    case kNcByte:
      return static_cast<double>(static_cast<std::int8_t>(p[0]));
    case kNcUbyte:
      return static_cast<double>(p[0]);
    case kNcShort:
      return static_cast<double>(load_be<std::int16_t>(p));
    case kNcUshort:
      return static_cast<double>(load_be<std::uint16_t>(p));
    case kNcInt:
      return static_cast<double>(load_be<std::int32_t>(p));
    case kNcUint:
      return static_cast<double>(load_be<std::uint32_t>(p));
    case kNcFloat:
      return static_cast<double>(load_be<float>(p));
    case kNcDouble:
      return load_be<double>(p);
    case kNcInt64:
      return static_cast<double>(load_be<std::int64_t>(p));
    case kNcUint64:
      return static_cast<double>(load_be<std::uint64_t>(p));
    default:
      return 0;
  }
}

void check_type(int t, int version, const std::string& path, const std::string& what) {
  const bool valid = (t >= kNcByte && t <= kNcDouble) || (version == 5 && t >= kNcUbyte && t <= kNcUint64);
  if (!valid) {
    throw_error(ErrorCode::kCorrupt, path, ": ", what, " has type code ", t, ", not a NetCDF-3",
                version == 5 ? " (CDF-5)" : "", " type");
  }
}

Attributes read_attributes(HeaderReader& in, int version, const std::string& path, const std::string& owner) {
  Attributes attributes;
  const std::uint64_t tag = in.u32();
  const std::uint64_t n = in.list_count("attribute count", 12);
  if (tag == kTagAbsent && n == 0) return attributes;
  if (tag != kTagAttribute) {
    throw_error(ErrorCode::kCorrupt, path, ": expected the attribute list of ", owner, " at offset ",
                in.position(), ", found tag ", tag);
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string name = in.name("attribute name length");
    const int t = static_cast<int>(in.u32());
    check_type(t, version, path, str_cat("attribute \"", name, "\" of ", owner));
    const std::uint64_t count = in.list_count("attribute length", type_size(t));
    const std::uint64_t bytes = count * type_size(t);
    const unsigned char* p = in.take(static_cast<std::size_t>(bytes));
    if (t == kNcChar) {
      std::string text(reinterpret_cast<const char*>(p), static_cast<std::size_t>(bytes));
      while (!text.empty() && text.back() == '\0') text.pop_back();
      attributes.emplace_back(std::move(name), AttributeValue(std::move(text)));
    } else {
      std::vector<double> numbers(static_cast<std::size_t>(count));
      for (std::size_t k = 0; k < numbers.size(); ++k)
        numbers[k] = element_as_double(t, p + k * type_size(t));
      attributes.emplace_back(std::move(name), AttributeValue(std::move(numbers), type_name(t)));
    }
    in.skip_padding(bytes);
  }
  return attributes;
}

// Converts `n` big-endian elements of NetCDF type `t` at `in` to the tessera dtype for `t` at `out`.
void convert(int t, const unsigned char* in, std::size_t n, std::byte* out) {
  auto put = [&](auto load) {
    using T = decltype(load(in));
    auto* o = reinterpret_cast<T*>(out);
    for (std::size_t i = 0; i < n; ++i) o[i] = load(in + i * type_size(t));
  };
  switch (t) {
    case kNcByte:
      put([](const unsigned char* p) { return static_cast<std::int16_t>(static_cast<std::int8_t>(p[0])); });
      break;
    case kNcUbyte:
      std::memcpy(out, in, n);
      break;
    case kNcShort:
      put([](const unsigned char* p) { return load_be<std::int16_t>(p); });
      break;
    case kNcUshort:
      put([](const unsigned char* p) { return static_cast<std::int32_t>(load_be<std::uint16_t>(p)); });
      break;
    case kNcInt:
      put([](const unsigned char* p) { return load_be<std::int32_t>(p); });
      break;
    case kNcUint:
      put([](const unsigned char* p) { return static_cast<std::int64_t>(load_be<std::uint32_t>(p)); });
      break;
    case kNcFloat:
      put([](const unsigned char* p) { return load_be<float>(p); });
      break;
    case kNcDouble:
      put([](const unsigned char* p) { return load_be<double>(p); });
      break;
    case kNcInt64:
      put([](const unsigned char* p) { return load_be<std::int64_t>(p); });
      break;
    default:
      break;
  }
}

std::string format_block(std::span<const std::int64_t> start, std::span<const std::int64_t> count) {
  std::string s = "block start (";
  for (std::size_t a = 0; a < start.size(); ++a) s += str_cat(a ? ", " : "", start[a]);
  s += ") count (";
  for (std::size_t a = 0; a < count.size(); ++a) s += str_cat(a ? ", " : "", count[a]);
  return s + ")";
}

std::string format_shape(const Shape& shape) {
  std::string s = "(";
  for (std::size_t a = 0; a < shape.size(); ++a) s += str_cat(a ? ", " : "", shape[a]);
  return s + ")";
}

}  // namespace

bool is_netcdf3(std::span<const std::byte> head) noexcept {
  if (head.size() < 4) return false;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(head[i]); };
  return b(0) == 'C' && b(1) == 'D' && b(2) == 'F' && (b(3) == 1 || b(3) == 2 || b(3) == 5);
}

Netcdf3File parse_netcdf3(const std::string& path) {
  File file(path);
  Netcdf3File out;
  out.path = path;
  out.info.path = path;
  out.info.file_bytes = file.size();

  unsigned char magic[4] = {};
  if (file.size() < 4) {
    throw_error(ErrorCode::kInvalidArgument, path, " is not a NetCDF-3 file: it has only ", file.size(),
                " bytes");
  }
  file.read_exact(0, magic, 4, "the magic number");
  if (!is_netcdf3(std::as_bytes(std::span(magic)))) {
    char shown[5] = {};
    for (int i = 0; i < 4; ++i)
      shown[i] = (magic[i] >= 32 && magic[i] < 127) ? static_cast<char>(magic[i]) : '.';
    throw_error(ErrorCode::kInvalidArgument, path, " is not a NetCDF-3 file: it starts with \"", shown,
                "\" (bytes ", int{magic[0]}, " ", int{magic[1]}, " ", int{magic[2]}, " ", int{magic[3]},
                "), not \"CDF\" followed by 1, 2 or 5");
  }
  const int version = magic[3];
  out.info.format = version == 1   ? FileFormat::kNetcdf3Classic
                    : version == 2 ? FileFormat::kNetcdf3Offset64
                                   : FileFormat::kNetcdf3Cdf5;

  HeaderReader in(file, path, version);
  in.take(4);
  std::uint64_t numrecs = version == 5 ? in.u64() : in.u32();
  const bool streaming = version != 5 && numrecs == kStreamingRecords;

  // Dimensions.
  struct Dim {
    std::string name;
    std::uint64_t length;
  };
  std::vector<Dim> dims;
  std::optional<std::size_t> record_dim;
  {
    const std::uint64_t tag = in.u32();
    const std::uint64_t n = in.list_count("dimension count", 8);
    if (!(tag == kTagAbsent && n == 0)) {
      if (tag != kTagDimension) {
        throw_error(ErrorCode::kCorrupt, path, ": expected the dimension list at offset 8, found tag ", tag);
      }
      for (std::uint64_t i = 0; i < n; ++i) {
        Dim d;
        d.name = in.name("dimension name length");
        d.length = in.count("dimension length");
        if (d.length == 0) {
          if (record_dim) {
            throw_error(ErrorCode::kCorrupt, path, ": dimensions \"", dims[*record_dim].name, "\" and \"",
                        d.name, "\" are both unlimited");
          }
          record_dim = dims.size();
        }
        dims.push_back(std::move(d));
      }
    }
  }

  out.info.attributes = read_attributes(in, version, path, "the file");

  // Variables.
  struct Var {
    VariableInfo info;
    Netcdf3Variable layout;
    std::uint64_t element_bytes = 0;  // per record for record variables
  };
  std::vector<Var> vars;
  {
    const std::uint64_t tag = in.u32();
    const std::uint64_t n = in.list_count("variable count", 16);
    if (!(tag == kTagAbsent && n == 0)) {
      if (tag != kTagVariable) {
        throw_error(ErrorCode::kCorrupt, path, ": expected the variable list at offset ", in.position(),
                    ", found tag ", tag);
      }
      for (std::uint64_t i = 0; i < n; ++i) {
        Var v;
        v.info.name = in.name("variable name length");
        const std::uint64_t rank = in.list_count("variable rank", version == 5 ? 8 : 4);
        std::uint64_t elements = 1;
        for (std::uint64_t a = 0; a < rank; ++a) {
          const std::uint64_t id = in.count("dimension id");
          if (id >= dims.size()) {
            throw_error(ErrorCode::kCorrupt, path, ": variable \"", v.info.name, "\" uses dimension id ", id,
                        " but the file has ", dims.size(), " dimensions");
          }
          if (record_dim && id == *record_dim) {
            if (a != 0) {
              throw_error(ErrorCode::kCorrupt, path, ": variable \"", v.info.name,
                          "\" has the unlimited dimension \"", dims[id].name, "\" on axis ", a,
                          " (only the first axis may be unlimited)");
            }
            v.layout.record = true;
          } else {
            elements *= dims[id].length;
          }
          v.info.dims.push_back(dims[id].name);
        }
        v.info.attributes = read_attributes(in, version, path, str_cat("variable \"", v.info.name, "\""));
        v.layout.nc_type = static_cast<int>(in.u32());
        check_type(v.layout.nc_type, version, path, str_cat("variable \"", v.info.name, "\""));
        v.layout.vsize = in.count("variable size");
        v.layout.begin = in.offset();
        v.element_bytes = elements * type_size(v.layout.nc_type);
        v.info.stored_type = stored_type(v.layout.nc_type);
        v.info.dtype = read_dtype(v.layout.nc_type);
        if (v.layout.nc_type == kNcChar) v.info.unsupported = "character (NC_CHAR)";
        if (v.layout.nc_type == kNcUint64) v.info.unsupported = "uint64 (NC_UINT64)";
        vars.push_back(std::move(v));
      }
    }
  }
  const std::uint64_t header_end = in.position();

  // The record stride: each record variable's slab padded to 4 bytes, except a lone record variable, which
  // is not padded (the classic format's special case). Computed, not taken from vsize, which saturates for
  // variables over 4 GiB in CDF-1/2.
  std::size_t record_vars = 0;
  for (const Var& v : vars) record_vars += v.layout.record ? 1 : 0;
  for (const Var& v : vars) {
    if (!v.layout.record) continue;
    out.record_bytes += record_vars == 1 ? v.element_bytes : (v.element_bytes + 3) / 4 * 4;
  }
  std::uint64_t first_record = std::numeric_limits<std::uint64_t>::max();
  for (const Var& v : vars) {
    if (v.layout.record) first_record = std::min(first_record, v.layout.begin);
  }
  if (streaming) {
    // Numrecs was not written (a streamed file): as many whole records as the file holds.
    numrecs = (record_vars == 0 || out.record_bytes == 0 || file.size() < first_record)
                  ? 0
                  : (file.size() - first_record) / out.record_bytes;
  }
  if (numrecs > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw_error(ErrorCode::kCorrupt, path, ": the header's record count ", numrecs, " is negative");
  }
  out.records = static_cast<std::int64_t>(numrecs);

  // Every variable's data must lie within the file.
  std::uint64_t needed = header_end;
  const Var* last = nullptr;
  for (const Var& v : vars) {
    std::uint64_t end = v.layout.begin;
    if (v.layout.record) {
      if (numrecs > 0) end += (numrecs - 1) * out.record_bytes + v.element_bytes;
    } else {
      end += v.element_bytes;
    }
    if (v.layout.begin < header_end && (v.element_bytes > 0 && (!v.layout.record || numrecs > 0))) {
      throw_error(ErrorCode::kCorrupt, path, ": variable \"", v.info.name, "\" begins at offset ",
                  v.layout.begin, ", inside the header (which ends at ", header_end, ")");
    }
    if (end > needed) {
      needed = end;
      last = &v;
    }
  }
  if (file.size() < needed) {
    throw_error(ErrorCode::kCorrupt, path, " is truncated: expected at least ", needed,
                " bytes (the data of \"", last ? last->info.name : std::string("?"),
                "\" ends there) but the file has ", file.size(), " bytes");
  }

  for (std::size_t d = 0; d < dims.size(); ++d) {
    out.info.dimensions[dims[d].name] =
        record_dim && d == *record_dim ? out.records : static_cast<std::int64_t>(dims[d].length);
    if (record_dim && d == *record_dim) out.info.unlimited.insert(dims[d].name);
  }
  for (Var& v : vars) {
    for (const std::string& dim : v.info.dims) {
      v.info.shape.push_back(out.info.dimensions[dim]);
      v.info.growable.push_back(out.info.unlimited.count(dim) > 0);
    }
    v.info.chunked = false;
    v.info.storage_bytes = v.layout.record ? numrecs * v.element_bytes : v.element_bytes;
  }
  // NetCDF dimensions without a coordinate variable, listed like NetCDF-4's dimension scales.
  for (const Dim& d : dims) {
    const bool has_variable =
        std::any_of(vars.begin(), vars.end(), [&](const Var& v) { return v.info.name == d.name; });
    if (has_variable) continue;
    Var v;
    v.info.name = d.name;
    v.info.shape = {out.info.dimensions[d.name]};
    v.info.growable = {out.info.unlimited.count(d.name) > 0};
    v.info.dims = {d.name};
    v.info.dtype = DType::kFloat32;
    v.info.dimension_only = true;
    vars.push_back(std::move(v));
  }
  std::stable_sort(vars.begin(), vars.end(),
                   [](const Var& a, const Var& b) { return a.info.name < b.info.name; });
  for (Var& v : vars) {
    out.info.variables.push_back(std::move(v.info));
    out.layout.push_back(v.layout);
  }
  return out;
}

void read_netcdf3(const Netcdf3File& file, std::size_t v, std::span<const std::int64_t> start,
                  std::span<const std::int64_t> count, std::byte* out) {
  if (v >= file.info.variables.size()) {
    throw_error(ErrorCode::kInternal, "variable index ", v, " is out of range for ", file.path, " (",
                file.info.variables.size(), " variables)");
  }
  const VariableInfo& info = file.info.variables[v];
  const Netcdf3Variable& layout = file.layout[v];
  const auto fail = [&](ErrorCode code, const auto&... parts) {
    throw_error(code, "cannot read ", format_block(start, count), " of variable \"", info.name, "\" in ",
                file.path, ": ", parts...);
  };
  if (info.dimension_only) fail(ErrorCode::kInvalidArgument, "it is a dimension without values");
  if (layout.nc_type == kNcChar) {
    throw_error(ErrorCode::kInvalidArgument, "character variable \"", info.name, "\" in ", file.path,
                " is not numeric");
  }
  if (layout.nc_type == kNcUint64) {
    throw_error(ErrorCode::kInvalidArgument, "variable \"", info.name, "\" in ", file.path,
                " is uint64 (NC_UINT64), which tessera cannot read (its largest integer type is int64)");
  }
  const std::size_t rank = info.shape.size();
  if (start.size() != rank || count.size() != rank) {
    fail(ErrorCode::kInvalidArgument, "the variable has ", rank, " axes ", format_shape(info.shape));
  }
  std::int64_t total = 1;
  for (std::size_t a = 0; a < rank; ++a) {
    if (start[a] < 0 || count[a] < 0 || start[a] > info.shape[a] || count[a] > info.shape[a] - start[a]) {
      fail(ErrorCode::kInvalidArgument, "axis ", a, " (", info.dims[a], ") has length ", info.shape[a]);
    }
    total *= count[a];
  }
  if (total == 0) return;

  const std::size_t in_size = type_size(layout.nc_type);
  const std::size_t out_size = size_of(info.dtype);
  // Row-major strides of the stored array, in elements; the record axis is handled by the record stride.
  const std::size_t first = layout.record ? 1 : 0;
  std::vector<std::uint64_t> stride(rank, 1);
  for (std::size_t a = rank; a-- > first + 1;)
    stride[a - 1] = stride[a] * static_cast<std::uint64_t>(info.shape[a]);
  // The innermost axes that are read whole form one contiguous run, together with the next axis out.
  std::size_t run_axis = rank;  // runs span axes [run_axis, rank)
  std::uint64_t run = 1;
  while (run_axis > first) {
    const std::size_t a = run_axis - 1;
    run *= static_cast<std::uint64_t>(count[a]);
    run_axis = a;
    if (count[a] != info.shape[a]) break;
  }

  File f(file.path);
  const std::string what = str_cat("variable \"", info.name, "\" ", format_block(start, count));
  constexpr std::uint64_t kScratchBytes = std::uint64_t{4} << 20;
  std::vector<unsigned char> scratch(
      static_cast<std::size_t>(std::min<std::uint64_t>(run * in_size, kScratchBytes)));
  const std::uint64_t scratch_elements = std::max<std::uint64_t>(scratch.size() / in_size, 1);

  // Odometer over the axes outside the run (including the record axis).
  std::vector<std::int64_t> index(run_axis, 0);
  std::byte* dst = out;
  for (;;) {
    std::uint64_t offset = layout.begin;
    std::size_t a0 = 0;
    if (layout.record) {
      const std::uint64_t rec = static_cast<std::uint64_t>(start[0] + (run_axis > 0 ? index[0] : 0));
      offset += rec * file.record_bytes;
      a0 = 1;
    }
    std::uint64_t element = 0;
    for (std::size_t a = a0; a < rank; ++a) {
      const std::int64_t i = start[a] + (a < run_axis ? index[a] : 0);
      element += static_cast<std::uint64_t>(i) * stride[a];
    }
    offset += element * in_size;
    for (std::uint64_t done = 0; done < run;) {
      const std::uint64_t n = std::min(run - done, scratch_elements);
      f.read_exact(offset + done * in_size, scratch.data(), static_cast<std::size_t>(n * in_size), what);
      convert(layout.nc_type, scratch.data(), static_cast<std::size_t>(n), dst);
      dst += n * out_size;
      done += n;
    }
    std::size_t a = run_axis;
    while (a > 0) {
      --a;
      if (++index[a] < count[a]) break;
      index[a] = 0;
      if (a == 0) return;
    }
    if (run_axis == 0) return;
  }
}

}  // namespace tessera::io::detail
