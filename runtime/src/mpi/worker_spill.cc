// The worker's side of spilling: the scheduler's orders to take results out of memory, and reading spilled
// results back for the tasks assigned here that need them (both on the communication thread, files written
// and read without the lock).
#include "worker.h"

namespace tessera::mpi {

// Comm thread, without mu_: reads spilled results back for the tasks assigned here that need them.
bool Worker::read_back_spilled() {
  if (read_back_.empty()) return false;
  std::vector<std::uint32_t> todo;
  todo.swap(read_back_);
  for (std::uint32_t d : todo) {
    std::uint64_t tag = 0;
    std::uint64_t bytes = 0;
    {
      std::lock_guard lock(mu_);
      const Held& h = held_.at(d);
      tag = h.tag;
      bytes = h.file_bytes;
    }
    const detail::TypeOps* ops = detail::find_type(tag);
    if (ops == nullptr) {
      throw_error(ErrorCode::kInternal, "worker ", rank_, " cannot read back a result of unknown type tag ",
                  tag);
    }
    Value v = spill_.read(d, *ops, bytes);
    std::lock_guard lock(mu_);
    stats_.bytes_unspilled += bytes;
    held_.at(d).value = std::move(v);
    reading_back_.erase(d);
    satisfy(d);
  }
  work_cv_.notify_all();
  return true;
}

// Comm thread, caller holds mu_ through `lock`: the scheduler's order to take result t out of memory. No
// task here or elsewhere reads t until a later assignment, which comes after this order. An owned result's
// arena bytes go to the spill file (once: a result read back keeps its file) without the lock held; a
// fetched copy is dropped.
void Worker::spill(std::uint32_t t, std::uint8_t kind, std::unique_lock<std::mutex>& lock) {
  auto it = held_.find(t);
  if (it == held_.end()) return;
  if (kind == kDropCopy) {
    held_.erase(it);
    return;
  }
  Held& h = it->second;  // stays valid: only this thread erases from held_
  if (h.file_bytes == 0) {
    if (h.block.data == nullptr) return;  // not published: the scheduler never orders these out
    sends_.wait(t);
    const ChunkArena::Block block = h.block;
    lock.unlock();
    try {
      spill_.prepare();
      spill_.write_bytes(t, block.data, block.bytes);
    } catch (...) {
      lock.lock();
      throw;
    }
    lock.lock();
    h.file_bytes = block.bytes;
    stats_.bytes_spilled += block.bytes;
  }
  if (h.block.data != nullptr) {
    held_bytes_ -= h.block.bytes;
    arena_.release(h.block);
    h.block = {};
  }
  h.value = Value();
}

}  // namespace tessera::mpi
