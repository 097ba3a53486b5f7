// SpillStore: results written to node-local disk while a memory limit is exceeded, and read back on demand.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/runtime/value.h"

namespace tessera::detail {

class SpillLog;

// One private directory (`<parent>/tessera-spill-XXXXXX`) holding one file per spilled result, named by its
// plan task number. The directory and every file in it are removed by the destructor, so a run that fails or
// throws leaves nothing behind. prepare() must not race with anything; after it, write/read/remove of
// different tasks may run on different threads at once (one task's file is used by one call at a time).
class SpillStore {
 public:
  // Makes nothing yet: the directory is created by prepare(). `parent` empty: $TMPDIR, else /tmp.
  explicit SpillStore(std::string parent);
  ~SpillStore();
  SpillStore(const SpillStore&) = delete;
  SpillStore& operator=(const SpillStore&) = delete;

  // Creates the private directory if it does not exist yet. Throws Error(kIo) naming the parent.
  void prepare();
  // Writes v (which must have a codec) as the file of task t; returns the bytes written. Requires prepare().
  // Throws Error(kIo) naming the file and the OS error (a full disk included).
  std::uint64_t write(std::uint32_t t, const Value& v);
  // Reads task t's file back into a value of the type `ops` describes. Throws Error(kIo) or Error(kCorrupt).
  Value read(std::uint32_t t, const TypeOps& ops, std::uint64_t bytes);
  // The same with bytes already encoded: writes n bytes as task t's file / reads them back into dest.
  void write_bytes(std::uint32_t t, const std::byte* data, std::size_t n);
  void read_bytes(std::uint32_t t, std::byte* dest, std::size_t n);
  // Deletes task t's file (no error if there is none).
  void remove(std::uint32_t t) noexcept;
  // Times every file written or read from now on into `log` (null: stop). Call before the I/O starts.
  void record_to(SpillLog* log) noexcept { log_ = log; }

  // The private directory ("" until the first write).
  const std::string& directory() const noexcept { return dir_; }
  std::uint64_t bytes_written() const noexcept { return written_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_read() const noexcept { return read_.load(std::memory_order_relaxed); }

 private:
  std::string path_of(std::uint32_t t) const;

  std::string parent_;
  std::string dir_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> read_{0};
  SpillLog* log_ = nullptr;
};

}  // namespace tessera::detail
