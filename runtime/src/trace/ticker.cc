#include "ticker.h"

#include <algorithm>

namespace tessera::detail {

Ticker::~Ticker() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ticker::start(double seconds, std::function<void()> fn) {
  stop();
  {
    std::lock_guard lock(mu_);
    fn_ = std::move(fn);
    period_ = std::chrono::duration<double>(std::max(seconds, 1e-3));
    running_ = true;
    ++started_;
  }
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { loop(); });
  } else {
    cv_.notify_all();
  }
}

void Ticker::stop() {
  std::unique_lock lock(mu_);
  if (running_) {
    running_ = false;
    cv_.notify_all();
  }
  cv_.wait(lock, [this] { return !calling_; });  // also when another thread's stop() cleared running_
  fn_ = nullptr;
}

void Ticker::loop() {
  std::unique_lock lock(mu_);
  while (!quit_) {
    if (!running_) {
      cv_.wait(lock, [this] { return quit_ || running_; });
      continue;
    }
    const std::uint64_t run = started_;
    if (cv_.wait_for(lock, period_, [this, run] { return quit_ || !running_ || started_ != run; })) continue;
    calling_ = true;
    lock.unlock();
    fn_();  // stop() waits for calling_ to drop before it touches fn_
    lock.lock();
    calling_ = false;
    cv_.notify_all();
  }
}

}  // namespace tessera::detail
