#include "process_info.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace tessera::detail {

std::string iso_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string slurm_job_id() {
  const char* id = std::getenv("SLURM_JOB_ID");
  return id != nullptr ? std::string(id) : std::string();
}

ResourceSample sample_resources(int rank, double time, std::uint64_t live_bytes) {
  ResourceSample s;
  s.rank = rank;
  s.time = time;
  s.live_bytes = live_bytes;
  // /proc/self/statm, opened once per process and read with pread: opening it costs about 8 us (a path walk
  // through /proc), reading it about 2. A child of fork() has its own /proc/self: it opens its own each time.
  // If the first open fails (no descriptors left), a later call tries again.
  static const pid_t opener = ::getpid();
  static std::atomic<int> statm{-1};
  const bool own = ::getpid() != opener;
  int fd = own ? ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC) : statm.load(std::memory_order_acquire);
  if (!own && fd < 0) {
    fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    int none = -1;
    if (fd >= 0 && !statm.compare_exchange_strong(none, fd, std::memory_order_acq_rel)) {
      ::close(fd);  // another thread opened it first
      fd = none;
    }
  }
  if (fd >= 0) {
    char buf[128];
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    if (own) ::close(fd);
    if (n > 0) {
      buf[n] = '\0';
      char* p = buf;
      std::strtoull(p, &p, 10);  // total program size
      const unsigned long long resident = std::strtoull(p, &p, 10);
      s.rss = static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    }
  }
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0) {
    s.cpu_seconds = static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return s;
}

}  // namespace tessera::detail
