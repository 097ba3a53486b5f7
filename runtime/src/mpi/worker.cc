// The worker's communication loop: it handles the scheduler's messages (assignments, releases, spill orders,
// pushes and requests of peers, the end of the run), drives fetches and sends, and reports completions and
// errors to the scheduler in batches; after an abort it keeps serving peers until every worker is done.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>

#include "../trace/process_info.h"
#include "worker.h"

namespace tessera::mpi {

Worker::Worker(const Graph& graph, const Plan& plan, MPI_Comm comm, ChunkArena& arena,
               const std::vector<int>& rma_target, int rank, int ranks, int threads, const Topology* topology,
               const WorkerBinding* binding, const RecordOptions& record, const MemoryOptions& memory,
               std::size_t inline_bytes, detail::RecordingPool* pool, Clock::time_point origin)
    : record_(record),
      inline_bytes_(inline_bytes),
      origin_(origin),
      transfers_(record.enabled ? per_worker(record.max_transfers, ranks) : 0),
      resources_(record.sample_seconds),
      graph_(graph),
      plan_(plan),
      comm_(comm),
      arena_(arena),
      rma_target_(rma_target),
      rank_(rank),
      two_sided_peers_(std::any_of(rma_target.begin() + 1, rma_target.end(), [](int t) { return t < 0; })),
      msg_(comm),
      rma_(arena, rma_target, stats_),
      request_(comm, msg_, stats_),
      push_(comm),
      sends_(comm, stats_),
      spill_(memory.spill_dir) {
  stats_.rank = rank;
  stats_.threads = threads;
  stats_.bytes_from.assign(static_cast<std::size_t>(ranks), 0);
  if (record_.enabled) {
    recorders_.resize(static_cast<std::size_t>(threads));
    // The caps hold for the whole run: rank 0 gathers every worker's share, and must stay bounded however
    // many workers there are (each thread gets its part of this worker's part; a run that fits keeps all).
    const detail::EventCaps caps = detail::event_caps(
        record_.max_events, plan.size(),
        static_cast<std::size_t>(std::max(ranks - 1, 1)) * static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i)
      // Event buffers from the executor's pool: pages written by earlier runs, not fresh ones.
      recorders_[static_cast<std::size_t>(i)].begin(graph, plan, i, caps.cap, caps.expected, pool);
    resources_.add(0, detail::sample_resources(rank, 0, 0));
    spill_log_.begin(per_worker(record_.max_transfers, ranks));
    spill_.record_to(&spill_log_);
  }
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i, topology, binding] {
      if (topology != nullptr && binding != nullptr && !binding->cores.empty()) {
        topology->bind_thread_to_core(binding->cores[static_cast<std::size_t>(i) % binding->cores.size()]);
        topology->bind_memory(binding->numa_domains);
      }
      compute_loop(i);
    });
  }
}

Worker::~Worker() {
  stop_threads();
  for (auto& [t, h] : held_) arena_.release(h.block);
}

Outcome Worker::run() {
  std::vector<std::byte> buf;
  std::vector<std::byte> report;
  // A peer fetching two-sided waits for this thread to notice its request: stay within tens of µs. Linux
  // lets a short sleep overrun by the thread's timer slack (50 µs by default): make that 1 µs, so that a
  // 25 µs nap lasts about 25 µs.
  Backoff backoff(two_sided_peers_ ? 25 : 205);
  const auto idle_wait = std::chrono::microseconds(two_sided_peers_ ? 25 : 200);
  const int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  if (two_sided_peers_) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  struct RestoreSlack {
    int ns;
    ~RestoreSlack() {
      if (ns > 0) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(ns), 0, 0, 0);
    }
  } restore{two_sided_peers_ ? slack : 0};
  while (!outcome_) {
    bool active = false;
    int source = 0;
    if (record_.enabled) sample_if_due();
    try {
      while (!outcome_ && msg_.poll(buf, source)) {
        active = true;
        {
          std::unique_lock lock(mu_);
          handle(buf, source, &lock);
        }
        // A small get may be complete already: see it before the next probe (not once told to stop: it
        // would start a task).
        if (!outcome_ && !fetches_.empty()) progress_fetches();
      }
      if (outcome_) break;
      active |= read_back_spilled();
      active |= serve_queued();
      active |= progress_fetches();
      active |= send_reports(report);
      sends_.progress();
      msg_.progress();
    } catch (const Failure& e) {
      abort_job(comm_, e.what());
    } catch (...) {
      // Whatever failed here is reported like a task failure; the scheduler answers with kAbort.
      ErrorInfo e = current_error(rank_);
      {
        std::lock_guard lock(mu_);
        fail(std::move(e));
      }
      send_reports(report);
      continue;
    }
    if (active) {
      backoff.reset();
      continue;
    }
    if (!fetches_.empty() || !sends_.empty() || !msg_.idle()) {
      // A transfer is in flight (a fetch, an answer, a push either way): notice its completion promptly,
      // and keep MPI progressing it (over TCP a large send moves only while its sender calls MPI); yield
      // only once it takes long.
      if (++fetch_spins_ > 64) sched_yield();
      continue;
    }
    fetch_spins_ = 0;
    std::unique_lock lock(mu_);
    if (ready_.empty() && running_ < static_cast<int>(threads_.size())) {
      // Threads are idle waiting for work: the next message from the scheduler matters most. While a task
      // runs, its completion must not wait for the end of a nap (they grow to 205 µs): nap on the condition
      // variable it signals.
      const int us = backoff.step();
      if (us > 0 && running_ > 0) {
        comm_cv_.wait_for(lock, std::chrono::microseconds(us), [&] { return report_count_ > 0 || failure_; });
      } else if (us > 0) {
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::microseconds(us));
      }
    } else {
      comm_cv_.wait_for(lock, idle_wait, [&] { return report_count_ > 0 || failure_; });
    }
  }
  if (outcome_->error) {
    // Stop: drop what has not started, let running tasks finish, complete our gets, then say so.
    {
      std::lock_guard lock(mu_);
      failed_ = true;  // tasks finishing now start no successors
      ready_.clear();
      ready_hint_.store(0, std::memory_order_relaxed);
    }
    stop_threads();
    drain_after_abort(buf, backoff);
  } else {
    stop_threads();
    // Pushes of results this worker had got another way may still be on their way: receive them, so that
    // their senders' sends complete.
    while (!fetches_.empty()) {
      if (!fetches_.drop_completed()) backoff.pause();
      msg_.progress();
    }
  }
  sends_.wait_all();
  msg_.wait_all();
  stats_.bytes_published = published_.load();  // compute threads are stopped: the count is final
  return std::move(*outcome_);
}

detail::RankRecording Worker::take_recording() {
  detail::TickScale ns;  // compute threads record steady_clock nanoseconds since the origin
  detail::RankRecording rec = detail::collect(recorders_, ns, rank_);
  const double t = std::chrono::duration<double>(Clock::now() - origin_).count();
  resources_.add(t, detail::sample_resources(rank_, t, held_bytes_));
  rec.resources = std::move(resources_.samples());
  rec.transfers_sampled = transfers_.sampled();
  rec.transfers = std::move(transfers_.items());
  spill_log_.take(origin_, rec);
  return rec;
}

// The first failure here goes to the scheduler, which answers with kAbort; until then nothing new starts.
void Worker::fail(ErrorInfo info) {
  if (failed_) return;
  failed_ = true;
  failure_ = std::move(info);
  ready_.clear();
  ready_hint_.store(0, std::memory_order_relaxed);
  comm_cv_.notify_one();
}

// Caller holds mu_ through `lock` (which spilling releases while it writes a file; nullptr: no spill
// order can come, as after kAbort).
void Worker::handle(const std::vector<std::byte>& buf, int source, std::unique_lock<std::mutex>* lock) {
  WireReader r(buf.data(), buf.size());
  const auto kind = static_cast<Msg>(r.get<std::uint8_t>());
  switch (kind) {
    case Msg::kAssign: {
      const auto n = r.get<std::uint32_t>();
      // First the receives of every pushed input of the message, whatever becomes of the assignments (an
      // input that cannot be decoded ends the run half-way through them): the owners send those bytes in
      // any case, and a send nobody receives would hang its owner or land in the next run's receive. Only
      // peers fetching two-sided push.
      WireReader pushes = r;
      for (std::uint32_t i = 0; two_sided_peers_ && i < n; ++i) {
        pushes.get<std::uint32_t>();
        pushes.get<std::uint8_t>();
        const auto nremote = pushes.get<std::uint32_t>();
        for (std::uint32_t k = 0; k < nremote; ++k) {
          const Remote rem = read_remote(pushes);
          if (rem.pushed) expect_push(rem);
        }
      }
      for (std::uint32_t i = 0; i < n; ++i) on_assign(r);
      wake_compute();
      break;
    }
    case Msg::kRelease: {
      const auto n = r.get<std::uint32_t>();
      for (std::uint32_t i = 0; i < n; ++i) {
        auto it = held_.find(r.get<std::uint32_t>());
        if (it == held_.end()) continue;
        sends_.wait(it->first);  // the reader has its bytes, but MPI may not have let go of ours yet
        held_bytes_ -= it->second.block.bytes;
        arena_.release(it->second.block);
        if (it->second.file_bytes > 0) spill_.remove(it->first);
        held_.erase(it);
      }
      break;
    }
    case Msg::kSpill: {
      const auto n = r.get<std::uint32_t>();
      for (std::uint32_t i = 0; i < n; ++i) {
        const auto t = checked(r.get<std::uint32_t>());
        const auto kind = r.get<std::uint8_t>();
        if (lock == nullptr) throw_error(ErrorCode::kInternal, "spill order after the run stopped");
        spill(t, kind, *lock);
      }
      break;
    }
    case Msg::kFinish: {
      Outcome o;
      const auto n = r.get<std::uint32_t>();
      for (std::uint32_t i = 0; i < n; ++i) {
        OutputInfo info;
        info.owner = r.get<std::int32_t>();
        info.where = get_location(r);
        o.outputs.push_back(info);
      }
      outcome_ = std::move(o);
      break;
    }
    case Msg::kAbort: {
      Outcome o;
      o.error = get_error(r);
      outcome_ = std::move(o);
      break;
    }
    case Msg::kAbortDone:
      abort_done_ = true;
      break;
    case Msg::kRequest: {
      const auto t = checked(r.get<std::uint32_t>());
      serve(t, r.get<std::uint64_t>(), source);
      break;
    }
    case Msg::kPush: {
      const auto n = r.get<std::uint32_t>();
      for (std::uint32_t i = 0; i < n; ++i) {
        const auto t = checked(r.get<std::uint32_t>());
        push(t, r.get<std::int32_t>());
      }
      break;
    }
    default:
      throw_error(ErrorCode::kInternal, "worker ", rank_, " got unexpected message ", static_cast<int>(kind));
  }
}

std::uint32_t Worker::checked(std::uint32_t t) const {
  if (t >= plan_.size()) {
    throw_error(ErrorCode::kInternal, "control message names task ", t, " of a ", plan_.size(), "-task plan");
  }
  return t;
}

void Worker::on_assign(WireReader& r) {
  const auto t = checked(r.get<std::uint32_t>());
  const auto flags = r.get<std::uint8_t>();
  const auto nremote = r.get<std::uint32_t>();
  remotes_.clear();
  for (std::uint32_t k = 0; k < nremote; ++k) remotes_.push_back(read_remote(r));
  Assigned& a = assigned_.emplace(t, Assigned{0, flags}).first->second;
  seen_.clear();
  for (std::uint32_t d : plan_.dependencies(t)) {
    if (std::find(seen_.begin(), seen_.end(), d) != seen_.end()) continue;
    seen_.push_back(d);
    if (auto h = held_.find(d); h != held_.end()) {
      if (h->second.value.has_value() || h->second.file_bytes == 0) continue;
      // Spilled here: the communication thread reads it back (read_back_spilled) before t can run.
      if (reading_back_.insert(d).second) read_back_.push_back(d);
      waiters_[d].push_back(t);
      ++a.pending;
      continue;
    }
    auto rem = std::find_if(remotes_.begin(), remotes_.end(), [d](const Remote& x) { return x.dep == d; });
    if (rem != remotes_.end() && !fetches_.fetching(d) && start_fetch(*rem)) continue;
    waiters_[d].push_back(t);
    ++a.pending;
  }
  remotes_.clear();  // its inline bytes point into the message being handled
  if (a.pending == 0) make_ready(t);
}

// One input of an assignment (its inline bytes point into the message).
Remote Worker::read_remote(WireReader& r) const {
  Remote rem = get_remote(r);
  checked(rem.dep);
  return rem;
}

// After kAbort, with the compute threads stopped: completes our fetches (their bytes are dropped), says so
// to the scheduler, and keeps answering peers' requests until the scheduler says every worker is done:
// two workers fetching from each other would otherwise wait for each other forever.
void Worker::drain_after_abort(std::vector<std::byte>& buf, Backoff& backoff) {
  bool confirmed = false;
  backoff.reset();
  while (!abort_done_) {
    bool active = false;
    int source = 0;
    while (!abort_done_ && msg_.poll(buf, source)) {
      active = true;
      const auto kind = static_cast<Msg>(buf.at(0));
      if (kind == Msg::kRequest || kind == Msg::kPush || kind == Msg::kAbortDone) {
        std::lock_guard lock(mu_);
        handle(buf, source, nullptr);
      }
    }
    try {
      active |= serve_queued();
    } catch (...) {
      // The run has failed already; the reader got its "not here" answer.
    }
    active |= fetches_.drop_completed();
    if (!confirmed && fetches_.empty()) {
      WireWriter out;
      out.put(static_cast<std::uint8_t>(Msg::kAborted));
      msg_.send(0, std::move(out.bytes()));
      confirmed = true;
    }
    sends_.progress();
    msg_.progress();
    if (active) {
      backoff.reset();
    } else {
      backoff.pause();
    }
  }
}

// Sends the failure or the completions gathered since the last call; true if it sent something.
bool Worker::send_reports(std::vector<std::byte>& report) {
  std::optional<ErrorInfo> failure;
  std::uint32_t count = 0;
  {
    std::lock_guard lock(mu_);
    if (failure_ && !failure_sent_) {
      failure = failure_;
      failure_sent_ = true;
    }
    if (report_count_ > 0) {
      report.swap(report_.bytes());
      report_.clear();
      count = report_count_;
      report_count_ = 0;
    }
  }
  if (failure) {
    WireWriter out;
    out.put(static_cast<std::uint8_t>(Msg::kError));
    put(out, *failure);
    msg_.send(0, std::move(out.bytes()));
  }
  if (count > 0) {
    WireWriter out;
    out.put(static_cast<std::uint8_t>(Msg::kComplete));
    out.put(count);
    out.put_bytes(report.data(), report.size());
    msg_.send(0, std::move(out.bytes()));
    report.clear();
  }
  return failure.has_value() || count > 0;
}

void Worker::stop_threads() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

// Comm thread: a memory sample every RecordOptions::sample_seconds (20 ms by default), so the clock is read
// only every 16 rounds (a round lasts at most one nap).
void Worker::sample_if_due() {
  if ((++sample_rounds_ & 15) != 0) return;
  const double t = since_origin(Clock::now());
  if (!resources_.due(t)) return;
  std::uint64_t live = 0;
  {
    std::lock_guard lock(mu_);
    live = held_bytes_;
  }
  resources_.add(t, detail::sample_resources(rank_, t, live));
}

}  // namespace tessera::mpi
