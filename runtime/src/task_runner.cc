#include "task_runner.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>
#include <system_error>
#include <thread>

#include "tessera/runtime/error.h"

namespace tessera::detail {

void rethrow_as_task_error(const Graph& graph, TaskId task, int attempts, int rank) {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  try {
    throw;
  } catch (const TaskError& e) {
    // A kernel that itself ran a graph: keep the innermost task's story.
    code = e.code();
    message = e.what();
  } catch (const Error& e) {
    code = e.code();
    message = e.what();
  } catch (const std::bad_alloc& e) {
    code = ErrorCode::kResourceExhausted;
    message = std::string("out of memory (") + e.what() +
              "): the task could not allocate what it needed; give each worker more memory, use smaller "
              "chunks, or set a memory limit so that fewer results are held at once";
  } catch (const std::system_error& e) {
    code = ErrorCode::kIo;
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "an exception that is not a std::exception";
  }
  throw TaskError(code, graph.key_string(task), std::move(message), rank, attempts);
}

bool may_pass_on_retry(ErrorCode code) noexcept {
  // A failed read or a full memory may pass the next time; bad input, a missing thing, damaged data, a stop
  // or a bug fail the same way every time.
  return code == ErrorCode::kIo || code == ErrorCode::kResourceExhausted;
}

Value TaskRunner::call(TaskId task, int thread) {
  const TaskContext ctx(inputs_, graph_.name_of(task), graph_.index_of(task), thread);
  const int tries = 1 + graph_.options(task).retries;
  for (int attempt = 1;; ++attempt) {
    ++attempts_;
    try {
      Value out = graph_.kernel_of(task)(ctx);
      ++members_run_;
      return out;
    } catch (const Error& e) {
      if (attempt >= tries || !may_pass_on_retry(e.code()))
        rethrow_as_task_error(graph_, task, attempt, rank_);
    } catch (...) {
      if (attempt >= tries) rethrow_as_task_error(graph_, task, attempt, rank_);
    }
    // A retry starts from the same inputs: whatever the failed attempt made was dropped with its exception.
    const std::uint32_t base = graph_.options(task).retry_backoff_ms;
    if (base > 0) {
      const std::uint32_t ms = std::min<std::uint32_t>(1000, base << std::min(attempt - 1, 10));
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
  }
}

}  // namespace tessera::detail
