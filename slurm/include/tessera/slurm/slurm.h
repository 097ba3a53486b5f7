// Slurm awareness: what an allocation gives a tessera job (threads, memory, scratch); the node shapes of a
// cluster (node_shape.h) and ready sbatch scripts that fill them (script.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/slurm/node_shape.h"
#include "tessera/slurm/script.h"

namespace tessera::slurm {

// The SLURM_* variables tessera reads, parsed. Outside an allocation `inside` is false and the rest is empty.
struct Environment {
  bool inside = false;                        // SLURM_JOB_ID is set
  std::string job_id;                         // SLURM_JOB_ID
  std::optional<int> ntasks;                  // SLURM_NTASKS
  std::optional<int> cpus_per_task;           // SLURM_CPUS_PER_TASK
  std::optional<int> cpus_on_node;            // SLURM_CPUS_ON_NODE
  std::optional<std::uint64_t> mem_per_node;  // SLURM_MEM_PER_NODE, bytes
  std::optional<std::uint64_t> mem_per_cpu;   // SLURM_MEM_PER_CPU, bytes
  std::optional<int> local_id;                // SLURM_LOCALID: this task's index on its node
  std::optional<int> node_id;                 // SLURM_NODEID
  std::vector<int> tasks_per_node;            // SLURM_TASKS_PER_NODE expanded ("2(x3),1" -> 2,2,2,1)
  std::optional<int> ntasks_per_node;         // SLURM_NTASKS_PER_NODE
  std::string scratch;                        // SLURM_TMPDIR, else TMPDIR (node-local scratch), else ""
  std::string scratch_source;                 // which variable gave `scratch`
};

// Parses the variables in `env` (name -> value). Throws Error(kInvalidArgument) naming the variable and its
// value when one is malformed ("SLURM_MEM_PER_NODE=lots: expected megabytes, e.g. 64000 or 64G").
Environment parse_environment(const std::map<std::string, std::string>& env);
// The same from this process's environment.
Environment environment_of_this_process();

// What a worker should use, derived from the allocation (explicit choices win). `reasons` says where each
// figure came from, for `tessera check`.
struct Derived {
  std::optional<int> threads_per_worker;
  std::optional<std::uint64_t> memory_per_worker;  // bytes
  std::string scratch_dir;
  std::vector<std::string> reasons;
};
struct Explicit {
  std::optional<int> threads;
  std::optional<std::uint64_t> memory_limit;
  std::optional<std::string> scratch;
};
Derived derive(const Environment& env, const Explicit& chosen = {});
// The lines of `tessera check`'s "Slurm" section.
std::string describe(const Environment& env, const Derived& derived);

}  // namespace tessera::slurm
