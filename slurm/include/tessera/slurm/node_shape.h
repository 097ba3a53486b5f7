// The compute nodes a script is written for: their shape as Slurm counts it, learnt from Slurm itself
// (`sinfo`), from the user (`--node-shape`) or, last, from this machine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tessera::slurm {

// One node's shape. Slurm's CPUs are hardware threads: sockets x cores per socket x threads per core.
struct NodeShape {
  int sockets = 1;
  int cores_per_socket = 1;
  int threads_per_core = 1;
  std::optional<int> numa_domains;      // Slurm does not report them: known from --node-shape or hwloc
  std::optional<std::uint64_t> memory;  // bytes (Slurm's RealMemory)
  std::optional<int> nodes;             // how many nodes of this shape the partition has
  std::string source;                   // where the figures came from: "sinfo, partition wide", ...

  int cpus() const { return sockets * cores_per_socket * threads_per_core; }
  // Worker ranks per node that give each worker whole NUMA domains (else sockets).
  int domains() const { return numa_domains.value_or(sockets); }
  // "2 sockets x 32 cores = 64 CPUs, 256000 MiB" (Slurm's figures, as `sinfo` shows them).
  std::string describe() const;
};

// `--node-shape`: comma-separated KEY=VALUE, e.g. "sockets=2,cores=32,mem=256GB" or
// "sockets=1,cores=64,threads=2,numa=4": cores are per socket; threads (per core, default 1), numa (NUMA
// domains per node, default: sockets) and mem (a tessera size) are optional. Throws Error(kInvalidArgument)
// naming the item that is wrong.
NodeShape parse_node_shape(const std::string& spec);

// The node shape of `partition` (empty: the default partition) from the output of
// `sinfo --noheader --format=%P|%X|%Y|%Z|%m|%D` (partition, sockets, cores per socket, threads per core,
// memory in MiB, node count; a default partition's name carries a '*'). A partition whose nodes differ is
// described by its smallest node (fewest CPUs, then least memory), which every job fits. Throws
// Error(kNotFound) when the partition is not there (naming the ones that are), Error(kInvalidArgument) when a
// line is malformed.
NodeShape shape_from_sinfo(const std::string& sinfo_output, const std::string& partition);

// Asks Slurm (`sinfo`) for `partition`'s node shape. nullopt, with `why_not` set, when this machine has no
// Slurm to ask: no sinfo on PATH, no configuration (SLURM_CONF, /etc/slurm/slurm.conf or a configless
// client's /run/slurm/conf/slurm.conf), or sinfo failed (its message). Errors in what Slurm said throw as
// shape_from_sinfo.
std::optional<NodeShape> query_node_shape(const std::string& partition, std::string* why_not);

// This machine's shape (hwloc): the fallback when Slurm cannot be asked and no --node-shape was given.
NodeShape this_machine_shape();

}  // namespace tessera::slurm
