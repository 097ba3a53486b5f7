// A thread that calls a function at an interval while a run goes on (samplers, progress).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace tessera::detail {

// Calls `fn` about every `seconds` on its own thread from start() until stop(). The thread is made by the
// first start() and waits between runs (making one per run cost about 60 us, more than a 1000-task run);
// it ends when the Ticker is destroyed. stop() returns once `fn` is not running and will not be called again
// (so `fn` must not call stop()).
class Ticker {
 public:
  Ticker() = default;
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker();
  void start(double seconds, std::function<void()> fn);
  void stop();

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> fn_;  // while running_
  std::chrono::duration<double> period_{1.0};
  bool running_ = false;
  bool calling_ = false;       // fn_ is being called (outside the lock)
  std::uint64_t started_ = 0;  // start() calls: a new run restarts the wait
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace tessera::detail
