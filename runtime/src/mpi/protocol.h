// Control messages between the scheduler (rank 0) and the workers, and chunk requests between workers. All
// travel two-sided on the executor's own communicator with one tag; the first byte says what a message is.
// Bulk data travels either by one-sided gets from the owner's chunk arena, or (two-sided path) as the owner's
// answer to a kRequest on kChunkDataTag, or (two-sided, small results) pushed on kChunkPushTag.
//
// clang-format off
//   scheduler -> worker
//     kAssign    u32 n, n x { u32 task, u8 flags, u32 r, r x Remote }  run these (when their inputs are there)
//     kRelease   u32 n, n x u32 task                                   drop these results
//     kSpill     u32 n, n x { u32 task, u8 kind }                      memory limit: write these results to
//                                                                      disk (kSpillToDisk) or drop these
//                                                                      fetched copies (kDropCopy)
//     kFinish    u32 n, n x OutputInfo                                 all done: broadcast the outputs
//     kAbort     ErrorInfo                                             a task failed: stop, then report
//     kAbortDone (empty)                                               every worker stopped: leave the run
//     kPush      u32 n, n x { u32 task, i32 reader }                   send these results of yours to these
//                                                                      readers unasked (kChunkPushTag)
//   worker -> scheduler
//     kComplete  u32 n, n x { u32 task, Location, [u32 k, k bytes],   finished; r = results fetched as copies;
//                             f32 seconds, u32 r, r x u32 dep }      the bytes follow when Location has kInline
//     kError     ErrorInfo                                             a task failed here
//     kAborted   (empty)                                               stopped after kAbort, own fetches done
//   worker -> worker (two-sided path, and results spilled to disk whatever the path)
//     kRequest   u32 task, u64 bytes     send me this result: the owner answers with ceil(bytes / 1 GiB)
//                                        messages on kChunkDataTag, in order (MPI keeps messages between two
//                                        ranks on one tag in order, so the reader's receives, posted before
//                                        the request, match them); a message of 0 bytes means "not here".
//   Inline results: a Remote in kAssign is { u32 dep, i32 rank, Location, [u32 k, k bytes] } like a kComplete
//   entry: a result of at most MpiExecutorOptions::inline_bytes (<= kMaxInlineBytes) travels to the scheduler
//   with its completion and on with the first assignment of a reader to each worker, so that its reader does
//   not fetch it (a fetch costs a round trip between two workers). Rank 0 keeps at most 64 MiB of them;
//   past that, and for a worker that dropped its copy, the reader fetches as usual.
//   Pushed results: between ranks that fetch two-sided, a result of at most MpiExecutorOptions::push_bytes
//   is not requested by its reader: the scheduler orders its owner (kPush, sent before the assignment) to
//   send it, and marks the Remote kPushed. The bytes then travel while the assignment does, one hop instead
//   of a request/answer round trip after it. They travel as one message of their bytes on kChunkPushTag,
//   sent by the owner straight from its arena (0 bytes: not in its memory; the reader then requests it).
//   The reader posts the receive when it reads the kPushed Remote, whatever it holds by then (a result it
//   has is received and dropped): the scheduler appends a pair's push orders and kPushed Remotes in the same
//   order, each side handles them in that order, and MPI matches one tag's messages between two ranks in
//   order, so each message lands in its own receive without any header. Once per result and worker.
// clang-format on
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "tessera/runtime/error.h"
#include "wire.h"

namespace tessera::mpi {

constexpr int kControlTag = 0x7e55;
constexpr int kChunkDataTag = 0x7e56;
constexpr int kChunkPushTag = 0x7e57;
constexpr std::size_t kMaxInlineBytes = std::size_t{64} << 10;

enum class Msg : std::uint8_t {
  kAssign = 1,
  kRelease = 2,
  kFinish = 3,
  kAbort = 4,
  kAbortDone = 5,
  kSpill = 6,
  kPush = 7,
  kComplete = 10,
  kError = 11,
  kAborted = 12,
  kRequest = 20,
};

// Assignment flags.
constexpr std::uint8_t kLocalOnly = 1;  // every reader runs on the same worker: no need to publish for RMA

// Where a result lives: address in the owner's arena window, encoded size, type tag (0: no value).
struct Location {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
  std::uint64_t tag = 0;
  std::uint8_t flags = 0;  // kNotEncodable
};
constexpr std::uint8_t kNotEncodable = 1;  // the value's type has no Codec: it cannot leave its worker
constexpr std::uint8_t kNotPublished = 2;  // encodable but kept local (kLocalOnly)
constexpr std::uint8_t kSpilled = 4;       // written to the owner's spill file: fetch it on request only
constexpr std::uint8_t kInline = 8;        // on the wire only: the encoded bytes follow this Location
constexpr std::uint8_t kPushed = 16;       // on the wire only, in a Remote: its owner sends it unasked

// kSpill kinds.
constexpr std::uint8_t kSpillToDisk = 0;  // the owner writes its arena bytes to a file and frees memory
constexpr std::uint8_t kDropCopy = 1;     // a fetched copy: drop it (it can be fetched again)

struct Remote {
  std::uint32_t dep = 0;
  std::int32_t rank = 0;
  Location where;
  const std::byte* inline_bytes = nullptr;  // where.bytes encoded bytes, inside the kAssign message
  bool pushed = false;                      // its owner sends it unasked (kChunkPushTag)
};

inline void put(WireWriter& w, const Location& l) {
  w.put(l.address);
  w.put(l.bytes);
  w.put(l.tag);
  w.put(l.flags);
}
inline Location get_location(WireReader& r) {
  Location l;
  l.address = r.get<std::uint64_t>();
  l.bytes = r.get<std::uint64_t>();
  l.tag = r.get<std::uint64_t>();
  l.flags = r.get<std::uint8_t>();
  return l;
}

struct ErrorInfo {
  ErrorCode code = ErrorCode::kInternal;
  std::string key;
  std::string message;
  std::int32_t rank = -1;
  std::int32_t attempts = 1;  // times the task's callable ran
};

inline void put(WireWriter& w, const ErrorInfo& e) {
  w.put(static_cast<std::uint8_t>(e.code));
  w.put_string(e.key);
  w.put_string(e.message);
  w.put(e.rank);
  w.put(e.attempts);
}
inline ErrorInfo get_error(WireReader& r) {
  ErrorInfo e;
  e.code = static_cast<ErrorCode>(r.get<std::uint8_t>());
  e.key = r.get_string();
  e.message = r.get_string();
  e.rank = r.get<std::int32_t>();
  e.attempts = r.get<std::int32_t>();
  return e;
}

// An output of the run: where it is, for kFinish.
struct OutputInfo {
  std::int32_t owner = 0;
  Location where;
};

// How a run ended, as every rank learns it.
struct Outcome {
  std::vector<OutputInfo> outputs;
  std::optional<ErrorInfo> error;
};

// One input of a kAssign entry (its inline bytes point into the message, so it is valid while that is).
inline Remote get_remote(WireReader& r) {
  Remote rem;
  rem.dep = r.get<std::uint32_t>();
  rem.rank = r.get<std::int32_t>();
  rem.where = get_location(r);
  if (rem.where.flags & kPushed) {
    rem.where.flags &= static_cast<std::uint8_t>(~kPushed);
    rem.pushed = true;
  }
  if (rem.where.flags & kInline) {
    rem.where.flags &= static_cast<std::uint8_t>(~kInline);
    const auto k = r.get<std::uint32_t>();
    if (k != rem.where.bytes)
      throw_error(ErrorCode::kInternal, "inline input of ", k, " bytes, said ", rem.where.bytes);
    rem.inline_bytes = r.get_view(k);
  }
  return rem;
}

// One entry of a kAssign message: the task, its flags (kLocalOnly) and the inputs it reads from other workers
// (`remotes` is cleared first; inline bytes point into the message).
inline std::uint32_t get_assignment(WireReader& r, std::uint8_t& flags, std::vector<Remote>& remotes) {
  const auto t = r.get<std::uint32_t>();
  flags = r.get<std::uint8_t>();
  const auto n = r.get<std::uint32_t>();
  remotes.clear();
  for (std::uint32_t k = 0; k < n; ++k) remotes.push_back(get_remote(r));
  return t;
}

// One entry of a kComplete message: task t finished in `seconds`, its result is at `where` (with its encoded
// bytes when `inline_bytes` is given: then where.bytes of them), and the worker now holds fetched copies of
// `copies`.
inline void put_completion(WireWriter& w, std::uint32_t t, const Location& where,
                           const std::byte* inline_bytes, float seconds, const std::uint32_t* copies,
                           std::size_t ncopies) {
  w.put(t);
  if (inline_bytes != nullptr) {
    Location sent = where;
    sent.flags |= kInline;
    put(w, sent);
    w.put(static_cast<std::uint32_t>(where.bytes));
    w.put_bytes(inline_bytes, where.bytes);
  } else {
    put(w, where);
  }
  w.put(seconds);
  w.put(static_cast<std::uint32_t>(ncopies));
  for (std::size_t i = 0; i < ncopies; ++i) w.put(copies[i]);
}

// The exception being handled, as an error report from `rank` (call inside a catch block). `key`: the task
// that was running, if any.
inline ErrorInfo current_error(int rank, std::string key = {}) {
  ErrorInfo e;
  e.rank = rank;
  e.key = std::move(key);
  try {
    throw;
  } catch (const TaskError& x) {
    e.code = x.code();
    e.key = x.task_key();
    e.message = x.original_message();
    e.attempts = x.attempts();
  } catch (const Error& x) {
    e.code = x.code();
    e.message = x.what();
  } catch (const std::bad_alloc&) {
    e.code = ErrorCode::kResourceExhausted;
    e.message = "out of memory (std::bad_alloc)";
  } catch (const std::exception& x) {
    e.message = x.what();
  } catch (...) {
    e.message = "an exception that is not a std::exception";
  }
  if (e.key.empty() && rank > 0) e.message = str_cat("rank ", rank, ": ", e.message);
  return e;
}

}  // namespace tessera::mpi
