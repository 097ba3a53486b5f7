// The MPI executor: rank 0 schedules, every other rank is a worker.
//
// Scheduler (rank 0). Keeps, per plan task, how many dependencies are unfinished, how many readers remain,
// where it is assigned or held, and where its encoded result lives. Ready tasks go, in plan priority order,
// to the node holding most of their input bytes and there to the worker holding most (if it is not
// overloaded), else to the least occupied worker with room on that node, then anywhere (placement.h); roots
// go in consecutive blocks to one worker at a time, so siblings of a reduction meet on one worker. A task
// whose only reader is a single task is assigned together with that reader when the reader's other inputs
// are already placed there ("pre-assignment"): chains and reduction subtrees then run on one worker without
// a round trip per task, and their intermediates are never published for RMA. Results are released on every
// holder when their last reader finished.
//
// Worker (ranks 1..N-1). Its main thread talks to the scheduler, drives fetches and answers other workers'
// chunk requests; compute threads, pinned to the cores of the worker's NUMA binding, run tasks as their
// inputs arrive, and publish results into the worker's chunk arena for other workers to fetch: by MPI_Rget
// where the arena is attached to a dynamic window both ranks share, else by asking the owner, whose main
// thread sends the bytes (two-sided path; chosen once at start-up, see MpiExecutor::choose_transfer).
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "../spill_store.h"
#include "../task_runner.h"
#include "../trace/process_info.h"
#include "../trace/progress_groups.h"
#include "../trace/sampling.h"
#include "../trace/spill_log.h"
#include "chunk_arena.h"
#include "messenger.h"
#include "mpi_env.h"
#include "protocol.h"
#include "scheduler.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/mpi_executor.h"
#include "tessera/runtime/stop.h"
#include "tessera/runtime/topology.h"
#include "trace_wire.h"

namespace tessera {
namespace mpi {
namespace {

constexpr std::uint32_t kNone = 0xFFFFFFFFu;
constexpr std::size_t kMaxGet = std::size_t{1} << 30;  // MPI counts are int: move big results in 1 GiB pieces

using Clock = std::chrono::steady_clock;

// Identifies a plan over every rank: names, indexes and edges, in plan order.
std::uint64_t fingerprint(const Graph& graph, const Plan& plan) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  mix(plan.size());
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    for (TaskId t : plan.members(p)) {
      for (char c : graph.name_of(t)) mix(static_cast<unsigned char>(c));
      for (std::int32_t i : graph.index_of(t)) mix(static_cast<std::uint32_t>(i));
    }
    for (std::uint32_t d : plan.dependencies(p)) mix(d);
  }
  for (std::uint32_t o : plan.outputs()) mix(o);
  return h;
}

std::string type_name_of_tag(std::uint64_t tag) {
  const detail::TypeOps* ops = detail::find_type(tag);
  return ops ? detail::demangle(ops->type) : str_cat("type #", tag);
}

// ---------------------------------------------------------------------------------------------------------------
// Worker

struct Held {
  Value value;                   // empty while only on disk
  ChunkArena::Block block;       // the published bytes (none for copies, local-only results, or once spilled)
  std::uint64_t tag = 0;         // the value's type tag
  std::uint64_t file_bytes = 0;  // > 0: in this worker's spill file (also once read back)
};

// One worker's run. Compute threads (pinned to the worker's cores) take runnable tasks in plan priority
// order, run them, publish their results into the chunk arena, start local successors themselves and queue a
// completion report; the calling thread is the communication thread: it handles the scheduler's messages,
// drives one-sided gets and sends completion reports in batches. Shared state is guarded by one mutex.
class Worker {
 public:
  // rma_target[r]: the rank naming world rank r in the arena's window, or -1 to fetch from r two-sided.
  Worker(const Graph& graph, const Plan& plan, MPI_Comm comm, ChunkArena& arena,
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

  static std::size_t per_worker(std::size_t run_cap, int ranks) {
    return std::max<std::size_t>(1, run_cap / static_cast<std::size_t>(std::max(ranks - 1, 1)));
  }

  ~Worker() {
    stop_threads();
    for (auto& [t, h] : held_) arena_.release(h.block);
  }

  Outcome run() {
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
        progress_serves();
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
      if (!fetches_.empty() || !serves_.empty() || !msg_.idle()) {
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
          comm_cv_.wait_for(lock, std::chrono::microseconds(us),
                            [&] { return report_count_ > 0 || failure_; });
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
        if (!drop_completed_fetches()) backoff.pause();
        msg_.progress();
      }
    }
    wait_serves(kNone);
    msg_.wait_all();
    stats_.bytes_published = published_.load();  // compute threads are stopped: the count is final
    return std::move(*outcome_);
  }

  bool recording() const noexcept { return record_.enabled; }
  // What this worker recorded (after run()), times in seconds since the run's origin.
  detail::RankRecording take_recording() {
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

  // The result of task t if this worker holds it (valid after run()).
  const Held* held(std::uint32_t t) const {
    auto it = held_.find(t);
    return it == held_.end() ? nullptr : &it->second;
  }

  struct Stats : WorkerStats {
    std::uint64_t graph_tasks = 0;
    std::uint64_t attempts = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Fetch {
    std::uint32_t dep = 0;
    const detail::TypeOps* ops = nullptr;
    std::shared_ptr<const void> object;  // in-place receive target, or
    std::vector<std::byte> buffer;       // bytes to decode
    std::byte* destination = nullptr;
    std::vector<MPI_Request> requests;
    Clock::time_point started;
    bool two_sided = false;
    bool pushed = false;   // its owner sends it unasked (kChunkPushTag)
    bool discard = false;  // a push of something this worker had already: received only to be dropped
    int owner = 0;
    std::uint64_t bytes = 0;
  };
  // Bytes being sent to a reader from the arena block of result `dep`.
  struct Serve {
    std::uint32_t dep = 0;
    std::vector<MPI_Request> requests;
    std::vector<std::byte> staging;  // bytes read from a spill file (else they are in the arena)
  };
  // A request answered later, in order (see serve()).
  struct QueuedServe {
    std::uint32_t dep = 0;
    std::uint64_t bytes = 0;
    int reader = 0;
  };
  struct Assigned {
    std::int32_t pending;  // inputs not here yet
    std::uint8_t flags;
  };

  // The first failure here goes to the scheduler, which answers with kAbort; until then nothing new starts.
  void fail(ErrorInfo info) {
    if (failed_) return;
    failed_ = true;
    failure_ = std::move(info);
    ready_.clear();
    ready_hint_.store(0, std::memory_order_relaxed);
    comm_cv_.notify_one();
  }

  // Caller holds mu_ through `lock` (which spilling releases while it writes a file; nullptr: no spill
  // order can come, as after kAbort).
  void handle(const std::vector<std::byte>& buf, int source, std::unique_lock<std::mutex>* lock) {
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
          wait_serves(it->first);  // the reader has its bytes, but MPI may not have let go of ours yet
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
        throw_error(ErrorCode::kInternal, "worker ", rank_, " got unexpected message ",
                    static_cast<int>(kind));
    }
  }

  std::uint32_t checked(std::uint32_t t) const {
    if (t >= plan_.size()) {
      throw_error(ErrorCode::kInternal, "control message names task ", t, " of a ", plan_.size(),
                  "-task plan");
    }
    return t;
  }

  void on_assign(WireReader& r) {
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
      if (rem != remotes_.end() && !fetching_.count(d) && start_fetch(*rem)) continue;
      waiters_[d].push_back(t);
      ++a.pending;
    }
    remotes_.clear();  // its inline bytes point into the message being handled
    if (a.pending == 0) make_ready(t);
  }

  // One input of an assignment (its inline bytes point into the message).
  Remote read_remote(WireReader& r) const {
    Remote rem = get_remote(r);
    checked(rem.dep);
    return rem;
  }

  // Starts pulling a remote result (caller holds mu_); returns true if it is here at once (nothing to move).
  bool start_fetch(const Remote& rem) {
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
    if (rem.inline_bytes != nullptr) {
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
    const int target = rma_target_[static_cast<std::size_t>(rem.rank)];
    if (target < 0 || (rem.where.flags & kSpilled) != 0) {
      f.two_sided = true;
      request(f);
      stats_.bytes_two_sided += rem.where.bytes;
    } else {
      // No MPI_Win_sync here: the owner synced after storing (publish) and the bytes land in memory outside
      // the window; an origin-side sync only orders this process's own window copy, and costs a progress
      // round (a sched_yield when ranks share cores: 5 µs of an 8-byte fetch's 9).
      for (std::size_t off = 0; off < rem.where.bytes; off += kMaxGet) {
        const auto n = static_cast<int>(std::min<std::uint64_t>(kMaxGet, rem.where.bytes - off));
        MPI_Request req;
        TESSERA_MPI_CHECK(MPI_Rget(f.destination + off, n, MPI_BYTE, target,
                                   static_cast<MPI_Aint>(rem.where.address + off), n, MPI_BYTE,
                                   arena_.window(), &req));
        f.requests.push_back(req);
        ++stats_.gets;
      }
      stats_.bytes_rma += rem.where.bytes;
    }
    stats_.bytes_fetched += rem.where.bytes;
    stats_.bytes_from[static_cast<std::size_t>(rem.rank)] += rem.where.bytes;
    fetching_.insert(rem.dep);
    fetches_.push_back(std::move(f));
    return false;
  }

  // Asks the owner of f's result for it (two-sided): receives first, so the answer lands in place instead of
  // in MPI's unexpected-message buffers.
  void request(Fetch& f) {
    for (std::size_t off = 0; off < f.bytes; off += kMaxGet) {
      const auto n = static_cast<int>(std::min<std::uint64_t>(kMaxGet, f.bytes - off));
      MPI_Request req;
      TESSERA_MPI_CHECK(MPI_Irecv(f.destination + off, n, MPI_BYTE, f.owner, kChunkDataTag, comm_, &req));
      f.requests.push_back(req);
    }
    WireWriter ask;
    ask.put(static_cast<std::uint8_t>(Msg::kRequest));
    ask.put(f.dep);
    ask.put(f.bytes);
    msg_.send(f.owner, std::move(ask.bytes()));
    ++stats_.requests;
  }

  // Reader, comm thread, caller holds mu_: an assignment says the owner sends this input unasked (kPush).
  // Posts the receive at once, for every such input in the order they come, whatever this worker holds: the
  // owner sends one message per order, in the order of its orders, and MPI matches messages between two
  // ranks on one tag in order. One this worker does not need (it holds the result or fetches it already) is
  // received into scratch space and dropped; so is one it cannot take (unknown type, no memory for the
  // object): the assignment then fetches it as usual, which reports the error.
  void expect_push(const Remote& rem) {
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
    f.discard = held_.count(rem.dep) != 0 || fetching_.count(rem.dep) != 0 || ops == nullptr ||
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
      fetching_.insert(rem.dep);
      stats_.bytes_two_sided += rem.where.bytes;
      stats_.bytes_fetched += rem.where.bytes;
      stats_.bytes_from[static_cast<std::size_t>(rem.rank)] += rem.where.bytes;
    }
    MPI_Request req;
    TESSERA_MPI_CHECK(MPI_Irecv(f.destination, static_cast<int>(rem.where.bytes), MPI_BYTE, rem.rank,
                                kChunkPushTag, comm_, &req));
    f.requests.push_back(req);
    fetches_.push_back(std::move(f));
  }

  // Owner, comm thread, caller holds mu_: sends result t to `reader` unasked (kPush), straight from its arena
  // block. Always sends one message, of 0 bytes if t is not in memory here (the reader then requests it, and
  // it is served from the spill file).
  void push(std::uint32_t t, int reader) {
    if (reader < 1 || reader >= static_cast<int>(rma_target_.size()) || reader == rank_) {
      throw_error(ErrorCode::kInternal, "asked to push the result of plan task ", t, " to rank ", reader);
    }
    auto it = held_.find(t);
    const bool here = it != held_.end() && it->second.block.data != nullptr && it->second.block.bytes > 0 &&
                      it->second.block.bytes <= kMaxInlineBytes;
    const std::uint64_t bytes = here ? it->second.block.bytes : 0;
    Serve s;
    s.dep = t;
    MPI_Request req;
    TESSERA_MPI_CHECK(MPI_Isend(here ? it->second.block.data : nullptr, static_cast<int>(bytes), MPI_BYTE,
                                reader, kChunkPushTag, comm_, &req));
    s.requests.push_back(req);
    serves_.push_back(std::move(s));
    stats_.bytes_served += bytes;
  }

  // A fetch has its bytes (caller holds mu_): hold the copy and start what waited for it.
  void complete(Fetch& f, Clock::time_point now) {
    if (record_.enabled) {
      transfers_.add(TransferEvent{f.dep, f.owner, rank_, since_origin(f.started), since_origin(now), f.bytes,
                                   f.two_sided});
    }
    stats_.fetch_seconds += std::chrono::duration<double>(now - f.started).count();
    fetching_.erase(f.dep);
    hold_copy(f.dep, finish_fetch(f));
    satisfy(f.dep);
    wake_compute();
  }

  // Wakes the compute threads if there is work for them (caller holds mu_). Only then: a thread woken for
  // nothing spins before it parks again, taking a core from the threads moving bytes (2 cores, 3 ranks here).
  void wake_compute() {
    if (!ready_.empty()) work_cv_.notify_all();
  }

  static Value finish_fetch(Fetch& f) {
    if (f.object) {
      // The object was made by ops->receive for this fetch and is not shared yet.
      if (f.ops->finish_receive != nullptr) f.ops->finish_receive(const_cast<void*>(f.object.get()));
      return Value::adopt(std::move(f.object), *f.ops);
    }
    return Value::decode(*f.ops, f.buffer.data(), f.buffer.size());
  }

  void hold_copy(std::uint32_t dep, Value v) {
    const std::uint64_t tag = v.ops() != nullptr ? v.ops()->tag : 0;
    held_.emplace(dep, Held{std::move(v), {}, tag, 0});
    copies_.push_back(dep);
  }

  // Comm thread: completes finished gets and starts what waited for them.
  bool progress_fetches() {
    bool any = false;
    for (std::size_t i = 0; i < fetches_.size();) {
      int done = 0;
      statuses_.resize(fetches_[i].requests.size());
      TESSERA_MPI_CHECK(MPI_Testall(static_cast<int>(fetches_[i].requests.size()),
                                    fetches_[i].requests.data(), &done, statuses_.data()));
      if (!done) {
        ++i;
        continue;
      }
      any = true;
      // Off the list before decoding: a decoder that throws must not be met again on the next round.
      Fetch f = std::move(fetches_[i]);
      fetches_[i] = std::move(fetches_.back());
      fetches_.pop_back();
      if (f.discard) continue;
      if (f.pushed) {
        const std::uint64_t got = received();
        if (got == 0) {
          // Not in its owner's memory: ask (the owner serves it from its spill file).
          f.pushed = false;
          f.requests.clear();
          request(f);
          fetches_.push_back(std::move(f));
          continue;
        }
        if (got != f.bytes) {
          throw_error(ErrorCode::kInternal, "rank ", f.owner, " pushed ", got, " bytes of the result of ",
                      graph_.key_string(plan_.result_task(f.dep)), ", said ", f.bytes);
        }
        stats_.bytes_pushed += got;
      } else if (f.two_sided) {
        check_answer(f);
      }
      const auto now = Clock::now();
      std::lock_guard lock(mu_);
      complete(f, now);
    }
    return any;
  }

  // The owner answers a request it cannot serve with empty messages: fail the run rather than use the bytes.
  void check_answer(const Fetch& f) {
    const std::uint64_t got = received();
    if (got != f.bytes) {
      throw_error(ErrorCode::kInternal, "rank ", f.owner, " answered the request for the result of ",
                  graph_.key_string(plan_.result_task(f.dep)), " with ", got, " of ", f.bytes,
                  " bytes: it does not hold that result");
    }
  }

  // Bytes the receives of the fetch last completed in progress_fetches got (from statuses_).
  std::uint64_t received() const {
    std::uint64_t n = 0;
    for (const MPI_Status& st : statuses_) {
      int count = 0;
      MPI_Get_count(&st, MPI_BYTE, &count);
      n += static_cast<std::uint64_t>(count);
    }
    return n;
  }

  // Completes and drops whatever fetches finished (their bytes unused: after the run, or after kAbort);
  // true if any did.
  bool drop_completed_fetches() {
    bool any = false;
    for (std::size_t i = 0; i < fetches_.size();) {
      int done = 0;
      TESSERA_MPI_CHECK(MPI_Testall(static_cast<int>(fetches_[i].requests.size()),
                                    fetches_[i].requests.data(), &done, MPI_STATUSES_IGNORE));
      if (done) {
        fetches_[i] = std::move(fetches_.back());
        fetches_.pop_back();
        any = true;
      } else {
        ++i;
      }
    }
    return any;
  }

  // Comm thread, caller holds mu_: sends result t's bytes to `reader`, which posted its receives. Answers to
  // one reader must go in the order of its requests (its receives match them in order), so once one waits
  // for a spill file to be read, later answers to that reader queue behind it.
  void serve(std::uint32_t t, std::uint64_t bytes, int reader) {
    auto it = held_.find(t);
    const bool here =
        it != held_.end() && it->second.block.data != nullptr && it->second.block.bytes == bytes;
    const bool in_file = !here && it != held_.end() && it->second.file_bytes == bytes;
    const bool behind = std::any_of(queued_serves_.begin(), queued_serves_.end(),
                                    [reader](const QueuedServe& q) { return q.reader == reader; });
    if (in_file || behind) {
      queued_serves_.push_back(QueuedServe{t, bytes, reader});  // serve_queued, without the lock
      return;
    }
    answer(t, bytes, reader, here ? it->second.block.data : nullptr, {});
  }

  // Starts sending `bytes` from `data` (nullptr: "not here", empty messages) to reader; `staging` owns the
  // bytes when they do not live in the arena.
  void answer(std::uint32_t t, std::uint64_t bytes, int reader, const std::byte* data,
              std::vector<std::byte> staging) {
    Serve s;
    s.dep = t;
    s.staging = std::move(staging);
    if (!s.staging.empty()) data = s.staging.data();
    for (std::size_t off = 0; off < bytes; off += kMaxGet) {
      const auto n = static_cast<int>(std::min<std::uint64_t>(kMaxGet, bytes - off));
      MPI_Request req;
      TESSERA_MPI_CHECK(MPI_Isend(data != nullptr ? data + off : nullptr, data != nullptr ? n : 0, MPI_BYTE,
                                  reader, kChunkDataTag, comm_, &req));
      s.requests.push_back(req);
    }
    if (data != nullptr) stats_.bytes_served += bytes;
    serves_.push_back(std::move(s));
  }

  // Comm thread, called without mu_: answers the queued requests in order, reading spilled results from
  // their files without the lock. A file that cannot be read is answered "not here" (so its reader is not
  // left waiting) and then fails the run here.
  bool serve_queued() {
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
        answer(q.dep, q.bytes, q.reader, here && !error ? it->second.block.data : nullptr, {});
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
        answer(q.dep, q.bytes, q.reader, nullptr, {});
      } else {
        answer(q.dep, q.bytes, q.reader, nullptr, std::move(staging));
      }
    }
    if (error) std::rethrow_exception(error);
    return true;
  }

  // Comm thread, without mu_: reads spilled results back for the tasks assigned here that need them.
  bool read_back_spilled() {
    if (read_back_.empty()) return false;
    std::vector<std::uint32_t> todo;
    todo.swap(read_back_);
    for (std::uint32_t d : todo) {
      std::uint64_t tag = 0;
      std::uint64_t bytes = 0;
      {
        std::lock_guard lock(mu_);
        const Held& h = held_.at(d);
        tag = h.tag;
        bytes = h.file_bytes;
      }
      const detail::TypeOps* ops = detail::find_type(tag);
      if (ops == nullptr) {
        throw_error(ErrorCode::kInternal, "worker ", rank_, " cannot read back a result of unknown type tag ",
                    tag);
      }
      Value v = spill_.read(d, *ops, bytes);
      std::lock_guard lock(mu_);
      stats_.bytes_unspilled += bytes;
      held_.at(d).value = std::move(v);
      reading_back_.erase(d);
      satisfy(d);
    }
    work_cv_.notify_all();
    return true;
  }

  // Comm thread, caller holds mu_ through `lock`: the scheduler's order to take result t out of memory. No
  // task here or elsewhere reads t until a later assignment, which comes after this order. An owned result's
  // arena bytes go to the spill file (once: a result read back keeps its file) without the lock held; a
  // fetched copy is dropped.
  void spill(std::uint32_t t, std::uint8_t kind, std::unique_lock<std::mutex>& lock) {
    auto it = held_.find(t);
    if (it == held_.end()) return;
    if (kind == kDropCopy) {
      held_.erase(it);
      return;
    }
    Held& h = it->second;  // stays valid: only this thread erases from held_
    if (h.file_bytes == 0) {
      if (h.block.data == nullptr) return;  // not published: the scheduler never orders these out
      wait_serves(t);
      const ChunkArena::Block block = h.block;
      lock.unlock();
      try {
        spill_.prepare();
        spill_.write_bytes(t, block.data, block.bytes);
      } catch (...) {
        lock.lock();
        throw;
      }
      lock.lock();
      h.file_bytes = block.bytes;
      stats_.bytes_spilled += block.bytes;
    }
    if (h.block.data != nullptr) {
      held_bytes_ -= h.block.bytes;
      arena_.release(h.block);
      h.block = {};
    }
    h.value = Value();
  }

  // Forgets the sends MPI has finished with.
  void progress_serves() {
    for (std::size_t i = 0; i < serves_.size();) {
      int done = 0;
      TESSERA_MPI_CHECK(MPI_Testall(static_cast<int>(serves_[i].requests.size()), serves_[i].requests.data(),
                                    &done, MPI_STATUSES_IGNORE));
      if (done) {
        serves_[i] = std::move(serves_.back());
        serves_.pop_back();
      } else {
        ++i;
      }
    }
  }

  // Completes the sends of result `dep` (every result for kNone). They end quickly: a result is released only
  // after its readers received it, and at the end of a run every fetch has completed.
  void wait_serves(std::uint32_t dep) {
    for (std::size_t i = 0; i < serves_.size();) {
      if (dep != kNone && serves_[i].dep != dep) {
        ++i;
        continue;
      }
      TESSERA_MPI_CHECK(MPI_Waitall(static_cast<int>(serves_[i].requests.size()), serves_[i].requests.data(),
                                    MPI_STATUSES_IGNORE));
      serves_[i] = std::move(serves_.back());
      serves_.pop_back();
    }
  }

  // After kAbort, with the compute threads stopped: completes our fetches (their bytes are dropped), says so
  // to the scheduler, and keeps answering peers' requests until the scheduler says every worker is done:
  // two workers fetching from each other would otherwise wait for each other forever.
  void drain_after_abort(std::vector<std::byte>& buf, Backoff& backoff) {
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
      active |= drop_completed_fetches();
      if (!confirmed && fetches_.empty()) {
        WireWriter out;
        out.put(static_cast<std::uint8_t>(Msg::kAborted));
        msg_.send(0, std::move(out.bytes()));
        confirmed = true;
      }
      progress_serves();
      msg_.progress();
      if (active) {
        backoff.reset();
      } else {
        backoff.pause();
      }
    }
  }

  // Result `d` is now here: make runnable the tasks that waited only for it (caller holds mu_).
  void satisfy(std::uint32_t d) {
    auto it = waiters_.find(d);
    if (it == waiters_.end()) return;
    std::vector<std::uint32_t> tasks = std::move(it->second);
    waiters_.erase(it);
    for (std::uint32_t t : tasks) {
      auto a = assigned_.find(t);
      if (a != assigned_.end() && --a->second.pending == 0) make_ready(t);
    }
  }

  void make_ready(std::uint32_t t) {
    if (failed_) return;
    ready_.push_back(t);
    std::push_heap(ready_.begin(), ready_.end(), std::greater<>());
    ready_hint_.store(static_cast<int>(ready_.size()), std::memory_order_relaxed);
  }

  // Sends the failure or the completions gathered since the last call; true if it sent something.
  bool send_reports(std::vector<std::byte>& report) {
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

  void stop_threads() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // Publishes t's result for other workers unless every reader is local; fills `where`.
  void publish(const Value& result, std::uint8_t flags, Location& where, ChunkArena::Block& block) {
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

  double since_origin(Clock::time_point t) const {
    return std::chrono::duration<double>(t - origin_).count();
  }
  std::uint64_t ns_since_origin(Clock::time_point t) const {
    return t > origin_ ? static_cast<std::uint64_t>(std::chrono::nanoseconds(t - origin_).count()) : 0;
  }

  // Comm thread: a memory sample every RecordOptions::sample_seconds (20 ms by default), so the clock is read
  // only every 16 rounds (a round lasts at most one nap).
  void sample_if_due() {
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

  void compute_loop(int thread) {
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
      put_completion(report_, t, where, small ? block.data : nullptr, seconds, copies_.data(),
                     copies_.size());
      copies_.clear();
      if (report_count_++ == 0) comm_cv_.notify_one();
      const std::size_t before = ready_.size();
      satisfy(t);
      if (ready_.size() > before + 1)
        work_cv_.notify_all();  // this thread takes one; wake others for the rest
    }
    stats_.graph_tasks += runner.members_run();
    stats_.attempts += runner.attempts();
    if (recorder != nullptr) {
      idle_scale.finish();
      recorder->idle(static_cast<std::uint64_t>(idle_scale.span(0, idle_ticks) * 1e9));
    }
  }

  const RecordOptions record_;
  const std::size_t inline_bytes_;  // results up to this size go to the scheduler with their completion
  const Clock::time_point origin_;
  std::vector<detail::ThreadRecorder> recorders_;   // one per compute thread, touched only by it
  std::uint64_t sample_rounds_ = 0;                 // comm thread
  detail::Reservoir<TransferEvent> transfers_;      // comm thread only
  detail::SampleSeries<ResourceSample> resources_;  // comm thread only
  const Graph& graph_;
  const Plan& plan_;
  MPI_Comm comm_;
  ChunkArena& arena_;
  const std::vector<int>& rma_target_;
  const int rank_;
  const bool two_sided_peers_;  // some peer fetches from us by request
  std::atomic<std::uint64_t> published_{0};
  Messenger msg_;                           // comm thread only
  std::vector<Fetch> fetches_;              // comm thread only
  std::vector<MPI_Status> statuses_;        // comm thread only
  std::vector<Serve> serves_;               // comm thread only
  std::vector<QueuedServe> queued_serves_;  // comm thread only
  std::vector<std::uint32_t> read_back_;    // comm thread only: spilled results to read back
  detail::SpillLog spill_log_;              // spill files written and read back, when recording
  detail::SpillStore spill_;                // its destructor removes the spill files, however the run ends
  bool abort_done_ = false;                 // comm thread only
  int fetch_spins_ = 0;
  std::vector<Remote> remotes_;
  std::vector<std::uint32_t> seen_;
  std::optional<Outcome> outcome_;

  std::mutex mu_;  // guards everything below
  std::condition_variable work_cv_;
  std::condition_variable comm_cv_;
  std::vector<std::uint32_t> ready_;  // min-heap: runnable tasks whose inputs are all here
  std::atomic<int> ready_hint_{0};    // ready_.size(), readable without the lock (for spinning)
  std::unordered_map<std::uint32_t, Held> held_;
  std::unordered_map<std::uint32_t, Assigned> assigned_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> waiters_;
  std::unordered_set<std::uint32_t> fetching_;
  std::unordered_set<std::uint32_t> reading_back_;
  std::vector<std::uint32_t> copies_;  // fetched copies not yet reported to the scheduler
  WireWriter report_;
  std::uint32_t report_count_ = 0;
  std::optional<ErrorInfo> failure_;
  bool failure_sent_ = false;
  bool failed_ = false;
  bool stopping_ = false;
  int running_ = 0;
  std::uint64_t held_bytes_ = 0;  // arena bytes of the results held here
  Stats stats_;
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------------------------------
// The executor

class MpiExecutor final : public Executor {
 public:
  explicit MpiExecutor(const MpiExecutorOptions& options) : options_(options), env_(Environment::get()) {
    observer_.configure(options_.record, options_.progress);
    const TransferMode mode = transfer_mode(options_.transfer);  // every rank sees the same environment
    if (options_.inline_bytes > kMaxInlineBytes) {
      throw_error(ErrorCode::kInvalidArgument, "MpiExecutorOptions::inline_bytes is ", options_.inline_bytes,
                  "; at most ", kMaxInlineBytes,
                  " (results that small travel inside the scheduler's messages; larger ones are fetched)");
    }
    if (options_.push_bytes > kMaxInlineBytes) {
      throw_error(ErrorCode::kInvalidArgument, "MpiExecutorOptions::push_bytes is ", options_.push_bytes,
                  "; at most ", kMaxInlineBytes,
                  " (results that small are sent to their readers unasked; larger ones are requested)");
    }
    comm_ = Comm::dup(MPI_COMM_WORLD);
    rank_ = comm_.rank();
    size_ = comm_.size();
    if (size_ < 2) {
      throw_error(ErrorCode::kInvalidArgument,
                  "the MPI executor needs at least 2 ranks (a scheduler and a "
                  "worker); this job has 1. Run without mpirun for the local executor.");
    }
    std::optional<ErrorInfo> failure;
    try {
      place_workers();
    } catch (...) {
      failure = current_error(rank_);
    }
    agree(failure);
    arena_ = std::make_unique<ChunkArena>(options_.arena_bytes);
    choose_transfer(mode);
    if (arena_->has_window()) TESSERA_MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, arena_->window()));
    gather_worker_info();
  }

  ~MpiExecutor() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && arena_ && arena_->has_window()) MPI_Win_unlock_all(arena_->window());
    arena_.reset();
  }

  void agree(std::exception_ptr mine) override {
    std::optional<ErrorInfo> info;
    if (mine) {
      try {
        std::rethrow_exception(mine);
      } catch (...) {
        info = current_error(rank_);
      }
    }
    agree(info);
  }

  RunResult run(const Graph& graph, const Plan& plan) override {
    const auto start = Clock::now();
    check_same_plan(graph, plan);
    // Every rank's recording clock starts here, just after the plan check's collective.
    const auto origin = Clock::now();
    const std::string started =
        options_.record.enabled && rank_ == 0 ? detail::iso_time_now() : std::string();
    RunResult result;
    Outcome outcome;
    std::unique_ptr<Worker> worker;
    Scheduler::Recording scheduler_recording;
    std::uint64_t peak_held = 0;
    std::uint64_t roots_withheld = 0;
    if (rank_ == 0) {
      SchedulerConfig config;
      for (int r = 1; r < size_; ++r) {
        const auto i = static_cast<std::size_t>(r);
        config.workers.push_back(WorkerShape{threads_[i], node_of_[i], rma_group_[i]});
      }
      config.tasks_per_thread = options_.tasks_per_thread;
      config.push_bytes = options_.push_bytes;
      config.memory = options_.memory;
      Scheduler scheduler(graph, plan, comm_.get(), std::move(config),
                          observer_.active() ? &observer_ : nullptr, bindings_, origin);
      scheduler.set_hosts(&hosts_);
      outcome = scheduler.run();
      peak_held = scheduler.peak_held_bytes();
      roots_withheld = scheduler.roots_withheld();
      if (observer_.active()) scheduler_recording = scheduler.take_recording();
    } else {
      worker = std::make_unique<Worker>(graph, plan, comm_.get(), *arena_, rma_target_, rank_, size_,
                                        my_threads_, options_.bind ? topology_.get() : nullptr,
                                        options_.bind ? &binding_ : nullptr, options_.record, options_.memory,
                                        options_.inline_bytes, record_pool_.get(), origin);
      outcome = worker->run();
    }
    if (outcome.error) {
      const ErrorInfo& e = *outcome.error;
      if (e.key.empty()) throw Error(e.code, e.message);
      throw TaskError(e.code, e.key, e.message, e.rank, e.attempts);
    }
    result.outputs = broadcast_outputs(graph, plan, outcome.outputs, worker.get());
    // This rank's recording on the wire, in a buffer kept from run to run: a million-task run fills tens of
    // MB, and fresh pages cost more than the copy.
    WireWriter wire;
    wire.bytes().swap(wire_buffer_);
    wire.clear();
    if (worker && worker->recording()) {
      detail::RankRecording rec = worker->take_recording();
      put(wire, rec);
      for (auto& list : rec.tasks) record_pool_->give_events(std::move(list));
    }
    const std::vector<std::byte>& recorded = wire.bytes();
    std::vector<std::uint64_t> recorded_sizes;
    const std::uint64_t mine =
        worker ? (worker->recording() ? recorded.size() + 1 : 0) : (options_.record.enabled ? 1 : 0);
    result.stats = gather_stats(worker.get(), mine, recorded_sizes);
    result.stats.peak_held_bytes = peak_held;  // rank 0 counts for every worker
    result.stats.roots_withheld = roots_withheld;
    if (std::any_of(recorded_sizes.begin(), recorded_sizes.end(), [](std::uint64_t n) { return n > 0; })) {
      result.trace = gather_trace(graph, recorded, recorded_sizes, result.stats, scheduler_recording, started,
                                  std::chrono::duration<double>(Clock::now() - start).count());
    }
    if (wire.bytes().capacity() <= kKeptWireBytes) wire_buffer_.swap(wire.bytes());
    result.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (rank_ == 0 && observer_.active()) {
      observer_.finish(result.stats.seconds, plan.size(), scheduler_recording.bytes_done,
                       [&](LiveSnapshot& snapshot) {
                         for (const WorkerStats& w : result.stats.workers) {
                           WorkerRow row;
                           row.rank = w.rank;
                           row.threads = w.threads;
                           row.binding = w.binding;
                           if (static_cast<std::size_t>(w.rank) < hosts_.size())
                             row.node = hosts_[static_cast<std::size_t>(w.rank)];
                           row.tasks_done = w.tasks;
                           snapshot.workers.push_back(std::move(row));
                           snapshot.bytes_spilled += w.bytes_spilled;
                           snapshot.bytes_unspilled += w.bytes_unspilled;
                         }
                       });
    }
    return result;
  }

  int concurrency() const noexcept override {
    int n = 0;
    for (int r = 1; r < size_; ++r) n += threads_[static_cast<std::size_t>(r)];
    return n;
  }
  std::string_view name() const noexcept override { return "mpi"; }
  int rank() const noexcept override { return rank_; }
  int ranks() const noexcept override { return size_; }

 private:
  // Collective. Every rank passes the error it hit, if any; when some rank failed, every rank throws the
  // error of the lowest failing rank, so that no rank is left waiting in a later collective.
  void agree(const std::optional<ErrorInfo>& mine) {
    int me = mine ? rank_ : size_;
    int first = size_;
    TESSERA_MPI_CHECK(MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, comm_.get()));
    if (first == size_) return;
    WireWriter w;
    if (rank_ == first) put(w, *mine);
    std::uint64_t n = w.size();
    TESSERA_MPI_CHECK(MPI_Bcast(&n, 1, MPI_UINT64_T, first, comm_.get()));
    std::vector<std::byte> bytes = w.bytes();
    bytes.resize(n);
    TESSERA_MPI_CHECK(MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, first, comm_.get()));
    WireReader r(bytes.data(), bytes.size());
    ErrorInfo e = get_error(r);
    if (e.key.empty()) throw Error(e.code, e.message);
    throw TaskError(e.code, e.key, e.message, e.rank, e.attempts);
  }

  static TransferMode transfer_mode(TransferMode option) {
    if (option != TransferMode::kAuto) return option;
    const char* v = std::getenv("TESSERA_TRANSFER");
    if (v == nullptr || *v == '\0') return TransferMode::kAuto;
    const std::string_view s(v);
    if (s == "auto") return TransferMode::kAuto;
    if (s == "rma") return TransferMode::kRma;
    if (s == "two-sided") return TransferMode::kTwoSided;
    throw_error(ErrorCode::kInvalidArgument, "TESSERA_TRANSFER is \"", s,
                "\"; expected auto, rma or two-sided");
  }

  // Collective. Decides, once, how each pair of ranks moves results: one-sided gets through a window over all
  // ranks if every rank can make one; else (kAuto) through a window over each node's ranks where every rank
  // of that node can make one, two-sided between the others. Ranks agree on the outcome, so a rank whose
  // window failed never waits for a get that cannot come. Rank 0 says once what was chosen.
  void choose_transfer(TransferMode mode) {
    rma_target_.assign(static_cast<std::size_t>(size_), -1);
    std::string why;
    if (mode == TransferMode::kTwoSided) {
      transfer_ = "two-sided";
      why = "forced (TESSERA_TRANSFER=two-sided or MpiExecutorOptions::transfer)";
    } else {
      const int rc = arena_->open_window(comm_.get());
      const auto [first_failed, first_rc] = first_failure(rc, comm_.get());
      if (first_failed < 0) {
        for (int r = 0; r < size_; ++r) rma_target_[static_cast<std::size_t>(r)] = r;
        transfer_ = "rma";
        why = "MPI_Win_create_dynamic works between all ranks";
      } else {
        if (rc == MPI_SUCCESS) arena_->abandon_window();
        why = str_cat("MPI_Win_create_dynamic failed on rank ", first_failed, ": ", error_string(first_rc));
        if (mode == TransferMode::kRma) {
          ErrorInfo e;
          e.code = ErrorCode::kResourceExhausted;
          e.rank = rank_;
          e.message =
              str_cat("one-sided transfers were asked for (TESSERA_TRANSFER=rma or TransferMode::kRma) but ",
                      why, "; use auto or two-sided");
          agree(e);
        }
        choose_node_windows(why);
      }
    }
    if (rank_ == 0) std::fprintf(stderr, "tessera: data plane: %s (%s)\n", transfer_.c_str(), why.c_str());
    // Which pairs fetch one-sided, for the scheduler (it has pairs fetching two-sided push small results).
    int group = -1;
    if (rma_target_[static_cast<std::size_t>(rank_)] >= 0) {
      const bool all = std::all_of(rma_target_.begin(), rma_target_.end(), [](int t) { return t >= 0; });
      group = all ? 0 : node_leader_ + 1;
    }
    rma_group_.assign(static_cast<std::size_t>(size_), -1);
    TESSERA_MPI_CHECK(MPI_Allgather(&group, 1, MPI_INT, rma_group_.data(), 1, MPI_INT, comm_.get()));
  }

  // Same-node pairs keep one-sided gets where the node's ranks can share a window (shared memory usually
  // works where the network does not offer RMA).
  void choose_node_windows(std::string& why) {
    int node_ok = 0;
    if (node_members_.size() > 1) {
      const int rc = arena_->open_window(node_comm_.get());
      const auto [first_failed, first_rc] = first_failure(rc, node_comm_.get());
      if (first_failed < 0) {
        node_ok = 1;
        for (std::size_t i = 0; i < node_members_.size(); ++i) {
          rma_target_[static_cast<std::size_t>(node_members_[i])] = static_cast<int>(i);
        }
      } else if (rc == MPI_SUCCESS) {
        arena_->abandon_window();
      }
    }
    // Nodes (counted by their lowest rank) whose ranks fetch from each other one-sided.
    const int leader_ok = rank_ == node_leader_ ? node_ok : 0;
    const int leader = rank_ == node_leader_ ? 1 : 0;
    int counts[2] = {leader_ok, leader};
    TESSERA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT, MPI_SUM, comm_.get()));
    if (counts[0] == 0) {
      transfer_ = "two-sided";
    } else {
      transfer_ = "rma within nodes, two-sided between nodes";
      why += str_cat("; one-sided within ", counts[0], " of ", counts[1], " nodes");
    }
  }

  // Collective over `comm`: the lowest rank whose call returned an error, and that error (-1 if none did).
  static std::pair<int, int> first_failure(int rc, MPI_Comm comm) {
    int rank = 0;
    int size = 0;
    TESSERA_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    TESSERA_MPI_CHECK(MPI_Comm_size(comm, &size));
    // MINLOC on (failing rank or size, error code): the code travels with the lowest failing rank.
    int mine[2] = {rc == MPI_SUCCESS ? size : rank, rc};
    int first[2] = {0, 0};
    TESSERA_MPI_CHECK(MPI_Allreduce(mine, first, 1, MPI_2INT, MPI_MINLOC, comm));
    if (first[0] == size) return {-1, MPI_SUCCESS};
    return {first[0], first[1]};
  }

  void place_workers() {
    // Workers on this node: ranks sharing memory with us, the scheduler excluded.
    MPI_Comm node = MPI_COMM_NULL;
    TESSERA_MPI_CHECK(MPI_Comm_split_type(comm_.get(), MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    node_comm_ = Comm(node);
    const int node_size = node_comm_.size();
    std::vector<int>& members = node_members_;
    members.assign(static_cast<std::size_t>(node_size), 0);
    TESSERA_MPI_CHECK(MPI_Allgather(&rank_, 1, MPI_INT, members.data(), 1, MPI_INT, node_comm_.get()));
    int workers_here = 0;
    int local_index = -1;
    for (int r : members) {
      if (r == 0) continue;
      if (r == rank_) local_index = workers_here;
      ++workers_here;
    }
    node_leader_ = *std::min_element(members.begin(), members.end());
    if (rank_ == 0) {
      my_threads_ = 0;
      binding_text_ = "scheduler";
      return;
    }
    topology_ = std::make_unique<Topology>(Topology::this_machine());
    binding_ = topology_->place(local_index, workers_here);
    bool bound = false;
    if (options_.bind) {
      bound = topology_->bind_thread(binding_.cores);
      topology_->bind_memory(binding_.numa_domains);
    }
    my_threads_ = options_.threads > 0 ? options_.threads
                  : options_.bind      ? static_cast<int>(binding_.cores.size())
                                       : available_cpus();
    binding_text_ = options_.bind ? (bound ? binding_.describe() : binding_.describe() + " (binding refused)")
                                  : std::string("unbound");
    binding_text_ = str_cat("node of rank ", node_leader_, ", worker ", local_index + 1, "/", workers_here,
                            ": ", binding_text_);
  }

  void gather_worker_info() {
    threads_.assign(static_cast<std::size_t>(size_), 0);
    TESSERA_MPI_CHECK(MPI_Allgather(&my_threads_, 1, MPI_INT, threads_.data(), 1, MPI_INT, comm_.get()));
    node_of_.assign(static_cast<std::size_t>(size_), 0);
    TESSERA_MPI_CHECK(MPI_Allgather(&node_leader_, 1, MPI_INT, node_of_.data(), 1, MPI_INT, comm_.get()));
    const int len = static_cast<int>(binding_text_.size());
    std::vector<int> lens(static_cast<std::size_t>(size_));
    TESSERA_MPI_CHECK(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_.get()));
    std::vector<int> displs(static_cast<std::size_t>(size_), 0);
    for (int r = 1; r < size_; ++r) {
      displs[static_cast<std::size_t>(r)] =
          displs[static_cast<std::size_t>(r - 1)] + lens[static_cast<std::size_t>(r - 1)];
    }
    std::string all(static_cast<std::size_t>(displs.back() + lens.back()), '\0');
    TESSERA_MPI_CHECK(MPI_Allgatherv(binding_text_.data(), len, MPI_CHAR, all.data(), lens.data(),
                                     displs.data(), MPI_CHAR, comm_.get()));
    // Host names, for the live worker table on rank 0 (fixed-size records: one gather, no lengths).
    {
      constexpr int kHostChars = 64;
      char mine[kHostChars] = {};
      ::gethostname(mine, kHostChars - 1);
      std::vector<char> all_hosts(rank_ == 0 ? static_cast<std::size_t>(size_) * kHostChars : 0);
      TESSERA_MPI_CHECK(
          MPI_Gather(mine, kHostChars, MPI_CHAR, all_hosts.data(), kHostChars, MPI_CHAR, 0, comm_.get()));
      hosts_.clear();
      for (int r = 0; rank_ == 0 && r < size_; ++r) {
        const char* h = all_hosts.data() + static_cast<std::size_t>(r) * kHostChars;
        hosts_.emplace_back(h, strnlen(h, kHostChars));
      }
    }
    bindings_.clear();
    for (int r = 0; r < size_; ++r) {
      bindings_.push_back(all.substr(static_cast<std::size_t>(displs[static_cast<std::size_t>(r)]),
                                     static_cast<std::size_t>(lens[static_cast<std::size_t>(r)])));
    }
    if (options_.show_binding && rank_ == 0) {
      std::fprintf(stderr, "tessera: %d ranks: rank 0 schedules, %d workers\n", size_, size_ - 1);
      for (int r = 1; r < size_; ++r) {
        std::fprintf(stderr, "tessera: rank %d: %s, %d threads\n", r,
                     bindings_[static_cast<std::size_t>(r)].c_str(), threads_[static_cast<std::size_t>(r)]);
      }
    }
  }

  void check_same_plan(const Graph& graph, const Plan& plan) {
    const std::uint64_t mine[2] = {fingerprint(graph, plan), plan.size()};
    std::vector<std::uint64_t> all(2 * static_cast<std::size_t>(size_));
    TESSERA_MPI_CHECK(MPI_Allgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, comm_.get()));
    for (int r = 1; r < size_; ++r) {
      const std::size_t i = 2 * static_cast<std::size_t>(r);
      if (all[i] == all[0] && all[i + 1] == all[1]) continue;
      throw_error(ErrorCode::kInvalidArgument, "ranks built different task graphs: rank 0 planned ", all[1],
                  " tasks (fingerprint ", std::hex, all[0], std::dec, "), rank ", r, " planned ", all[i + 1],
                  " (fingerprint ", std::hex, all[i], std::dec,
                  "). Every rank must build the same graph from the "
                  "same inputs (control replication); look for rank-dependent code before compute().");
    }
  }

  std::vector<Value> broadcast_outputs(const Graph& graph, const Plan& plan,
                                       const std::vector<OutputInfo>& outputs, const Worker* worker) {
    std::vector<Value> values;
    values.reserve(outputs.size());
    std::vector<std::byte> buffer;
    std::optional<ErrorInfo> decode_failure;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const OutputInfo& o = outputs[i];
      if (o.where.tag == 0) {
        values.emplace_back();
        continue;
      }
      if (o.where.flags & kNotEncodable) {
        throw_error(ErrorCode::kInvalidArgument, "output ",
                    graph.key_string(plan.result_task(plan.outputs()[i])), " is a ",
                    type_name_of_tag(o.where.tag),
                    ", which cannot be sent to every rank: specialise "
                    "tessera::Codec for it");
      }
      const Held* held = (rank_ == o.owner && worker) ? worker->held(plan.outputs()[i]) : nullptr;
      std::byte* data = nullptr;
      std::optional<ErrorInfo> no_room;
      if (held != nullptr) {
        data = held->block.data;
      } else {
        try {
          buffer.assign(o.where.bytes, std::byte{0});
          data = buffer.data();
        } catch (...) {
          no_room = current_error(rank_);
        }
      }
      agree(no_room);  // every rank can receive, or every rank throws
      for (std::size_t off = 0; off < o.where.bytes; off += kMaxGet) {
        const auto n = static_cast<int>(std::min<std::uint64_t>(kMaxGet, o.where.bytes - off));
        TESSERA_MPI_CHECK(MPI_Bcast(data + off, n, MPI_BYTE, o.owner, comm_.get()));
      }
      if (held != nullptr) {
        values.push_back(held->value);
        continue;
      }
      try {
        const detail::TypeOps* ops = detail::find_type(o.where.tag);
        if (ops == nullptr) throw_error(ErrorCode::kInternal, "output of unknown type tag ", o.where.tag);
        values.push_back(Value::decode(*ops, data, o.where.bytes));
      } catch (...) {
        if (!decode_failure) decode_failure = current_error(rank_);
        values.emplace_back();
      }
    }
    agree(decode_failure);
    return values;
  }

  // Collective. Rank 0 gets every rank's recording (the ranks whose `sizes` entry is non-zero) and, when it
  // records too, keeps them to be assembled into a trace when it is looked at (TraceRef, as the local
  // executors do); other ranks return an empty TraceRef.
  TraceRef gather_trace(const Graph& graph, const std::vector<std::byte>& mine,
                        const std::vector<std::uint64_t>& sizes, const RunStats& stats,
                        Scheduler::Recording& scheduler, const std::string& started, double seconds) {
    std::vector<int> counts(static_cast<std::size_t>(size_), 0);
    std::vector<int> displs(static_cast<std::size_t>(size_), 0);
    for (int r = 1; r < size_; ++r) {
      const std::uint64_t n = sizes[static_cast<std::size_t>(r)];
      counts[static_cast<std::size_t>(r)] = n > 0 ? static_cast<int>(n - 1) : 0;
      displs[static_cast<std::size_t>(r)] =
          displs[static_cast<std::size_t>(r - 1)] + counts[static_cast<std::size_t>(r - 1)];
    }
    // Rank 0 gathers into a buffer from the pool (the senders' are kept from run to run too), which the
    // pending trace keeps, still coded, until the trace is looked at.
    std::vector<std::byte> all;
    const auto total = static_cast<std::size_t>(displs.back() + counts.back());
    if (rank_ == 0 && options_.record.enabled) {
      all = record_pool_->take_bytes();
      if (all.size() < total) all.resize(total);
    }
    TESSERA_MPI_CHECK(MPI_Gatherv(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, all.data(),
                                  counts.data(), displs.data(), MPI_BYTE, 0, comm_.get()));
    if (rank_ != 0 || !options_.record.enabled) return {};  // only rank 0 ever sized `all`
    auto pending = std::make_unique<detail::PendingTrace>();
    RunTrace* trace = &pending->base;
    trace->executor = "mpi";
    trace->ranks = size_;
    trace->threads = threads_;
    trace->bindings = bindings_;
    trace->transfer = transfer_;
    trace->slurm_job_id = detail::slurm_job_id();
    trace->started = started;
    trace->seconds = seconds;
    trace->tasks_total = stats.plan_tasks;
    trace->graph_tasks = stats.graph_tasks;
    trace->scheduler = std::move(scheduler.samples);
    for (const GroupProgress& g : scheduler.groups) {
      trace->group_labels.push_back(g.label);
      trace->group_totals.push_back(g.total);
    }
    if (!scheduler.groups.empty()) trace->group_done = std::move(scheduler.group_samples);
    trace->task_groups = std::move(scheduler.task_groups);
    trace->scheduler_seconds = scheduler.busy_seconds;
    std::vector<detail::RankRecording> ranks;
    detail::RankRecording own;
    own.rank = 0;
    own.resources = std::move(scheduler.resources);
    ranks.push_back(std::move(own));
    // The workers' parts are decoded when the trace is first looked at.
    std::vector<std::pair<std::size_t, std::size_t>> parts;  // offset and length of each worker's recording
    for (int r = 1; r < size_; ++r) {
      const auto i = static_cast<std::size_t>(r);
      if (counts[i] > 0)
        parts.emplace_back(static_cast<std::size_t>(displs[i]), static_cast<std::size_t>(counts[i]));
    }
    pending->wire = std::move(all);
    pending->decode = [parts = std::move(parts)](detail::PendingTrace& p) {
      std::vector<detail::RankRecording> decoded;
      for (const auto& [offset, length] : parts) {
        WireReader reader(p.wire.data() + offset, length);
        decoded.push_back(get_recording(reader, p.pool.get()));
      }
      for (auto& r : decoded) p.ranks.push_back(std::move(r));
      p.pool->give_bytes(std::move(p.wire));
      p.wire = {};
    };
    trace->bytes_between.assign(static_cast<std::size_t>(size_) * static_cast<std::size_t>(size_), 0);
    for (const WorkerStats& w : stats.workers) {
      trace->transfer_seconds += w.fetch_seconds;
      for (std::size_t src = 0; src < w.bytes_from.size(); ++src) {
        trace->bytes_between[src * static_cast<std::size_t>(size_) + static_cast<std::size_t>(w.rank)] =
            w.bytes_from[src];
      }
    }
    pending->ranks = std::move(ranks);
    pending->pool = record_pool_;  // the lists and keys go back to it when the trace is assembled or dropped
    pending->keys = graph.keys();  // shared with the graph: no per-task work
    return make_pending_trace_ref(std::move(pending));
  }

  RunStats gather_stats(const Worker* worker, std::uint64_t recorded,
                        std::vector<std::uint64_t>& recorded_sizes) {
    // Per rank: threads, tasks, bytes fetched, gets, graph tasks, attempts, fetch time (ns), bytes published,
    // bytes by RMA, bytes two-sided, requests, bytes served, recording size (+1; 0: not recording), bytes
    // spilled, bytes read back, bytes inline, bytes pushed, then bytes fetched from each rank.
    constexpr std::size_t kFixed = 17;
    const std::size_t width = kFixed + static_cast<std::size_t>(size_);
    std::vector<std::uint64_t> mine(width, 0);
    if (worker != nullptr) {
      const auto& s = worker->stats();
      mine[0] = static_cast<std::uint64_t>(s.threads);
      mine[1] = s.tasks;
      mine[2] = s.bytes_fetched;
      mine[3] = s.gets;
      mine[4] = s.graph_tasks;
      mine[5] = s.attempts;
      mine[6] = static_cast<std::uint64_t>(s.fetch_seconds * 1e9);
      mine[7] = s.bytes_published;
      mine[8] = s.bytes_rma;
      mine[9] = s.bytes_two_sided;
      mine[10] = s.requests;
      mine[11] = s.bytes_served;
      mine[13] = s.bytes_spilled;
      mine[14] = s.bytes_unspilled;
      mine[15] = s.bytes_inline;
      mine[16] = s.bytes_pushed;
      std::copy(s.bytes_from.begin(), s.bytes_from.end(), mine.begin() + kFixed);
    }
    mine[12] = recorded;
    std::vector<std::uint64_t> all(width * static_cast<std::size_t>(size_));
    TESSERA_MPI_CHECK(MPI_Allgather(mine.data(), static_cast<int>(width), MPI_UINT64_T, all.data(),
                                    static_cast<int>(width), MPI_UINT64_T, comm_.get()));
    RunStats stats;
    stats.transfer = transfer_;
    recorded_sizes.assign(static_cast<std::size_t>(size_), 0);
    for (int r = 0; r < size_; ++r)
      recorded_sizes[static_cast<std::size_t>(r)] = all[width * static_cast<std::size_t>(r) + 12];
    for (int r = 1; r < size_; ++r) {
      const std::uint64_t* row = all.data() + width * static_cast<std::size_t>(r);
      WorkerStats w;
      w.rank = r;
      w.threads = static_cast<int>(row[0]);
      w.tasks = row[1];
      w.bytes_fetched = row[2];
      w.gets = row[3];
      w.fetch_seconds = static_cast<double>(row[6]) * 1e-9;
      w.bytes_published = row[7];
      w.bytes_rma = row[8];
      w.bytes_two_sided = row[9];
      w.requests = row[10];
      w.bytes_served = row[11];
      w.bytes_spilled = row[13];
      w.bytes_unspilled = row[14];
      w.bytes_inline = row[15];
      w.bytes_pushed = row[16];
      w.bytes_from.assign(row + kFixed, row + width);
      w.binding = bindings_[static_cast<std::size_t>(r)];
      stats.plan_tasks += row[1];
      stats.graph_tasks += row[4];
      stats.attempts += row[5];
      stats.bytes_spilled += row[13];
      stats.bytes_unspilled += row[14];
      stats.workers.push_back(std::move(w));
    }
    return stats;
  }

  MpiExecutorOptions options_;
  Environment& env_;
  Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  int node_leader_ = 0;
  Comm node_comm_;            // the ranks sharing this node's memory (may carry the arena's window)
  std::vector<int> node_of_;  // node id (its lowest rank) of every rank
  // Per rank: ranks with the same value >= 0 fetch from each other one-sided; -1: two-sided with every rank.
  std::vector<int> rma_group_;
  std::vector<int> node_members_;  // their world ranks, by node rank
  std::vector<int> rma_target_;    // per world rank: its rank in the arena's window, -1: fetch two-sided
  std::string transfer_;           // RunStats::transfer
  std::unique_ptr<Topology> topology_;
  WorkerBinding binding_;
  std::string binding_text_;
  int my_threads_ = 0;
  std::vector<int> threads_;  // per rank
  std::vector<std::string> bindings_;
  std::vector<std::string> hosts_;  // rank 0: every rank's host name (the live worker table)
  static constexpr std::size_t kKeptWireBytes = std::size_t{256} << 20;  // larger buffers are not kept
  std::vector<std::byte> wire_buffer_;  // this rank's recording on the wire, reused
  std::shared_ptr<detail::RecordingPool> record_pool_ = std::make_shared<detail::RecordingPool>();
  detail::RunObserver observer_;  // rank 0: samples, progress groups, progress calls, live snapshots
  std::unique_ptr<ChunkArena> arena_;
};

}  // namespace
}  // namespace mpi

std::unique_ptr<Executor> make_mpi_executor(const MpiExecutorOptions& options) {
  return std::make_unique<mpi::MpiExecutor>(options);
}

}  // namespace tessera
