// Machine topology (hwloc) and where each worker of a node runs: NUMA domains, cores, thread pinning and
// NUMA-local memory. hwloc.h stays inside runtime/src.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

// Where one worker runs: whole NUMA domains when there are at least as many domains as workers on the node,
// otherwise a share of one domain's cores. Indexes are the operating system's (what taskset and numactl
// show).
struct WorkerBinding {
  std::vector<int> numa_domains;  // OS indexes of the NUMA nodes whose memory the worker uses
  std::vector<int> cores;         // OS index of the first processing unit of each core the worker may use
  // "NUMA 0-1, cores 0-7 (8)"
  std::string describe() const;
};

// Formats a sorted list of integers as ranges: {0,1,2,5} -> "0-2,5".
std::string format_ranges(const std::vector<int>& values);

class Topology {
 public:
  // This machine, restricted to the CPUs this process may run on (its affinity mask as set by mpirun, srun,
  // taskset or a cgroup). Throws Error(kInternal) if hwloc cannot load the topology.
  static Topology this_machine();
  // A made-up machine in hwloc's synthetic syntax, e.g. "pack:2 numa:2 core:4 pu:1", for tests.
  static Topology synthetic(std::string_view description);
  // A topology saved by `lstopo file.xml`.
  static Topology from_xml(const std::string& path);

  Topology(Topology&&) noexcept;
  Topology& operator=(Topology&&) noexcept;
  ~Topology();

  int numa_domains() const noexcept;
  int cores() const noexcept;
  // The binding of worker `local_index` (0-based) among `workers` workers on this node. Every core of the
  // allowed set goes to exactly one worker when workers <= cores; with more workers than cores, workers share
  // cores round-robin. Throws Error(kInvalidArgument) for an index out of range.
  WorkerBinding place(int local_index, int workers) const;

  // Pins the calling thread to the processing units of these cores. Returns false (and changes nothing) when
  // the operating system refuses.
  bool bind_thread(const std::vector<int>& cores) const;
  // Pins the calling thread to one core's processing units. Returns false (and changes nothing) when the
  // operating system refuses.
  bool bind_thread_to_core(int core) const;
  // Makes memory the calling thread allocates from now on come from these NUMA domains (first-touch policy
  // aside). Returns false when unsupported.
  bool bind_memory(const std::vector<int>& numa_domains) const;
  // A human-readable summary: "1 package, 1 NUMA domain, 2 cores, 2 PUs".
  std::string summary() const;

  struct Impl;

 private:
  explicit Topology(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
