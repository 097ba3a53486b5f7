// An open file descriptor, closed when its owner goes. Shared by the modules that do file I/O themselves (the
// spill store, io's readers and writers); not part of the user API.
#pragma once

#include <sys/types.h>

#include <string>

namespace tessera::detail {

class Fd {
 public:
  Fd() = default;
  // Opens `path` (O_CLOEXEC is added). Throws Error(kNotFound) when the file does not exist, kIo for other
  // failures, naming the path.
  Fd(const std::string& path, int flags, mode_t mode = 0644);
  // Takes ownership of an open descriptor (or -1).
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Closes now; returns close()'s errno (0 when it succeeded or nothing was open).
  int close() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace tessera::detail
