// Task graphs: keys, callables, dependencies. Building a graph runs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "tessera/runtime/pod_vector.h"
#include "tessera/runtime/value.h"

namespace tessera {

using TaskId = std::uint32_t;
using KernelId = std::uint32_t;
using NameId = std::uint32_t;

// A task's identity: a human-readable name and a chunk index, printed like Dask's keys: ("mean-3f2a", 4, 0),
// or just the name when the index is empty.
struct TaskKey {
  std::string name;
  std::vector<std::int32_t> index;

  std::string str() const;
  friend bool operator==(const TaskKey&, const TaskKey&) = default;
};

// What a running task sees: its inputs (the results of its dependencies, in the order they were listed), its
// key and the executor thread running it. Valid only during the call.
class TaskContext {
 public:
  TaskContext(std::span<const Value* const> inputs, std::string_view name,
              std::span<const std::int32_t> index, int thread) noexcept
      : inputs_(inputs), name_(name), index_(index), thread_(thread) {}

  std::size_t num_inputs() const noexcept { return inputs_.size(); }
  // Throws Error(kInvalidArgument) when i is out of range.
  const Value& input(std::size_t i) const;
  template <class T>
  const T& input(std::size_t i) const {
    return input(i).get<T>();
  }
  std::string_view name() const noexcept { return name_; }
  std::span<const std::int32_t> index() const noexcept { return index_; }
  TaskKey key() const { return TaskKey{std::string(name_), {index_.begin(), index_.end()}}; }
  int thread() const noexcept { return thread_; }

 private:
  std::span<const Value* const> inputs_;
  std::string_view name_;
  std::span<const std::int32_t> index_;
  int thread_;
};

// A task's callable. It may throw; the executor turns the exception into a TaskError naming the task.
using Kernel = std::function<Value(const TaskContext&)>;

struct TaskOptions {
  std::uint64_t output_bytes = 0;  // estimate of the result's size, for scheduling and memory accounting
  std::int32_t priority = 0;       // higher runs earlier among tasks the ordering otherwise ties
  // Extra attempts after the callable throws (then the task fails). A tessera::Error that no retry can cure
  // (any code but kIo and kResourceExhausted: bad input, a missing thing, damaged data) fails at once.
  std::uint8_t retries = 0;
  // Pause before retry k (k = 1, 2, ...): retry_backoff_ms * 2^(k-1) milliseconds, at most 1 s, so that a
  // transient cause (a busy file system, a flaky network mount) has time to pass.
  std::uint16_t retry_backoff_ms = 10;
  std::int32_t rank = -1;  // MPI executor: run on this worker rank (-1: wherever the scheduler likes)
  // Graph::progress_group() id: the task counts in that group's progress (Progress::groups, the report's
  // progress per output); 0: in none.
  std::uint16_t progress_group = 0;
  // A root whose result can be made again at the cost of reading it (a chunk read from a file): when its
  // readers run far apart (a climatology, then the anomalies from it), the plan runs it again for the later
  // readers instead of holding its result in between (PlanOptions::reread).
  bool rereadable = false;

  friend bool operator==(const TaskOptions&, const TaskOptions&) = default;
};

// A dependency named by id (a task already added) or by key (resolved by Graph::resolve(), so it may refer to
// a task added later).
using TaskRef = std::variant<TaskId, TaskKey>;

namespace detail {
// A graph's per-task record (Graph keeps one per task).
struct GraphRecord {
  NameId name;
  KernelId kernel;
  std::uint32_t index_begin;
  std::uint32_t dep_begin;
};
}  // namespace detail

// A directed acyclic graph of tasks, built by add() calls. Not thread-safe. Cheap per task: a task that
// shares its kernel with others costs about 40 bytes plus 4 per dependency and 4 per index dimension.
class Graph {
 public:
  Graph();

  // Interns a task name; tasks of one kind share it.
  NameId name(std::string_view name);
  // A labelled group of tasks whose progress is shown on its own (e.g. the chunk writes of one output
  // variable): tasks join it through TaskOptions::progress_group. The same label gives the same id (1, 2,
  // ...). Throws Error(kInvalidArgument) past 65535 groups.
  std::uint16_t progress_group(std::string_view label);
  // Labels of the progress groups; group id g is progress_groups()[g - 1].
  const std::vector<std::string>& progress_groups() const noexcept { return progress_groups_; }
  // Stores a callable that many tasks can share (they tell themselves apart by their key's index).
  KernelId kernel(Kernel k);

  // Adds a task. Dependencies given as ids must exist already; throws Error(kInvalidArgument) otherwise.
  TaskId add(NameId name, std::span<const std::int32_t> index, KernelId kernel, std::span<const TaskId> deps,
             const TaskOptions& options = {});
  TaskId add(NameId name, std::initializer_list<std::int32_t> index, KernelId kernel,
             std::initializer_list<TaskId> deps, const TaskOptions& options = {}) {
    return add(name, std::span<const std::int32_t>(index.begin(), index.size()), kernel,
               std::span<const TaskId>(deps.begin(), deps.size()), options);
  }
  TaskId add(NameId name, std::initializer_list<std::int32_t> index, KernelId kernel,
             std::span<const TaskId> deps, const TaskOptions& options = {}) {
    return add(name, std::span<const std::int32_t>(index.begin(), index.size()), kernel, deps, options);
  }
  // Adds a task with its own callable; dependencies may be ids or keys.
  TaskId add(const TaskKey& key, Kernel k, std::span<const TaskRef> deps = {},
             const TaskOptions& options = {});
  TaskId add(const TaskKey& key, Kernel k, std::initializer_list<TaskRef> deps,
             const TaskOptions& options = {}) {
    return add(key, std::move(k), std::span<const TaskRef>(deps.begin(), deps.size()), options);
  }

  // Resolves dependencies given by key and checks that keys are unique. Throws Error(kNotFound) naming the
  // task and the missing key, or Error(kInvalidArgument) naming a duplicated key. Idempotent and incremental.
  void resolve();
  bool resolved() const noexcept { return pending_refs_.empty() && checked_ == records_.size(); }

  std::size_t size() const noexcept { return records_.size(); }
  // Dependency edges over all tasks (a task listing one dependency twice counts twice).
  std::size_t edges() const noexcept { return deps_.size(); }
  TaskKey key(TaskId id) const;
  std::string key_string(TaskId id) const { return key(id).str(); }
  std::string_view name_of(TaskId id) const { return names_[records_[id].name]; }
  NameId name_id_of(TaskId id) const { return records_[id].name; }
  const std::vector<std::string>& names() const noexcept { return names_; }
  // Every task's record, by id (for hot paths that name tasks by the million: the executors' recorders).
  const detail::GraphRecord* records() const noexcept { return records_.data(); }
  std::span<const std::int32_t> index_of(TaskId id) const;
  const Kernel& kernel_of(TaskId id) const { return kernels_[records_[id].kernel]; }
  const TaskOptions& options(TaskId id) const { return option_pool_[option_index_[id]]; }
  // The dependencies in the order given. Requires resolved() when some were given by key.
  std::span<const TaskId> dependencies(TaskId id) const;
  // The task with this key, if any (resolves first).
  std::optional<TaskId> find(const TaskKey& key);

  // Every task's key as the graph has it now, for what must outlive the graph (a recording of a run): the
  // names are copied, the per-task arrays shared (PodVector::pin): taking them costs no per-task work, and a
  // graph that grows or goes away afterwards moves to new arrays or leaves these to the Keys.
  class Keys {
   public:
    std::size_t size() const noexcept { return size_; }
    const std::vector<std::string>& names() const noexcept { return names_; }
    NameId name(TaskId id) const;
    std::span<const std::int32_t> index(TaskId id) const;

   private:
    friend class Graph;
    std::vector<std::string> names_;
    std::shared_ptr<const detail::GraphRecord> records_;
    std::size_t size_ = 0;
    std::shared_ptr<const std::int32_t> index_pool_;
    std::size_t index_size_ = 0;
  };
  Keys keys() const;
  // The keys of `tasks` only, as tasks 0, 1, ... in that order (copies: for a recording of a small part of a
  // large graph).
  Keys keys_of(std::span<const TaskId> tasks) const;

  // Bytes held by the graph's own structures (not by what kernels capture).
  std::size_t memory_bytes() const noexcept;

  static constexpr TaskId kUnresolved = 0x80000000u;  // high bit of a stored dependency: index of a key ref

 private:
  using Record = detail::GraphRecord;
  std::uint32_t index_end(TaskId id) const;
  std::uint32_t dep_end(TaskId id) const;
  std::uint64_t hash_key(NameId name, std::span<const std::int32_t> index) const noexcept;
  std::optional<TaskId> lookup(NameId name, std::span<const std::int32_t> index) const;
  void index_keys();
  void check_keys_by_sorting();

  std::vector<std::string> names_;
  std::unordered_map<std::string, NameId> name_ids_;
  std::vector<std::string> progress_groups_;
  std::vector<Kernel> kernels_;
  detail::PodVector<Record> records_;
  std::uint32_t intern_options(const TaskOptions& options);

  std::vector<TaskOptions> option_pool_;           // distinct options, consecutive duplicates shared
  detail::PodVector<std::uint32_t> option_index_;  // per task
  detail::PodVector<std::int32_t> index_pool_;
  detail::PodVector<TaskId> deps_;
  std::vector<TaskKey> pending_refs_;
  std::vector<std::uint32_t> key_slots_;  // open-addressing table of task id + 1 (0 = empty)
  std::size_t checked_ = 0;  // tasks whose keys were checked for duplicates (entered into key_slots_, if it
                             // is not empty: a graph only resolved once never needs the table)
};

inline NameId Graph::Keys::name(TaskId id) const {
  return records_.get()[id].name;
}

inline std::span<const std::int32_t> Graph::Keys::index(TaskId id) const {
  const detail::GraphRecord* r = records_.get();
  const std::size_t end = id + 1 < size_ ? r[id + 1].index_begin : index_size_;
  return {index_pool_.get() + r[id].index_begin, index_pool_.get() + end};
}

}  // namespace tessera
