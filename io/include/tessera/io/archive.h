// Archives: many files that together hold one variable along a record dimension, as climate data comes (one
// file per variable per year, month or decade). Opened like xarray's open_mfdataset or CDO's mergetime:
//
//   io::Archive a = io::open_archive(rt, files, "tas");   // every file's metadata, checked to fit together
//   io::Variable tas = io::read(a);                       // one lazy array along time, in time order
//
// Every file's metadata is read once, spread over the runtime's threads (and, under MPI, over its ranks,
// which share what they read), and the files are checked to fit together before any work: the variable is in
// every file with the same dims, type and CF encoding, the coordinates of the other dimensions are equal, and
// the records neither overlap nor go backwards. Each failure is an error naming both files and the first
// difference. Files are ordered by their decoded times (not by name); times written in different units
// ("days since 1850-01-01", "days since 1870-01-01") decode onto one axis in the first file's units. Gaps
// between files are allowed and reported (Archive::notes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/io/cf_time.h"
#include "tessera/io/io.h"
#include "tessera/runtime/runtime.h"

namespace tessera::io {

struct ArchiveOptions {
  // The dimension the files are concatenated along. Empty: the variable's unlimited dimension in the first
  // file, else its dimension named "time".
  std::string concat_dim;
};

class Archive {
 public:
  // One file of the archive and the records it holds along the concatenated dimension.
  struct Piece {
    std::string path;
    std::int64_t start = 0;   // its first record in the archive
    std::int64_t length = 0;  // its records
    FileInfo info;
  };

  const std::string& variable() const noexcept { return variable_; }
  // The concatenated dimension and its axis in the variable.
  const std::string& dim() const noexcept { return dim_; }
  int axis() const noexcept { return axis_; }
  // The files in record order.
  const std::vector<Piece>& pieces() const noexcept { return pieces_; }
  std::int64_t length() const noexcept { return length_; }
  // The variable as one: the first file's metadata with the whole length along dim().
  const VariableInfo& variable_info() const noexcept { return variable_info_; }
  // The first file's metadata (global attributes, other variables).
  const FileInfo& first() const noexcept { return pieces_.front().info; }
  // Whether dim()'s coordinate is a CF time ("<unit> since <date>"); then time() holds every record's date
  // and coordinate(dim()) its value in time().units (the first file's units).
  bool has_time() const noexcept { return !time_.units.empty(); }
  const TimeAxis& time() const noexcept { return time_; }
  // The values of coordinate variable `name` as stored (not CF-decoded): for dim() (and its bounds) the whole
  // archive's, in one encoding; for other dimensions the first file's (every file has the same). Nullopt when
  // the files have no such coordinate variable. Its attributes in attributes_of(name).
  std::optional<Chunk> coordinate(const std::string& name) const;
  const Attributes* attributes_of(const std::string& name) const;
  // What `tessera check` reports: gaps between files, irregular steps.
  const std::vector<std::string>& notes() const noexcept { return notes_; }

 private:
  friend Archive open_archive(Runtime&, const std::vector<std::string>&, const std::string&,
                              const ArchiveOptions&);
  std::string variable_, dim_;
  int axis_ = 0;
  std::vector<Piece> pieces_;
  std::int64_t length_ = 0;
  VariableInfo variable_info_;
  TimeAxis time_;
  // Coordinate values: those along dim() concatenated (time re-encoded), the others from the first file.
  std::vector<std::pair<std::string, std::vector<double>>> coordinates_;
  std::vector<std::string> notes_;
};

// Opens `files` (at least one) as one dataset of `variable`. Collective under MPI: every rank calls it with
// the same files. Errors: those of io::inspect for a file that cannot be read (naming it), kNotFound for a
// file without the variable, kInvalidArgument for files that do not fit together (naming both and the first
// difference) or records that overlap or go backwards (naming the files and dates).
Archive open_archive(Runtime& runtime, const std::vector<std::string>& files, const std::string& variable,
                     const ArchiveOptions& options = {});

// The archive's variable as one lazy array, CF-decoded as io::read decodes one file. Each file's part is
// chunked as io::read would chunk it (ReadOptions::chunks along dim() are cut at the files' ends), so no
// chunk spans two files.
Variable read(const Archive& archive, const ReadOptions& options = {});

}  // namespace tessera::io
