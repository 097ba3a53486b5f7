// The local thread pool. Scheduling in brief:
// - Tasks are plan numbers; a lower number has higher priority. Roots are handed out in order from a shared
//   cursor; every other task becomes ready when its last dependency finishes, on the thread that finished it.
// - The thread that makes tasks ready runs the best of them next without touching any queue (chains and the
//   parents of tree reductions cost one atomic decrement); the rest go to that thread's own min-heap.
// - A thread takes the better of its heap's top and the next root, else steals the best task of another heap,
//   else sleeps until someone publishes work.
// - Completions are counted per thread and flushed only when a thread runs out of work, so the hot path
// touches
//   no shared counter.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "spill_policy.h"
#include "spill_store.h"
#include "task_runner.h"
#include "tessera/runtime/buffer.h"
#include "tessera/runtime/error.h"
#include "tessera/runtime/executor.h"
#include "tessera/runtime/stop.h"
#include "trace/pending_trace.h"
#include "trace/process_info.h"
#include "trace/run_observer.h"
#include "trace/spill_log.h"
#include "trace/thread_recorder.h"
#include "trace/ticker.h"

namespace tessera {

int available_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr int kSpinRounds = 4096;  // about 20-50 us of polling before a thread parks

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// alignas keeps each thread's queue on its own cache lines.
struct alignas(64) ReadyHeap {
  std::mutex mu;
  std::vector<std::uint32_t> heap;  // min-heap of plan task numbers

  void push_locked(std::uint32_t t) {
    heap.push_back(t);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  }
  std::uint32_t pop_locked() {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    std::uint32_t t = heap.back();
    heap.pop_back();
    return t;
  }
};

// Tasks done and result bytes made by one thread, written only by it (for progress calls and samples), and,
// with a live view, the last tasks it finished (the sampler lists those it finds there).
struct alignas(64) DoneSlot {
  static constexpr std::uint64_t kRecent = 64;
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> bytes{0};
  std::uint64_t seen = 0;  // sampler thread only: `done` at its last look
  std::atomic<std::uint32_t> recent[kRecent] = {};
};

// With a memory limit every change to a held result goes through here, under one mutex (a task's worth of
// work per lock, so the cost is small next to the chunk-sized tasks limits are meant for): results are
// counted by encoded size, spilled past spill_fraction starting with the one whose next reader comes last in
// plan order (the plan order is the run order, so that is the result needed furthest in the future), and read
// back when a task needs them.
struct MemoryState {
  enum Where : std::uint8_t { kNowhere = 0, kMemory = 1, kDisk = 2, kWriting = 3 };

  MemoryState(const MemoryOptions& o, std::uint32_t n)
      : spill_at(static_cast<std::uint64_t>(static_cast<double>(o.limit) * o.spill_fraction)),
        pause_at(static_cast<std::uint64_t>(static_cast<double>(o.limit) * o.pause_fraction)),
        spill(o.spill),
        bytes(n, 0),
        key(n, 0),
        candidates(n),
        where(n, kNowhere),
        has_file(n, 0),
        ops(n, nullptr),
        store(o.spill_dir) {}

  const std::uint64_t spill_at;
  const std::uint64_t pause_at;
  const bool spill;
  std::mutex mu;
  std::vector<std::uint64_t> bytes;  // per plan task, while its result is held
  std::vector<std::uint32_t> key;    // the plan number of its next reader (also while on disk)
  std::vector<std::uint8_t> where;
  std::vector<std::uint8_t> has_file;  // a spill file exists (a result read back is not written again)
  std::vector<const detail::TypeOps*> ops;
  detail::SpillCandidates candidates;  // spillable results in memory, by next reader (spill_policy.h)
  std::unordered_map<std::uint32_t, Value> writing;  // results being written to disk: readers take them here
  std::atomic<std::uint64_t> held{0};  // result bytes in memory; read without the lock to withhold roots
  std::atomic<int> running{0};         // tasks between pick and finish
  std::atomic<std::uint64_t> withheld{0};
  std::uint64_t peak = 0;
  detail::SpillStore store;  // its destructor removes the spill files, whatever way the run ends
};

struct RunState {
  RunState(const Graph& g, const Plan& p)
      : graph(g),
        plan(p),
        total(p.size()),
        roots(p.roots()),
        values(new Value[p.size()]),
        pending(new std::atomic<std::int32_t>[p.size()]),
        uses(new std::atomic<std::int32_t>[p.size()]) {
    for (std::uint32_t t = 0; t < total; ++t) {
      pending[t].store(static_cast<std::int32_t>(p.dependencies(t).size()), std::memory_order_relaxed);
      uses[t].store(static_cast<std::int32_t>(p.dependents(t).size() + p.output_holds(t)),
                    std::memory_order_relaxed);
    }
  }

  const Graph& graph;
  const Plan& plan;
  const std::uint32_t total;
  const std::span<const std::uint32_t> roots;
  std::unique_ptr<Value[]> values;
  std::unique_ptr<std::atomic<std::int32_t>[]> pending;  // dependencies not yet finished
  std::unique_ptr<std::atomic<std::int32_t>[]> uses;     // readers not yet finished (+ output holds)

  alignas(64) std::atomic<std::uint32_t> root_cursor{0};
  alignas(64) std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> attempts{0};
  std::atomic<std::uint64_t> members{0};
  alignas(64) std::atomic<std::int64_t> live{0};
  std::atomic<std::int64_t> peak_live{0};
  alignas(64) std::atomic<std::int64_t> queued{0};  // tasks sitting in the heaps
  alignas(64) std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};  // all done, or a task failed

  std::mutex sleep_mu;
  std::condition_variable sleep_cv;
  std::uint64_t epoch = 0;  // guarded by sleep_mu; bumped whenever sleepers should look for work again

  std::mutex error_mu;
  std::exception_ptr error;

  std::unique_ptr<MemoryState> mem;  // only with a memory limit
};

class ThreadPoolExecutor final : public Executor {
 public:
  explicit ThreadPoolExecutor(const ExecutorOptions& options)
      : nthreads_(options.threads > 0 ? options.threads : available_cpus()),
        track_live_(options.track_live),
        record_(options.record),
        observed_(options.record.enabled || options.progress.callback != nullptr ||
                  options.progress.live != nullptr),
        live_(options.progress.live != nullptr),
        memory_(options.memory),
        heaps_(new ReadyHeap[static_cast<std::size_t>(nthreads_)]),
        slots_(new DoneSlot[static_cast<std::size_t>(nthreads_)]) {
    observer_.configure(options.record, options.progress);
    threads_.reserve(static_cast<std::size_t>(nthreads_ - 1));
    for (int id = 1; id < nthreads_; ++id) threads_.emplace_back([this, id] { pool_main(id); });
  }

  ~ThreadPoolExecutor() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  RunResult run(const Graph& graph, const Plan& plan) override {
    const auto start = std::chrono::steady_clock::now();
    RunState state(graph, plan);
    if (memory_.limit > 0) {
      state.mem = std::make_unique<MemoryState>(memory_, plan.size());
      // Freed chunk buffers kept for reuse are memory too: keep that cache small next to the limit.
      set_buffer_cache_limit(static_cast<std::size_t>(memory_.limit / 8));
    }
    if (observed_) begin_observing(state, start);
    {
      std::lock_guard lock(mu_);
      current_ = &state;
      running_ = nthreads_ - 1;
      ++generation_;
    }
    start_cv_.notify_all();
    work(state, 0);
    {
      std::unique_lock lock(mu_);
      finish_cv_.wait(lock, [&] { return running_ == 0; });
      current_ = nullptr;
    }
    // After a failure, heaps may still hold tasks that never ran.
    for (int i = 0; i < nthreads_; ++i) heaps_[i].heap.clear();
    ticker_.stop();
    if (state.error) std::rethrow_exception(state.error);

    RunResult result;
    result.outputs.reserve(plan.outputs().size());
    if (state.mem) {
      MemoryState& m = *state.mem;
      for (std::uint32_t o : plan.outputs()) {
        if (m.where[o] == MemoryState::kDisk) {
          state.values[o] = m.store.read(o, *m.ops[o], m.bytes[o]);
          m.where[o] = MemoryState::kMemory;
        }
      }
      result.stats.peak_held_bytes = m.peak;
      result.stats.bytes_spilled = m.store.bytes_written();
      result.stats.bytes_unspilled = m.store.bytes_read();
      result.stats.roots_withheld = m.withheld.load();
    }
    for (std::uint32_t o : plan.outputs()) result.outputs.push_back(state.values[o]);
    result.stats.plan_tasks = state.completed.load();
    result.stats.graph_tasks = state.members.load();
    result.stats.attempts = state.attempts.load();
    result.stats.peak_live = static_cast<std::uint64_t>(state.peak_live.load());
    result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (observed_) end_observing(graph, plan, result);
    return result;
  }

  int concurrency() const noexcept override { return nthreads_; }
  std::string_view name() const noexcept override { return "threads"; }

 private:
  void pool_main(int id) {
    std::uint64_t seen = 0;
    while (true) {
      RunState* state = nullptr;
      {
        std::unique_lock lock(mu_);
        start_cv_.wait(lock, [&] { return shutdown_ || generation_ != seen; });
        if (shutdown_) return;
        seen = generation_;
        state = current_;
      }
      work(*state, id);
      {
        std::lock_guard lock(mu_);
        if (--running_ == 0) finish_cv_.notify_one();
      }
    }
  }

  // The best task this thread may take now, or kNone.
  std::uint32_t pick(RunState& s, int id) {
    ReadyHeap& mine = heaps_[id];
    std::uint32_t root = kNone;
    {
      std::lock_guard lock(mine.mu);
      const std::uint32_t c = s.root_cursor.load(std::memory_order_relaxed);
      if (c < s.roots.size()) {
        if (may_start_root(s)) {
          root = s.roots[c];
        } else {
          s.mem->withheld.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (!mine.heap.empty() && mine.heap.front() < root) {
        s.queued.fetch_sub(1, std::memory_order_relaxed);
        return mine.pop_locked();
      }
    }
    if (root != kNone) {
      const std::uint32_t c = s.root_cursor.fetch_add(1, std::memory_order_relaxed);
      if (c < s.roots.size()) return s.roots[c];
    }
    for (int k = 1; k < nthreads_; ++k) {
      ReadyHeap& other = heaps_[(id + k) % nthreads_];
      std::lock_guard lock(other.mu);
      if (!other.heap.empty()) {
        s.queued.fetch_sub(1, std::memory_order_relaxed);
        return other.pop_locked();
      }
    }
    return kNone;
  }

  // Memory backpressure: past pause_fraction of the limit no root starts, unless nothing runs at all (then
  // nothing would ever free memory, and the run must go on, over the limit if it has to).
  static bool may_start_root(RunState& s) {
    return !s.mem || s.mem->held.load(std::memory_order_relaxed) < s.mem->pause_at ||
           s.mem->running.load(std::memory_order_relaxed) == 0;
  }
  static bool roots_available(RunState& s) {
    return s.root_cursor.load(std::memory_order_relaxed) < s.roots.size() && may_start_root(s);
  }

  bool has_work(RunState& s) {
    if (roots_available(s)) return true;
    for (int i = 0; i < nthreads_; ++i) {
      std::lock_guard lock(heaps_[i].mu);
      if (!heaps_[i].heap.empty()) return true;
    }
    return false;
  }

  void wake(RunState& s, bool all) {
    {
      std::lock_guard lock(s.sleep_mu);
      ++s.epoch;
    }
    if (all) {
      s.sleep_cv.notify_all();
    } else {
      s.sleep_cv.notify_one();
    }
  }

  void sleep(RunState& s) {
    // Spin a little first: waking a parked thread costs tens of microseconds (futex + scheduler), far more
    // than a task, so a short wait for the next step's work is better spent awake. Then park.
    for (int i = 0; i < kSpinRounds; ++i) {
      if (s.stop.load(std::memory_order_relaxed) || s.queued.load(std::memory_order_relaxed) > 0 ||
          roots_available(s)) {
        return;
      }
      if (i % 64 == 63) {
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
    }
    std::uint64_t epoch;
    {
      std::lock_guard lock(s.sleep_mu);
      epoch = s.epoch;
    }
    s.sleepers.fetch_add(1, std::memory_order_seq_cst);
    // Pairs with the fence in work(): either the publisher sees us asleep or we see its work.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!s.stop.load() && !has_work(s)) {
      std::unique_lock lock(s.sleep_mu);
      s.sleep_cv.wait(lock, [&] { return s.epoch != epoch || s.stop.load(); });
    }
    s.sleepers.fetch_sub(1, std::memory_order_relaxed);
  }

  void fail(RunState& s) {
    {
      std::lock_guard lock(s.error_mu);
      if (!s.error) s.error = std::current_exception();
    }
    s.stop.store(true);
    wake(s, true);
  }

  void work(RunState& s, int id) {
    detail::TaskRunner runner(s.graph, s.plan);
    std::vector<Value> inputs;  // with a memory limit: t's inputs, copied (and read back) under the lock
    ReadyHeap& mine = heaps_[id];
    std::uint64_t done = 0;
    std::uint32_t next = kNone;
    // Recording: a task starts where its thread's previous step ended (ThreadRecorder::start/done). The
    // recorder and the progress slot are held in locals: the task calls between uses are opaque, so members
    // would be reloaded through `this` on every task.
    detail::ThreadRecorder* const rec = record_.enabled ? &recorders_[static_cast<std::size_t>(id)] : nullptr;
    DoneSlot* const slot = observed_ ? &slots_[id] : nullptr;
    const bool grouped = !observer_.groups().empty();
    if (rec != nullptr) rec->start();
    auto flush = [&] {
      if (done == 0) return;
      s.completed.fetch_add(done, std::memory_order_acq_rel);
      done = 0;
    };
    while (!s.stop.load(std::memory_order_acquire)) {
      const std::uint32_t t = next != kNone ? next : pick(s, id);
      next = kNone;
      if (t == kNone) {
        flush();
        if (s.completed.load(std::memory_order_acquire) == s.total) {
          s.stop.store(true);
          wake(s, true);
          break;
        }
        if (rec != nullptr) {
          const std::uint64_t idle_from = rec->pause();
          sleep(s);
          rec->resume(idle_from);
        } else {
          sleep(s);
        }
        continue;
      }

      if (stop_requested()) {  // one relaxed load per task: a signal asked the run to end
        flush();
        try {
          throw Error(ErrorCode::kCancelled,
                      str_cat("stopped on request (", signal_name(stop_signal()), ") with ",
                              s.completed.load(), " of ", s.total, " tasks done"));
        } catch (...) {
          fail(s);
        }
        break;
      }
      if (rec != nullptr) rec->starting(t);
      Value out;
      try {
        if (s.mem) {
          s.mem->running.fetch_add(1, std::memory_order_relaxed);
          gather_inputs(s, t, inputs);
          out = runner.run_with_inputs(t, inputs, id);
          inputs.clear();
        } else {
          out = runner.run(t, s.values.get(), id);
        }
      } catch (...) {
        fail(s);
        break;
      }
      if (slot != nullptr) observe(id, t, out, rec, *slot, grouped);
      try {
        finish(s, t, std::move(out), next, mine);
      } catch (...) {  // out of memory growing a heap, or a spill file that cannot be written
        fail(s);
        break;
      }
      ++done;
    }
    if (rec != nullptr) rec->stop();
    flush();
    s.attempts.fetch_add(runner.attempts(), std::memory_order_relaxed);
    s.members.fetch_add(runner.members_run(), std::memory_order_relaxed);
  }

  // Stores t's result, releases its inputs and makes its dependents ready: the best one becomes `next`.
  void finish(RunState& s, std::uint32_t t, Value out, std::uint32_t& next, ReadyHeap& mine) {
    if (s.mem) {
      keep_within_limit(s, t, std::move(out));
    } else if (s.uses[t].load(std::memory_order_relaxed) > 0) {
      // No reader of t has started yet (they wait on `pending`), so uses[t] still holds its initial count.
      s.values[t] = std::move(out);
      if (track_live_) {
        const std::int64_t live = s.live.fetch_add(1, std::memory_order_relaxed) + 1;
        std::int64_t peak = s.peak_live.load(std::memory_order_relaxed);
        while (live > peak && !s.peak_live.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
        }
      }
    }
    for (std::uint32_t d : s.mem ? std::span<const std::uint32_t>() : s.plan.dependencies(t)) {
      if (s.uses[d].fetch_sub(1, std::memory_order_acq_rel) == 1) {
        s.values[d].reset();
        if (track_live_) s.live.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    bool published = false;
    for (std::uint32_t c : s.plan.dependents(t)) {
      if (s.pending[c].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
      std::uint32_t other = c;
      if (next == kNone || c < next) std::swap(other, next);
      if (other != kNone) {
        std::lock_guard lock(mine.mu);
        mine.push_locked(other);
        s.queued.fetch_add(1, std::memory_order_relaxed);
        published = true;
      }
    }
    if (s.mem) {
      // Memory may have dropped below pause_fraction: threads that parked for want of a root may go on.
      published = published || roots_available(s);
      s.mem->running.fetch_sub(1, std::memory_order_relaxed);
    }
    if (published) {
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (s.sleepers.load(std::memory_order_relaxed) > 0) wake(s, false);
    }
  }

  // Copies t's inputs into `inputs`, reading spilled ones back, and notes when each is needed next. Files are
  // read without the lock: a result cannot be released or rewritten while t, one of its readers, is pending.
  static void gather_inputs(RunState& s, std::uint32_t t, std::vector<Value>& inputs) {
    MemoryState& m = *s.mem;
    std::unique_lock lock(m.mu);
    std::vector<std::pair<std::size_t, std::uint32_t>> from_disk;  // (input position, task)
    for (std::uint32_t d : s.plan.dependencies(t)) {
      if (m.where[d] == MemoryState::kDisk) {
        from_disk.emplace_back(inputs.size(), d);
        inputs.emplace_back();
      } else if (m.where[d] == MemoryState::kWriting) {
        inputs.push_back(m.writing.at(d));
      } else {
        inputs.push_back(s.values[d]);
      }
      if (m.candidates.contains(d)) {
        m.key[d] = next_reader(s.plan, d, t);
        m.candidates.add(d, m.key[d]);
      } else if (m.where[d] == MemoryState::kDisk) {
        m.key[d] = next_reader(s.plan, d, t);
      }
    }
    if (from_disk.empty()) return;
    lock.unlock();
    for (const auto& [j, d] : from_disk) inputs[j] = m.store.read(d, *m.ops[d], m.bytes[d]);
    lock.lock();
    // Back in memory (its file kept), unless another reader did that meanwhile.
    for (const auto& [j, d] : from_disk) {
      if (m.where[d] != MemoryState::kDisk) continue;
      s.values[d] = inputs[j];
      m.where[d] = MemoryState::kMemory;
      m.held.fetch_add(m.bytes[d], std::memory_order_relaxed);
      m.candidates.add(d, m.key[d]);
    }
    m.peak = std::max(m.peak, m.held.load(std::memory_order_relaxed));
    spill_excess(s, lock);
  }

  // The first reader of d numbered after t (readers are listed ascending), or kNone: then d is kept only as
  // an output, needed at the very end.
  static std::uint32_t next_reader(const Plan& plan, std::uint32_t d, std::uint32_t t) {
    return detail::SpillCandidates::next_reader(plan.dependents(d), t);
  }

  // Stores t's result and releases t's inputs as finish() does, counting bytes; then spills past the limit.
  void keep_within_limit(RunState& s, std::uint32_t t, Value out) {
    MemoryState& m = *s.mem;
    std::unique_lock lock(m.mu);
    if (s.uses[t].load(std::memory_order_relaxed) > 0) {
      std::uint64_t b = detail::result_bytes(out);
      const bool spillable = m.spill && out.ops() != nullptr && out.ops()->encode != nullptr;
      if (b == 0) b = s.graph.options(s.plan.result_task(t)).output_bytes;
      m.bytes[t] = b;
      m.ops[t] = out.ops();
      m.where[t] = MemoryState::kMemory;
      m.held.fetch_add(b, std::memory_order_relaxed);
      s.values[t] = std::move(out);
      if (spillable) {
        auto readers = s.plan.dependents(t);
        m.key[t] = readers.empty() ? detail::SpillCandidates::kNever : readers.front();
        m.candidates.add(t, m.key[t]);
      }
      if (track_live_) {
        const std::int64_t live = s.live.fetch_add(1, std::memory_order_relaxed) + 1;
        if (live > s.peak_live.load(std::memory_order_relaxed)) s.peak_live.store(live);
      }
    }
    for (std::uint32_t d : s.plan.dependencies(t)) {
      if (s.uses[d].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
      if (m.where[d] == MemoryState::kMemory) {
        m.held.fetch_sub(m.bytes[d], std::memory_order_relaxed);
        m.candidates.remove(d);
      }
      if (m.has_file[d]) m.store.remove(d);  // one being written is removed by its writer
      m.where[d] = MemoryState::kNowhere;
      m.has_file[d] = 0;
      s.values[d].reset();
      if (track_live_) s.live.fetch_sub(1, std::memory_order_relaxed);
    }
    m.peak = std::max(m.peak, m.held.load(std::memory_order_relaxed));
    spill_excess(s, lock);
  }

  // Past spill_fraction: results go to disk, the one needed last first, until back under it. The files are
  // written without the lock (other threads go on; a reader of a result being written takes it from
  // `writing`), so `lock` is released and taken again.
  static void spill_excess(RunState& s, std::unique_lock<std::mutex>& lock) {
    MemoryState& m = *s.mem;
    std::vector<std::pair<std::uint32_t, Value>> victims;
    while (m.held.load(std::memory_order_relaxed) > m.spill_at && !m.candidates.empty()) {
      const std::uint32_t v = m.candidates.take_victim();
      m.held.fetch_sub(m.bytes[v], std::memory_order_relaxed);
      if (m.has_file[v]) {  // read back earlier: its file is still there
        m.where[v] = MemoryState::kDisk;
      } else {
        m.where[v] = MemoryState::kWriting;
        m.writing.emplace(v, s.values[v]);
        victims.emplace_back(v, s.values[v]);
      }
      s.values[v].reset();  // a running reader keeps its own reference until it ends
    }
    if (victims.empty()) return;
    m.store.prepare();
    lock.unlock();
    std::exception_ptr error;
    try {
      for (auto& [v, value] : victims) {
        m.store.write(v, value);
        value.reset();
      }
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    for (const auto& [v, value] : victims) {
      m.writing.erase(v);
      if (m.where[v] == MemoryState::kWriting) {
        m.where[v] = MemoryState::kDisk;
        m.has_file[v] = 1;
      } else {
        m.store.remove(v);  // released while it was being written
      }
    }
    if (error) std::rethrow_exception(error);
  }

  void observe(int id, std::uint32_t t, const Value& out, detail::ThreadRecorder* rec, DoneSlot& slot,
               bool grouped) {
    const std::uint64_t bytes = detail::result_bytes(out);
    if (rec != nullptr) rec->done(t, bytes);
    if (grouped) observer_.groups().done(id, t);
    const std::uint64_t done = slot.done.load(std::memory_order_relaxed);
    if (live_) slot.recent[done % DoneSlot::kRecent].store(t, std::memory_order_relaxed);
    slot.done.store(done + 1, std::memory_order_release);
    slot.bytes.store(slot.bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  }

  void begin_observing(RunState& s, std::chrono::steady_clock::time_point start) {
    for (int i = 0; i < nthreads_; ++i) {
      slots_[i].done.store(0, std::memory_order_relaxed);
      slots_[i].bytes.store(0, std::memory_order_relaxed);
      slots_[i].seen = 0;
    }
    observer_.begin(s.graph, s.plan, nthreads_, "threads");
    if (record_.enabled) {
      recorders_.resize(static_cast<std::size_t>(nthreads_));
      const detail::EventCaps caps =
          detail::event_caps(record_.max_events, s.total, static_cast<std::size_t>(nthreads_));
      for (int i = 0; i < nthreads_; ++i)
        recorders_[static_cast<std::size_t>(i)].begin(s.graph, s.plan, i, caps.cap, caps.expected,
                                                      pool_.get());
      scale_.start();
      started_ = detail::iso_time_now();
      if (s.mem) {
        spill_log_.begin(record_.max_transfers);
        s.mem->store.record_to(&spill_log_);
      }
    }
    ticker_.start(observer_.period(), [this, &s, start] {
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::uint64_t done = 0;
      std::uint64_t bytes = 0;
      for (int i = 0; i < nthreads_; ++i) {
        done += slots_[i].done.load(std::memory_order_relaxed);
        bytes += slots_[i].bytes.load(std::memory_order_relaxed);
      }
      if (live_) note_recent(t);
      const std::uint32_t cursor = s.root_cursor.load(std::memory_order_relaxed);
      const std::uint64_t roots_left = cursor < s.roots.size() ? s.roots.size() - cursor : 0;
      const std::int64_t queued = std::max<std::int64_t>(0, s.queued.load(std::memory_order_relaxed));
      const int awake = std::max(0, nthreads_ - s.sleepers.load(std::memory_order_relaxed));
      observer_.tick(t,
                     SchedulerSample{t, done, static_cast<std::uint64_t>(queued) + roots_left,
                                     static_cast<std::uint64_t>(awake)},
                     bytes, [&](LiveSnapshot& snap) {
                       snap.workers = {pool_row(done, queued)};
                       if (s.mem) {
                         snap.bytes_spilled = s.mem->store.bytes_written();
                         snap.bytes_unspilled = s.mem->store.bytes_read();
                         snap.workers[0].bytes_held = s.mem->held.load(std::memory_order_relaxed);
                       }
                     });
    });
  }

  // Sampler thread: the tasks the threads finished since its last look (at most the last 64 of each), as
  // finished now.
  void note_recent(double t) {
    for (int i = 0; i < nthreads_; ++i) {
      DoneSlot& slot = slots_[i];
      const std::uint64_t done = slot.done.load(std::memory_order_acquire);
      const std::uint64_t from = std::max(slot.seen, done > DoneSlot::kRecent ? done - DoneSlot::kRecent : 0);
      for (std::uint64_t k = from; k < done; ++k) {
        observer_.completed(slot.recent[k % DoneSlot::kRecent].load(std::memory_order_relaxed), 0, t, 0, 0);
      }
      slot.seen = done;
    }
  }

  WorkerRow pool_row(std::uint64_t done, std::int64_t queued) const {
    WorkerRow row;
    row.threads = nthreads_;
    row.tasks_done = done;
    row.tasks_queued = static_cast<std::uint64_t>(std::max<std::int64_t>(0, queued));
    return row;
  }

  void end_observing(const Graph& graph, const Plan& plan, RunResult& result) {
    std::uint64_t bytes = 0;
    for (int i = 0; i < nthreads_; ++i) bytes += slots_[i].bytes.load(std::memory_order_relaxed);
    observer_.close(result.stats.seconds, plan.size());
    if (record_.enabled) {
      scale_.finish();
      RunTrace trace;
      trace.executor = "threads";
      trace.threads = {nthreads_};
      trace.bindings = {""};
      trace.started = started_;
      trace.slurm_job_id = detail::slurm_job_id();
      trace.seconds = result.stats.seconds;
      trace.tasks_total = result.stats.plan_tasks;
      trace.graph_tasks = result.stats.graph_tasks;
      spill_log_.take(scale_.origin_time, trace);
      observer_.describe(trace);
      // Assembled when first looked at; the run only keeps the raw events and the graph's keys (shared).
      result.trace = make_pending_trace_ref(
          detail::defer(std::move(trace), graph, recorders_, scale_, observer_.take_resources(), pool_));
    }
    if (live_) note_recent(result.stats.seconds);
    observer_.finish(result.stats.seconds, plan.size(), bytes,
                     [&](LiveSnapshot& snap) { snap.workers = {pool_row(plan.size(), 0)}; });
  }

  const int nthreads_;
  const bool track_live_;
  const RecordOptions record_;
  const bool observed_;  // recording, reporting progress or publishing a live view
  const bool live_;      // publishing a live view
  const MemoryOptions memory_;
  std::unique_ptr<ReadyHeap[]> heaps_;
  std::unique_ptr<DoneSlot[]> slots_;
  std::vector<detail::ThreadRecorder> recorders_;
  std::shared_ptr<detail::RecordingPool> pool_ = std::make_shared<detail::RecordingPool>();
  detail::TickScale scale_;
  std::string started_;
  detail::RunObserver observer_;  // samples, progress groups, progress calls, live snapshots
  detail::SpillLog spill_log_;    // spill files written and read back, when recording
  detail::Ticker ticker_;
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable finish_cv_;
  std::uint64_t generation_ = 0;
  int running_ = 0;  // pool threads still inside work() for the current run
  bool shutdown_ = false;
  RunState* current_ = nullptr;
};

}  // namespace

std::unique_ptr<Executor> make_thread_pool_executor(const ExecutorOptions& options) {
  return std::make_unique<ThreadPoolExecutor>(options);
}

}  // namespace tessera
