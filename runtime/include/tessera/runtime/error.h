// Errors: one root type with a short list of codes. User mistakes are never kInternal.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace tessera {

enum class ErrorCode : std::uint8_t {
  kInvalidArgument,    // the caller asked for something malformed or contradictory
  kNotFound,           // a named thing (task key, file, dataset, variable) does not exist
  kIo,                 // the operating system or a file library reported a failure
  kCorrupt,            // data exists but is not what its format promises
  kResourceExhausted,  // memory, disk, attach slots, ...
  kCancelled,          // stopped on request (signal, another task's failure)
  kInternal,           // a bug in tessera
};

std::string_view to_string(ErrorCode code) noexcept;

// The root of every exception tessera throws. what() is the full message; code() classifies it.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// A task's callable threw. Carries the task's key, the worker that ran it (-1 for the local executors), how
// many times the callable was tried and the last attempt's message; what() reads
// `task ("mean", 4, 0) failed: <original message>`, or `... failed after 3 attempts: <original message>` when
// the task was retried.
class TaskError : public Error {
 public:
  TaskError(ErrorCode code, std::string task_key, std::string original_message, int rank = -1,
            int attempts = 1);
  const std::string& task_key() const noexcept { return task_key_; }
  const std::string& original_message() const noexcept { return original_message_; }
  int rank() const noexcept { return rank_; }
  int attempts() const noexcept { return attempts_; }

 private:
  std::string task_key_;
  std::string original_message_;
  int rank_;
  int attempts_;
};

// Concatenates anything streamable into a string: str_cat("chunk ", i, " of ", n).
template <class... Parts>
std::string str_cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

template <class... Parts>
[[noreturn]] void throw_error(ErrorCode code, const Parts&... parts) {
  throw Error(code, str_cat(parts...));
}

}  // namespace tessera
