#include "tessera/runtime/graph.h"

#include <algorithm>
#include <bit>
#include <mutex>

#include "tessera/runtime/error.h"

namespace tessera {

std::string TaskKey::str() const {
  if (index.empty()) return name;
  std::string out = "(\"" + name + "\"";
  for (std::int32_t i : index) {
    out += ", ";
    out += std::to_string(i);
  }
  out += ")";
  return out;
}

const Value& TaskContext::input(std::size_t i) const {
  if (i >= inputs_.size()) {
    throw_error(ErrorCode::kInvalidArgument, "task ", key().str(), " asked for input ", i, " but has ",
                inputs_.size(), " inputs");
  }
  return *inputs_[i];
}

Graph::Graph() {
  option_pool_.emplace_back();
}

std::uint32_t Graph::intern_options(const TaskOptions& options) {
  // Tasks of one operation are added together and share their options, so comparing with the most recent
  // distinct entry (and the default) finds nearly every duplicate.
  if (options == option_pool_.back()) return static_cast<std::uint32_t>(option_pool_.size() - 1);
  if (options == option_pool_.front()) return 0;
  option_pool_.push_back(options);
  return static_cast<std::uint32_t>(option_pool_.size() - 1);
}

NameId Graph::name(std::string_view name) {
  auto it = name_ids_.find(std::string(name));
  if (it != name_ids_.end()) return it->second;
  auto id = static_cast<NameId>(names_.size());
  names_.emplace_back(name);
  name_ids_.emplace(names_.back(), id);
  return id;
}

std::uint16_t Graph::progress_group(std::string_view label) {
  for (std::size_t i = 0; i < progress_groups_.size(); ++i) {
    if (progress_groups_[i] == label) return static_cast<std::uint16_t>(i + 1);
  }
  if (progress_groups_.size() >= 0xFFFF) {
    throw_error(ErrorCode::kInvalidArgument, "too many progress groups (65535) for \"", label, "\"");
  }
  progress_groups_.emplace_back(label);
  return static_cast<std::uint16_t>(progress_groups_.size());
}

KernelId Graph::kernel(Kernel k) {
  if (!k) throw_error(ErrorCode::kInvalidArgument, "a task kernel must be callable (got an empty function)");
  kernels_.push_back(std::move(k));
  return static_cast<KernelId>(kernels_.size() - 1);
}

TaskId Graph::add(NameId name, std::span<const std::int32_t> index, KernelId kernel,
                  std::span<const TaskId> deps, const TaskOptions& options) {
  const auto id = static_cast<TaskId>(records_.size());
  if (id >= kUnresolved) throw_error(ErrorCode::kResourceExhausted, "a graph holds at most 2^31 tasks");
  if (name >= names_.size())
    throw_error(ErrorCode::kInvalidArgument, "name id ", name, " was never interned");
  if (kernel >= kernels_.size()) {
    throw_error(ErrorCode::kInvalidArgument, "kernel id ", kernel, " was never stored with Graph::kernel");
  }
  for (TaskId d : deps) {
    if (d >= id) {
      throw_error(ErrorCode::kInvalidArgument, "task ",
                  TaskKey{names_[name], {index.begin(), index.end()}}.str(), ": dependency id ", d,
                  " does not exist (the graph has ", id, " tasks)");
    }
  }
  records_.push_back(Record{name, kernel, static_cast<std::uint32_t>(index_pool_.size()),
                            static_cast<std::uint32_t>(deps_.size())});
  index_pool_.append(index);
  deps_.append(deps);
  option_index_.push_back(intern_options(options));
  return id;
}

TaskId Graph::add(const TaskKey& key, Kernel k, std::span<const TaskRef> deps, const TaskOptions& options) {
  const NameId n = name(key.name);
  const KernelId kid = kernel(std::move(k));
  const auto id = static_cast<TaskId>(records_.size());
  std::vector<TaskId> resolved;
  resolved.reserve(deps.size());
  for (const TaskRef& ref : deps) {
    if (const TaskId* d = std::get_if<TaskId>(&ref)) {
      if (*d >= id) {
        throw_error(ErrorCode::kInvalidArgument, "task ", key.str(), ": dependency id ", *d,
                    " does not exist (the graph has ", id, " tasks)");
      }
      resolved.push_back(*d);
    } else {
      resolved.push_back(kUnresolved | static_cast<TaskId>(pending_refs_.size()));
      pending_refs_.push_back(std::get<TaskKey>(ref));
    }
  }
  // Key refs bypass the id check of the span overload, so append directly.
  records_.push_back(Record{n, kid, static_cast<std::uint32_t>(index_pool_.size()),
                            static_cast<std::uint32_t>(deps_.size())});
  index_pool_.append(key.index);
  deps_.append(resolved);
  option_index_.push_back(intern_options(options));
  return id;
}

std::uint32_t Graph::index_end(TaskId id) const {
  return id + 1 < records_.size() ? records_[id + 1].index_begin
                                  : static_cast<std::uint32_t>(index_pool_.size());
}

std::uint32_t Graph::dep_end(TaskId id) const {
  return id + 1 < records_.size() ? records_[id + 1].dep_begin : static_cast<std::uint32_t>(deps_.size());
}

TaskKey Graph::key(TaskId id) const {
  auto idx = index_of(id);
  return TaskKey{names_[records_[id].name], {idx.begin(), idx.end()}};
}

std::span<const std::int32_t> Graph::index_of(TaskId id) const {
  return {index_pool_.data() + records_[id].index_begin, index_pool_.data() + index_end(id)};
}

Graph::Keys Graph::keys() const {
  // Pinning sets a shared owner inside each array once: serialised, since executors running this graph
  // concurrently (it is const to them) may all take its keys.
  static std::mutex pin_mutex;
  Keys k;
  k.names_ = names_;
  std::lock_guard lock(pin_mutex);
  k.records_ = records_.pin();
  k.size_ = records_.size();
  k.index_pool_ = index_pool_.pin();
  k.index_size_ = index_pool_.size();
  return k;
}

Graph::Keys Graph::keys_of(std::span<const TaskId> tasks) const {
  detail::PodVector<Record> records;
  detail::PodVector<std::int32_t> pool;
  records.reserve(tasks.size());
  for (TaskId t : tasks) {
    records.push_back(Record{records_[t].name, 0, static_cast<std::uint32_t>(pool.size()), 0});
    pool.append(index_of(t));
  }
  Keys k;
  k.names_ = names_;
  k.records_ = records.pin();  // the blocks stay with the Keys when the vectors go
  k.size_ = records.size();
  k.index_pool_ = pool.pin();
  k.index_size_ = pool.size();
  return k;
}

std::span<const TaskId> Graph::dependencies(TaskId id) const {
  return {deps_.data() + records_[id].dep_begin, deps_.data() + dep_end(id)};
}

std::uint64_t Graph::hash_key(NameId name, std::span<const std::int32_t> index) const noexcept {
  // splitmix64 finaliser over the name id and each index component.
  auto mix = [](std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  std::uint64_t h = mix(name + 0x9e3779b97f4a7c15ULL);
  for (std::int32_t i : index) h = mix(h ^ static_cast<std::uint32_t>(i)) + index.size();
  return h;
}

std::optional<TaskId> Graph::lookup(NameId name, std::span<const std::int32_t> index) const {
  if (key_slots_.empty()) return std::nullopt;
  const std::size_t mask = key_slots_.size() - 1;
  for (std::size_t s = hash_key(name, index) & mask;; s = (s + 1) & mask) {
    const std::uint32_t slot = key_slots_[s];
    if (slot == 0) return std::nullopt;
    const TaskId t = slot - 1;
    if (records_[t].name == name) {
      auto other = index_of(t);
      if (std::equal(other.begin(), other.end(), index.begin(), index.end())) return t;
    }
  }
}

void Graph::index_keys() {
  const std::size_t n = records_.size();
  std::size_t want = std::bit_ceil(std::max<std::size_t>(16, 2 * n));
  if (want > key_slots_.size()) {
    key_slots_.assign(want, 0);
    checked_ = 0;
  }
  const std::size_t mask = key_slots_.size() - 1;
  // Each key lands on a random slot of a table far larger than the caches (64 MiB at 4M tasks): hashing a few
  // tasks ahead and prefetching their slots overlaps those misses instead of paying them one after another.
  constexpr std::size_t kAhead = 16;
  std::uint64_t ahead[kAhead];
  const std::size_t first = checked_;
  for (std::size_t t = first; t < std::min(n, first + kAhead); ++t) {
    ahead[t % kAhead] = hash_key(records_[t].name, index_of(static_cast<TaskId>(t)));
    __builtin_prefetch(&key_slots_[ahead[t % kAhead] & mask]);
  }
  for (TaskId t = static_cast<TaskId>(checked_); t < n; ++t) {
    const NameId name = records_[t].name;
    auto index = index_of(t);
    const std::uint64_t h = ahead[t % kAhead];
    if (t + kAhead < n) {
      const auto later = static_cast<TaskId>(t + kAhead);
      ahead[t % kAhead] = hash_key(records_[later].name, index_of(later));
      __builtin_prefetch(&key_slots_[ahead[t % kAhead] & mask]);
    }
    for (std::size_t s = h & mask;; s = (s + 1) & mask) {
      const std::uint32_t slot = key_slots_[s];
      if (slot == 0) {
        key_slots_[s] = t + 1;
        checked_ = t + 1;  // kept exact so that a duplicate found later leaves a consistent table
        break;
      }
      const TaskId other = slot - 1;
      if (records_[other].name == name) {
        auto oi = index_of(other);
        if (std::equal(oi.begin(), oi.end(), index.begin(), index.end())) {
          throw_error(ErrorCode::kInvalidArgument, "duplicate task key ", key(t).str(), ": added as task #",
                      other, " and again as task #", t);
        }
      }
    }
  }
}

// The first check of a graph that has no key table yet and no dependency given by key (the usual case: build,
// then plan once): the keys' hashes are sorted and only equal neighbours compared. A hash table would cost a
// cache miss per task once the graph outgrows the caches (its slots land at random); the radix sort streams
// through memory in four passes, so the cost per task stays the same from 100k to millions of tasks. A later
// lookup by key or a check after the graph grew builds the table (index_keys).
void Graph::check_keys_by_sorting() {
  const std::size_t n = records_.size();
  // (upper 32 bits of the hash, task id), sorted on the hash bits by an LSD radix sort of 3 digits.
  std::vector<std::uint64_t> a(n);
  std::vector<std::uint64_t> b(n);
  constexpr int kDigits = 3;
  constexpr int kShift[kDigits] = {32, 43, 54};
  constexpr std::uint64_t kMask[kDigits] = {0x7ff, 0x7ff, 0x3ff};
  std::vector<std::uint32_t> counts(kDigits * 2048, 0);
  for (TaskId t = 0; t < n; ++t) {
    const std::uint64_t v = (hash_key(records_[t].name, index_of(t)) & 0xffffffff00000000ULL) | t;
    a[t] = v;
    for (int d = 0; d < kDigits; ++d)
      ++counts[static_cast<std::size_t>(d) * 2048 + ((v >> kShift[d]) & kMask[d])];
  }
  for (int d = 0; d < kDigits; ++d) {
    std::uint32_t* c = counts.data() + static_cast<std::size_t>(d) * 2048;
    std::uint32_t sum = 0;
    for (std::size_t k = 0; k < 2048; ++k) {
      const std::uint32_t here = c[k];
      c[k] = sum;
      sum += here;
    }
    for (std::uint64_t v : a) b[c[(v >> kShift[d]) & kMask[d]]++] = v;
    a.swap(b);
  }
  // Equal hashes are neighbours now; tasks stay in id order among them (the sort is stable).
  for (std::size_t i = 1; i < n; ++i) {
    if ((a[i] >> 32) != (a[i - 1] >> 32)) continue;
    std::size_t first = i - 1;
    while (first > 0 && (a[first - 1] >> 32) == (a[i] >> 32)) --first;
    const auto t = static_cast<TaskId>(a[i] & 0xffffffffu);
    const auto index = index_of(t);
    for (std::size_t j = first; j < i; ++j) {
      const auto other = static_cast<TaskId>(a[j] & 0xffffffffu);
      auto oi = index_of(other);
      if (records_[other].name == records_[t].name &&
          std::equal(oi.begin(), oi.end(), index.begin(), index.end())) {
        throw_error(ErrorCode::kInvalidArgument, "duplicate task key ", key(t).str(), ": added as task #",
                    other, " and again as task #", t);
      }
    }
  }
  checked_ = n;
}

void Graph::resolve() {
  if (resolved()) return;
  if (pending_refs_.empty() && checked_ == 0 && key_slots_.empty()) {
    check_keys_by_sorting();
    return;
  }
  index_keys();
  if (pending_refs_.empty()) return;
  for (TaskId t = 0; t < records_.size(); ++t) {
    const std::uint32_t end = dep_end(t);
    for (std::uint32_t e = records_[t].dep_begin; e < end; ++e) {
      if ((deps_[e] & kUnresolved) == 0) continue;
      const TaskKey& ref = pending_refs_[deps_[e] & ~kUnresolved];
      std::optional<TaskId> found;
      if (auto it = name_ids_.find(ref.name); it != name_ids_.end()) found = lookup(it->second, ref.index);
      if (!found) {
        throw_error(ErrorCode::kNotFound, "task ", key(t).str(), " depends on ", ref.str(),
                    ", which is not in the graph");
      }
      deps_[e] = *found;
    }
  }
  pending_refs_.clear();
  pending_refs_.shrink_to_fit();
}

std::optional<TaskId> Graph::find(const TaskKey& key) {
  index_keys();
  auto it = name_ids_.find(key.name);
  if (it == name_ids_.end()) return std::nullopt;
  return lookup(it->second, key.index);
}

std::size_t Graph::memory_bytes() const noexcept {
  std::size_t bytes = records_.capacity() * sizeof(Record) + option_pool_.capacity() * sizeof(TaskOptions) +
                      option_index_.capacity() * sizeof(std::uint32_t) +
                      index_pool_.capacity() * sizeof(std::int32_t) + deps_.capacity() * sizeof(TaskId) +
                      key_slots_.capacity() * sizeof(std::uint32_t) + kernels_.capacity() * sizeof(Kernel);
  for (const auto& n : names_) bytes += sizeof(std::string) + n.capacity();
  return bytes;
}

}  // namespace tessera
