// HDF5 and NetCDF input and output for chunked arrays.
//
//   auto t = tessera::io::read("era5_t2m.nc", "t2m");          // lazy, chunk-aligned to the file, CF-decoded
//   auto anom = (t.data - t.data.mean(0)) / t.data.std(0);
//   tessera::io::OutputFile out("anom.nc");
//   out.add("anom", anom, {.dims = t.dims, .attributes = {{"units", "1"}}});
//   tessera::io::store(rt, out);                                // collective; the file appears when complete
//
// Reading: every rank opens the file's metadata when the graph is built (so a missing file or variable is the
// same error everywhere, before any work); each chunk is read by the task that needs it. Uncompressed and
// gzip/shuffle chunks are read with pread and decoded by tessera in parallel; other layouts and filters go
// through the HDF5 library (which is not thread-safe: those calls are serialised within a process).
//
// Writing: see store().
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "tessera/arrays/array.h"
#include "tessera/io/cf_time.h"

namespace tessera::io {

enum class FileFormat {
  kHdf5,             // HDF5 without NetCDF dimension scales
  kNetcdf4,          // HDF5 with NetCDF-4 conventions (dimension scales)
  kNetcdf3Classic,   // CDF-1
  kNetcdf3Offset64,  // CDF-2 (64-bit offset)
  kNetcdf3Cdf5,      // CDF-5 (64-bit data)
};
std::string_view name_of(FileFormat f) noexcept;

// An attribute's value: text, or numbers (kept as double, with the stored type's name, e.g. "float32").
struct AttributeValue {
  std::variant<std::string, std::vector<double>> value;
  std::string type;  // "string", "float32", "int16", ...

  AttributeValue() = default;
  AttributeValue(std::string text) : value(std::move(text)), type("string") {}    // NOLINT
  AttributeValue(const char* text) : value(std::string(text)), type("string") {}  // NOLINT
  AttributeValue(double number, std::string type_name = "float64")                // NOLINT
      : value(std::vector<double>{number}), type(std::move(type_name)) {}
  AttributeValue(std::vector<double> numbers, std::string type_name = "float64")
      : value(std::move(numbers)), type(std::move(type_name)) {}

  bool is_text() const noexcept { return std::holds_alternative<std::string>(value); }
  const std::string& text() const { return std::get<std::string>(value); }
  const std::vector<double>& numbers() const { return std::get<std::vector<double>>(value); }
  // The first number; throws Error(kInvalidArgument) for text or an empty list.
  double number() const;
  // "K", "1.5", "[1, 2, 3]".
  std::string str() const;
  friend bool operator==(const AttributeValue&, const AttributeValue&) = default;
};

// Attributes in the order the file lists them.
using Attributes = std::vector<std::pair<std::string, AttributeValue>>;
const AttributeValue* find_attribute(const Attributes& attributes, std::string_view name) noexcept;

struct Filter {
  int id = 0;        // HDF5 filter id (1 deflate, 2 shuffle, 3 fletcher32, 4 szip, ...)
  std::string name;  // "deflate", "shuffle", ...
  std::vector<unsigned> parameters;
};

// What the file says about one variable (dataset).
struct VariableInfo {
  std::string name;  // path inside the file without the leading "/" ("t2m", "group/var")
  Shape shape;
  std::string stored_type;  // NumPy-style: "<f4", ">i2", "|u1"
  DType dtype;              // the type tessera reads it as (int8 widens to int16, uint16 to int32, ...)
  bool chunked = false;
  Shape storage_chunks;  // chunked only
  std::vector<Filter> filters;
  std::vector<std::string> dims;  // NetCDF dimension names; "phony_dim_N" style for plain HDF5
  std::vector<bool> growable;     // per axis: the dataset can grow along it (HDF5 maximum size unlimited)
  Attributes attributes;
  std::uint64_t storage_bytes = 0;  // bytes allocated in the file (compression ratio = logical / storage)
  bool dimension_only = false;      // a NetCDF dimension without a coordinate variable (not data)
  std::string unsupported;          // why tessera cannot read it ("compound type"); empty when it can

  std::uint64_t logical_bytes() const noexcept;
};

struct FileInfo {
  std::string path;
  FileFormat format = FileFormat::kHdf5;
  std::uint64_t file_bytes = 0;
  Attributes attributes;                // global attributes
  std::vector<VariableInfo> variables;  // every dataset, in name order (dimension-only ones included)
  std::map<std::string, std::int64_t> dimensions;  // NetCDF dimension lengths (an unlimited one: its current
                                                   // length, the most records any variable has)
  std::set<std::string> unlimited;                 // the dimensions that are UNLIMITED (record dimensions)

  // The variable named `name`; throws Error(kNotFound) naming the file and listing the variables it has.
  const VariableInfo& variable(std::string_view name) const;
};

// Reads a file's metadata. Errors (all naming the file): kNotFound (no such file), kInvalidArgument (not an
// HDF5 or NetCDF file: says what it looks like), kCorrupt (truncated or damaged), kIo (cannot be read).
FileInfo inspect(const std::string& path);

// `tessera info`: variables, dims, shapes, dtypes, storage chunks, filters, compression ratio, CF attributes.
// With `variable`, that one only, with all its attributes.
std::string describe(const FileInfo& info, const std::string& variable = "");

struct ReadOptions {
  std::optional<Shape> chunks;  // explicit array chunks (-1: whole axis); default: whole multiples of the
                                // storage chunks grown toward target_chunk_bytes
  // 32 MB: chunks stay below glibc's largest mmap threshold (32 MiB), so that their memory is reused from the
  // heap instead of mapped and faulted in afresh for each (docs/design.md, io: "Chunk size").
  std::size_t target_chunk_bytes = 32'000'000;
  bool decode_cf = true;  // _FillValue/missing_value -> NaN, scale_factor/add_offset unpacking
  int retries = 2;        // extra attempts of a failing chunk read (transient I/O errors)
};

// A variable read lazily as an array, with its metadata.
struct Variable {
  std::string file;
  VariableInfo info;
  Array data;                      // decoded (CF) unless ReadOptions::decode_cf is false
  std::vector<std::string> dims;   // == info.dims
  std::vector<std::string> notes;  // diagnostics, e.g. chunks that are not aligned to the storage chunks
};

// The array of `variable` in the HDF5/NetCDF file at `path`. Errors as for inspect(), plus kNotFound for a
// missing variable (the message lists the variables the file has) and kInvalidArgument for a type tessera
// cannot read (compound, string, variable-length: says which) or a bad chunk specification.
Variable read(const std::string& path, const std::string& variable, const ReadOptions& options = {});

// Reads a whole (small) variable now, e.g. a coordinate. Same errors as read().
Chunk read_all(const std::string& path, const std::string& variable, bool decode_cf = true);

// The CF time coordinate `variable` (usually "time") decoded to dates with its units and calendar
// attributes. Throws Error(kInvalidArgument) when its units are not "<unit> since <date>" or the calendar is
// unknown.
TimeAxis read_time(const std::string& path, const std::string& variable = "time");

// ---------------------------------------------------------------------------------------------------------
// Writing.

struct VariableOptions {
  std::vector<std::string> dims;        // dimension names (NetCDF-4 output); default dim_0, dim_1, ...
  Attributes attributes;                // units, long_name, ...
  std::optional<double> fill_value;     // written as _FillValue (and the HDF5 fill value)
  std::optional<Shape> storage_chunks;  // default: the array's chunk shape (the array is rechunked to match)
  int gzip = 0;                         // deflate level 1-9 with the shuffle filter; 0: uncompressed
};

// A coordinate variable: 1-d values for a dimension (time, lat, lon), with attributes.
struct Coordinate {
  std::string dim;
  Chunk values;
  Attributes attributes;
};

struct OutputOptions {
  bool overwrite = false;  // replace an existing file (only once the new one is complete)
  bool resume = false;     // continue an interrupted run from its journal
  bool netcdf = true;      // NetCDF-4 conventions (dimension scales, coordinates); false: plain HDF5
  bool durable = true;     // fdatasync the data before it is renamed into place
  // Uncompressed chunks of 1 MiB and more go to the file with O_DIRECT (past the page cache) where the file
  // system allows it; false, or TESSERA_DIRECT_IO=0 in the environment: through the page cache.
  bool direct = true;
};

// One output file: variables and coordinates, written by store().
class OutputFile {
 public:
  explicit OutputFile(std::string path, OutputOptions options = {});
  // Throws Error(kInvalidArgument) for a duplicate name, dims that do not match the array's rank or another
  // variable's length for the same dim, or bad storage chunks.
  void add(const std::string& name, const Array& data, VariableOptions options = {});
  void add_coordinate(Coordinate coordinate);
  void set_attribute(const std::string& name, AttributeValue value);

  const std::string& path() const noexcept { return path_; }
  const OutputOptions& options() const noexcept { return options_; }

  struct Entry {
    std::string name;
    Array data;
    VariableOptions options;
  };
  const std::vector<Entry>& variables() const noexcept { return variables_; }
  const std::vector<Coordinate>& coordinates() const noexcept { return coordinates_; }
  const Attributes& attributes() const noexcept { return attributes_; }

 private:
  std::string path_;
  OutputOptions options_;
  std::vector<Entry> variables_;
  std::vector<Coordinate> coordinates_;
  Attributes attributes_;
};

struct StoreStats {
  std::uint64_t chunks_written = 0;
  std::uint64_t chunks_resumed = 0;  // found complete in the journal and skipped
  std::uint64_t bytes_written = 0;   // bytes that reached the files (after compression)
  std::uint64_t logical_bytes = 0;   // uncompressed bytes of the variables
};

// Computes the outputs' arrays (together with `also`, whose chunks come back in `also_results`) and writes
// them. Collective under MPI: every rank calls it with the same outputs.
//
// Outputs are never seen half-done: each file is assembled in a hidden directory beside it
// (".NAME.tessera/") and renamed into place when complete. An existing file is refused (kInvalidArgument)
// unless overwrite is set. Every finished chunk is recorded in a journal; after a failure, a signal or a
// killed rank the directory stays, and a run with `resume` skips the journalled chunks (the journal must
// describe the same variables, shapes and chunks, else kInvalidArgument). Errors name the file, variable and
// chunk; a failing task's error comes as TaskError.
StoreStats store(Runtime& runtime, std::span<OutputFile> outputs);
StoreStats store(Runtime& runtime, OutputFile& output);

}  // namespace tessera::io
