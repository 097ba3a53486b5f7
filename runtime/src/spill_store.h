// SpillStore: results written to node-local disk while a memory limit is exceeded, and read back on demand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/runtime/value.h"

namespace tessera::detail {

// One private directory (`<parent>/tessera-spill-XXXXXX`) holding one file per spilled result, named by its
// plan task number. The directory and every file in it are removed by the destructor, so a run that fails or
// throws leaves nothing behind. Not thread-safe: callers serialise.
class SpillStore {
 public:
  // Makes nothing yet: the directory is created by the first write(). `parent` empty: $TMPDIR, else /tmp.
  explicit SpillStore(std::string parent);
  ~SpillStore();
  SpillStore(const SpillStore&) = delete;
  SpillStore& operator=(const SpillStore&) = delete;

  // Writes v (which must have a codec) as the file of task t; returns the bytes written. Throws
  // Error(kIo) naming the file and the OS error (a full disk included).
  std::uint64_t write(std::uint32_t t, const Value& v);
  // Reads task t's file back into a value of the type `ops` describes. Throws Error(kIo) or Error(kCorrupt).
  Value read(std::uint32_t t, const TypeOps& ops, std::uint64_t bytes);
  // Deletes task t's file (no error if there is none).
  void remove(std::uint32_t t) noexcept;

  // The private directory ("" until the first write).
  const std::string& directory() const noexcept { return dir_; }
  std::uint64_t bytes_written() const noexcept { return written_; }
  std::uint64_t bytes_read() const noexcept { return read_; }

 private:
  std::string path_of(std::uint32_t t) const;

  std::string parent_;
  std::string dir_;
  std::vector<std::byte> scratch_;  // encoding buffer, reused
  std::uint64_t written_ = 0;
  std::uint64_t read_ = 0;
};

}  // namespace tessera::detail
