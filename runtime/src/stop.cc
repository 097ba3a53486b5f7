#include "tessera/runtime/stop.h"

#include <signal.h>

#include <atomic>

namespace tessera {

namespace {
// Process-wide because signals are: a handler has nothing else to reach.
std::atomic<int> g_stop{-1};  // -1: no request; otherwise the signal (0 when requested without one)
std::atomic<bool> g_installed{false};

extern "C" void on_stop_signal(int sig) {
  request_stop(sig);
}
}  // namespace

void request_stop(int signal) noexcept {
  int none = -1;
  g_stop.compare_exchange_strong(none, signal,
                                 std::memory_order_relaxed);  // the first request names the signal
}

bool stop_requested() noexcept {
  return g_stop.load(std::memory_order_relaxed) >= 0;
}

int stop_signal() noexcept {
  const int s = g_stop.load(std::memory_order_relaxed);
  return s < 0 ? 0 : s;
}

void clear_stop() noexcept {
  g_stop.store(-1, std::memory_order_relaxed);
}

void install_stop_handlers(bool interrupt) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGUSR2, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (interrupt) sigaction(SIGINT, &sa, nullptr);
  g_installed.store(true);
}

bool stop_handlers_installed() noexcept {
  return g_installed.load();
}

const char* signal_name(int signal) noexcept {
  switch (signal) {
    case SIGUSR1:
      return "SIGUSR1";
    case SIGUSR2:
      return "SIGUSR2";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case 0:
      return "a stop request";
    default:
      return "a signal";
  }
}

}  // namespace tessera
