// A worker's fetch bookkeeping: the fetches in flight, whatever transport moves each, and which results they
// bring. Used by the worker's communication thread only, so it needs no lock; it makes no MPI call itself
// (its transports do), so it is tested with a fake transport (tests/runtime/fetches_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

#include "transport.h"

namespace tessera::mpi {

class FetchesInFlight {
 public:
  bool empty() const noexcept { return list_.empty(); }
  std::size_t size() const noexcept { return list_.size(); }
  // Whether result `dep` is on its way here (a push received only to be dropped does not count).
  bool fetching(std::uint32_t dep) const { return fetching_.count(dep) != 0; }

  // Starts f over `transport` (`address`: see Transport::start) and keeps it until its transfer ends. If the
  // transport throws, nothing is kept.
  void start(Fetch f, Transport& transport, std::uint64_t address = 0) {
    f.transport = &transport;
    transport.start(f, address);
    if (!f.discard) fetching_.insert(f.dep);
    list_.push_back(std::move(f));
  }

  // Result `dep` is here now: no longer on its way.
  void arrived(std::uint32_t dep) { fetching_.erase(dep); }

  // Tests every fetch in flight. One whose transfer ended leaves the list before `on_end(Fetch&, received)`
  // sees it, so a decoder that throws is not met again on the next round; a push received only to be dropped
  // is dropped here. on_end may start fetches (the same one again, over another transport): they are tested
  // in this round too. True if any transfer ended.
  template <class OnEnd>
  bool progress(OnEnd&& on_end) {
    bool any = false;
    for (std::size_t i = 0; i < list_.size();) {
      std::uint64_t received = 0;
      if (!list_[i].transport->test(list_[i], received)) {
        ++i;
        continue;
      }
      any = true;
      Fetch f = take(i);
      if (f.discard) continue;
      on_end(f, received);
    }
    return any;
  }

  // Forgets the fetches whose transfers ended, their bytes unused (after the run, or after kAbort); true if
  // any did.
  bool drop_completed() {
    bool any = false;
    for (std::size_t i = 0; i < list_.size();) {
      std::uint64_t received = 0;
      if (list_[i].transport->test(list_[i], received)) {
        take(i);
        any = true;
      } else {
        ++i;
      }
    }
    return any;
  }

 private:
  Fetch take(std::size_t i) {
    Fetch f = std::move(list_[i]);
    if (i + 1 != list_.size()) list_[i] = std::move(list_.back());
    list_.pop_back();
    return f;
  }

  std::vector<Fetch> list_;
  std::unordered_set<std::uint32_t> fetching_;
};

}  // namespace tessera::mpi
