#include "spill_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tessera/runtime/error.h"
#include "tessera/runtime/fd.h"
#include "trace/spill_log.h"

namespace tessera::detail {

namespace {

[[noreturn]] void throw_os(const char* what, const std::string& path, int err) {
  throw_error(ErrorCode::kIo, "spilling to disk: cannot ", what, " \"", path, "\": ", std::strerror(err),
              err == ENOSPC ? " (the spill directory's file system is full: raise the memory limit or point "
                              "the spill directory at a larger disk)"
                            : "");
}

}  // namespace

SpillStore::SpillStore(std::string parent) : parent_(std::move(parent)) {
  if (parent_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent_ = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
}

SpillStore::~SpillStore() {
  if (dir_.empty()) return;
  // Files are named by task number only, so everything in the directory is ours.
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      ::unlink((dir_ + "/" + e->d_name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir_.c_str());
}

std::string SpillStore::path_of(std::uint32_t t) const {
  return dir_ + "/" + std::to_string(t);
}

void SpillStore::prepare() {
  if (!dir_.empty()) return;
  std::string pattern = parent_ + "/tessera-spill-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw_os("create a directory in", parent_, errno);
  dir_ = std::move(pattern);
}

std::uint64_t SpillStore::write(std::uint32_t t, const Value& v) {
  const TypeOps* ops = v.ops();
  if (ops == nullptr || ops->encode == nullptr) {
    throw_error(ErrorCode::kInternal, "spilling a ", v.type_name(), " that has no codec");
  }
  const std::size_t n = ops->encoded_size(v.data());
  // One encoding buffer per thread, reused: spilling threads do not share it.
  thread_local std::vector<std::byte> scratch;
  scratch.resize(n);
  ops->encode(v.data(), scratch.data());
  write_bytes(t, scratch.data(), n);
  // The encoding buffer would otherwise keep the largest result's size for the thread's lifetime.
  if (scratch.capacity() > (std::size_t{8} << 20)) std::vector<std::byte>().swap(scratch);
  return n;
}

void SpillStore::write_bytes(std::uint32_t t, const std::byte* data, std::size_t n) {
  const auto start = log_ != nullptr ? TraceClock::now() : TraceClock::time_point{};
  const std::string path = path_of(t);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) throw_os("create", path, errno);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t k = ::write(fd.get(), data + done, n - done);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      const int err = k < 0 ? errno : ENOSPC;
      fd.close();
      ::unlink(path.c_str());
      throw_os("write", path, err);
    }
    done += static_cast<std::size_t>(k);
  }
  if (const int err = fd.close(); err != 0) {  // a full disk may show only now (NFS, delayed allocation)
    ::unlink(path.c_str());
    throw_os("write", path, err);
  }
  written_.fetch_add(n, std::memory_order_relaxed);
  if (log_ != nullptr) log_->add(t, start, TraceClock::now(), n, false);
}

void SpillStore::read_bytes(std::uint32_t t, std::byte* dest, std::size_t bytes) {
  const auto start = log_ != nullptr ? TraceClock::now() : TraceClock::time_point{};
  const std::string path = path_of(t);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_os("open", path, errno);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t k = ::read(fd.get(), dest + done, bytes - done);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) throw_os("read", path, errno);
    if (k == 0) {
      throw_error(ErrorCode::kCorrupt, "spill file \"", path, "\" holds ", done, " bytes, expected ", bytes);
    }
    done += static_cast<std::size_t>(k);
  }
  read_.fetch_add(bytes, std::memory_order_relaxed);
  if (log_ != nullptr) log_->add(t, start, TraceClock::now(), bytes, true);
}

Value SpillStore::read(std::uint32_t t, const TypeOps& ops, std::uint64_t bytes) {
  std::shared_ptr<const void> object;
  std::byte* dest = nullptr;
  std::vector<std::byte> staging;
  if (ops.receive != nullptr) {
    object = ops.receive(bytes, &dest);  // straight into the final object: no second copy
  } else {
    staging.resize(bytes);
    dest = staging.data();
  }
  read_bytes(t, dest, bytes);
  if (ops.receive != nullptr) {
    if (ops.finish_receive != nullptr) ops.finish_receive(const_cast<void*>(object.get()));
    return Value::adopt(std::move(object), ops);
  }
  return Value::decode(ops, staging.data(), staging.size());
}

void SpillStore::remove(std::uint32_t t) noexcept {
  if (!dir_.empty()) ::unlink(path_of(t).c_str());
}

}  // namespace tessera::detail
