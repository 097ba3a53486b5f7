// Moving results between workers, as the worker sees it. Reader side: the inputs of an assigned task that
// live elsewhere are fetched over a transport (transport.h), or copied out of the assignment (inline); the
// fetch bookkeeping (fetches.h) follows them until they arrive, and their arrival starts the tasks that
// waited for them. Owner side: peers' requests are answered in order, from the arena or from the spill file,
// and small results are pushed to their readers as the scheduler orders.
#include <algorithm>
#include <cstring>
#include <exception>

#include "worker.h"

namespace tessera::mpi {

// Starts pulling a remote result (caller holds mu_); returns true if it is here at once (nothing to move).
bool Worker::start_fetch(const Remote& rem) {
  if (rem.where.flags & kNotEncodable) {
    throw_error(ErrorCode::kInternal, "asked to fetch an unencodable result of plan task ", rem.dep);
  }
  if (rem.where.tag == 0) {
    hold_copy(rem.dep, Value());
    return true;
  }
  const detail::TypeOps* ops = detail::find_type(rem.where.tag);
  if (ops == nullptr) {
    throw_error(ErrorCode::kInternal, "worker ", rank_, " cannot decode a result of unknown type tag ",
                rem.where.tag);
  }
  Fetch f;
  f.dep = rem.dep;
  f.ops = ops;
  // Receive straight into the final object when its codec allows; else into bytes decoded afterwards.
  if (ops->receive != nullptr) {
    f.object = ops->receive(rem.where.bytes, &f.destination);
  } else {
    f.buffer.resize(rem.where.bytes);
    f.destination = f.buffer.data();
  }
  if (rem.where.bytes == 0) {
    hold_copy(rem.dep, finish_fetch(f));
    return true;
  }
  if (rem.rank < 1 || rem.rank >= static_cast<int>(rma_target_.size())) {
    throw_error(ErrorCode::kInternal, "result of plan task ", rem.dep, " is said to be on rank ", rem.rank);
  }
  const FetchPath path = fetch_path(rem, rma_target_);
  if (path == FetchPath::kInline) {
    // It came with the assignment: nothing to move.
    std::memcpy(f.destination, rem.inline_bytes, rem.where.bytes);
    hold_copy(rem.dep, finish_fetch(f));
    stats_.bytes_inline += rem.where.bytes;
    stats_.bytes_fetched += rem.where.bytes;
    stats_.bytes_from[static_cast<std::size_t>(rem.rank)] += rem.where.bytes;
    return true;
  }
  f.started = Clock::now();
  f.owner = rem.rank;
  f.bytes = rem.where.bytes;
  f.two_sided = path == FetchPath::kRequest;
  if (f.two_sided) {
    fetches_.start(std::move(f), request_);
    stats_.bytes_two_sided += rem.where.bytes;
  } else {
    fetches_.start(std::move(f), rma_, rem.where.address);
    stats_.bytes_rma += rem.where.bytes;
  }
  stats_.bytes_fetched += rem.where.bytes;
  stats_.bytes_from[static_cast<std::size_t>(rem.rank)] += rem.where.bytes;
  return false;
}

// Reader, comm thread, caller holds mu_: an assignment says the owner sends this input unasked (kPush).
// Posts the receive at once, for every such input in the order they come, whatever this worker holds: the
// owner sends one message per order, in the order of its orders, and MPI matches messages between two
// ranks on one tag in order. One this worker does not need (it holds the result or fetches it already) is
// received into scratch space and dropped; so is one it cannot take (unknown type, no memory for the
// object): the assignment then fetches it as usual, which reports the error.
void Worker::expect_push(const Remote& rem) {
  if (rem.rank < 1 || rem.rank >= static_cast<int>(rma_target_.size()) || rem.rank == rank_ ||
      rem.where.bytes == 0 || rem.where.bytes > kMaxInlineBytes || rem.inline_bytes != nullptr) {
    throw_error(ErrorCode::kInternal, "told that rank ", rem.rank, " pushes ", rem.where.bytes,
                " bytes of plan task ", rem.dep);
  }
  Fetch f;
  f.dep = rem.dep;
  f.owner = rem.rank;
  f.bytes = rem.where.bytes;
  f.two_sided = true;
  f.pushed = true;
  f.started = Clock::now();
  const detail::TypeOps* ops = detail::find_type(rem.where.tag);
  f.discard = held_.count(rem.dep) != 0 || fetches_.fetching(rem.dep) || ops == nullptr ||
              (rem.where.flags & kNotEncodable) != 0;
  if (!f.discard) {
    f.ops = ops;
    try {
      if (ops->receive != nullptr) {
        f.object = ops->receive(rem.where.bytes, &f.destination);
      } else {
        f.buffer.resize(rem.where.bytes);
        f.destination = f.buffer.data();
      }
    } catch (...) {
      f.discard = true;
      f.object.reset();
    }
  }
  if (f.discard) {
    f.buffer.resize(rem.where.bytes);
    f.destination = f.buffer.data();
  } else {
    stats_.bytes_two_sided += rem.where.bytes;
    stats_.bytes_fetched += rem.where.bytes;
    stats_.bytes_from[static_cast<std::size_t>(rem.rank)] += rem.where.bytes;
  }
  fetches_.start(std::move(f), push_);
}

// Owner, comm thread, caller holds mu_: sends result t to `reader` unasked (kPush), straight from its arena
// block. Always sends one message, of 0 bytes if t is not in memory here (the reader then requests it, and
// it is served from the spill file).
void Worker::push(std::uint32_t t, int reader) {
  if (reader < 1 || reader >= static_cast<int>(rma_target_.size()) || reader == rank_) {
    throw_error(ErrorCode::kInternal, "asked to push the result of plan task ", t, " to rank ", reader);
  }
  auto it = held_.find(t);
  const bool here = it != held_.end() && it->second.block.data != nullptr && it->second.block.bytes > 0 &&
                    it->second.block.bytes <= kMaxInlineBytes;
  const std::uint64_t bytes = here ? it->second.block.bytes : 0;
  sends_.push(t, reader, here ? it->second.block.data : nullptr, bytes);
}

// A fetch has its bytes (caller holds mu_): hold the copy and start what waited for it.
void Worker::complete(Fetch& f, Clock::time_point now) {
  if (record_.enabled) {
    transfers_.add(TransferEvent{f.dep, f.owner, rank_, since_origin(f.started), since_origin(now), f.bytes,
                                 f.two_sided});
  }
  stats_.fetch_seconds += std::chrono::duration<double>(now - f.started).count();
  fetches_.arrived(f.dep);
  hold_copy(f.dep, finish_fetch(f));
  satisfy(f.dep);
  wake_compute();
}

Value Worker::finish_fetch(Fetch& f) {
  if (f.object) {
    // The object was made by ops->receive for this fetch and is not shared yet.
    if (f.ops->finish_receive != nullptr) f.ops->finish_receive(const_cast<void*>(f.object.get()));
    return Value::adopt(std::move(f.object), *f.ops);
  }
  return Value::decode(*f.ops, f.buffer.data(), f.buffer.size());
}

void Worker::hold_copy(std::uint32_t dep, Value v) {
  const std::uint64_t tag = v.ops() != nullptr ? v.ops()->tag : 0;
  held_.emplace(dep, Held{std::move(v), {}, tag, 0});
  copies_.push_back(dep);
}

// Comm thread: completes finished fetches and starts what waited for them.
bool Worker::progress_fetches() {
  return fetches_.progress([this](Fetch& f, std::uint64_t got) {
    if (f.pushed) {
      if (got == 0) {
        // Not in its owner's memory: ask (the owner serves it from its spill file).
        f.pushed = false;
        f.requests.clear();
        fetches_.start(std::move(f), request_);
        return;
      }
      if (got != f.bytes) {
        throw_error(ErrorCode::kInternal, "rank ", f.owner, " pushed ", got, " bytes of the result of ",
                    graph_.key_string(plan_.result_task(f.dep)), ", said ", f.bytes);
      }
      stats_.bytes_pushed += got;
    } else if (f.two_sided && got != f.bytes) {
      // The owner answers a request it cannot serve with empty messages: fail the run rather than use the
      // bytes.
      throw_error(ErrorCode::kInternal, "rank ", f.owner, " answered the request for the result of ",
                  graph_.key_string(plan_.result_task(f.dep)), " with ", got, " of ", f.bytes,
                  " bytes: it does not hold that result");
    }
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    complete(f, now);
  });
}

// Comm thread, caller holds mu_: sends result t's bytes to `reader`, which posted its receives. Answers to
// one reader must go in the order of its requests (its receives match them in order), so once one waits
// for a spill file to be read, later answers to that reader queue behind it.
void Worker::serve(std::uint32_t t, std::uint64_t bytes, int reader) {
  auto it = held_.find(t);
  const bool here = it != held_.end() && it->second.block.data != nullptr && it->second.block.bytes == bytes;
  const bool in_file = !here && it != held_.end() && it->second.file_bytes == bytes;
  const bool behind = std::any_of(queued_serves_.begin(), queued_serves_.end(),
                                  [reader](const QueuedServe& q) { return q.reader == reader; });
  if (in_file || behind) {
    queued_serves_.push_back(QueuedServe{t, bytes, reader});  // serve_queued, without the lock
    return;
  }
  sends_.answer(t, bytes, reader, here ? it->second.block.data : nullptr, {});
}

// Comm thread, called without mu_: answers the queued requests in order, reading spilled results from
// their files without the lock. A file that cannot be read is answered "not here" (so its reader is not
// left waiting) and then fails the run here.
bool Worker::serve_queued() {
  if (queued_serves_.empty()) return false;
  std::vector<QueuedServe> todo;
  todo.swap(queued_serves_);
  std::exception_ptr error;
  for (const QueuedServe& q : todo) {
    std::unique_lock lock(mu_);
    auto it = held_.find(q.dep);
    const bool here =
        it != held_.end() && it->second.block.data != nullptr && it->second.block.bytes == q.bytes;
    const bool in_file = !here && it != held_.end() && it->second.file_bytes == q.bytes;
    if (!in_file || error) {
      sends_.answer(q.dep, q.bytes, q.reader, here && !error ? it->second.block.data : nullptr, {});
      continue;
    }
    lock.unlock();
    std::vector<std::byte> staging(q.bytes);
    try {
      spill_.read_bytes(q.dep, staging.data(), q.bytes);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error) {
      sends_.answer(q.dep, q.bytes, q.reader, nullptr, {});
    } else {
      sends_.answer(q.dep, q.bytes, q.reader, nullptr, std::move(staging));
    }
  }
  if (error) std::rethrow_exception(error);
  return true;
}

}  // namespace tessera::mpi
