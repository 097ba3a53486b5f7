// Reading HDF5, NetCDF-4 and NetCDF-3 variables as chunked arrays.
#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "filters.h"
#include "hdf5_file.h"
#include "inspect.h"
#include "io_util.h"
#include "netcdf3.h"
#include "reader.h"
#include "tessera/io/io.h"
#include "tessera/runtime/format.h"

namespace tessera::io {

using detail::check;
using detail::check_id;
using detail::Hid;

namespace {
// ---- open datasets, cached per process (a read task would otherwise reopen the file for every chunk)

struct OpenDataset {
  Hid file;
  Hid dset;
  detail::Fd fd;
  detail::StoredType stored;
  bool chunked = false;
  bool fast = false;            // raw chunks can be read with pread and decoded here
  std::vector<Filter> filters;  // in pipeline order
  haddr_t contiguous = HADDR_UNDEF;
  std::vector<std::byte> fill;  // one element of the dataset's fill value, as the variable's dtype
};

class DatasetCache {
 public:
  std::shared_ptr<OpenDataset> get(const std::string& path, const std::string& name) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      throw_error(ErrorCode::kIo, "cannot access ", path, ": ", std::strerror(errno));
    }
    const std::string key = str_cat(path, '\n', name, '\n', st.st_dev, ':', st.st_ino, ':', st.st_size, ':',
                                    st.st_mtim.tv_sec, '.', st.st_mtim.tv_nsec);
    std::lock_guard<std::mutex> guard(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        entries_.splice(entries_.begin(), entries_, it);
        return it->second;
      }
    }
    auto opened = open(path, name);
    entries_.emplace_front(key, opened);
    if (entries_.size() > kCapacity) entries_.pop_back();
    return opened;
  }

 private:
  static constexpr std::size_t kCapacity = 32;

  static std::shared_ptr<OpenDataset> open(const std::string& path, const std::string& name) {
    auto d = std::make_shared<OpenDataset>();
    d->fd = detail::Fd(path, O_RDONLY);
    auto lock = detail::hdf5_lock();
    d->file = detail::open_hdf5(path);
    d->dset = Hid(check_id(H5Dopen2(d->file.get(), name.c_str(), H5P_DEFAULT), ErrorCode::kNotFound,
                           str_cat("no variable \"", name, "\" in ", path)));
    Hid type(check_id(H5Dget_type(d->dset.get()), ErrorCode::kCorrupt,
                      str_cat("cannot read the type of \"", name, "\" in ", path)));
    d->stored = detail::describe_type(type.get());
    Hid dcpl(check_id(H5Dget_create_plist(d->dset.get()), ErrorCode::kCorrupt,
                      str_cat("cannot read the layout of \"", name, "\" in ", path)));
    const H5D_layout_t layout = H5Pget_layout(dcpl.get());
    if (layout < 0) throw_error(ErrorCode::kCorrupt, "cannot read the layout of \"", name, "\" in ", path);
    d->chunked = layout == H5D_CHUNKED;
    d->filters = read_filters(dcpl.get());
    d->fast = true;
    for (const auto& f : d->filters) {
      if (f.id != H5Z_FILTER_DEFLATE && f.id != H5Z_FILTER_SHUFFLE && f.id != H5Z_FILTER_FLETCHER32) {
        d->fast = false;
      }
    }
    if (!d->chunked) {
      d->contiguous = H5Dget_offset(d->dset.get());
      H5Eclear2(H5E_DEFAULT);
      d->fast = d->fast && d->filters.empty() && layout == H5D_CONTIGUOUS;
    }
    d->fill.resize(size_of(d->stored.dtype));
    H5D_fill_value_t defined{};
    check(H5Pfill_value_defined(dcpl.get(), &defined), ErrorCode::kCorrupt,
          str_cat("cannot read the fill value of \"", name, "\" in ", path));
    if (defined == H5D_FILL_VALUE_UNDEFINED ||
        H5Pget_fill_value(dcpl.get(), detail::native_type(d->stored.dtype), d->fill.data()) < 0) {
      std::fill(d->fill.begin(), d->fill.end(), std::byte{0});
    }
    H5Eclear2(H5E_DEFAULT);
    return d;
  }

  std::mutex mutex_;
  std::list<std::pair<std::string, std::shared_ptr<OpenDataset>>> entries_;
};

DatasetCache& dataset_cache() {
  // Process-wide like the HDF5 library it wraps: every array reading a file shares its open handles.
  static DatasetCache cache;
  return cache;
}

// Per-thread buffers that keep their memory between storage chunks: neither zero-filled nor freshly mapped
// (and faulted in) for every chunk. Slot 0 holds a chunk's stored bytes, 1 and 2 its decoding stages, 3 a
// decoded chunk that is copied into its block afterwards.
std::byte* scratch(std::size_t n, int slot = 0) {
  thread_local std::unique_ptr<std::byte[]> buffers[4];
  thread_local std::size_t capacity[4] = {0, 0, 0, 0};
  if (capacity[slot] < n) {
    buffers[slot].reset();
    buffers[slot].reset(new std::byte[n]);
    capacity[slot] = n;
  }
  return buffers[slot].get();
}

// Inverse of HDF5's filter pipeline for the filters tessera decodes itself: the `n` stored bytes at `in`
// (scratch slot 0) become the chunk's `expected` bytes at `dst`, which the last stage writes directly.
void decode_chunk(const std::byte* in, std::size_t n, const OpenDataset& d, unsigned mask,
                  std::size_t expected, std::byte* dst, const std::string& where) {
  const int count = static_cast<int>(d.filters.size());
  auto moves_data = [&](int i) {  // the stage writes a new buffer (deflate, shuffle of wide elements)
    if (mask & (1u << i)) return false;
    const unsigned id = d.filters[static_cast<std::size_t>(i)].id;
    return id == H5Z_FILTER_DEFLATE || (id == H5Z_FILTER_SHUFFLE && d.stored.size > 1);
  };
  int last = -1;  // the data-moving stage that runs last (filters are undone from the highest index down)
  for (int i = 0; i < count; ++i) {
    if (moves_data(i)) {
      last = i;
      break;
    }
  }
  const std::byte* cur = in;
  int cur_slot = 0;
  for (int i = count - 1; i >= 0; --i) {
    if (mask & (1u << i)) continue;  // this filter was skipped when the chunk was written
    const Filter& f = d.filters[static_cast<std::size_t>(i)];
    if (f.id == H5Z_FILTER_FLETCHER32) {
      if (n < 4) throw_error(ErrorCode::kCorrupt, where, ": checksummed chunk is too short");
      n -= 4;
      continue;
    }
    if (!moves_data(i)) continue;
    const int slot = cur_slot == 1 ? 2 : 1;
    std::byte* out = i == last ? dst : scratch(expected, slot);
    if (f.id == H5Z_FILTER_DEFLATE) {
      // libdeflate decodes faster than zlib (docs/io.md); one decompressor per thread.
      thread_local std::unique_ptr<libdeflate_decompressor, decltype(&libdeflate_free_decompressor)> inflater(
          libdeflate_alloc_decompressor(), &libdeflate_free_decompressor);
      if (!inflater) throw std::bad_alloc();
      std::size_t got = 0;
      const libdeflate_result rc = libdeflate_zlib_decompress(inflater.get(), cur, n, out, expected, &got);
      if (rc != LIBDEFLATE_SUCCESS) {
        throw_error(
            ErrorCode::kCorrupt, where, ": deflate stream is damaged (",
            rc == LIBDEFLATE_INSUFFICIENT_SPACE ? "it decodes to more than the chunk's bytes" : "bad data",
            ")");
      }
      n = got;
    } else {  // shuffle
      if (n < expected) {
        throw_error(ErrorCode::kCorrupt, where, ": chunk decodes to ", n, " bytes, expected ", expected);
      }
      n = expected;
      detail::unshuffle(cur, out, n, d.stored.size);
    }
    cur = out;
    cur_slot = slot;
  }
  if (n < expected) {
    throw_error(ErrorCode::kCorrupt, where, ": chunk decodes to ", n, " bytes, expected ", expected);
  }
  if (last < 0) std::memcpy(dst, cur, expected);  // no stage wrote `dst`
}

// Copies the overlap of a source block (stored elements, shape `src_shape`, starting at `src_origin` in the
// dataset) with the destination block (tessera dtype, starting at `dst_origin`) into `dst`.
void copy_overlap(const std::byte* src, const Shape& src_shape, const Shape& src_origin,
                  const detail::StoredType& st, Chunk& dst, const Shape& dst_origin, const Shape& lo,
                  const Shape& hi) {
  const std::size_t nd = dst.shape().size();
  if (nd == 0) {
    detail::convert_elements(src, st, dst.bytes(), dst.dtype(), 1);
    return;
  }
  const Shape sstr = strides_of(src_shape);
  const Shape dstr = strides_of(dst.shape());
  const std::int64_t run = hi[nd - 1] - lo[nd - 1];
  if (run <= 0) return;
  Shape pos(lo);
  const std::size_t out_size = size_of(dst.dtype());
  while (true) {
    std::int64_t so = 0, dof = 0;
    for (std::size_t a = 0; a < nd; ++a) {
      so += (pos[a] - src_origin[a]) * sstr[a];
      dof += (pos[a] - dst_origin[a]) * dstr[a];
    }
    detail::convert_elements(src + static_cast<std::size_t>(so) * st.size, st,
                             dst.bytes() + static_cast<std::size_t>(dof) * out_size, dst.dtype(),
                             static_cast<std::size_t>(run));
    int a = static_cast<int>(nd) - 2;
    for (; a >= 0; --a) {
      if (++pos[static_cast<std::size_t>(a)] < hi[static_cast<std::size_t>(a)]) break;
      pos[static_cast<std::size_t>(a)] = lo[static_cast<std::size_t>(a)];
    }
    if (a < 0) break;
  }
}

void fill_overlap(Chunk& dst, const Shape& dst_origin, const Shape& lo, const Shape& hi,
                  const std::vector<std::byte>& fill) {
  const std::size_t nd = dst.shape().size();
  const Shape dstr = strides_of(dst.shape());
  const std::size_t es = fill.size();
  if (nd == 0) {
    std::memcpy(dst.bytes(), fill.data(), es);
    return;
  }
  const std::int64_t run = hi[nd - 1] - lo[nd - 1];
  if (run <= 0) return;
  Shape pos(lo);
  while (true) {
    std::int64_t dof = 0;
    for (std::size_t a = 0; a < nd; ++a) dof += (pos[a] - dst_origin[a]) * dstr[a];
    std::byte* out = dst.bytes() + static_cast<std::size_t>(dof) * es;
    for (std::int64_t i = 0; i < run; ++i)
      std::memcpy(out + static_cast<std::size_t>(i) * es, fill.data(), es);
    int a = static_cast<int>(nd) - 2;
    for (; a >= 0; --a) {
      if (++pos[static_cast<std::size_t>(a)] < hi[static_cast<std::size_t>(a)]) break;
      pos[static_cast<std::size_t>(a)] = lo[static_cast<std::size_t>(a)];
    }
    if (a < 0) break;
  }
}

// Reads [start, start + count) through the HDF5 library (layouts and filters tessera does not decode).
void read_with_library(const OpenDataset& d, const std::string& where, const Shape& start, const Shape& count,
                       Chunk& dst, const Shape& dst_origin) {
  Chunk tmp(dst.dtype(), count);
  {
    auto lock = detail::hdf5_lock();
    Hid fspace(check_id(H5Dget_space(d.dset.get()), ErrorCode::kCorrupt, where + ": cannot read its shape"));
    const std::vector<hsize_t> s(start.begin(), start.end()), c(count.begin(), count.end());
    Hid mspace(check_id(count.empty() ? H5Screate(H5S_SCALAR)
                                      : H5Screate_simple(static_cast<int>(c.size()), c.data(), nullptr),
                        ErrorCode::kInternal, where + ": cannot describe the block in memory"));
    if (!count.empty()) {
      check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, s.data(), nullptr, c.data(), nullptr),
            ErrorCode::kInternal, where + ": bad hyperslab");
    }
    const herr_t status = H5Dread(d.dset.get(), detail::native_type(dst.dtype()), mspace.get(), fspace.get(),
                                  H5P_DEFAULT, tmp.bytes());
    if (status < 0) {
      check(status, detail::hdf5_error_is_io() ? ErrorCode::kIo : ErrorCode::kCorrupt,
            where + ": read failed");
    }
  }
  detail::StoredType native =
      detail::StoredType{true, "", "", dst.dtype(), false, is_float(dst.dtype()), true, size_of(dst.dtype())};
  Shape hi(start.size());
  for (std::size_t a = 0; a < start.size(); ++a) hi[a] = start[a] + count[a];
  copy_overlap(tmp.bytes(), count, start, native, dst, dst_origin, start, hi);
}

std::string block_name(const std::string& path, const std::string& var, const Shape& start,
                       const Shape& count) {
  std::string s = "[";
  for (std::size_t a = 0; a < start.size(); ++a) {
    s += str_cat(a ? ", " : "", start[a], ":", start[a] + count[a]);
  }
  return str_cat(path, ": variable \"", var, "\" block ", s, "]");
}

// Whether a storage chunk can be read with pread straight into the block: it lies wholly inside, needs no
// conversion, and its contiguous runs in the block are long enough that one pread each beats a copy. Returns
// the run length in elements (0: no).
// A storage chunk of shape `sc` inside a block of shape `block` is prod(sc[0..first)) runs of `length`
// contiguous elements: axes after `first` span the block whole.
struct Runs {
  std::size_t first = 0;
  std::int64_t length = 0;
};
Runs contiguous_runs(const Shape& sc, const Shape& block) {
  Runs r{sc.size() - 1, sc.back()};
  while (r.first > 0 && sc[r.first] == block[r.first]) {
    --r.first;
    r.length *= sc[r.first];
  }
  return r;
}

// Whether a storage chunk can be read with pread straight into the block: it lies wholly inside, needs no
// conversion, and its contiguous runs in the block are long enough (128 KiB) that one pread each beats a
// copy.
bool reads_in_place(const OpenDataset& d, const Chunk& out, const Shape& sc, const Shape& origin,
                    const Shape& lo, const Shape& up) {
  if (sc.empty() || d.stored.big_endian || d.stored.dtype != out.dtype() ||
      d.stored.size != size_of(out.dtype())) {
    return false;
  }
  for (std::size_t a = 0; a < sc.size(); ++a) {
    if (lo[a] != origin[a] || up[a] != origin[a] + sc[a]) return false;
  }
  return static_cast<std::size_t>(contiguous_runs(sc, out.shape()).length) * d.stored.size >=
         (std::size_t{128} << 10);
}

// Reads the storage chunk at file offset `addr` (origin `origin`) into the block starting at `start`.
void read_in_place(const OpenDataset& d, Chunk& out, const Shape& sc, const Shape& origin, const Shape& start,
                   std::uint64_t addr, const std::string& where) {
  const Runs runs = contiguous_runs(sc, out.shape());
  const Shape ostr = strides_of(out.shape());
  const std::size_t es = d.stored.size;
  const std::size_t run_bytes = static_cast<std::size_t>(runs.length) * es;
  const Shape outer(sc.begin(), sc.begin() + static_cast<std::ptrdiff_t>(runs.first));
  Shape pos(runs.first, 0);
  std::uint64_t file_at = addr;
  do {
    std::int64_t o = 0;
    for (std::size_t a = 0; a < sc.size(); ++a) {
      o += (origin[a] - start[a] + (a < runs.first ? pos[a] : 0)) * ostr[a];
    }
    detail::pread_all(d.fd.get(), out.bytes() + static_cast<std::size_t>(o) * es, run_bytes, file_at, where);
    file_at += run_bytes;
  } while (runs.first > 0 && next_index(pos, outer));
}

Chunk read_hdf5_block(const std::string& path, const VariableInfo& info, const Shape& start,
                      const Shape& count) {
  std::shared_ptr<OpenDataset> d = dataset_cache().get(path, info.name);
  const std::string where = block_name(path, info.name, start, count);
  Chunk out(info.dtype, count);
  if (out.size() == 0) return out;
  const std::size_t nd = start.size();
  Shape hi(nd);
  for (std::size_t a = 0; a < nd; ++a) hi[a] = start[a] + count[a];

  if (!d->chunked) {
    if (!d->fast) {
      read_with_library(*d, where, start, count, out, start);
      return out;
    }
    if (d->contiguous == HADDR_UNDEF) {  // never written: all fill
      fill_overlap(out, start, start, hi, d->fill);
      return out;
    }
    // Rows of the block are contiguous runs in the file; read them in as few preads as the layout allows
    // (whole trailing extents merge into one run).
    const Shape sstr = strides_of(info.shape);
    std::size_t inner = nd;  // axes [inner, nd) are read whole
    std::int64_t run_elems = 1;
    while (inner > 0) {
      const std::size_t a = inner - 1;
      run_elems *= count[a];
      --inner;
      if (count[a] != info.shape[a]) break;
    }
    if (nd == 0) run_elems = 1;
    std::vector<std::byte> buf(static_cast<std::size_t>(run_elems) * d->stored.size);
    Shape pos(start);
    Shape run_shape(count);
    for (std::size_t a = 0; a < inner; ++a) run_shape[a] = 1;
    while (true) {
      std::int64_t off = 0;
      for (std::size_t a = 0; a < nd; ++a) off += pos[a] * sstr[a];
      detail::pread_all(d->fd.get(), buf.data(), buf.size(),
                        d->contiguous + static_cast<std::uint64_t>(off) * d->stored.size, where);
      Shape run_hi(pos);
      for (std::size_t a = 0; a < nd; ++a) run_hi[a] = a < inner ? pos[a] + 1 : hi[a];
      copy_overlap(buf.data(), run_shape, pos, d->stored, out, start, pos, run_hi);
      int a = static_cast<int>(inner) - 1;
      for (; a >= 0; --a) {
        if (++pos[static_cast<std::size_t>(a)] < hi[static_cast<std::size_t>(a)]) break;
        pos[static_cast<std::size_t>(a)] = start[static_cast<std::size_t>(a)];
      }
      if (a < 0) break;
    }
    return out;
  }

  // Chunked: visit every storage chunk overlapping the block.
  const Shape& sc = info.storage_chunks;
  Shape first(nd), last(nd), cidx(nd);
  for (std::size_t a = 0; a < nd; ++a) {
    first[a] = start[a] / sc[a];
    last[a] = (hi[a] - 1) / sc[a];
  }
  cidx = first;
  const std::size_t chunk_bytes = static_cast<std::size_t>(num_elements(sc)) * d->stored.size;
  while (true) {
    Shape origin(nd), lo(nd), up(nd);
    for (std::size_t a = 0; a < nd; ++a) {
      origin[a] = cidx[a] * sc[a];
      lo[a] = std::max(origin[a], start[a]);
      up[a] = std::min(origin[a] + sc[a], hi[a]);
    }
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (d->fast) {
      auto lock = detail::hdf5_lock();
      const std::vector<hsize_t> o(origin.begin(), origin.end());
      if (H5Dget_chunk_info_by_coord(d->dset.get(), o.data(), &mask, &addr, &size) < 0) {
        const std::string why = detail::hdf5_message();
        throw_error(ErrorCode::kCorrupt, where, ": cannot locate storage chunk at ", format_shape(origin),
                    " (HDF5: ", why, ")");
      }
    }
    if (!d->fast) {
      Shape c(nd);
      for (std::size_t a = 0; a < nd; ++a) c[a] = up[a] - lo[a];
      read_with_library(*d, where, lo, c, out, start);
    } else if (addr == HADDR_UNDEF) {
      fill_overlap(out, start, lo, up, d->fill);
    } else {
      if (!d->filters.empty()) {
        std::byte* stored = scratch(size, 0);
        detail::pread_all(d->fd.get(), stored, size, addr, where);
        // Decoded straight into the block when the storage chunk is one contiguous, unconverted piece of it.
        std::byte* dst = nullptr;
        if (reads_in_place(*d, out, sc, origin, lo, up) && contiguous_runs(sc, out.shape()).first == 0) {
          const Shape ostr = strides_of(out.shape());
          std::int64_t o = 0;
          for (std::size_t a = 0; a < nd; ++a) o += (origin[a] - start[a]) * ostr[a];
          dst = out.bytes() + static_cast<std::size_t>(o) * d->stored.size;
        }
        const std::string at = str_cat(where, ": storage chunk at ", format_shape(origin));
        if (dst != nullptr) {
          decode_chunk(stored, size, *d, mask, chunk_bytes, dst, at);
        } else {
          std::byte* decoded = scratch(chunk_bytes, 3);
          decode_chunk(stored, size, *d, mask, chunk_bytes, decoded, at);
          copy_overlap(decoded, sc, origin, d->stored, out, start, lo, up);
        }
      } else if (reads_in_place(*d, out, sc, origin, lo, up)) {
        if (size < chunk_bytes) {
          throw_error(ErrorCode::kCorrupt, where, ": storage chunk at ", format_shape(origin), " has ", size,
                      " bytes, expected ", chunk_bytes);
        }
        read_in_place(*d, out, sc, origin, start, addr, where);
      } else {
        if (size < chunk_bytes) {
          throw_error(ErrorCode::kCorrupt, where, ": storage chunk at ", format_shape(origin), " has ", size,
                      " bytes, expected ", chunk_bytes);
        }
        // A per-thread buffer: neither zero-filled nor freshly mapped for every storage chunk.
        std::byte* raw = scratch(chunk_bytes, 0);
        detail::pread_all(d->fd.get(), raw, chunk_bytes, addr, where);
        copy_overlap(raw, sc, origin, d->stored, out, start, lo, up);
      }
    }
    int a = static_cast<int>(nd) - 1;
    for (; a >= 0; --a) {
      if (++cidx[static_cast<std::size_t>(a)] <= last[static_cast<std::size_t>(a)]) break;
      cidx[static_cast<std::size_t>(a)] = first[static_cast<std::size_t>(a)];
    }
    if (a < 0) break;
  }
  return out;
}

// ---- chunking

ChunkGrid default_grid(const VariableInfo& v, std::size_t target) {
  const std::size_t nd = v.shape.size();
  const std::size_t es = size_of(v.dtype);
  Shape c(nd);
  if (v.chunked) {
    // Whole multiples of the storage chunks, grown along the leading axis first (then the next): a storage
    // chunk then covers long contiguous runs of its array chunk and is read straight into place
    // (read_hdf5_block).
    for (std::size_t a = 0; a < nd; ++a) {
      c[a] = std::min(v.storage_chunks[a], std::max<std::int64_t>(v.shape[a], 1));
    }
    for (std::size_t a = 0; a < nd; ++a) {
      const double bytes = static_cast<double>(num_elements(c)) * static_cast<double>(es);
      const auto m = static_cast<std::int64_t>(static_cast<double>(target) / bytes);
      if (m < 2) break;
      c[a] = std::min(v.shape[a], c[a] * m);
      if (c[a] < v.shape[a]) break;
    }
  } else {
    // Contiguous: blocks of whole trailing extents, the leading axes halved until under target.
    c = v.shape;
    for (auto& x : c) x = std::max<std::int64_t>(x, 1);
    for (std::size_t a = 0; a < nd; ++a) {
      while (c[a] > 1 &&
             static_cast<double>(num_elements(c)) * static_cast<double>(es) > static_cast<double>(target)) {
        c[a] = (c[a] + 1) / 2;
      }
    }
  }
  return ChunkGrid::regular(v.shape, c);
}

// ---- CF decoding (xarray's rules, so results match what users see there)

Array decode_cf(Array raw, const VariableInfo& v) {
  const AttributeValue* fill = find_attribute(v.attributes, "_FillValue");
  const AttributeValue* missing = find_attribute(v.attributes, "missing_value");
  const AttributeValue* scale = find_attribute(v.attributes, "scale_factor");
  const AttributeValue* offset = find_attribute(v.attributes, "add_offset");
  std::vector<double> masked;
  for (const auto* a : {fill, missing}) {
    if (a == nullptr || a->is_text()) continue;
    for (double x : a->numbers()) {
      if (!std::isnan(x) && std::find(masked.begin(), masked.end(), x) == masked.end()) masked.push_back(x);
    }
  }
  Array x = raw;
  DType t = raw.dtype();
  if (fill != nullptr || missing != nullptr) {
    if (!is_float(t)) t = size_of(t) <= 2 ? DType::kFloat32 : DType::kFloat64;
    Array cond;
    for (double m : masked) {
      Array eq = is_float(raw.dtype()) ? (raw == Scalar(m)) : (raw == Scalar(static_cast<std::int64_t>(m)));
      cond = cond.node() ? (cond || eq) : eq;
    }
    if (t != raw.dtype()) x = raw.astype(t);
    if (cond.node()) x = where(cond, Scalar(std::nan("")), x);
  }
  const bool has_scale = scale != nullptr && !scale->is_text();
  const bool has_offset = offset != nullptr && !offset->is_text();
  if (has_scale || has_offset) {
    DType f = DType::kFloat64;
    if (is_float(t) && size_of(t) <= 4) f = DType::kFloat32;
    if (is_integer(t) && size_of(t) <= 2 && !has_offset) f = DType::kFloat32;
    if (t == DType::kBool || t == DType::kUint8) f = has_offset ? DType::kFloat64 : DType::kFloat32;
    if (f != x.dtype()) x = x.astype(f);
    if (has_scale) x = x * Scalar(scale->number());
    if (has_offset) x = x + Scalar(offset->number());
  }
  return x;
}

struct Source {
  std::string path;
  VariableInfo info;
  std::shared_ptr<const detail::Netcdf3File> nc3;
  std::size_t nc3_index = 0;  // the variable's position in nc3->info.variables
  int retries = 0;
};

Chunk read_block(const Source& s, const Shape& start, const Shape& count) {
  if (s.nc3) {
    Chunk out(s.info.dtype, count);
    detail::read_netcdf3(*s.nc3, s.nc3_index, start, count, out.bytes());
    return out;
  }
  return read_hdf5_block(s.path, s.info, start, count);
}

Chunk read_with_retries(const Source& s, const Shape& start, const Shape& count) {
  for (int attempt = 1;; ++attempt) {
    try {
      return read_block(s, start, count);
    } catch (const Error& e) {
      // Only I/O failures are worth another try; a damaged file stays damaged.
      if (e.code() != ErrorCode::kIo) throw;
      if (attempt > s.retries) {
        throw Error(e.code(), str_cat(e.what(), " (gave up after ", attempt,
                                      attempt == 1 ? " attempt)" : " attempts)"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << std::min(attempt - 1, 6)));
    }
  }
}

}  // namespace

Variable read(const std::string& path, const std::string& variable, const ReadOptions& options) {
  return detail::read_variable(path, inspect(path), variable, options);
}

Array detail::decode_cf(const Array& raw, const VariableInfo& v) {
  return io::decode_cf(raw, v);
}

Variable detail::read_variable(const std::string& path, const FileInfo& info, const std::string& variable,
                               const ReadOptions& options) {
  auto source = std::make_shared<Source>();
  source->path = path;
  source->retries = std::max(0, options.retries);
  if (info.format == FileFormat::kNetcdf3Classic || info.format == FileFormat::kNetcdf3Offset64 ||
      info.format == FileFormat::kNetcdf3Cdf5) {
    source->nc3 = std::make_shared<detail::Netcdf3File>(detail::parse_netcdf3(path));
  }
  const VariableInfo& v = info.variable(variable);
  if (!v.unsupported.empty()) {
    throw_error(ErrorCode::kInvalidArgument, "variable \"", v.name, "\" in ", path, " has a ", v.unsupported,
                " type, which tessera cannot read as an array (numeric types only)");
  }
  if (v.dimension_only) {
    throw_error(ErrorCode::kInvalidArgument, "\"", v.name, "\" in ", path,
                " is a NetCDF dimension without values, not a variable");
  }
  if (!source->nc3 && !v.filters.empty()) {
    auto lock = detail::hdf5_lock();
    require_filters_available(path, v);
  }
  source->info = v;
  if (source->nc3) {
    const auto& vars = source->nc3->info.variables;
    source->nc3_index = static_cast<std::size_t>(
        std::find_if(vars.begin(), vars.end(), [&](const VariableInfo& x) { return x.name == v.name; }) -
        vars.begin());
  }
  Variable out;
  out.file = path;
  out.info = v;
  out.dims = v.dims;

  ChunkGrid grid;
  if (options.chunks) {
    if (options.chunks->size() != v.shape.size()) {
      throw_error(ErrorCode::kInvalidArgument, "chunks ", format_shape(*options.chunks), " for variable \"",
                  v.name, "\" in ", path, " have ", options.chunks->size(), " axes; the variable has ",
                  v.shape.size(), " ", format_shape(v.shape));
    }
    grid = ChunkGrid::regular(v.shape, *options.chunks);
    if (v.chunked) {
      for (int a = 0; a < grid.ndim(); ++a) {
        for (std::int64_t i = 0; i < grid.num_chunks(a); ++i) {
          if (grid.offset(a, i) % v.storage_chunks[static_cast<std::size_t>(a)] != 0) {
            out.notes.push_back(str_cat(
                "chunks ", grid.describe(), " of \"", v.name, "\" are not aligned to its storage chunks ",
                format_shape(v.storage_chunks), " along axis ", a, " (", v.dims[static_cast<std::size_t>(a)],
                "): storage chunks there are read by more than one task"));
            break;
          }
        }
      }
    }
  } else {
    grid = default_grid(v, options.target_chunk_bytes);
  }

  Array raw = from_storage(
      grid, v.dtype,
      [source](const ChunkGrid& g, std::span<const std::int64_t> index) {
        Shape start(index.size()), count = g.chunk_shape(index);
        for (std::size_t a = 0; a < index.size(); ++a) start[a] = g.offset(static_cast<int>(a), index[a]);
        return read_with_retries(*source, start, count);
      },
      "read-" + detail::base_name(v.name));
  out.data = options.decode_cf ? decode_cf(raw, v) : raw;
  return out;
}

Chunk read_all(const std::string& path, const std::string& variable, bool decode_cf) {
  ReadOptions o;
  o.decode_cf = decode_cf;
  o.chunks = Shape(inspect(path).variable(variable).shape.size(), -1);
  Variable v = read(path, variable, o);
  RuntimeOptions ro;
  ro.executor = ExecutorKind::kSync;
  Runtime local(ro);
  return compute(local, v.data);
}

TimeAxis read_time(const std::string& path, const std::string& variable) {
  FileInfo info = inspect(path);
  const VariableInfo& v = info.variable(variable);
  const AttributeValue* units = find_attribute(v.attributes, "units");
  if (units == nullptr || !units->is_text()) {
    throw_error(ErrorCode::kInvalidArgument, "time variable \"", variable, "\" in ", path,
                " has no units attribute (CF wants e.g. \"days since 2000-01-01\")");
  }
  const AttributeValue* calendar = find_attribute(v.attributes, "calendar");
  Chunk values = read_all(path, variable, false).astype(DType::kFloat64);
  // CF allows no missing values in a coordinate variable: say so, with where they are, rather than fail on
  // the fill value as an out-of-range time.
  for (const char* marker : {"_FillValue", "missing_value"}) {
    const AttributeValue* fill = find_attribute(v.attributes, marker);
    if (fill == nullptr || fill->is_text() || fill->numbers().empty()) continue;
    const double f = fill->numbers()[0];
    std::string where;
    std::size_t count = 0;
    const auto data = values.data<double>();
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (!(data[i] == f || (std::isnan(f) && std::isnan(data[i])))) continue;
      if (++count <= 8) where += str_cat(count > 1 ? ", " : "", i);
    }
    if (count > 0) {
      throw_error(ErrorCode::kInvalidArgument, "time variable \"", variable, "\" in ", path, " has ", count,
                  " missing value", count > 1 ? "s" : "", " (its ", marker, " ", f, ") at position",
                  count > 1 ? "s " : " ", where, count > 8 ? ", ..." : "",
                  ": CF allows no missing values in a coordinate variable, so these steps have no date; fill "
                  "them or drop them (e.g. ncks -d time,...) before grouping by time");
    }
  }
  try {
    return decode_time(values.data<double>(), units->text(),
                       calendar != nullptr && calendar->is_text() ? calendar->text() : "standard");
  } catch (const Error& e) {
    throw Error(e.code(), str_cat("time variable \"", variable, "\" in ", path, ": ", e.what()));
  }
}

}  // namespace tessera::io
