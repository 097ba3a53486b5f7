#include "scheduler_core.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "../spill_policy.h"
#include "placement.h"
#include "tessera/runtime/value.h"

namespace tessera::mpi {
namespace {

constexpr std::uint32_t kNone = 0xFFFFFFFFu;

std::string type_name_of(std::uint64_t tag) {
  const detail::TypeOps* ops = detail::find_type(tag);
  return ops ? detail::demangle(ops->type) : str_cat("type #", tag);
}

}  // namespace

SchedulerCore::SchedulerCore(const Graph& graph, const Plan& plan, SchedulerConfig config)
    : graph_(graph),
      plan_(plan),
      workers_(static_cast<int>(config.workers.size())),
      m_(plan.size()),
      pending_(m_),
      readers_(m_),
      where_(m_, -1),
      state_(m_, kWaiting),
      loc_(m_),
      replicas_(m_),
      inline_(m_),
      inline_sent_(m_),
      inline_budget_(config.inline_budget),
      occupancy_(static_cast<std::size_t>(workers_), 0),
      queued_seconds_(static_cast<std::size_t>(workers_), 0.0),
      room_(static_cast<std::size_t>(workers_), 1),
      overloaded_(static_cast<std::size_t>(workers_), 0),
      estimate_(m_, 0.0f),
      kind_(m_),
      name_seconds_(graph.names().size(), -1.0f),
      unknown_seconds_(kQueueSeconds / std::max(1, config.tasks_per_thread)),
      threads_(static_cast<std::size_t>(workers_)),
      node_(static_cast<std::size_t>(workers_)),
      rma_group_(static_cast<std::size_t>(workers_)),
      push_bytes_(config.push_bytes),
      push_out_(static_cast<std::size_t>(workers_)),
      push_count_(static_cast<std::size_t>(workers_), 0),
      pushed_(m_),
      assign_out_(static_cast<std::size_t>(workers_)),
      release_out_(static_cast<std::size_t>(workers_)),
      assign_count_(static_cast<std::size_t>(workers_), 0),
      release_count_(static_cast<std::size_t>(workers_), 0),
      pause_at_(static_cast<std::uint64_t>(static_cast<double>(config.memory.limit) *
                                           config.memory.pause_fraction)),
      spill_at_(config.memory.limit > 0 && config.memory.spill
                    ? std::max<std::uint64_t>(
                          1, static_cast<std::uint64_t>(static_cast<double>(config.memory.limit) *
                                                        config.memory.spill_fraction))
                    : 0),
      held_bytes_(config.memory.limit > 0 ? static_cast<std::size_t>(workers_) : 0, 0) {
  if (workers_ < 1) throw_error(ErrorCode::kInvalidArgument, "a scheduler needs at least one worker");
  if (spill_at_ > 0) {
    spill_state_.assign(m_, kInMemory);
    holding_.resize(static_cast<std::size_t>(workers_));
    spill_out_.resize(static_cast<std::size_t>(workers_));
    spill_count_.assign(static_cast<std::size_t>(workers_), 0);
  }
  for (std::uint32_t t = 0; t < m_; ++t) {
    pending_[t] = static_cast<std::int32_t>(plan.dependencies(t).size());
    readers_[t] = static_cast<std::int32_t>(plan.dependents(t).size() + plan.output_holds(t));
    kind_[t] = graph.name_id_of(plan.result_task(t));
    for (TaskId member : plan.members(t)) pinned_ = pinned_ || graph.options(member).rank >= 1;
  }
  for (int w = 0; w < workers_; ++w) {
    const auto i = static_cast<std::size_t>(w);
    const WorkerShape& shape = config.workers[i];
    threads_[i] = std::max(1, shape.threads);
    node_[i] = shape.node;
    rma_group_[i] = shape.rma_group;
  }
  index_ = detail::OccupancyIndex(node_);
  for (std::size_t i = 0; i < static_cast<std::size_t>(workers_); ++i) update_load(i);
}

// A worker's queue is kept about kQueueSeconds deep per thread, in the expected time of its runnable tasks
// (each task's kind's running mean): short tasks need many in flight to hide the round trip through the
// scheduler, long ones few (and few root tasks in flight bounds memory). At least 2 and at most 64 tasks per
// thread. A count of tasks with one running mean per worker (the earlier rule) let a worker that had just
// run thousands of 4 us combines take thousands of 3 ms tasks at once.
void SchedulerCore::update_load(std::size_t i) {
  const int t = threads_[i];
  const double budget = kQueueSeconds * t;
  if (occupancy_[i] == 0) queued_seconds_[i] = 0;  // no drift from adding and subtracting estimates
  room_[i] = occupancy_[i] < 64 * t && (occupancy_[i] < 2 * t || queued_seconds_[i] < budget);
  overloaded_[i] = occupancy_[i] >= 128 * t || (occupancy_[i] >= 4 * t && queued_seconds_[i] >= 2 * budget);
  index_.touch(i);
}

float SchedulerCore::estimate(std::uint32_t t) const {
  const float s = name_seconds_[kind_[t]];
  return s >= 0 ? s : static_cast<float>(unknown_seconds_);
}

void SchedulerCore::runnable(std::uint32_t t, int w) {
  const auto i = wi(w);
  ++occupancy_[i];
  estimate_[t] = estimate(t);
  queued_seconds_[i] += estimate_[t];
  update_load(i);
}

void SchedulerCore::fail(ErrorInfo error) {
  if (!error_) error_ = std::move(error);
}

// The best ready task (lowest plan number) without taking it.
std::uint32_t SchedulerCore::peek() const {
  std::uint32_t best = heap_.empty() ? kNone : heap_.front();
  if (root_cursor_ < plan_.roots().size()) best = std::min(best, plan_.roots()[root_cursor_]);
  return best;
}

void SchedulerCore::take(std::uint32_t t) {
  if (root_cursor_ < plan_.roots().size() && plan_.roots()[root_cursor_] == t) {
    ++root_cursor_;
  } else {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    heap_.pop_back();
  }
}

int SchedulerCore::rank_hint(std::uint32_t t) const {
  if (!pinned_) return -1;
  for (TaskId member : plan_.members(t)) {
    const int r = graph_.options(member).rank;
    if (r >= 1 && r <= workers_) return r;
  }
  return -1;
}

int SchedulerCore::least_occupied(bool for_root) {
  // Past a memory limit some workers take no roots: a scan (memory-limited runs are about big chunks).
  if (!for_root || held_bytes_.empty()) return index_.least_occupied(occupancy_, room_, -1);
  int best = -1;
  for (int w = 0; w < workers_; ++w) {
    const auto i = static_cast<std::size_t>(w);
    if (!room_[i]) continue;
    if (for_root && !has_memory_for_root(w + 1)) continue;
    if (best < 0 || occupancy_[i] < occupancy_[static_cast<std::size_t>(best)]) best = w;
  }
  return best < 0 ? -1 : best + 1;
}

// The worker rank for ready task t, or -1 to wait for room.
int SchedulerCore::choose(std::uint32_t t) {
  auto deps = plan_.dependencies(t);
  // Results that cannot move (no codec, or kept local) decide first: a rank hint cannot override them.
  int forced = -1;
  std::uint32_t forced_by = kNone;
  for (std::uint32_t d : deps) {
    if ((loc_[d].flags & (kNotEncodable | kNotPublished)) == 0) continue;
    if (forced > 0 && forced != where_[d]) cannot_meet(t, forced_by, d);
    forced = where_[d];
    forced_by = d;
  }
  const int hint = rank_hint(t);
  if (forced > 0) {
    if (hint > 0 && hint != forced) {
      throw_error(ErrorCode::kInvalidArgument, "task ", graph_.key_string(plan_.result_task(t)),
                  " is pinned to rank ", hint, " but reads the result of ",
                  graph_.key_string(plan_.result_task(forced_by)), " (", type_name_of(loc_[forced_by].tag),
                  "), which cannot leave rank ", forced, ": specialise tessera::Codec for its type");
    }
    return forced;
  }
  if (hint > 0) return hint;
  if (deps.empty()) {
    const auto last = static_cast<std::size_t>(last_root_worker_ - 1);
    if (last_root_worker_ > 0 && room_[last] && occupancy_[last] < block_end_ &&
        has_memory_for_root(last_root_worker_))
      return last_root_worker_;
    last_root_worker_ = least_occupied(true);
    if (last_root_worker_ < 0 && !held_bytes_.empty() && least_occupied() > 0) {
      // Every worker with room is past pause_fraction. Wait for running tasks to free memory; when nothing
      // runs, nothing will, so go on one root at a time, over the limit.
      ++roots_withheld_;
      if (in_flight_ == 0) {
        last_root_worker_ = least_occupied();
      } else {
        root_withheld_ = true;
      }
    }
    if (last_root_worker_ > 0) {
      // A block of consecutive roots (siblings of a reduction meet on one worker), but no more than an even
      // share of the run's roots, and at least one per thread: few roots (a stencil's first step, one per
      // thread) spread over every worker instead of filling the first ones' queues.
      const auto i = wi(last_root_worker_);
      const std::size_t roots = plan_.roots().size();
      const std::size_t share =
          (roots + static_cast<std::size_t>(workers_) - 1) / static_cast<std::size_t>(workers_);
      block_end_ =
          occupancy_[i] + std::max(threads_[i], static_cast<int>(std::min<std::size_t>(share, 1 << 20)));
    }
    return last_root_worker_;
  }
  held_.clear();
  for (std::uint32_t d : deps) {
    auto it = std::find_if(held_.begin(), held_.end(), [&](const auto& e) { return e.first == where_[d]; });
    if (it == held_.end()) {
      held_.emplace_back(where_[d], loc_[d].bytes + 1);
    } else {
      it->second += loc_[d].bytes + 1;
    }
  }
  return detail::place_by_inputs(held_, detail::WorkerLoads{occupancy_, room_, overloaded_, node_, &index_});
}

void SchedulerCore::cannot_meet(std::uint32_t t, std::uint32_t a, std::uint32_t b) const {
  throw_error(ErrorCode::kInvalidArgument, "task ", graph_.key_string(plan_.result_task(t)),
              " reads results held on ranks ", where_[a], " and ", where_[b],
              " that cannot move: ", graph_.key_string(plan_.result_task(a)), " (", type_name_of(loc_[a].tag),
              ") and ", graph_.key_string(plan_.result_task(b)), " (", type_name_of(loc_[b].tag),
              "); specialise tessera::Codec for these types");
}

// True if every input of c is finished or assigned to worker w (and c may run there).
bool SchedulerCore::can_join(std::uint32_t c, int w) const {
  if (state_[c] != kWaiting) return false;
  const int hint = rank_hint(c);
  if (hint > 0 && hint != w) return false;
  for (std::uint32_t d : plan_.dependencies(c)) {
    if (state_[d] == kAssigned && where_[d] == w) continue;
    if (state_[d] == kDone && (where_[d] == w || (loc_[d].flags & (kNotEncodable | kNotPublished)) == 0)) {
      continue;
    }
    return false;
  }
  return true;
}

// The single task reading t's result, if there is exactly one (possibly reading it several times).
std::uint32_t SchedulerCore::only_reader(std::uint32_t t) const {
  auto readers = plan_.dependents(t);
  if (readers.empty() || plan_.output_holds(t) > 0) return kNone;
  for (std::uint32_t r : readers) {
    if (r != readers[0]) return kNone;
  }
  return readers[0];
}

void SchedulerCore::assign(std::uint32_t first, int w) {
  std::uint32_t t = first;
  while (t != kNone) {
    state_[t] = kAssigned;  // before can_join, which asks whether t is placed on w
    where_[t] = w;
    const std::uint32_t next = only_reader(t);
    const bool joins = next != kNone && can_join(next, w);
    ++in_flight_;
    if (pending_[t] == 0) runnable(t, w);
    WireWriter& out = assign_out_[wi(w)];
    out.put(t);
    out.put<std::uint8_t>(joins ? kLocalOnly : 0);
    remotes_.clear();
    for (std::uint32_t d : plan_.dependencies(t)) {
      if (spill_at_ > 0 && where_[d] == w && spill_state_[d] == kOnDisk) {
        // The owner reads it back from its spill file for this task and keeps it (and the file).
        spill_state_[d] = kReadBack;
        held_bytes_[wi(w)] += owner_bytes(d);
        peak_held_ = std::max(peak_held_, held_bytes_[wi(w)]);
        holding_[wi(w)].push_back(d);
      }
      if (state_[d] != kDone || where_[d] == w) continue;
      if (std::find(remotes_.begin(), remotes_.end(), d) != remotes_.end()) continue;
      remotes_.push_back(d);
    }
    out.put(static_cast<std::uint32_t>(remotes_.size()));
    for (std::uint32_t d : remotes_) {
      out.put(d);
      out.put(static_cast<std::int32_t>(where_[d]));
      // Small results ride along, once per worker (a worker without them, e.g. after dropping its copy,
      // fetches as usual).
      const std::vector<std::byte>* in = inline_.empty() ? nullptr : inline_.find(d);
      if (in == nullptr && push(d, w)) {
        Location l = loc_[d];
        l.flags |= kPushed;
        put(out, l);
        continue;
      }
      std::vector<int>* sent = in == nullptr ? nullptr : &inline_sent_[d];
      if (in == nullptr || std::find(sent->begin(), sent->end(), w) != sent->end()) {
        put(out, loc_[d]);  // fetched, or w has it inline already
        continue;
      }
      sent->push_back(w);
      Location l = loc_[d];
      l.flags |= kInline;
      put(out, l);
      out.put(static_cast<std::uint32_t>(in->size()));
      out.put_bytes(in->data(), in->size());
    }
    ++assign_count_[wi(w)];
    t = joins ? next : kNone;
  }
}

// Whether result d goes to worker w unasked (MpiExecutorOptions::push_bytes): if so, orders its owner to send
// it. Only between workers that fetch two-sided, only from memory, once per worker and result (the reader
// counts what it was told to expect, so a second push would be waited for, not lost).
bool SchedulerCore::push(std::uint32_t d, int w) {
  const Location& l = loc_[d];
  const int owner = where_[d];
  if (l.bytes == 0 || l.bytes > push_bytes_ || l.tag == 0) return false;
  if ((l.flags & (kNotEncodable | kNotPublished | kSpilled)) != 0) return false;
  if (spill_at_ > 0 && spill_state_[d] != kInMemory) return false;
  const int group = rma_group_[wi(owner)];
  if (group >= 0 && group == rma_group_[wi(w)]) return false;
  if (holds_in_memory(w, d)) return false;
  std::vector<int>& to = pushed_[d];
  if (std::find(to.begin(), to.end(), w) != to.end()) return false;
  to.push_back(w);
  push_out_[wi(owner)].put(d);
  push_out_[wi(owner)].put(static_cast<std::int32_t>(w));
  ++push_count_[wi(owner)];
  return true;
}

void SchedulerCore::schedule() {
  while (true) {
    std::uint32_t t = peek();
    if (t == kNone) return;
    root_withheld_ = false;
    int w = choose(t);
    if (w < 0 && root_withheld_ && !heap_.empty()) {
      // A root held back for memory must not hold back the tasks that consume results and free memory.
      t = heap_.front();
      w = choose(t);
    }
    if (w < 0) return;
    take(t);
    assign(t, w);
  }
}

void SchedulerCore::release(std::uint32_t d) {
  state_[d] = kReleased;
  if (!inline_.empty()) forget_inline(d);
  pushed_.erase(d);
  auto add = [&](int w, std::uint64_t bytes) {
    release_out_[wi(w)].put(d);
    ++release_count_[wi(w)];
    if (!held_bytes_.empty()) held_bytes_[wi(w)] -= std::min(held_bytes_[wi(w)], bytes);
  };
  add(where_[d], owner_bytes(d));
  if (const std::vector<int>* holders = replicas_.find(d)) {
    for (int w : *holders) add(w, loc_[d].bytes);
    replicas_.erase(d);
  }
}

// The running mean of task t's kind (its key's name), for the queue estimates.
void SchedulerCore::observe_time(std::uint32_t t, float seconds) {
  float& s = name_seconds_[kind_[t]];
  s = s < 0 ? seconds : 0.9f * s + 0.1f * seconds;
}

void SchedulerCore::on_complete(WireReader& r, int w) {
  const auto n = r.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto t = checked(r.get<std::uint32_t>());
    loc_[t] = get_location(r);
    if (loc_[t].flags & kInline) {
      loc_[t].flags &= static_cast<std::uint8_t>(~kInline);
      const auto k = r.get<std::uint32_t>();
      if (k != loc_[t].bytes)
        throw_error(ErrorCode::kInternal, "inline result of ", k, " bytes, said ", loc_[t].bytes);
      const std::byte* p = r.get_view(k);
      if (inline_held_ + k <= inline_budget_) {  // past it, readers fetch as usual
        inline_[t].assign(p, p + k);
        inline_held_ += k;
      }
    }
    bytes_done_ += loc_[t].bytes;
    const float seconds = r.get<float>();
    if (observer_ != nullptr) observer_->task_done(w, t, seconds, loc_[t].bytes);
    observe_time(t, seconds);
    const auto copies = r.get<std::uint32_t>();
    for (std::uint32_t k = 0; k < copies; ++k) {
      const std::uint32_t d = checked(r.get<std::uint32_t>());
      replicas_[d].push_back(w);
      if (!held_bytes_.empty()) held_bytes_[wi(w)] += loc_[d].bytes;
      if (spill_at_ > 0) holding_[wi(w)].push_back(d);
    }
    if (!held_bytes_.empty()) {
      held_bytes_[wi(w)] += owner_bytes(t);
      peak_held_ = std::max(peak_held_, held_bytes_[wi(w)]);
    }
    if (spill_at_ > 0) holding_[wi(w)].push_back(t);
    state_[t] = kDone;
    --occupancy_[wi(w)];
    queued_seconds_[wi(w)] -= estimate_[t];
    update_load(wi(w));
    --in_flight_;
    ++completed_;
    for (std::uint32_t c : plan_.dependents(t)) {
      if (--pending_[c] != 0) continue;
      if (state_[c] == kAssigned) {
        runnable(c, where_[c]);
      } else {
        state_[c] = kReady;
        heap_.push_back(c);
        std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
      }
    }
    for (std::uint32_t d : plan_.dependencies(t)) {
      if (--readers_[d] == 0) release(d);
    }
    if (readers_[t] == 0) release(t);
  }
}

void SchedulerCore::forget_inline(std::uint32_t d) {
  const std::vector<std::byte>* bytes = inline_.find(d);
  if (bytes == nullptr) return;
  inline_held_ -= bytes->size();
  inline_.erase(d);
  inline_sent_.erase(d);
}

// Bytes result d takes on its owner as counted against the limit: its value and its encoded copy in the arena
// while in memory, nothing once spilled, the value alone once read back from its spill file.
std::uint64_t SchedulerCore::owner_bytes(std::uint32_t d) const {
  if (spill_at_ == 0 || spill_state_[d] == kInMemory) {
    return (loc_[d].flags & kNotPublished) != 0 ? loc_[d].bytes : 2 * loc_[d].bytes;
  }
  return spill_state_[d] == kOnDisk ? 0 : loc_[d].bytes;
}

// Whether worker w still holds result d in memory (as its owner or as a fetched copy).
bool SchedulerCore::holds_in_memory(int w, std::uint32_t d) const {
  if (state_[d] != kDone) return false;
  if (where_[d] == w) return spill_state_.empty() || spill_state_[d] != kOnDisk;
  const std::vector<int>* holders = replicas_.find(d);
  return holders != nullptr && std::find(holders->begin(), holders->end(), w) != holders->end();
}

// Whether d may leave memory now: it can be encoded, is no output, and no assigned task reads it (so no fetch
// of it is in flight anywhere, and none will start before the worker has handled the order). Sets `next` to
// the plan position of its next reader.
bool SchedulerCore::spillable(std::uint32_t d, std::uint32_t& next) const {
  if (plan_.output_holds(d) > 0 || loc_[d].bytes == 0 || loc_[d].tag == 0) return false;
  if ((loc_[d].flags & (kNotEncodable | kNotPublished)) != 0) return false;
  next = kNone;
  for (std::uint32_t c : plan_.dependents(d)) {
    if (state_[c] == kAssigned) return false;
    if (state_[c] != kDone) next = std::min(next, c);
  }
  return true;
}

// Worker w is past spill_fraction: orders results out of its memory until it is back under, the one read
// furthest in the future first (spill_policy.h; the plan order is the order tasks run in). A fetched copy is
// dropped (it can be fetched again); an owned result goes to the worker's spill file and is served from
// there.
void SchedulerCore::spill_some(int w) {
  std::vector<std::uint32_t>& list = holding_[wi(w)];
  victims_.clear();
  for (std::size_t i = 0; i < list.size();) {
    const std::uint32_t d = list[i];
    if (!holds_in_memory(w, d)) {  // released, spilled or dropped since: forget it
      list[i] = list.back();
      list.pop_back();
      continue;
    }
    std::uint32_t next = 0;
    if (spillable(d, next)) victims_.emplace_back(next, d);
    ++i;
  }
  detail::SpillCandidates::order_victims(victims_);
  // A result spilled and read back may be listed twice (the list is pruned lazily).
  victims_.erase(std::unique(victims_.begin(), victims_.end()), victims_.end());
  for (const auto& [next, d] : victims_) {
    if (held_bytes_[wi(w)] <= spill_at_) break;
    std::uint8_t kind = kSpillToDisk;
    if (where_[d] == w) {
      held_bytes_[wi(w)] -= std::min(held_bytes_[wi(w)], owner_bytes(d));
      spill_state_[d] = kOnDisk;
      loc_[d].flags |= kSpilled;
    } else {
      kind = kDropCopy;
      auto& holders = replicas_[d];
      holders.erase(std::find(holders.begin(), holders.end(), w));
      if (std::vector<int>* sent = inline_sent_.find(d)) std::erase(*sent, w);
      if (std::vector<int>* to = pushed_.find(d)) std::erase(*to, w);
      held_bytes_[wi(w)] -= std::min(held_bytes_[wi(w)], loc_[d].bytes);
    }
    spill_out_[wi(w)].put(d);
    spill_out_[wi(w)].put(kind);
    ++spill_count_[wi(w)];
  }
  // Pruned when next asked: results now out of memory stay in `list` until then.
}

std::uint32_t SchedulerCore::checked(std::uint32_t t) const {
  if (t >= m_)
    throw_error(ErrorCode::kInternal, "control message names task ", t, " of a ", m_, "-task plan");
  return t;
}

void SchedulerCore::handle(const std::byte* data, std::size_t size, int source) {
  WireReader r(data, size);
  const auto kind = static_cast<Msg>(r.get<std::uint8_t>());
  if (source < 1 || source > workers_) {
    throw_error(ErrorCode::kInternal, "scheduler got a message from rank ", source, " of ", workers_ + 1);
  }
  if (kind == Msg::kComplete) {
    if (!error_) on_complete(r, source);
  } else if (kind == Msg::kError) {
    ErrorInfo e = get_error(r);
    if (!error_) error_ = std::move(e);
  } else {
    throw_error(ErrorCode::kInternal, "scheduler got unexpected message ", static_cast<int>(kind),
                " from rank ", source);
  }
}

void SchedulerCore::flush(const std::function<void(int rank, std::vector<std::byte>&& message)>& send) {
  auto out = [&](int w, Msg kind, WireWriter& body, std::uint32_t& count) {
    if (count == 0) return;
    std::vector<std::byte> message(1 + sizeof(count) + body.size());
    message[0] = static_cast<std::byte>(kind);
    std::memcpy(message.data() + 1, &count, sizeof(count));
    std::memcpy(message.data() + 1 + sizeof(count), body.bytes().data(), body.size());
    send(w + 1, std::move(message));
    body.clear();
    count = 0;
  };
  // Push orders first: the owner's bytes then travel while the readers' assignments do.
  for (int w = 0; w < workers_; ++w) {
    out(w, Msg::kPush, push_out_[static_cast<std::size_t>(w)], push_count_[static_cast<std::size_t>(w)]);
  }
  for (int w = 0; w < workers_; ++w) {
    const auto i = static_cast<std::size_t>(w);
    // Assignments before releases: a released result is never an input of a later assignment, and keeping
    // this order lets a worker drop it only after starting what it was assigned.
    out(w, Msg::kAssign, assign_out_[i], assign_count_[i]);
    out(w, Msg::kRelease, release_out_[i], release_count_[i]);
    if (spill_at_ > 0) {
      if (held_bytes_[i] > spill_at_) spill_some(w + 1);
      out(w, Msg::kSpill, spill_out_[i], spill_count_[i]);
    }
  }
}

std::vector<std::byte> SchedulerCore::finish_message(std::vector<OutputInfo>& outputs) const {
  WireWriter body;
  body.put(static_cast<std::uint8_t>(Msg::kFinish));
  body.put(static_cast<std::uint32_t>(plan_.outputs().size()));
  outputs.clear();
  for (std::uint32_t o : plan_.outputs()) {
    OutputInfo info{where_[o], loc_[o]};
    body.put(info.owner);
    put(body, info.where);
    outputs.push_back(info);
  }
  return std::move(body.bytes());
}

std::vector<std::byte> SchedulerCore::abort_message() const {
  WireWriter body;
  body.put(static_cast<std::uint8_t>(Msg::kAbort));
  put(body, *error_);
  return std::move(body.bytes());
}

}  // namespace tessera::mpi
