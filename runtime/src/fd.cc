#include "tessera/runtime/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tessera/runtime/error.h"

namespace tessera::detail {

Fd::Fd(const std::string& path, int flags, mode_t mode) : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {
  if (fd_ < 0) {
    if (errno == ENOENT) throw_error(ErrorCode::kNotFound, "no such file: ", path);
    throw_error(ErrorCode::kIo, "cannot open ", path, ": ", std::strerror(errno));
  }
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Fd::~Fd() {
  close();
}

int Fd::close() noexcept {
  if (fd_ < 0) return 0;
  const int rc = ::close(fd_);
  fd_ = -1;
  return rc == 0 ? 0 : errno;
}

}  // namespace tessera::detail
