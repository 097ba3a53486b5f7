// The worker's compute threads: they take ready tasks in plan priority order, run them, publish their results
// for other workers, start the local tasks that waited for them and queue their completion reports.
#include <sched.h>

#include <algorithm>
#include <optional>

#include "../task_runner.h"
#include "worker.h"

namespace tessera::mpi {

void Worker::compute_loop(int thread) {
  detail::TaskRunner runner(graph_, plan_, rank_);
  detail::ThreadRecorder* recorder =
      record_.enabled ? &recorders_[static_cast<std::size_t>(thread)] : nullptr;
  std::vector<Value> inputs;
  // Waits for work are timed with the TSC (about 10 ns a read where steady_clock takes 25; a worker may
  // wait before every task) and handed to the recorder in nanoseconds when the thread leaves the run.
  detail::TickScale idle_scale;
  idle_scale.start();
  std::uint64_t idle_ticks = 0;
  std::unique_lock lock(mu_);
  while (true) {
    const std::uint64_t idle_from = recorder && ready_.empty() ? detail::ticks() : 0;
    // Tasks assigned here that wait for inputs (being fetched, or made by tasks running here).
    const bool expecting = assigned_.size() > static_cast<std::size_t>(running_) + ready_.size();
    if (expecting && ready_.empty() && !stopping_) {
      // Spin briefly before parking: a futex wake-up costs more than a short task. Not when nothing is
      // on its way: new work then needs a message from the scheduler, and a spinning thread would take a
      // core from the threads moving messages and bytes (ranks often share cores).
      lock.unlock();
      for (int i = 0; i < 2048 && ready_hint_.load(std::memory_order_relaxed) == 0; ++i) {
        if (i % 32 == 31) sched_yield();
      }
      lock.lock();
    }
    work_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
    if (idle_from != 0) {
      const std::uint64_t now = detail::ticks();
      if (now > idle_from) idle_ticks += now - idle_from;  // cores' counters may disagree in a VM
    }
    if (stopping_ || ready_.empty()) break;
    std::pop_heap(ready_.begin(), ready_.end(), std::greater<>());
    const std::uint32_t t = ready_.back();
    ready_.pop_back();
    ready_hint_.store(static_cast<int>(ready_.size()), std::memory_order_relaxed);
    const std::uint8_t flags = assigned_.at(t).flags;
    inputs.clear();
    for (std::uint32_t d : plan_.dependencies(t)) inputs.push_back(held_.at(d).value);
    ++running_;
    lock.unlock();

    const auto start = Clock::now();
    Value result;
    Location where;
    ChunkArena::Block block;
    std::optional<ErrorInfo> error;
    try {
      result = runner.run_with_inputs(t, inputs, thread);
      inputs.clear();
      publish(result, flags, where, block);
    } catch (...) {
      error = current_error(rank_, graph_.key_string(plan_.result_task(t)));
    }
    const auto end = Clock::now();
    const float seconds = std::chrono::duration<float>(end - start).count();
    if (recorder && !error) {
      recorder->task(t, ns_since_origin(start), ns_since_origin(end),
                     where.bytes != 0 ? where.bytes : detail::result_bytes(result));
    }

    lock.lock();
    --running_;
    if (error) {
      fail(std::move(*error));
      continue;
    }
    ++stats_.tasks;
    held_bytes_ += block.bytes;
    held_.emplace(t, Held{std::move(result), block, where.tag, 0});
    assigned_.erase(t);
    const bool small = where.bytes > 0 && where.bytes <= inline_bytes_ && where.flags == 0 && block.data;
    put_completion(report_, t, where, small ? block.data : nullptr, seconds, copies_.data(), copies_.size());
    copies_.clear();
    if (report_count_++ == 0) comm_cv_.notify_one();
    const std::size_t before = ready_.size();
    satisfy(t);
    if (ready_.size() > before + 1) work_cv_.notify_all();  // this thread takes one; wake others for the rest
  }
  stats_.graph_tasks += runner.members_run();
  stats_.attempts += runner.attempts();
  if (recorder != nullptr) {
    idle_scale.finish();
    recorder->idle(static_cast<std::uint64_t>(idle_scale.span(0, idle_ticks) * 1e9));
  }
}

// Publishes t's result for other workers unless every reader is local; fills `where`.
void Worker::publish(const Value& result, std::uint8_t flags, Location& where, ChunkArena::Block& block) {
  const detail::TypeOps* ops = result.ops();
  if (ops == nullptr || !result.has_value()) return;
  where.tag = ops->tag;
  if (ops->encode == nullptr) {
    where.flags = kNotEncodable;
  } else if (flags & kLocalOnly) {
    where.flags = kNotPublished;
  } else {
    const std::size_t n = ops->encoded_size(result.data());
    block = arena_.allocate(n);
    try {
      ops->encode(result.data(), block.data);
    } catch (...) {
      arena_.release(block);
      block = {};
      throw;
    }
    // The RMA memory model asks for a sync between local stores and remote gets in a passive epoch.
    if (arena_.has_window()) TESSERA_MPI_CHECK(MPI_Win_sync(arena_.window()));
    published_.fetch_add(n, std::memory_order_relaxed);
    where.bytes = n;
    where.address = static_cast<std::uint64_t>(block.address);
  }
}

}  // namespace tessera::mpi
