// Writing arrays to HDF5 / NetCDF-4 files: atomic, journalled, resumable, written in parallel by the tasks
// that compute the chunks.
//
// Design (measured alternatives in docs/io.md): a file is assembled in a hidden directory beside its final
// path. A "prepare" task creates the HDF5 file with all metadata (datasets, attributes, dimension scales,
// coordinates); for uncompressed variables it allocates every storage chunk up front, so each chunk's file
// offset is known and the task that computed a chunk writes it with one pwrite, in parallel with the others
// and without the (non-thread-safe) HDF5 library. Compressed chunks are deflated by their tasks in parallel
// and appended to a per-process side file; the "commit" task copies them into the HDF5 file with
// H5Dwrite_chunk (no recompression), syncs, and renames the file into place. Every written chunk is recorded
// in a per-process journal; a resumed run skips the chunks whose journal record and checksum are intact.
#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "hdf5_file.h"
#include "io_util.h"
#include "tessera/io/io.h"
#include "tessera/runtime/format.h"

namespace tessera::io {

using detail::check;
using detail::check_id;
using detail::Hid;
namespace fs = std::filesystem;

OutputFile::OutputFile(std::string path, OutputOptions options) : path_(std::move(path)), options_(options) {
  if (path_.empty()) throw_error(ErrorCode::kInvalidArgument, "output file name is empty");
}

void OutputFile::add(const std::string& name, const Array& data, VariableOptions options) {
  if (name.empty()) throw_error(ErrorCode::kInvalidArgument, path_, ": variable name is empty");
  for (const auto& v : variables_) {
    if (v.name == name)
      throw_error(ErrorCode::kInvalidArgument, path_, ": variable \"", name, "\" is added twice");
  }
  if (!data.node()) throw_error(ErrorCode::kInvalidArgument, path_, ": variable \"", name, "\" has no data");
  if (options.dims.empty()) {
    for (int a = 0; a < data.ndim(); ++a) options.dims.push_back(str_cat("dim_", a));
  }
  if (static_cast<int>(options.dims.size()) != data.ndim()) {
    throw_error(ErrorCode::kInvalidArgument, path_, ": variable \"", name, "\" has ", data.ndim(), " axes ",
                format_shape(data.shape()), " but ", options.dims.size(), " dimension names");
  }
  if (options.storage_chunks && options.storage_chunks->size() != data.shape().size()) {
    throw_error(ErrorCode::kInvalidArgument, path_, ": storage chunks ",
                format_shape(*options.storage_chunks), " of variable \"", name, "\" do not match its shape ",
                format_shape(data.shape()));
  }
  if (options.gzip < 0 || options.gzip > 9) {
    throw_error(ErrorCode::kInvalidArgument, path_, ": gzip level ", options.gzip, " of variable \"", name,
                "\" is not in 0-9");
  }
  if (data.ndim() > 0) {
    // HDF5 holds at most 2^32 - 1 elements and 4 GiB in one storage chunk (H5Pset_chunk would refuse later).
    const Shape storage = options.storage_chunks ? *options.storage_chunks : data.chunks().max_chunk_shape();
    double elements = 1;
    for (std::size_t a = 0; a < storage.size(); ++a) {
      const std::int64_t n = storage[a] <= 0 ? data.shape()[a] : std::min(storage[a], data.shape()[a]);
      elements *= static_cast<double>(std::max<std::int64_t>(n, 1));
    }
    const double bytes = elements * static_cast<double>(size_of(data.dtype()));
    if (elements > 4294967295.0 || bytes >= 4294967296.0) {
      throw_error(ErrorCode::kInvalidArgument, path_, ": variable \"", name, "\": storage chunks of ",
                  format_shape(storage), " hold ", static_cast<std::uint64_t>(elements), " elements (",
                  format_bytes(bytes),
                  "); HDF5 stores at most 4294967295 elements and 4 GiB per chunk: give "
                  "it smaller chunks");
    }
  }
  // A dimension has one length in a file.
  for (std::size_t a = 0; a < options.dims.size(); ++a) {
    for (const auto& v : variables_) {
      for (std::size_t b = 0; b < v.options.dims.size(); ++b) {
        if (v.options.dims[b] == options.dims[a] && v.data.shape()[b] != data.shape()[a]) {
          throw_error(ErrorCode::kInvalidArgument, path_, ": dimension \"", options.dims[a], "\" has length ",
                      v.data.shape()[b], " in variable \"", v.name, "\" but ", data.shape()[a], " in \"",
                      name, "\"");
        }
      }
    }
  }
  variables_.push_back({name, data, std::move(options)});
}

void OutputFile::add_coordinate(Coordinate coordinate) {
  if (coordinate.values.ndim() != 1) {
    throw_error(ErrorCode::kInvalidArgument, path_, ": coordinate \"", coordinate.dim, "\" must be 1-d, not ",
                format_shape(coordinate.values.shape()));
  }
  for (const auto& c : coordinates_) {
    if (c.dim == coordinate.dim) {
      throw_error(ErrorCode::kInvalidArgument, path_, ": coordinate \"", coordinate.dim, "\" is added twice");
    }
  }
  coordinates_.push_back(std::move(coordinate));
}

void OutputFile::set_attribute(const std::string& name, AttributeValue value) {
  for (auto& [k, v] : attributes_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  attributes_.emplace_back(name, std::move(value));
}

namespace {

constexpr std::uint32_t kRecordMagic = 0x54534a31;  // "TSJ1"

// One journal record: a chunk that reached the disk. 48 bytes, appended with one write().
struct JournalRecord {
  std::uint32_t magic;
  std::uint32_t variable;
  std::uint64_t chunk;   // row-major index in the variable's chunk grid
  std::uint64_t offset;  // in the HDF5 file (in place) or in the side file paired with this journal
  std::uint64_t size;
  std::uint32_t crc;    // of the chunk's stored bytes
  std::uint32_t check;  // crc of the fields above, so a torn record is recognised
  std::uint64_t reserved;
};
static_assert(sizeof(JournalRecord) == 48);

std::uint32_t record_check(const JournalRecord& r) {
  return detail::crc32c_of(&r, offsetof(JournalRecord, check));
}

struct VarPlan {
  std::string name;
  Array data;  // chunked like the storage
  VariableOptions options;
  Shape storage;                 // storage chunk shape (empty for 0-d variables: contiguous)
  std::int64_t chunks = 0;       // chunks in the grid
  std::uint64_t first_slot = 0;  // index of its first chunk in the file's address table
};

struct Located {
  JournalRecord record;
  std::string side;  // side file holding the bytes (compressed), "" when in place
};

// State of one output file, shared by the tasks of one process.
struct FilePlan {
  std::string final_path;
  std::string dir;
  std::string data_path;
  OutputOptions options;
  std::vector<VarPlan> vars;
  std::vector<Coordinate> coordinates;
  Attributes attributes;
  std::string manifest;
  bool fresh = true;                                                // start over: (re)create the directory
  std::map<std::pair<std::uint32_t, std::uint64_t>, Located> done;  // chunks found complete (resume)
  std::map<std::string, std::uint64_t> journal_start;  // what the journals held when this run began
  std::uint64_t total_slots = 0;

  // Per-process writer state, opened lazily by the first write task here.
  std::mutex mutex;
  detail::Fd data_fd, journal_fd, side_fd;
  detail::Fd direct_fd;            // data_path opened with O_DIRECT; none where the file system refuses it
  std::atomic<bool> direct{true};  // cleared when a direct write is refused (EINVAL): buffered from then on
  std::string side_name;
  std::uint64_t side_offset = 0;
};

// O_DIRECT writes: offsets, lengths and memory aligned to 4 KiB (what every common device accepts), and only
// for chunks of 1 MiB and more (smaller ones gain little and would wait for the disk one by one).
constexpr std::size_t kDirectAlign = 4096;
constexpr std::size_t kDirectMin = std::size_t{1} << 20;

std::string unique_suffix() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return str_cat(host, "-", getpid());
}

std::string manifest_of(const FilePlan& f) {
  std::ostringstream m;
  m << "tessera output 1\nnetcdf " << f.options.netcdf << "\n";
  for (const auto& v : f.vars) {
    m << "variable " << v.name << " " << name_of(v.data.dtype()) << " " << format_shape(v.data.shape())
      << " storage " << format_shape(v.storage) << " gzip " << v.options.gzip << " dims";
    for (const auto& d : v.options.dims) m << " " << d;
    if (v.options.fill_value) m << " fill " << *v.options.fill_value;
    m << " attributes";
    for (const auto& [k, a] : v.options.attributes) m << " " << k << "=" << a.str();
    m << "\n";
  }
  for (const auto& c : f.coordinates) {
    m << "coordinate " << c.dim << " " << name_of(c.values.dtype()) << " " << format_shape(c.values.shape())
      << " crc " << detail::crc32c_of(c.values.bytes(), c.values.nbytes()) << "\n";
  }
  for (const auto& [k, a] : f.attributes) m << "attribute " << k << "=" << a.str() << "\n";
  return m.str();
}

std::string read_text_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

// Every intact record of every journal in the directory, in file then write order. `from` (journal file name
// -> byte offset) skips what a journal held before: a resumed run reads only the records it wrote itself.
std::vector<std::pair<std::pair<std::uint32_t, std::uint64_t>, Located>> read_journals(
    const std::string& dir, const std::map<std::string, std::uint64_t>& from = {}) {
  std::vector<std::pair<std::pair<std::uint32_t, std::uint64_t>, Located>> out;
  std::error_code ec;
  std::vector<fs::path> journals;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind("journal-", 0) == 0) journals.push_back(e.path());
  }
  std::sort(journals.begin(), journals.end());
  for (const auto& j : journals) {
    const std::string bytes = read_text_file(j.string());
    const std::string side = (fs::path(dir) / ("chunks-" + j.filename().string().substr(8))).string();
    const auto skip = from.find(j.filename().string());
    for (std::size_t at = skip == from.end() ? 0 : skip->second; at + sizeof(JournalRecord) <= bytes.size();
         at += sizeof(JournalRecord)) {
      JournalRecord r;
      std::memcpy(&r, bytes.data() + at, sizeof(r));
      if (r.magic != kRecordMagic || r.check != record_check(r)) break;  // torn tail
      out.emplace_back(std::pair{r.variable, r.chunk}, Located{r, r.reserved != 0 ? side : ""});
    }
  }
  return out;
}

// How far each journal reaches now (whole records), for read_journals(dir, from).
std::map<std::string, std::uint64_t> journal_ends(const std::string& dir) {
  std::map<std::string, std::uint64_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("journal-", 0) != 0) continue;
    const auto size = fs::file_size(e.path(), ec);
    if (!ec) out[name] = size - size % sizeof(JournalRecord);
  }
  return out;
}

// Whether the bytes a record points at are still what was written.
bool record_intact(const FilePlan& f, const Located& l) {
  try {
    detail::Fd fd(l.side.empty() ? f.data_path : l.side, O_RDONLY);
    std::vector<std::byte> buf(l.record.size);
    detail::pread_all(fd.get(), buf.data(), buf.size(), l.record.offset, "journal check");
    return detail::crc32c_of(buf.data(), buf.size()) == l.record.crc;
  } catch (const Error&) {
    return false;
  }
}

hid_t file_type(DType t) {
  return detail::native_type(t);
}

// Creates the HDF5 file with all its metadata; uncompressed chunks are allocated (not written) up front.
void create_file(const FilePlan& f) {
  auto lock = detail::hdf5_lock();
  const std::string& where = f.final_path;
  Hid fcpl(check_id(H5Pcreate(H5P_FILE_CREATE), ErrorCode::kInternal, "cannot make a file creation list"));
  // The root group's timestamps too: same job, same bytes.
  check(H5Pset_obj_track_times(fcpl.get(), 0), ErrorCode::kInternal, "cannot turn off timestamps");
  if (f.options.netcdf) {
    // NetCDF-4 tracks creation order; readers list variables and attributes in it.
    check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
          ErrorCode::kInternal, "cannot track link creation order");
    check(H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
          ErrorCode::kInternal, "cannot track attribute creation order");
  }
  Hid fapl = detail::sec2_access();
  // Chunks of kDirectMin and more start on a kDirectAlign boundary, so that tasks can write them with
  // O_DIRECT.
  check(H5Pset_alignment(fapl.get(), kDirectMin, kDirectAlign), ErrorCode::kInternal, "cannot align chunks");
  Hid file(check_id(H5Fcreate(f.data_path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), ErrorCode::kIo,
                    str_cat("cannot create ", f.data_path)));
  Hid root(check_id(H5Gopen2(file.get(), "/", H5P_DEFAULT), ErrorCode::kIo,
                    str_cat(where, ": cannot open the root group")));
  for (const auto& [k, a] : f.attributes) detail::write_attribute(root.get(), k, a);

  // Dimensions in order of first use; NetCDF-4 makes each one a dimension scale.
  std::vector<std::pair<std::string, std::int64_t>> dims;
  for (const auto& v : f.vars) {
    for (std::size_t a = 0; a < v.options.dims.size(); ++a) {
      const auto& d = v.options.dims[a];
      if (std::none_of(dims.begin(), dims.end(), [&](const auto& x) { return x.first == d; })) {
        dims.emplace_back(d, v.data.shape()[a]);
      }
    }
  }
  for (const auto& c : f.coordinates) {
    if (std::none_of(dims.begin(), dims.end(), [&](const auto& x) { return x.first == c.dim; })) {
      dims.emplace_back(c.dim, c.values.shape()[0]);
    }
  }
  auto object_plist = [] {
    Hid p(
        check_id(H5Pcreate(H5P_DATASET_CREATE), ErrorCode::kInternal, "cannot make a dataset creation list"));
    // No timestamps: the same job writes the same bytes.
    check(H5Pset_obj_track_times(p.get(), 0), ErrorCode::kInternal, "cannot turn off timestamps");
    return p;
  };
  std::map<std::string, Hid> scales;
  if (f.options.netcdf) {
    int dimid = 0;
    for (const auto& [name, length] : dims) {
      const Coordinate* coord = nullptr;
      for (const auto& c : f.coordinates) {
        if (c.dim == name) coord = &c;
      }
      if (coord != nullptr && coord->values.shape()[0] != length) {
        throw_error(ErrorCode::kInvalidArgument, f.final_path, ": coordinate \"", name, "\" has ",
                    coord->values.shape()[0], " values but the dimension has length ", length);
      }
      const hsize_t n = static_cast<hsize_t>(length);
      Hid space(check_id(H5Screate_simple(1, &n, nullptr), ErrorCode::kInvalidArgument,
                         str_cat(where, ": dimension ", name, " of length ", length, " cannot be made")));
      Hid dcpl = object_plist();
      const DType t = coord ? coord->values.dtype() : DType::kFloat32;
      Hid ds(check_id(H5Dcreate2(file.get(), name.c_str(), file_type(t), space.get(), H5P_DEFAULT, dcpl.get(),
                                 H5P_DEFAULT),
                      ErrorCode::kIo, str_cat(f.final_path, ": cannot create dimension ", name)));
      if (coord != nullptr) {
        if (n > 0) {
          check(H5Dwrite(ds.get(), file_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, coord->values.bytes()),
                ErrorCode::kIo, str_cat(f.final_path, ": cannot write coordinate ", name));
        }
        check(H5DSset_scale(ds.get(), name.c_str()), ErrorCode::kIo, "cannot make a dimension scale");
        for (const auto& [k, a] : coord->attributes) detail::write_attribute(ds.get(), k, a);
      } else {
        char label[80];
        std::snprintf(label, sizeof(label), "This is a netCDF dimension but not a netCDF variable.%10lld",
                      static_cast<long long>(length));
        check(H5DSset_scale(ds.get(), label), ErrorCode::kIo, "cannot make a dimension scale");
      }
      detail::write_numeric_attribute(ds.get(), "_Netcdf4Dimid", H5T_NATIVE_INT,
                                      {static_cast<double>(dimid++)});
      scales.emplace(name, std::move(ds));
    }
  }

  for (const auto& v : f.vars) {
    const Shape& shape = v.data.shape();
    std::vector<hsize_t> dims_h(shape.begin(), shape.end());
    Hid space(check_id(
        shape.empty() ? H5Screate(H5S_SCALAR)
                      : H5Screate_simple(static_cast<int>(dims_h.size()), dims_h.data(), nullptr),
        ErrorCode::kInvalidArgument,
        str_cat(where, ": variable ", v.name, " of shape ", format_shape(shape), " cannot be made")));
    Hid dcpl = object_plist();
    const hid_t type = file_type(v.data.dtype());
    if (!shape.empty()) {
      std::vector<hsize_t> c(v.storage.begin(), v.storage.end());
      check(H5Pset_chunk(dcpl.get(), static_cast<int>(c.size()), c.data()), ErrorCode::kInvalidArgument,
            str_cat(where, ": variable ", v.name, ": HDF5 cannot store chunks of ", format_shape(v.storage),
                    " (at most 4 GiB and 2^32-1 elements each)"));
      if (v.options.gzip > 0) {
        check(H5Pset_shuffle(dcpl.get()), ErrorCode::kInternal,
              str_cat(where, ": cannot add the shuffle filter"));
        check(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(v.options.gzip)), ErrorCode::kInvalidArgument,
              str_cat(where, ": variable ", v.name, ": cannot compress with gzip level ", v.options.gzip));
      }
    }
    if (v.options.gzip == 0 || shape.empty()) {
      check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), ErrorCode::kInternal,
            "cannot allocate chunks early");
      // Every chunk is written by a task.
      check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), ErrorCode::kInternal,
            "cannot turn off filling");
    }
    if (v.options.fill_value) {
      std::vector<std::byte> fill(size_of(v.data.dtype()));
      visit_dtype(v.data.dtype(), [&](auto t) {
        using T = typename decltype(t)::type;
        const T x = static_cast<T>(*v.options.fill_value);
        std::memcpy(fill.data(), &x, sizeof(T));
      });
      check(H5Pset_fill_value(dcpl.get(), type, fill.data()), ErrorCode::kInvalidArgument,
            str_cat(where, ": variable ", v.name, ": cannot set the fill value ", *v.options.fill_value));
    }
    Hid ds(check_id(
        H5Dcreate2(file.get(), v.name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
        ErrorCode::kIo, str_cat(f.final_path, ": cannot create variable ", v.name)));
    if (v.options.fill_value)
      detail::write_numeric_attribute(ds.get(), "_FillValue", type, {*v.options.fill_value});
    for (const auto& [k, a] : v.options.attributes) {
      if (k != "_FillValue") detail::write_attribute(ds.get(), k, a);
    }
    if (f.options.netcdf) {
      for (std::size_t a = 0; a < v.options.dims.size(); ++a) {
        check(H5DSattach_scale(ds.get(), scales.at(v.options.dims[a]).get(), static_cast<unsigned>(a)),
              ErrorCode::kIo,
              str_cat(f.final_path, ": cannot attach dimension ", v.options.dims[a], " to ", v.name));
      }
    }
  }
  scales.clear();
  check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), ErrorCode::kIo, str_cat("cannot write ", f.data_path));
}

// File offsets of every uncompressed chunk (0 for compressed ones), in slot order.
std::vector<std::uint64_t> chunk_addresses(const FilePlan& f) {
  std::vector<std::uint64_t> out(f.total_slots, 0);
  auto lock = detail::hdf5_lock();
  Hid fapl = detail::sec2_access();
  Hid file(check_id(H5Fopen(f.data_path.c_str(), H5F_ACC_RDONLY, fapl.get()), ErrorCode::kCorrupt,
                    str_cat("cannot open the partial output ", f.data_path,
                            " (damaged: run again with --overwrite to start over)")));
  for (const auto& v : f.vars) {
    if (v.options.gzip > 0 && !v.storage.empty()) continue;
    Hid ds(check_id(H5Dopen2(file.get(), v.name.c_str(), H5P_DEFAULT), ErrorCode::kCorrupt,
                    str_cat(f.data_path, ": variable ", v.name, " is missing")));
    if (v.storage.empty()) {
      const haddr_t at = H5Dget_offset(ds.get());  // allocated early, so it has its place in the file
      if (at == HADDR_UNDEF) {
        throw_error(ErrorCode::kCorrupt, f.data_path, ": variable ", v.name, " has no place in the file");
      }
      out[v.first_slot] = at;
      continue;
    }
    const ChunkGrid& g = v.data.chunks();
    std::vector<std::int64_t> index(static_cast<std::size_t>(g.ndim()), 0);
    const Shape counts = g.grid_shape();
    std::uint64_t slot = v.first_slot;
    if (g.total_chunks() == 0) continue;
    do {
      std::vector<hsize_t> origin(index.size());
      for (std::size_t a = 0; a < index.size(); ++a)
        origin[a] = static_cast<hsize_t>(g.offset(static_cast<int>(a), index[a]));
      unsigned mask = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      check(H5Dget_chunk_info_by_coord(ds.get(), origin.data(), &mask, &addr, &size), ErrorCode::kInternal,
            str_cat(f.data_path, ": chunk of ", v.name, " was not allocated"));
      out[slot++] = addr;
    } while (next_index(index, counts));
  }
  return out;
}

void sync_file(const std::string& path) {
  detail::Fd fd(path, O_RDONLY);
  if (::fdatasync(fd.get()) != 0)
    throw_error(ErrorCode::kIo, "cannot sync ", path, ": ", std::strerror(errno));
}

void sync_dir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// The chunk laid out as a full storage chunk (edge chunks are padded with zeros, as HDF5 stores them).
std::vector<std::byte> storage_bytes(const Chunk& c, const Shape& storage) {
  const std::size_t es = size_of(c.dtype());
  std::vector<std::byte> out(static_cast<std::size_t>(num_elements(storage)) * es, std::byte{0});
  if (c.size() == 0) return out;
  const std::size_t nd = storage.size();
  const Shape sstr = strides_of(storage), cstr = strides_of(c.shape());
  const std::size_t run = static_cast<std::size_t>(c.shape()[nd - 1]) * es;
  std::vector<std::int64_t> pos(nd, 0);
  Shape rows = c.shape();
  rows[nd - 1] = 1;
  do {
    std::int64_t so = 0, co = 0;
    for (std::size_t a = 0; a + 1 < nd; ++a) {
      so += pos[a] * sstr[a];
      co += pos[a] * cstr[a];
    }
    std::memcpy(out.data() + static_cast<std::size_t>(so) * es, c.bytes() + static_cast<std::size_t>(co) * es,
                run);
  } while (next_index(pos, rows));
  return out;
}

void open_writer(FilePlan& f) {
  if (f.journal_fd.get() >= 0) return;
  const std::string suffix = unique_suffix();
  f.journal_fd = detail::Fd(f.dir + "/journal-" + suffix, O_WRONLY | O_CREAT | O_APPEND);
  f.side_name = f.dir + "/chunks-" + suffix;
  f.side_fd = detail::Fd(f.side_name, O_WRONLY | O_CREAT);
  struct stat st {};
  ::fstat(f.side_fd.get(), &st);
  f.side_offset = static_cast<std::uint64_t>(st.st_size);
  f.data_fd = detail::Fd(f.data_path, O_WRONLY);
  // Large chunks bypass the page cache: copying them into it cost more CPU than computing them, and one
  // file's buffered writes serialise on its inode lock (docs/io.md). tmpfs and some FUSE file systems refuse
  // O_DIRECT.
  const char* env = std::getenv("TESSERA_DIRECT_IO");
  if (f.options.direct && !(env != nullptr && std::string_view(env) == "0")) {
    f.direct_fd = detail::Fd(::open(f.data_path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  }
  if (!f.direct_fd) f.direct = false;
}

// Writes the block-aligned head of [data, data + n) to `address` with O_DIRECT when the file, the address
// and the memory allow it; returns how many bytes it wrote (0 when it did not: the caller writes the rest).
std::size_t write_direct(FilePlan& f, const std::byte* data, std::size_t n, std::uint64_t address,
                         const std::string& where) {
  const std::size_t head = n & ~(kDirectAlign - 1);
  if (!f.direct.load(std::memory_order_relaxed) || head < kDirectMin || address % kDirectAlign != 0 ||
      reinterpret_cast<std::uintptr_t>(data) % kDirectAlign != 0) {
    return 0;
  }
  std::size_t done = 0;
  while (done < head) {
    const ssize_t w =
        ::pwrite(f.direct_fd.get(), data + done, head - done, static_cast<off_t>(address + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && done == 0) {
      f.direct = false;  // this file system or device wants other alignment: buffered writes from now on
      return 0;
    }
    if (w <= 0) {
      throw_error(errno == ENOSPC ? ErrorCode::kResourceExhausted : ErrorCode::kIo, where, ": write of ",
                  head, " bytes at offset ", address, " failed: ", std::strerror(w < 0 ? errno : EIO));
    }
    done += static_cast<std::size_t>(w);
  }
  return head;
}

// Writes one chunk and journals it; returns the bytes that reached the file.
std::uint64_t write_chunk(FilePlan& f, std::uint32_t vi, std::uint64_t chunk, std::uint64_t address,
                          const Chunk& c) {
  const VarPlan& v = f.vars[vi];
  std::vector<std::byte> bytes;
  const std::byte* data = c.bytes();
  std::size_t n = c.nbytes();
  if (!v.storage.empty() && c.shape() != v.storage) {
    bytes = storage_bytes(c, v.storage);
    data = bytes.data();
    n = bytes.size();
  }
  const bool compressed = v.options.gzip > 0 && !v.storage.empty();
  std::vector<std::byte> packed;
  if (compressed) {
    std::vector<std::byte> shuffled(n);
    detail::shuffle(data, shuffled.data(), n, size_of(c.dtype()));
    // libdeflate's zlib streams (what HDF5's deflate filter reads), one compressor per thread and level.
    thread_local std::unique_ptr<libdeflate_compressor, decltype(&libdeflate_free_compressor)> deflater(
        nullptr, &libdeflate_free_compressor);
    thread_local int level = -1;
    if (level != v.options.gzip) {
      deflater.reset(libdeflate_alloc_compressor(v.options.gzip));
      level = v.options.gzip;
    }
    if (!deflater) throw std::bad_alloc();
    packed.resize(libdeflate_zlib_compress_bound(deflater.get(), n));
    const std::size_t size =
        libdeflate_zlib_compress(deflater.get(), shuffled.data(), n, packed.data(), packed.size());
    if (size == 0) throw_error(ErrorCode::kInternal, "deflate of a ", n, "-byte chunk did not fit its bound");
    packed.resize(size);
    data = packed.data();
    n = packed.size();
  }
  const std::string where = str_cat(f.final_path, ": variable \"", v.name, "\" chunk ", chunk);
  JournalRecord r{};
  r.magic = kRecordMagic;
  r.variable = vi;
  r.chunk = chunk;
  r.size = n;
  r.crc = detail::crc32c_of(data, n);
  std::unique_lock<std::mutex> lock(f.mutex);
  open_writer(f);
  std::size_t direct = 0;  // bytes written past the page cache (already on their way to the disk)
  if (compressed) {
    r.offset = f.side_offset;
    r.reserved = 1;
    f.side_offset += n;
    lock.unlock();
    detail::pwrite_all(f.side_fd.get(), data, n, r.offset, where);
  } else {
    lock.unlock();
    r.offset = address;
    direct = write_direct(f, data, n, address, where);
    if (direct < n) detail::pwrite_all(f.data_fd.get(), data + direct, n - direct, address + direct, where);
  }
  if (f.options.durable && direct < n) {
    // Start writing the buffered bytes to disk now, while other chunks are computed, instead of leaving every
    // dirty page to the final fdatasync (the kernel would otherwise hold them until memory pressure).
    const int fd = compressed ? f.side_fd.get() : f.data_fd.get();
    ::sync_file_range(fd, static_cast<off64_t>(r.offset + direct), static_cast<off64_t>(n - direct),
                      SYNC_FILE_RANGE_WRITE);
  }
  r.check = record_check(r);
  if (::write(f.journal_fd.get(), &r, sizeof(r)) != static_cast<ssize_t>(sizeof(r))) {
    throw_error(ErrorCode::kIo, where, ": cannot append to the journal: ", std::strerror(errno));
  }
  return n;
}

std::vector<std::uint64_t> commit(FilePlan& f, std::uint64_t written_now) {
  // The chunks verified when this run began, then what this run wrote: records older runs left for chunks
  // that failed their check are never used, whatever the journals' names.
  auto located = f.done;
  for (auto& [key, loc] : read_journals(f.dir, f.journal_start)) located[key] = loc;
  std::uint64_t total_bytes = 0, logical = 0;
  for (std::uint32_t vi = 0; vi < f.vars.size(); ++vi) {
    const VarPlan& v = f.vars[vi];
    logical += v.data.nbytes();
    for (std::int64_t c = 0; c < v.chunks; ++c) {
      auto it = located.find({vi, static_cast<std::uint64_t>(c)});
      if (it == located.end()) {
        throw_error(ErrorCode::kInternal, f.final_path, ": chunk ", c, " of variable \"", v.name,
                    "\" is missing from the journal in ", f.dir);
      }
      total_bytes += it->second.record.size;
    }
  }
  // Compressed chunks: copied from the side files into the HDF5 file as they are (filters already applied).
  bool any_compressed = false;
  for (const auto& v : f.vars) any_compressed |= v.options.gzip > 0 && !v.storage.empty();
  if (any_compressed) {
    std::map<std::string, detail::Fd> sides;
    auto lock = detail::hdf5_lock();
    Hid fapl = detail::sec2_access();
    Hid file(check_id(H5Fopen(f.data_path.c_str(), H5F_ACC_RDWR, fapl.get()), ErrorCode::kIo,
                      str_cat("cannot reopen ", f.data_path)));
    for (std::uint32_t vi = 0; vi < f.vars.size(); ++vi) {
      const VarPlan& v = f.vars[vi];
      if (v.options.gzip == 0 || v.storage.empty()) continue;
      Hid ds(check_id(H5Dopen2(file.get(), v.name.c_str(), H5P_DEFAULT), ErrorCode::kCorrupt,
                      str_cat(f.data_path, ": variable ", v.name, " is missing")));
      const ChunkGrid& g = v.data.chunks();
      std::vector<std::int64_t> index(static_cast<std::size_t>(g.ndim()), 0);
      const Shape counts = g.grid_shape();
      std::uint64_t c = 0;
      std::vector<std::byte> buf;
      do {
        const Located& l = located.at({vi, c++});
        auto fd = sides.find(l.side);
        if (fd == sides.end()) fd = sides.emplace(l.side, detail::Fd(l.side, O_RDONLY)).first;
        buf.resize(l.record.size);
        detail::pread_all(fd->second.get(), buf.data(), buf.size(), l.record.offset, l.side);
        std::vector<hsize_t> origin(index.size());
        for (std::size_t a = 0; a < index.size(); ++a)
          origin[a] = static_cast<hsize_t>(g.offset(static_cast<int>(a), index[a]));
        check(H5Dwrite_chunk(ds.get(), H5P_DEFAULT, 0, origin.data(), buf.size(), buf.data()), ErrorCode::kIo,
              str_cat(f.final_path, ": cannot store chunk ", c - 1, " of ", v.name));
      } while (next_index(index, counts));
    }
    check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), ErrorCode::kIo, str_cat("cannot write ", f.data_path));
  }
  if (f.options.durable) sync_file(f.data_path);
  struct stat st {};
  if (!f.options.overwrite && ::stat(f.final_path.c_str(), &st) == 0) {
    throw_error(ErrorCode::kInvalidArgument, f.final_path,
                " appeared while the job ran; the output is complete in ", f.data_path,
                " (not overwritten: use --overwrite)");
  }
  if (::rename(f.data_path.c_str(), f.final_path.c_str()) != 0) {
    throw_error(ErrorCode::kIo, "cannot rename ", f.data_path, " to ", f.final_path, ": ",
                std::strerror(errno));
  }
  if (f.options.durable) sync_dir(fs::path(f.final_path).parent_path().string());
  std::error_code ec;
  fs::remove_all(f.dir, ec);
  return {written_now, f.done.size(), total_bytes, logical};
}

std::string parent_of(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

// Checks and plans one output file; identical on every rank (control replication).
std::shared_ptr<FilePlan> plan_file(const OutputFile& out) {
  auto f = std::make_shared<FilePlan>();
  f->final_path = out.path();
  f->options = out.options();
  f->coordinates = out.coordinates();
  f->attributes = out.attributes();
  const std::string parent = parent_of(out.path());
  struct stat st {};
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw_error(ErrorCode::kNotFound, "cannot write ", out.path(), ": directory ", parent, " does not exist");
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    throw_error(ErrorCode::kIo, "cannot write ", out.path(), ": directory ", parent, " is not writable");
  }
  f->dir = (fs::path(parent) / ("." + fs::path(out.path()).filename().string() + ".tessera")).string();
  f->data_path = f->dir + "/data.h5";
  if (out.variables().empty())
    throw_error(ErrorCode::kInvalidArgument, out.path(), ": no variables to write");
  for (const auto& e : out.variables()) {
    VarPlan v;
    v.name = e.name;
    v.options = e.options;
    if (e.data.ndim() > 0) {
      v.storage = e.options.storage_chunks ? *e.options.storage_chunks : e.data.chunks().max_chunk_shape();
      for (std::size_t a = 0; a < v.storage.size(); ++a) {
        if (v.storage[a] <= 0) v.storage[a] = e.data.shape()[a];
        v.storage[a] =
            std::max<std::int64_t>(1, std::min(v.storage[a], std::max<std::int64_t>(e.data.shape()[a], 1)));
      }
      const ChunkGrid want = ChunkGrid::regular(e.data.shape(), v.storage);
      v.data = want == e.data.chunks() ? e.data : e.data.rechunk(want);
    } else {
      v.data = e.data;
    }
    v.chunks = v.data.chunks().total_chunks();
    v.first_slot = f->total_slots;
    f->total_slots += static_cast<std::uint64_t>(v.chunks);
    f->vars.push_back(std::move(v));
  }
  f->manifest = manifest_of(*f);
  return f;
}

}  // namespace

StoreStats store(Runtime& runtime, std::span<OutputFile> outputs) {
  std::vector<std::shared_ptr<FilePlan>> files;
  std::set<std::string> seen;
  for (const auto& out : outputs) {
    if (!seen.insert(fs::absolute(out.path()).lexically_normal().string()).second) {
      throw_error(ErrorCode::kInvalidArgument, out.path(), " is written twice");
    }
    files.push_back(plan_file(out));
  }
  StoreStats stats;
  std::vector<bool> skip(files.size(), false);
  for (std::size_t i = 0; i < files.size(); ++i) {
    FilePlan& f = *files[i];
    struct stat st {};
    const bool final_exists = ::stat(f.final_path.c_str(), &st) == 0;
    const bool dir_exists = ::stat(f.dir.c_str(), &st) == 0;
    if (f.options.resume && final_exists && !dir_exists) {
      skip[i] = true;  // finished by an earlier run
      for (const auto& v : f.vars) stats.chunks_resumed += static_cast<std::uint64_t>(v.chunks);
      continue;
    }
    if (final_exists && !f.options.overwrite) {
      throw_error(ErrorCode::kInvalidArgument, f.final_path, " exists (use --overwrite to replace it)");
    }
    if (dir_exists && f.options.resume) {
      const std::string old = read_text_file(f.dir + "/manifest");
      if (!old.empty()) {
        if (old != f.manifest) {
          throw_error(
              ErrorCode::kInvalidArgument, "cannot resume ", f.final_path, ": the partial output in ", f.dir,
              " was made by a different job (variables, shapes, chunks or attributes differ); run with "
              "--overwrite to start over");
        }
        f.fresh = false;
        f.journal_start = journal_ends(f.dir);
        for (auto& [key, loc] : read_journals(f.dir)) {
          if (key.first < f.vars.size() &&
              key.second < static_cast<std::uint64_t>(f.vars[key.first].chunks) && f.done.count(key) == 0 &&
              record_intact(f, loc)) {
            f.done.emplace(key, loc);
          }
        }
      }
    } else if (dir_exists && !f.options.overwrite) {
      throw_error(
          ErrorCode::kInvalidArgument, f.final_path, ": ", f.dir,
          " holds the partial output of an interrupted run; use --resume to continue it or --overwrite to "
          "start over");
    }
  }

  Graph graph;
  std::vector<Array> arrays;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (skip[i]) continue;
    for (const auto& v : files[i]->vars) arrays.push_back(v.data);
  }
  std::vector<std::vector<TaskId>> chunk_ids;
  build_graph(arrays, graph, chunk_ids);

  const NameId prepare_name = graph.name("store-prepare");
  const NameId write_name = graph.name("store-write");
  const NameId commit_name = graph.name("store-commit");
  // Progress per output: a variable's chunk writes are one progress group, labelled with its name (and its
  // file's name when another file has a variable of the same name).
  std::map<std::string, int> files_with;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (skip[i]) continue;
    for (const auto& v : files[i]->vars) ++files_with[v.name];
  }
  std::vector<TaskId> commits;
  std::size_t array_at = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (skip[i]) continue;
    std::shared_ptr<FilePlan> f = files[i];
    const auto fi = static_cast<std::int32_t>(i);
    const KernelId prepare = graph.kernel([f](const TaskContext&) {
      if (f->fresh) {
        std::error_code ec;
        fs::remove_all(f->dir, ec);
        if (!fs::create_directory(f->dir, ec)) {
          throw_error(ErrorCode::kIo, "cannot create ", f->dir, ": ", ec.message());
        }
        create_file(*f);
        const std::string tmp = f->dir + "/manifest.tmp";
        {
          detail::Fd fd(tmp, O_WRONLY | O_CREAT | O_TRUNC);
          detail::pwrite_all(fd.get(), f->manifest.data(), f->manifest.size(), 0, tmp);
        }
        if (::rename(tmp.c_str(), (f->dir + "/manifest").c_str()) != 0) {
          throw_error(ErrorCode::kIo, "cannot write ", f->dir, "/manifest: ", std::strerror(errno));
        }
      }
      return Value::of(chunk_addresses(*f));
    });
    const TaskId p = graph.add(prepare_name, {fi}, prepare, std::span<const TaskId>{});
    const KernelId write = graph.kernel([f](const TaskContext& ctx) {
      const auto& addresses = ctx.input<std::vector<std::uint64_t>>(0);
      const auto vi = static_cast<std::uint32_t>(ctx.index()[1]);
      const auto chunk = static_cast<std::uint64_t>(ctx.index()[2]);
      const std::uint64_t slot = f->vars[vi].first_slot + chunk;
      return Value::of(write_chunk(*f, vi, chunk, addresses[slot], ctx.input<Chunk>(1)));
    });
    std::vector<TaskId> writes;
    for (std::uint32_t vi = 0; vi < f->vars.size(); ++vi, ++array_at) {
      const auto& ids = chunk_ids[array_at];
      const std::string& var = f->vars[vi].name;
      TaskOptions write_options;
      write_options.progress_group = graph.progress_group(
          files_with[var] > 1 ? fs::path(f->final_path).filename().string() + ":" + var : var);
      for (std::size_t c = 0; c < ids.size(); ++c) {
        if (f->done.count({vi, c}) > 0) continue;
        const TaskId deps[] = {p, ids[c]};
        const std::int32_t key[] = {fi, static_cast<std::int32_t>(vi), static_cast<std::int32_t>(c)};
        writes.push_back(graph.add(write_name, key, write, deps, write_options));
      }
    }
    if (writes.empty()) writes.push_back(p);
    const KernelId finish = graph.kernel([f](const TaskContext& ctx) {
      std::uint64_t chunks_now = 0;  // inputs are write results, or only the prepare task's when all resumed
      for (std::size_t i = 0; i < ctx.num_inputs(); ++i)
        chunks_now += ctx.input(i).holds<std::uint64_t>() ? 1 : 0;
      return Value::of(commit(*f, chunks_now));
    });
    const std::int32_t key[] = {fi};
    commits.push_back(graph.add(commit_name, key, finish, writes));
  }
  if (commits.empty()) return stats;
  std::vector<Value> results = runtime.run(graph, commits);
  for (const Value& r : results) {
    const auto& s = r.get<std::vector<std::uint64_t>>();
    stats.chunks_written += s[0];
    stats.chunks_resumed += s[1];
    stats.bytes_written += s[2];
    stats.logical_bytes += s[3];
  }
  return stats;
}

StoreStats store(Runtime& runtime, OutputFile& output) {
  return store(runtime, std::span<OutputFile>(&output, 1));
}

}  // namespace tessera::io
