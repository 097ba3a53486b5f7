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
// Worker (ranks 1..N-1, worker.h). Its main thread talks to the scheduler, drives fetches and answers other
// workers' chunk requests; compute threads, pinned to the cores of the worker's NUMA binding, run tasks as
// their inputs arrive, and publish results into the worker's chunk arena for other workers to fetch: by
// MPI_Rget where the arena is attached to a dynamic window both ranks share, else by asking the owner, whose
// main thread sends the bytes (two-sided path; chosen once at start-up, see MpiExecutor::choose_transfer).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
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
#include "worker.h"

namespace tessera {
namespace mpi {
namespace {

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
