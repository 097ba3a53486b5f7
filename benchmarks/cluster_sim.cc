#include "cluster_sim.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <time.h>

#include "tessera/runtime/value.h"

namespace tessera::sim {
namespace {

using mpi::Location;
using mpi::Msg;
using mpi::Remote;
using mpi::WireReader;
using mpi::WireWriter;

enum class Kind : std::uint8_t { kRound, kAtScheduler, kAtWorker, kTaskDone, kFetched, kPushed, kReport };

struct Event {
  double t;
  std::uint64_t seq;
  Kind kind;
  std::int32_t rank;
  std::uint32_t task;  // or message slot
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Worker {
  int node = 0;
  int free_threads = 0;
  std::vector<std::uint32_t> ready;  // min-heap of plan tasks
  std::unordered_set<std::uint32_t> held;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> waiters;  // input -> tasks waiting for it
  std::unordered_set<std::uint32_t> coming;        // inputs being fetched or pushed here
  std::unordered_set<std::uint32_t> pushed_early;  // pushes that arrived before the assignment naming them
  std::vector<std::uint32_t> copies;               // fetched, not reported yet
  WireWriter report;
  std::uint32_t report_count = 0;
  bool report_due = false;
  std::uint64_t held_bytes = 0;
  std::uint64_t peak_bytes = 0;
};

class Simulation {
 public:
  Simulation(const Graph& graph, const Plan& plan, const Costs& costs, const Cluster& cluster,
             const Network& network, const WorkerModel& model, const mpi::SchedulerConfig& base)
      : graph_(graph),
        plan_(plan),
        costs_(costs),
        cluster_(cluster),
        net_(network),
        model_(model),
        core_(graph, plan, config(cluster, base)),
        workers_(static_cast<std::size_t>(cluster.workers) + 1),
        pending_(plan.size(), 0),
        flags_(plan.size(), 0),
        nodes_(static_cast<std::size_t>(node_of(cluster.workers)) + 1),
        tag_(Value::of(std::int64_t{0}).ops()->tag),
        zeros_(mpi::kMaxInlineBytes, std::byte{0}) {
    for (int w = 1; w <= cluster.workers; ++w) {
      Worker& x = workers_[static_cast<std::size_t>(w)];
      x.node = node_of(w);
      x.free_threads = cluster.threads;
    }
  }

  Result run() {
    clock_cost_ = clock_cost();
    push(0, Kind::kRound, 0, 0);
    round_due_ = true;
    while (!finished_) {
      if (events_.empty()) {
        throw_error(ErrorCode::kInternal, "simulation stalled with ", core_.completed(), " of ",
                    core_.tasks(), " tasks done");
      }
      const Event e = events_.top();
      events_.pop();
      if (cluster_.trace_every > 0 && e.t >= next_trace_) trace(e.t);
      now_ = e.t;
      handle(e);
    }
    result_.message_seconds = static_cast<double>(result_.messages_in) * net_.recv_cost +
                              static_cast<double>(result_.messages_out) * net_.send_cost;
    result_.busy_fraction =
        result_.makespan > 0 ? (result_.core_seconds + result_.message_seconds) / result_.makespan : 0;
    result_.tasks = plan_.size();
    result_.workers = cluster_.workers;
    result_.threads = cluster_.threads;
    bounds();
    double sum = 0;
    for (std::size_t w = 1; w < workers_.size(); ++w) {
      result_.peak_worker_bytes = std::max(result_.peak_worker_bytes, workers_[w].peak_bytes);
      sum += static_cast<double>(workers_[w].peak_bytes);
    }
    result_.mean_peak_worker_bytes = sum / cluster_.workers;
    for (std::size_t n = 0; n < moved_by_name_.size(); ++n) {
      if (moved_by_name_[n] > 0) result_.bytes_by_name.emplace_back(graph_.names()[n], moved_by_name_[n]);
    }
    std::sort(result_.bytes_by_name.begin(), result_.bytes_by_name.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    return result_;
  }

 private:
  static mpi::SchedulerConfig config(const Cluster& c, mpi::SchedulerConfig base) {
    base.workers.clear();
    for (int w = 1; w <= c.workers; ++w) {
      const int node = w / c.workers_per_node;
      base.workers.push_back(mpi::WorkerShape{c.threads, node, c.rma_everywhere ? 0 : node});
    }
    return base;
  }
  int node_of(int rank) const { return rank / cluster_.workers_per_node; }

  void push(double t, Kind kind, std::int32_t rank, std::uint32_t task) {
    events_.push(Event{t, seq_++, kind, rank, task});
  }

  std::uint32_t store(std::vector<std::byte>&& m) {
    if (!free_slots_.empty()) {
      const std::uint32_t s = free_slots_.back();
      free_slots_.pop_back();
      messages_[s] = std::move(m);
      return s;
    }
    messages_.push_back(std::move(m));
    return static_cast<std::uint32_t>(messages_.size() - 1);
  }
  void drop(std::uint32_t slot) {
    messages_[slot].clear();
    messages_[slot].shrink_to_fit();
    free_slots_.push_back(slot);
  }

  // When `bytes` sent from rank `src` at time `t` arrive at rank `dst`. Between nodes the bytes go through
  // both nodes' NICs, one transfer at a time each way.
  double deliver(int src, int dst, std::uint64_t bytes, double t) {
    const int a = node_of(src);
    const int b = node_of(dst);
    if (a == b) return t + net_.latency_node + static_cast<double>(bytes) / net_.bandwidth_node;
    Nic& out = nodes_[static_cast<std::size_t>(a)];
    Nic& in = nodes_[static_cast<std::size_t>(b)];
    const double start = std::max({t, out.out_free, in.in_free});
    const double end = start + static_cast<double>(bytes) / net_.bandwidth_net;
    out.out_free = end;
    in.in_free = end;
    return end + net_.latency_net;
  }

  // One line of the run's timeline on stderr (Cluster::trace_every).
  void trace(double t) {
    int busy = 0;
    std::size_t queued = 0;
    for (std::size_t w = 1; w < workers_.size(); ++w) {
      busy += cluster_.threads - workers_[w].free_threads;
      queued += workers_[w].ready.size();
    }
    std::fprintf(stderr,
                 "  t=%8.4f s  threads busy %6d of %6d  queued on workers %7zu  ready at rank 0 %7llu  "
                 "assigned %7llu  done %8u  rank 0 inbox %zu\n",
                 t, busy, cluster_.workers * cluster_.threads, queued,
                 static_cast<unsigned long long>(core_.ready()),
                 static_cast<unsigned long long>(core_.in_flight()), core_.completed(), inbox_.size());
    while (next_trace_ <= t) next_trace_ += cluster_.trace_every;
  }

  void handle(const Event& e) {
    switch (e.kind) {
      case Kind::kRound:
        round();
        break;
      case Kind::kAtScheduler:
        inbox_.emplace_back(e.rank, e.task);
        if (!round_due_) {
          push(std::max(now_, busy_until_), Kind::kRound, 0, 0);
          round_due_ = true;
        }
        break;
      case Kind::kAtWorker:
        at_worker(e.rank, messages_[e.task]);
        drop(e.task);
        break;
      case Kind::kTaskDone:
        task_done(e.rank, e.task);
        break;
      case Kind::kFetched:
        arrived(e.rank, e.task, false);
        break;
      case Kind::kPushed:
        arrived(e.rank, e.task, true);
        break;
      case Kind::kReport:
        send_report(e.rank);
        break;
    }
  }

  // Rank 0: one turn of the scheduler loop over the messages that arrived, timed here.
  void round() {
    round_due_ = false;
    out_.clear();
    const double t0 = cpu_seconds();
    // As the MPI loop: at most max_messages_per_round messages, then the orders they made possible.
    const std::size_t in = std::min(inbox_.size(), static_cast<std::size_t>(cluster_.max_messages_per_round));
    for (std::size_t k = 0; k < in; ++k) {
      const std::vector<std::byte>& m = messages_[inbox_[k].second];
      core_.handle(m.data(), m.size(), inbox_[k].first);
    }
    const bool done = core_.done();
    if (!done) {
      core_.schedule();
      core_.flush([this](int rank, std::vector<std::byte>&& m) { out_.emplace_back(rank, std::move(m)); });
    }
    // This thread's CPU time, less what reading it costs: other processes on a shared machine do not count.
    const double measured = std::max(0.0, cpu_seconds() - t0 - clock_cost_);
    result_.core_seconds += measured;
    for (std::size_t k = 0; k < in; ++k) drop(inbox_[k].second);
    inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(in));
    ++result_.rounds;
    result_.messages_in += in;
    result_.messages_out += out_.size();
    busy_until_ = now_ + measured + static_cast<double>(in) * net_.recv_cost +
                  static_cast<double>(out_.size()) * net_.send_cost;
    if (done) {
      result_.makespan = busy_until_;
      finished_ = true;
      return;
    }
    if (core_.stalled()) throw_error(ErrorCode::kInternal, "scheduler stalled in the simulation");
    for (auto& [rank, m] : out_) {
      result_.control_bytes += m.size();
      const double at = deliver(0, rank, m.size(), busy_until_);
      push(at, Kind::kAtWorker, rank, store(std::move(m)));
    }
    if (!inbox_.empty()) {
      push(busy_until_, Kind::kRound, 0, 0);
      round_due_ = true;
    }
  }

  static double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  // What an empty interval measures (two reads of the clock): the median of many.
  static double clock_cost() {
    std::vector<double> d;
    for (int i = 0; i < 201; ++i) {
      const double a = cpu_seconds();
      d.push_back(cpu_seconds() - a);
    }
    std::nth_element(d.begin(), d.begin() + 100, d.end());
    return d[100];
  }

  void at_worker(int w, const std::vector<std::byte>& m) {
    Worker& x = workers_[static_cast<std::size_t>(w)];
    WireReader r(m.data(), m.size());
    const auto kind = static_cast<Msg>(r.get<std::uint8_t>());
    const auto n = r.get<std::uint32_t>();
    for (std::uint32_t i = 0; i < n; ++i) {
      switch (kind) {
        case Msg::kAssign:
          assigned(w, x, r);
          break;
        case Msg::kRelease: {
          const auto d = r.get<std::uint32_t>();
          if (x.held.erase(d) > 0) x.held_bytes -= std::min(x.held_bytes, costs_.bytes[d]);
          break;
        }
        case Msg::kSpill: {
          const auto d = r.get<std::uint32_t>();
          const auto how = r.get<std::uint8_t>();
          // Out of memory: on disk (the owner) or dropped (a copy). Disk time is not modelled.
          if (x.held.count(d)) x.held_bytes -= std::min(x.held_bytes, costs_.bytes[d]);
          if (how == mpi::kDropCopy) x.held.erase(d);
          break;
        }
        case Msg::kPush: {
          const auto d = r.get<std::uint32_t>();
          const auto reader = r.get<std::int32_t>();
          push(deliver(w, reader, costs_.bytes[d], now_), Kind::kPushed, reader, d);
          break;
        }
        default:
          throw_error(ErrorCode::kInternal, "simulated worker got message ", static_cast<int>(kind));
      }
    }
  }

  void assigned(int w, Worker& x, WireReader& r) {
    std::uint8_t flags = 0;
    const std::uint32_t t = mpi::get_assignment(r, flags, remotes_);
    flags_[t] = flags;
    std::int32_t waiting = 0;
    seen_.clear();
    for (std::uint32_t d : plan_.dependencies(t)) {
      if (std::find(seen_.begin(), seen_.end(), d) != seen_.end()) continue;
      seen_.push_back(d);
      if (x.held.count(d)) continue;
      auto rem = std::find_if(remotes_.begin(), remotes_.end(), [d](const Remote& e) { return e.dep == d; });
      if (rem != remotes_.end() && !x.coming.count(d)) {
        if (rem->inline_bytes != nullptr || rem->where.bytes == 0) {
          if (rem->inline_bytes != nullptr) result_.bytes_inline += rem->where.bytes;
          hold_copy(x, d);
          continue;
        }
        if (rem->pushed && x.pushed_early.erase(d) > 0) {
          hold_copy(x, d);
          continue;
        }
        x.coming.insert(d);
        if (!rem->pushed) {
          // A one-sided get (or a request) and its answer.
          const double asked = now_ + (node_of(rem->rank) == x.node ? net_.latency_node : net_.latency_net);
          push(deliver(rem->rank, w, rem->where.bytes, asked), Kind::kFetched, w, d);
        }
      }
      x.waiters[d].push_back(t);
      ++waiting;
    }
    pending_[t] = waiting;
    if (waiting == 0) make_ready(w, x, t);
  }

  void hold_copy(Worker& x, std::uint32_t d) {
    if (!x.held.insert(d).second) return;
    x.copies.push_back(d);
    x.held_bytes += costs_.bytes[d];
    x.peak_bytes = std::max(x.peak_bytes, x.held_bytes);
  }

  void arrived(int w, std::uint32_t d, bool pushed) {
    Worker& x = workers_[static_cast<std::size_t>(w)];
    const std::uint64_t bytes = costs_.bytes[d];
    (node_of(w) == node_of(owner_of(d)) ? result_.bytes_node : result_.bytes_net) += bytes;
    moved_by_name_[graph_.name_id_of(plan_.result_task(d))] += bytes;
    if (!x.coming.erase(d)) {
      if (pushed) x.pushed_early.insert(d);
      return;
    }
    hold_copy(x, d);
    satisfy(w, x, d);
  }

  int owner_of(std::uint32_t d) const { return owner_[d]; }

  void satisfy(int w, Worker& x, std::uint32_t d) {
    auto it = x.waiters.find(d);
    if (it == x.waiters.end()) return;
    std::vector<std::uint32_t> tasks = std::move(it->second);
    x.waiters.erase(it);
    for (std::uint32_t t : tasks) {
      if (--pending_[t] == 0) make_ready(w, x, t);
    }
  }

  void make_ready(int w, Worker& x, std::uint32_t t) {
    x.ready.push_back(t);
    std::push_heap(x.ready.begin(), x.ready.end(), std::greater<>());
    start(w, x);
  }

  void start(int w, Worker& x) {
    while (x.free_threads > 0 && !x.ready.empty()) {
      std::pop_heap(x.ready.begin(), x.ready.end(), std::greater<>());
      const std::uint32_t t = x.ready.back();
      x.ready.pop_back();
      --x.free_threads;
      push(now_ + costs_.seconds[t] + model_.task_overhead, Kind::kTaskDone, w, t);
    }
  }

  void task_done(int w, std::uint32_t t) {
    Worker& x = workers_[static_cast<std::size_t>(w)];
    ++x.free_threads;
    owner_[t] = w;
    x.held.insert(t);
    x.held_bytes += costs_.bytes[t];
    x.peak_bytes = std::max(x.peak_bytes, x.held_bytes);
    const std::uint64_t bytes = costs_.bytes[t];
    Location where{0x1000, bytes, tag_, 0};
    if (flags_[t] & mpi::kLocalOnly) where.flags = mpi::kNotPublished;
    const bool small = bytes > 0 && bytes <= inline_bytes_ && where.flags == 0;
    mpi::put_completion(x.report, t, where, small ? zeros_.data() : nullptr, costs_.seconds[t],
                        x.copies.data(), x.copies.size());
    x.copies.clear();
    ++x.report_count;
    if (!x.report_due) {
      x.report_due = true;
      push(now_ + model_.report_delay, Kind::kReport, w, 0);
    }
    satisfy(w, x, t);
    start(w, x);
  }

  void send_report(int w) {
    Worker& x = workers_[static_cast<std::size_t>(w)];
    x.report_due = false;
    std::vector<std::byte> m(1 + sizeof(std::uint32_t) + x.report.size());
    m[0] = static_cast<std::byte>(Msg::kComplete);
    std::memcpy(m.data() + 1, &x.report_count, sizeof(std::uint32_t));
    std::memcpy(m.data() + 1 + sizeof(std::uint32_t), x.report.bytes().data(), x.report.size());
    x.report.clear();
    x.report_count = 0;
    const double at = deliver(w, 0, m.size(), now_);
    push(at, Kind::kAtScheduler, w, store(std::move(m)));
  }

  void bounds() {
    std::vector<double> finish(plan_.size(), 0);
    double work = 0;
    double longest = 0;
    for (std::uint32_t t = 0; t < plan_.size(); ++t) {  // plan order is a topological order
      double start = 0;
      for (std::uint32_t d : plan_.dependencies(t)) start = std::max(start, finish[d]);
      finish[t] = start + costs_.seconds[t];
      work += costs_.seconds[t];
      longest = std::max(longest, finish[t]);
    }
    result_.critical_path = longest;
    result_.work = work;
  }

  struct Nic {
    double out_free = 0;
    double in_free = 0;
  };

  const Graph& graph_;
  const Plan& plan_;
  const Costs& costs_;
  const Cluster cluster_;
  const Network net_;
  const WorkerModel model_;
  mpi::SchedulerCore core_;
  std::vector<Worker> workers_;  // by rank (0 unused)
  std::vector<std::int32_t> pending_;
  std::vector<std::uint8_t> flags_;
  std::vector<std::int32_t> owner_ = std::vector<std::int32_t>(plan_.size(), 0);
  std::vector<Nic> nodes_;
  const std::uint64_t tag_;
  const std::vector<std::byte> zeros_;
  const std::uint64_t inline_bytes_ = 1024;  // MpiExecutorOptions::inline_bytes
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t seq_ = 0;
  double now_ = 0;
  double busy_until_ = 0;
  bool round_due_ = false;
  bool finished_ = false;
  std::vector<std::pair<int, std::uint32_t>> inbox_;
  std::vector<std::pair<int, std::vector<std::byte>>> out_;
  std::vector<std::vector<std::byte>> messages_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<Remote> remotes_;
  std::vector<std::uint32_t> seen_;
  double clock_cost_ = 0;
  std::vector<std::uint64_t> moved_by_name_ = std::vector<std::uint64_t>(graph_.names().size(), 0);
  double next_trace_ = 0;
  Result result_;
};

}  // namespace

Result simulate(const Graph& graph, const Plan& plan, const Costs& costs, const Cluster& cluster,
                const Network& network, const WorkerModel& model, const mpi::SchedulerConfig& base) {
  Simulation s(graph, plan, costs, cluster, network, model, base);
  return s.run();
}

}  // namespace tessera::sim
