// `tessera slurm JOB`: an sbatch script that runs `tessera run JOB` on whole nodes of a cluster, with one
// worker rank per NUMA domain (or socket) using its CPUs, the scheduler rank beside them, a stop before the
// time limit and a requeue that resumes. Every line is explained in docs/slurm.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/slurm/node_shape.h"

namespace tessera::slurm {

// `tessera run`'s exit status when a run stopped on request before finishing (time limit, scancel --signal):
// the outputs' journals are intact and `tessera run --resume` continues.
inline constexpr int kExitResumable = 3;

// Slurm's time formats: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS", in seconds.
std::int64_t parse_time(const std::string& text, const std::string& what);

// A job array (`--array`): "N" is N tasks numbered 0..N-1; anything else is Slurm's own syntax, a
// comma-separated list of IDs and ranges "A-B" or "A-B:STEP", optionally ending in "%MAX" (tasks running at
// once), e.g. "1981-2010" (one task per year) or "0-49%10".
struct ArraySpec {
  std::string slurm;     // for #SBATCH --array=
  std::vector<int> ids;  // the task IDs, ascending, without repeats
};
// Throws Error(kInvalidArgument) naming the spec and what is wrong with it.
ArraySpec parse_array(const std::string& spec);

struct ScriptOptions {
  std::string job;                  // the job file (made absolute by the caller)
  std::string tessera = "tessera";  // the command to run (absolute path of this tessera by default)
  NodeShape node;                   // the shape of the partition's nodes (see node_shape.h)
  int nodes = 1;
  std::optional<int> workers_per_node;  // default: node.domains(), one worker per NUMA domain (or socket)
  std::optional<int> cpus_per_worker;   // --cpus-per-task; default: node.cpus() / workers per node
  bool exclusive = true;                // whole nodes (--exclusive, all their memory unless `mem`)
  std::string time = "01:00:00";
  std::string partition, account;  // empty: Slurm's defaults
  std::string mem;                 // memory per node, a tessera size ("200GB"); empty: all of it (exclusive)
  std::string array;               // a job array (parse_array); empty: none
  std::string job_name;            // default: the job file's stem
  int stop_lead_seconds = 300;     // --signal=B:USR1@lead: time to finish running tasks before the limit
  bool requeue = true;             // requeue itself when stopped by the time limit (resumes)
  std::string output;              // --output; default "%x-%j.out" ("%x-%A_%a.out" for arrays)
  std::vector<std::string> run_args;  // extra arguments for `tessera run`
};

// What the script asks for on each node.
struct Layout {
  int workers_per_node = 1;
  int cpus_per_worker = 1;
  std::uint64_t mem_mib = 0;  // --mem in MiB; 0: all of each node's memory (--mem=0)
  // Lines for the user (stderr): the node shape used and where it came from, the layout, CPUs left idle.
  std::vector<std::string> notes;
};

// Checks that the request fits `options.node` and chooses the defaults. Throws Error(kInvalidArgument) before
// anything is written when it cannot fit: more CPUs per node than a node has, more memory than it has, more
// nodes than the partition has, naming the node shape and where it came from.
Layout plan_layout(const ScriptOptions& options);

// The script. Throws as plan_layout, and Error(kInvalidArgument) for other bad values (naming the option).
std::string make_script(const ScriptOptions& options);

}  // namespace tessera::slurm
