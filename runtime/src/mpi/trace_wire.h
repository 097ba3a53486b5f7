// A rank's recording on the wire (worker -> rank 0 at the end of a run). Every rank runs the same binary, so
// plain structs travel as their bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../trace/recorder.h"
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

inline void put(WireWriter& w, const detail::RankRecording& rec) {
  w.put(rec.rank);
  w.put<std::uint8_t>(rec.transfers_sampled ? 1 : 0);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(rec.tasks.size()));
  for (const auto& list : rec.tasks) put_items(w, list);
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
    rec.tasks.push_back(get_items<detail::RawTask, detail::EventList>(
        r, pool != nullptr ? pool->take_events() : detail::EventList{}));
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
