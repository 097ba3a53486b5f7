// Slurm awareness: what an allocation gives a tessera job (threads, memory, scratch) and ready sbatch
// scripts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

// Slurm's time formats: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS", in seconds.
std::int64_t parse_time(const std::string& text, const std::string& what);

// `tessera slurm JOB`: an sbatch script that runs `tessera run JOB` on an allocation.
struct ScriptOptions {
  std::string job;                  // the job file (made absolute by the caller)
  std::string tessera = "tessera";  // the command to run (absolute path of this tessera by default)
  int nodes = 1;
  int workers_per_node = 1;  // worker ranks per node (default: NUMA domains of this machine, see cli)
  std::optional<int> cpus_per_worker;  // --cpus-per-task for workers; default: the node's cores / workers
  std::string time = "01:00:00";
  std::string partition, account, mem;  // empty: Slurm's defaults
  std::string job_name;                 // default: the job file's stem
  int stop_lead_seconds = 300;          // --signal=B:USR1@lead: time to finish running tasks before the limit
  bool requeue = true;                  // requeue itself when stopped by the time limit (resumes)
  bool overcommit = false;              // more tasks than CPUs (small test allocations)
  std::string output;                   // --output; default "%x-%j.out"
  std::vector<std::string> run_args;    // extra arguments for `tessera run`
};
// Throws Error(kInvalidArgument) for bad values (naming the option).
std::string make_script(const ScriptOptions& options);

// `tessera run`'s exit status when a run stopped on request before finishing (time limit, scancel --signal):
// the outputs' journals are intact and `tessera run --resume` continues.
inline constexpr int kExitResumable = 3;

}  // namespace tessera::slurm
