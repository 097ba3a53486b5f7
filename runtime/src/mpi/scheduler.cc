#include "scheduler.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "../trace/clock.h"
#include "tessera/runtime/stop.h"

namespace tessera::mpi {
namespace {

// While the scheduler runs, SIGTERM (what mpirun and srun send when another rank died or the job is
// cancelled) makes rank 0 say how far the run got before the default action ends the process.
std::atomic<std::uint64_t> g_completed{0};
std::atomic<std::uint64_t> g_total{0};

void write_number(char*& p, std::uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *p++ = digits[--n];
}

extern "C" void on_terminate(int sig) {
  char text[256];
  char* p = text;
  auto add = [&p](const char* s) {
    while (*s) *p++ = *s++;
  };
  add("tessera: rank 0 (scheduler) was told to stop (signal ");
  write_number(p, static_cast<std::uint64_t>(sig));
  add(") with ");
  write_number(p, g_completed.load());
  add(" of ");
  write_number(p, g_total.load());
  add(" tasks done: the launcher is ending the job, usually because another rank died\n");
  (void)!write(STDERR_FILENO, text, static_cast<std::size_t>(p - text));
  signal(sig, SIG_DFL);
  raise(sig);
}

// Installs on_terminate for the lifetime of a scheduler run, restoring what was there before.
class TerminateNotice {
 public:
  explicit TerminateNotice(std::uint64_t total) {
    g_completed = 0;
    g_total = total;
    // With stop handlers installed, SIGTERM asks for a graceful stop instead (see stop.h).
    if (stop_handlers_installed()) return;
    installed_ = true;
    struct sigaction sa {};
    sa.sa_handler = on_terminate;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &previous_);
  }
  ~TerminateNotice() {
    if (installed_) sigaction(SIGTERM, &previous_, nullptr);
  }

 private:
  struct sigaction previous_ {};
  bool installed_ = false;
};

}  // namespace

Scheduler::Scheduler(const Graph& graph, const Plan& plan, MPI_Comm comm, SchedulerConfig config,
                     detail::RunObserver* observer, const std::vector<std::string>& bindings,
                     Clock::time_point origin)
    : observer_(observer),
      bindings_(bindings),
      origin_(origin),
      comm_(comm),
      msg_(comm),
      core_(graph, plan, std::move(config)) {
  if (observer_ != nullptr) {
    observer_->begin(graph, plan, 1, "mpi");
    if (observer_->live()) {
      done_by_worker_.assign(static_cast<std::size_t>(core_.workers()), 0);
      busy_by_worker_.assign(static_cast<std::size_t>(core_.workers()), 0.0);
    }
    if (!observer_->groups().empty() || observer_->live()) core_.observe(this);
  }
  busy_scale_.start();
}

Outcome Scheduler::run() {
  TerminateNotice notice(core_.tasks());
  try {
    try {
      return loop();
    } catch (const Failure&) {
      throw;
    } catch (...) {
      // Anything else that goes wrong here (a malformed message, memory) still ends the run on every rank.
      core_.fail(current_error(0));
      return abort_all();
    }
  } catch (const Failure& e) {
    abort_job(comm_, e.what());
  }
}

Outcome Scheduler::loop() {
  std::vector<std::byte> buf;
  Backoff backoff;
  while (true) {
    bool active = false;
    int source = 0;
    const std::uint64_t iteration = observer_ != nullptr ? detail::ticks() : 0;
    if (!done_by_worker_.empty()) round_time_ = std::chrono::duration<double>(Clock::now() - origin_).count();
    while (msg_.poll(buf, source)) {
      active = true;
      core_.handle(buf.data(), buf.size(), source);
    }
    g_completed.store(core_.completed(), std::memory_order_relaxed);
    if (!core_.failed() && stop_requested()) {
      core_.fail(ErrorInfo{ErrorCode::kCancelled, "",
                           str_cat("stopped on request (", signal_name(stop_signal()), ") with ",
                                   core_.completed(), " of ", core_.tasks(), " tasks done"),
                           0});
    }
    if (core_.failed()) return abort_all();
    if (core_.done()) return finish();
    core_.schedule();
    send_orders();
    msg_.progress();
    if (core_.stalled()) {
      throw_error(ErrorCode::kInternal, "scheduler stalled with ", core_.tasks() - core_.completed(), " of ",
                  core_.tasks(), " tasks unfinished and none running");
    }
    if (observer_ != nullptr) observe_loop(iteration, active);
    if (active) {
      backoff.reset();
    } else {
      backoff.pause();
    }
  }
}

void Scheduler::send_orders() {
  core_.flush([this](int rank, std::vector<std::byte>&& message) { msg_.send(rank, std::move(message)); });
}

void Scheduler::task_done(int worker_rank, std::uint32_t task, float seconds, std::uint64_t bytes) {
  observer_->groups().done(0, task);  // nothing when the graph has no progress groups
  if (done_by_worker_.empty()) return;
  ++done_by_worker_[static_cast<std::size_t>(worker_rank - 1)];
  busy_by_worker_[static_cast<std::size_t>(worker_rank - 1)] += seconds;
  observer_->completed(task, worker_rank, round_time_, seconds, bytes);
}

void Scheduler::worker_table(LiveSnapshot& snapshot) const {
  for (int w = 1; w <= core_.workers(); ++w) {
    WorkerRow row;
    row.rank = w;
    row.threads = core_.threads(w);
    row.binding =
        static_cast<std::size_t>(w) < bindings_.size() ? bindings_[static_cast<std::size_t>(w)] : "";
    row.tasks_done = done_by_worker_.empty() ? 0 : done_by_worker_[static_cast<std::size_t>(w - 1)];
    row.tasks_queued = static_cast<std::uint64_t>(std::max(0, core_.occupancy(w)));
    row.queued_seconds = core_.queued_seconds(w);
    row.bytes_held = core_.held_bytes(w);
    row.busy_seconds = busy_by_worker_.empty() ? 0 : busy_by_worker_[static_cast<std::size_t>(w - 1)];
    if (hosts_ != nullptr && static_cast<std::size_t>(w) < hosts_->size())
      row.node = (*hosts_)[static_cast<std::size_t>(w)];
    snapshot.workers.push_back(std::move(row));
  }
}

// Samples, progress calls, live snapshots and busy time (rank 0 only; never on a worker's path). Busy time in
// TSC ticks (10 ns to read where steady_clock takes 25 in a VM); the clock proper only every 16 rounds, since
// samples and progress calls come every 20 ms or more and a round lasts at most one nap (205 µs).
void Scheduler::observe_loop(std::uint64_t iteration, bool active) {
  if (active) busy_ticks_ += detail::ticks() - iteration;
  if ((++rounds_ & 15) != 0) return;
  const double t = std::chrono::duration<double>(Clock::now() - origin_).count();
  observer_->tick(t, SchedulerSample{t, core_.completed(), core_.ready(), core_.in_flight()},
                  core_.bytes_done(), [this](LiveSnapshot& snapshot) { worker_table(snapshot); });
}

Scheduler::Recording Scheduler::take_recording() {
  Recording r;
  const double t = std::chrono::duration<double>(Clock::now() - origin_).count();
  observer_->close(t, core_.completed());
  r.groups = observer_->final_groups();
  if (observer_->recording()) {
    RunTrace described;
    observer_->describe(described);
    r.samples = std::move(described.scheduler);
    r.group_samples = std::move(described.group_done);
    r.task_groups = std::move(described.task_groups);
    r.resources = observer_->take_resources();
  }
  busy_scale_.finish();
  r.busy_seconds = static_cast<double>(busy_ticks_) * busy_scale_.seconds_per_tick;
  r.bytes_done = core_.bytes_done();
  return r;
}

void Scheduler::broadcast(const std::vector<std::byte>& message) {
  for (int w = 1; w <= core_.workers(); ++w) {
    std::vector<std::byte> copy = message;
    msg_.send(w, std::move(copy));
  }
}

Outcome Scheduler::finish() {
  send_orders();
  Outcome out;
  broadcast(core_.finish_message(out.outputs));
  msg_.wait_all();
  return out;
}

Outcome Scheduler::abort_all() {
  broadcast(core_.abort_message());
  // Drain: every worker answers kAborted once its running tasks finished; anything else is obsolete.
  int aborted = 0;
  std::vector<std::byte> buf;
  Backoff backoff;
  while (aborted < core_.workers()) {
    int source = 0;
    if (msg_.poll(buf, source)) {
      if (static_cast<Msg>(buf.at(0)) == Msg::kAborted) ++aborted;
      backoff.reset();
    } else {
      msg_.progress();
      backoff.pause();
    }
  }
  // Until now a stopped worker keeps answering chunk requests, since a peer may still wait for bytes from it
  // to complete its own fetches; every worker has confirmed, so no request is left anywhere.
  WireWriter done;
  done.put(static_cast<std::uint8_t>(Msg::kAbortDone));
  broadcast(done.bytes());
  msg_.wait_all();
  Outcome out;
  out.error = core_.error();
  return out;
}

}  // namespace tessera::mpi
