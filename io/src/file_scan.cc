#include "file_scan.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>

#include "hdf5_file.h"
#include "inspect.h"
#include "netcdf3.h"

namespace tessera::io::detail {
namespace {

// The coordinate variables of a file and the bounds they name.
std::vector<const VariableInfo*> coordinate_variables(const FileInfo& info) {
  std::vector<const VariableInfo*> out;
  std::set<std::string> bounds;
  for (const VariableInfo& v : info.variables) {
    if (v.dimension_only || !v.unsupported.empty() || v.dims.size() != 1 || v.dims[0] != v.name) continue;
    out.push_back(&v);
    if (const AttributeValue* b = find_attribute(v.attributes, "bounds"); b != nullptr && b->is_text()) {
      bounds.insert(b->text());
    }
  }
  for (const VariableInfo& v : info.variables) {
    if (bounds.count(v.name) != 0 && v.unsupported.empty() && !v.dimension_only) out.push_back(&v);
  }
  return out;
}

std::vector<double> to_doubles(const std::byte* data, DType dtype, std::int64_t n) {
  std::vector<double> out(static_cast<std::size_t>(n));
  visit_dtype(dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    for (std::int64_t i = 0; i < n; ++i) {
      T x;
      std::memcpy(&x, data + static_cast<std::size_t>(i) * sizeof(T), sizeof(T));
      out[static_cast<std::size_t>(i)] = static_cast<double>(x);
    }
  });
  return out;
}

// ---- bytes

class Writer {
 public:
  void u64(std::uint64_t v) { raw(&v, sizeof v); }
  void i64(std::int64_t v) { raw(&v, sizeof v); }
  void f64(double v) { raw(&v, sizeof v); }
  void text(const std::string& s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void doubles(const std::vector<double>& v) {
    u64(v.size());
    raw(v.data(), v.size() * sizeof(double));
  }
  void ints(const std::vector<std::int64_t>& v) {
    u64(v.size());
    raw(v.data(), v.size() * sizeof(std::int64_t));
  }
  void bytes(const std::vector<std::byte>& v) {
    u64(v.size());
    raw(v.data(), v.size());
  }
  void attributes(const Attributes& a) {
    u64(a.size());
    for (const auto& [name, value] : a) {
      text(name);
      text(value.type);
      u64(value.is_text() ? 1 : 0);
      if (value.is_text()) {
        text(value.text());
      } else {
        doubles(value.numbers());
      }
    }
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::byte> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  std::uint64_t u64() { return pod<std::uint64_t>(); }
  std::int64_t i64() { return pod<std::int64_t>(); }
  double f64() { return pod<double>(); }
  std::string text() {
    const std::uint64_t n = count(1);
    std::string s(reinterpret_cast<const char*>(in_.data() + at_), n);
    at_ += n;
    return s;
  }
  std::vector<double> doubles() {
    const std::uint64_t n = count(sizeof(double));
    std::vector<double> v(n);
    if (n > 0) std::memcpy(v.data(), in_.data() + at_, n * sizeof(double));
    at_ += n * sizeof(double);
    return v;
  }
  std::vector<std::int64_t> ints() {
    const std::uint64_t n = count(sizeof(std::int64_t));
    std::vector<std::int64_t> v(n);
    if (n > 0) std::memcpy(v.data(), in_.data() + at_, n * sizeof(std::int64_t));
    at_ += n * sizeof(std::int64_t);
    return v;
  }
  std::span<const std::byte> bytes() {
    const std::uint64_t n = count(1);
    const std::span<const std::byte> out = in_.subspan(at_, n);
    at_ += n;
    return out;
  }
  Attributes attributes() {
    Attributes a(count(1));
    for (auto& [name, value] : a) {
      name = text();
      value.type = text();
      if (u64() == 1) {
        value.value = text();
      } else {
        value.value = doubles();
      }
    }
    return a;
  }
  // A count of items of at least `size` bytes each, which the rest of the input must be able to hold.
  std::uint64_t items(std::size_t size) { return count(size); }
  bool done() const { return at_ == in_.size(); }

 private:
  template <class T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  // A count of items of `size` bytes each that the rest of the input can hold.
  std::uint64_t count(std::size_t size) {
    const std::uint64_t n = u64();
    if (n > (in_.size() - at_) / size) need(in_.size() + 1);
    return n;
  }
  void need(std::size_t n) const {
    if (at_ + n > in_.size()) throw_error(ErrorCode::kInternal, "a file scan's bytes end early");
  }
  std::span<const std::byte> in_;
  std::size_t at_ = 0;
};

}  // namespace

const std::vector<double>* FileScan::coordinate(std::string_view name) const {
  for (const auto& [n, values] : coordinates) {
    if (n == name) return &values;
  }
  return nullptr;
}

FileScan scan_file(const std::string& path, std::unique_lock<std::recursive_mutex>* hold) {
  FileScan scan;
  std::uint64_t bytes = 0;
  if (sniff(path, &bytes) == FileKind::kNetcdf3) {
    const Netcdf3File nc3 = parse_netcdf3(path);
    scan.info = nc3.info;
    for (const VariableInfo* v : coordinate_variables(scan.info)) {
      const auto index = static_cast<std::size_t>(v - scan.info.variables.data());
      const std::int64_t n = num_elements(v->shape);
      std::vector<std::byte> raw(static_cast<std::size_t>(n) * size_of(v->dtype));
      const Shape start(v->shape.size(), 0);
      read_netcdf3(nc3, index, start, v->shape, raw.data());
      scan.coordinates.emplace_back(v->name, to_doubles(raw.data(), v->dtype, n));
    }
    return scan;
  }
  std::unique_lock<std::recursive_mutex> own;
  std::unique_lock<std::recursive_mutex>& lock = hold != nullptr ? *hold : own;
  if (!lock.owns_lock()) lock = hdf5_lock();
  Hid file = open_hdf5_metadata(path, bytes);
  // The datasets stay open from the metadata to the coordinates' values: each is opened once.
  std::vector<Hid> datasets;
  scan.info = inspect_hdf5(path, file.get(), &datasets);
  for (const VariableInfo* v : coordinate_variables(scan.info)) {
    const Hid& dset = datasets[static_cast<std::size_t>(v - scan.info.variables.data())];
    std::vector<double> values(static_cast<std::size_t>(num_elements(v->shape)));
    if (!values.empty()) {
      check(H5Dread(dset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
            ErrorCode::kCorrupt, str_cat("cannot read the values of \"", v->name, "\" in ", path));
    }
    scan.coordinates.emplace_back(v->name, std::move(values));
  }
  return scan;
}

std::vector<std::byte> encode_scan(const FileScan& scan) {
  Writer w;
  const FileInfo& f = scan.info;
  w.text(f.path);
  w.u64(static_cast<std::uint64_t>(f.format));
  w.u64(f.file_bytes);
  w.attributes(f.attributes);
  w.u64(f.variables.size());
  for (const VariableInfo& v : f.variables) {
    w.text(v.name);
    w.ints(v.shape);
    w.text(v.stored_type);
    w.u64(static_cast<std::uint64_t>(v.dtype));
    w.u64(v.chunked ? 1 : 0);
    w.ints(v.storage_chunks);
    w.u64(v.filters.size());
    for (const Filter& flt : v.filters) {
      w.i64(flt.id);
      w.text(flt.name);
      w.u64(flt.parameters.size());
      for (unsigned p : flt.parameters) w.u64(p);
    }
    w.u64(v.dims.size());
    for (const std::string& d : v.dims) w.text(d);
    w.u64(v.growable.size());
    for (bool g : v.growable) w.u64(g ? 1 : 0);
    w.attributes(v.attributes);
    w.u64(v.storage_bytes);
    w.u64(v.dimension_only ? 1 : 0);
    w.text(v.unsupported);
  }
  w.u64(f.dimensions.size());
  for (const auto& [name, length] : f.dimensions) {
    w.text(name);
    w.i64(length);
  }
  w.u64(f.unlimited.size());
  for (const std::string& u : f.unlimited) w.text(u);
  w.u64(scan.coordinates.size());
  for (const auto& [name, values] : scan.coordinates) {
    w.text(name);
    w.doubles(values);
  }
  return w.take();
}

FileScan decode_scan(std::span<const std::byte> bytes) {
  Reader r(bytes);
  FileScan scan;
  FileInfo& f = scan.info;
  f.path = r.text();
  f.format = static_cast<FileFormat>(r.u64());
  f.file_bytes = r.u64();
  f.attributes = r.attributes();
  f.variables.resize(r.items(8));
  for (VariableInfo& v : f.variables) {
    v.name = r.text();
    v.shape = r.ints();
    v.stored_type = r.text();
    v.dtype = static_cast<DType>(r.u64());
    v.chunked = r.u64() != 0;
    v.storage_chunks = r.ints();
    v.filters.resize(r.items(8));
    for (Filter& flt : v.filters) {
      flt.id = static_cast<int>(r.i64());
      flt.name = r.text();
      flt.parameters.resize(r.items(8));
      for (unsigned& p : flt.parameters) p = static_cast<unsigned>(r.u64());
    }
    v.dims.resize(r.items(8));
    for (std::string& d : v.dims) d = r.text();
    v.growable.resize(r.items(8));
    for (std::size_t k = 0; k < v.growable.size(); ++k) v.growable[k] = r.u64() != 0;
    v.attributes = r.attributes();
    v.storage_bytes = r.u64();
    v.dimension_only = r.u64() != 0;
    v.unsupported = r.text();
  }
  const std::uint64_t dims = r.items(16);
  for (std::uint64_t k = 0; k < dims; ++k) {
    std::string name = r.text();
    f.dimensions[name] = r.i64();
  }
  const std::uint64_t unlimited = r.items(8);
  for (std::uint64_t k = 0; k < unlimited; ++k) f.unlimited.insert(r.text());
  scan.coordinates.resize(r.items(16));
  for (auto& [name, values] : scan.coordinates) {
    name = r.text();
    values = r.doubles();
  }
  if (!r.done()) throw_error(ErrorCode::kInternal, "a file scan's bytes go on past its end");
  return scan;
}

std::vector<std::byte> encode_scans(std::span<const FileScan> scans) {
  Writer w;
  for (const FileScan& scan : scans) w.bytes(encode_scan(scan));
  return w.take();
}

std::vector<FileScan> decode_scans(std::span<const std::byte> bytes) {
  Reader r(bytes);
  std::vector<FileScan> scans;
  while (!r.done()) scans.push_back(decode_scan(r.bytes()));
  return scans;
}

}  // namespace tessera::io::detail
