// A rank's recording on the wire (worker -> rank 0 at the end of a run). Every rank runs the same binary, so
// plain structs travel as their bytes; task events, the bulk, are delta- and varint-coded (put_events).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../trace/pending_trace.h"
#include "../trace/thread_recorder.h"
#include "mpi_env.h"

namespace tessera::mpi {

template <class T, class A>
void put_items(WireWriter& w, const std::vector<T, A>& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  w.put<std::uint64_t>(v.size());
  if (!v.empty()) w.put_bytes(v.data(), v.size() * sizeof(T));
}

// One copy of the whole array (a worker's million task events are 32 MB), into `v`'s memory when it has some.
template <class T, class V = std::vector<T>>
V get_items(WireReader& r, V v = {}) {
  static_assert(std::is_trivially_copyable_v<T>);
  const auto n = r.get<std::uint64_t>();
  const std::byte* bytes = r.get_view(n * sizeof(T));  // checks the length before anything is sized
  v.resize(n);
  if (n > 0) std::memcpy(v.data(), bytes, n * sizeof(T));
  return v;
}

// Task events travel as differences from the previous event of their list (task, graph task - task, start -
// previous end, end - start, bytes), zigzag-varint coded: about 8 bytes an event where the struct has 32, so
// rank 0 gathers a quarter of the bytes at the end of a run.
namespace event_wire {
constexpr std::size_t kMaxEventBytes = 5 * 10;  // five fields of at most 10 varint bytes
inline std::uint64_t zigzag(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}
inline std::byte* put_varint(std::byte* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(v);
  return p;
}
inline std::uint64_t get_varint(const std::byte*& p, const std::byte* end) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) throw_error(ErrorCode::kInternal, "truncated task events in a worker's recording");
    const auto b = static_cast<std::uint64_t>(*p++);
    v |= (b & 0x7F) << shift;
    if ((b & 0x80) == 0) return v;
  }
  throw_error(ErrorCode::kInternal, "malformed task events in a worker's recording");
}
inline std::int64_t diff(std::uint64_t a, std::uint64_t b) noexcept {  // a - b, wrapping
  return static_cast<std::int64_t>(a - b);
}
}  // namespace event_wire

template <class A>
void put_events(WireWriter& w, const std::vector<detail::RawTask, A>& list) {
  using namespace event_wire;
  w.put<std::uint64_t>(list.size());
  std::vector<std::byte>& out = w.bytes();
  const std::size_t at = out.size();
  // Grown in steps as the events are coded (a resize zeroes what it adds: only about what is used).
  std::size_t room = at + sizeof(std::uint64_t);
  std::size_t used = room;
  detail::RawTask prev{0, 0, 0, 0, 0};
  for (const detail::RawTask& e : list) {
    if (room - used < kMaxEventBytes) {
      room = used + std::max<std::size_t>(std::size_t{1} << 16, (used - at) / 2);
      out.resize(room);
    }
    std::byte* p = out.data() + used;
    p = put_varint(p, zigzag(static_cast<std::int64_t>(e.task) - static_cast<std::int64_t>(prev.task)));
    p = put_varint(p, zigzag(static_cast<std::int64_t>(e.graph_task) - static_cast<std::int64_t>(e.task)));
    p = put_varint(p, zigzag(diff(e.start, prev.end)));
    p = put_varint(p, zigzag(diff(e.end, e.start)));
    p = put_varint(p, e.bytes);
    used = static_cast<std::size_t>(p - out.data());
    prev = e;
  }
  out.resize(used);
  const std::uint64_t n = used - at - sizeof(std::uint64_t);
  std::memcpy(out.data() + at, &n, sizeof n);
}

template <class V>
V get_events(WireReader& r, V v = {}) {
  using namespace event_wire;
  const auto count = r.get<std::uint64_t>();
  const auto n = r.get<std::uint64_t>();
  const std::byte* p = r.get_view(n);  // checks the length before anything is sized
  const std::byte* const end = p + n;
  if (count > n / 5) throw_error(ErrorCode::kInternal, "malformed task events in a worker's recording");
  v.resize(count);
  detail::RawTask prev{0, 0, 0, 0, 0};
  for (detail::RawTask& e : v) {
    e.task = static_cast<std::uint32_t>(static_cast<std::int64_t>(prev.task) + unzigzag(get_varint(p, end)));
    e.graph_task =
        static_cast<std::uint32_t>(static_cast<std::int64_t>(e.task) + unzigzag(get_varint(p, end)));
    e.start = prev.end + static_cast<std::uint64_t>(unzigzag(get_varint(p, end)));
    e.end = e.start + static_cast<std::uint64_t>(unzigzag(get_varint(p, end)));
    e.bytes = get_varint(p, end);
    prev = e;
  }
  if (p != end) throw_error(ErrorCode::kInternal, "malformed task events in a worker's recording");
  return v;
}

inline void put(WireWriter& w, const detail::RankRecording& rec) {
  w.put(rec.rank);
  w.put<std::uint8_t>(rec.transfers_sampled ? 1 : 0);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(rec.tasks.size()));
  for (const auto& list : rec.tasks) put_events(w, list);
  put_items(w, rec.sampled);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(rec.totals.size()));
  for (const auto& [name, k] : rec.totals) {
    w.put_string(name);
    w.put(k);
  }
  put_items(w, rec.transfers);
  put_items(w, rec.resources);
  put_items(w, rec.thread_times);
  put_items(w, rec.spills);
  w.put<std::uint8_t>(rec.spills_sampled ? 1 : 0);
  w.put(rec.bytes_spilled);
  w.put(rec.bytes_unspilled);
  w.put(rec.spill_seconds);
  w.put(rec.unspill_seconds);
}

// Task event lists go into buffers from `pool` when given (warm memory from earlier runs).
inline detail::RankRecording get_recording(WireReader& r, detail::RecordingPool* pool = nullptr) {
  detail::RankRecording rec;
  rec.rank = r.get<std::int32_t>();
  rec.transfers_sampled = r.get<std::uint8_t>() != 0;
  const auto lists = r.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < lists; ++i) {
    rec.tasks.push_back(
        get_events<detail::EventList>(r, pool != nullptr ? pool->take_events() : detail::EventList{}));
  }
  rec.sampled = get_items<std::uint8_t>(r);
  const auto kinds = r.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < kinds; ++i) {
    std::string name = r.get_string();
    rec.totals.emplace_back(std::move(name), r.get<detail::KindTotals>());
  }
  rec.transfers = get_items<TransferEvent>(r);
  rec.resources = get_items<ResourceSample>(r);
  rec.thread_times = get_items<ThreadTime>(r);
  rec.spills = get_items<SpillEvent>(r);
  rec.spills_sampled = r.get<std::uint8_t>() != 0;
  rec.bytes_spilled = r.get<std::uint64_t>();
  rec.bytes_unspilled = r.get<std::uint64_t>();
  rec.spill_seconds = r.get<double>();
  rec.unspill_seconds = r.get<double>();
  return rec;
}

}  // namespace tessera::mpi
