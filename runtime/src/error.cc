#include "tessera/runtime/error.h"

namespace tessera {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kIo:
      return "I/O error";
    case ErrorCode::kCorrupt:
      return "corrupt data";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown error";
}

TaskError::TaskError(ErrorCode code, std::string task_key, std::string original_message, int rank,
                     int attempts)
    : Error(code, str_cat("task ", task_key, rank >= 0 ? str_cat(" on rank ", rank) : std::string(),
                          " failed", attempts > 1 ? str_cat(" after ", attempts, " attempts") : std::string(),
                          ": ", original_message)),
      task_key_(std::move(task_key)),
      original_message_(std::move(original_message)),
      rank_(rank),
      attempts_(attempts) {}

}  // namespace tessera
