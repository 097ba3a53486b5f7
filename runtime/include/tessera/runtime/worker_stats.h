// What one MPI worker rank did during a run (RunStats::workers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

// What one MPI worker did during a run.
struct WorkerStats {
  int rank = 0;
  int threads = 0;
  std::uint64_t tasks = 0;                // plan tasks it ran
  std::uint64_t bytes_fetched = 0;        // bytes it pulled from other workers, by either path
  std::uint64_t bytes_rma = 0;            // ... of which with one-sided gets
  std::uint64_t bytes_two_sided = 0;      // ... of which sent by the owner on request or pushed
  std::uint64_t bytes_inline = 0;         // ... of which came with the scheduler's assignment (small results)
  std::uint64_t bytes_pushed = 0;         // ... of which (two-sided) their owner sent unasked (push_bytes)
  std::uint64_t gets = 0;                 // one-sided gets it issued (one per GiB piece of a result)
  std::uint64_t requests = 0;             // two-sided chunk requests it sent (one per result)
  std::uint64_t bytes_served = 0;         // bytes it sent to other workers on request or pushed (two-sided)
  double fetch_seconds = 0;               // summed time from issuing each fetch to seeing it complete
  std::uint64_t bytes_published = 0;      // bytes of results it wrote to its arena for other workers
  std::uint64_t bytes_spilled = 0;        // bytes of results it wrote to its spill files (memory limit)
  std::uint64_t bytes_unspilled = 0;      // ... and read back for its own tasks
  std::vector<std::uint64_t> bytes_from;  // bytes_fetched by source rank (index = rank)
  std::string binding;                    // where it ran ("NUMA 0, cores 0-3 (4)", or "unbound")
};

}  // namespace tessera
