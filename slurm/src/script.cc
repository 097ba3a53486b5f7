#include "tessera/slurm/script.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "text.h"

namespace tessera::slurm {
namespace {

using detail::number;
using detail::trim;

std::string plural(int n, const char* word) {
  return str_cat(n, " ", word, n == 1 ? "" : "s");
}

}  // namespace

std::int64_t parse_time(const std::string& text, const std::string& what) {
  const std::string t = trim(text);
  auto bad = [&]() -> std::int64_t {
    throw_error(ErrorCode::kInvalidArgument, what, "=", text,
                ": expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
  };
  std::int64_t days = 0;
  std::string rest = t;
  const auto dash = t.find('-');
  if (dash != std::string::npos) {
    auto d = number(t.substr(0, dash));
    if (!d) return bad();
    days = *d;
    rest = t.substr(dash + 1);
  }
  std::vector<std::int64_t> parts;
  std::stringstream in(rest);
  std::string item;
  while (std::getline(in, item, ':')) {
    auto v = number(item);
    if (!v) return bad();
    parts.push_back(*v);
  }
  if (parts.empty() || parts.size() > 3) return bad();
  std::int64_t s = 0;
  if (dash != std::string::npos) {  // D-HH[:MM[:SS]]
    s = parts[0] * 3600 + (parts.size() > 1 ? parts[1] * 60 : 0) + (parts.size() > 2 ? parts[2] : 0);
  } else if (parts.size() == 1) {  // MM
    s = parts[0] * 60;
  } else if (parts.size() == 2) {  // MM:SS
    s = parts[0] * 60 + parts[1];
  } else {
    s = parts[0] * 3600 + parts[1] * 60 + parts[2];
  }
  s += days * 86400;
  if (s <= 0) return bad();
  return s;
}

ArraySpec parse_array(const std::string& spec) {
  const std::string text = trim(spec);
  auto bad = [&](const std::string& why) -> ArraySpec {
    throw_error(ErrorCode::kInvalidArgument, "--array \"", spec, "\": ", why,
                " (expected N for tasks 0..N-1, or Slurm's syntax: IDs and ranges A-B[:STEP] separated by "
                "commas, optionally ending in %MAX, e.g. 1981-2010 or 0-49%10)");
  };
  constexpr std::int64_t kMaxId = 10'000'000;  // far above any site's MaxArraySize
  ArraySpec a;
  if (auto n = number(text)) {
    if (*n < 1 || *n > kMaxId) return bad("the number of tasks must be at least 1");
    a.slurm = str_cat("0-", *n - 1);
    for (std::int64_t i = 0; i < *n; ++i) a.ids.push_back(static_cast<int>(i));
    return a;
  }
  std::string list = text;
  const auto percent = text.find('%');
  if (percent != std::string::npos) {
    const auto max = number(text.substr(percent + 1));
    if (!max || *max < 1) return bad("%MAX must be a positive whole number");
    list = text.substr(0, percent);
  }
  std::set<int> ids;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::string range = item, step_text = "1";
    if (const auto colon = item.find(':'); colon != std::string::npos) {
      range = item.substr(0, colon);
      step_text = item.substr(colon + 1);
    }
    std::string first_text = range, last_text = range;
    if (const auto dash = range.find('-'); dash != std::string::npos) {
      first_text = range.substr(0, dash);
      last_text = range.substr(dash + 1);
    }
    const auto first = number(first_text), last = number(last_text), step = number(step_text);
    if (!first || !last || !step || *step < 1) return bad(str_cat("cannot read \"", item, "\""));
    if (*last < *first) return bad(str_cat("the range \"", item, "\" ends before it starts"));
    if (*last > kMaxId) return bad(str_cat("the ID ", *last, " is too large"));
    for (std::int64_t i = *first; i <= *last; i += *step) ids.insert(static_cast<int>(i));
  }
  if (ids.empty() || list.empty() || list.back() == ',') return bad("no task IDs");
  a.slurm = text;
  a.ids.assign(ids.begin(), ids.end());
  return a;
}

Layout plan_layout(const ScriptOptions& o) {
  const NodeShape& node = o.node;
  const std::string shape = str_cat(node.describe(), "; ", node.source.empty() ? "as given" : node.source);
  Layout l;
  l.workers_per_node = o.workers_per_node.value_or(node.domains());
  if (l.workers_per_node < 1) {
    throw_error(ErrorCode::kInvalidArgument, "--workers-per-node ", l.workers_per_node,
                ": must be at least 1");
  }
  if (l.workers_per_node > node.cpus()) {
    throw_error(ErrorCode::kInvalidArgument, plural(l.workers_per_node, "worker"),
                " per node do not fit: a node has ", node.cpus(), " CPUs (", shape, ")");
  }
  l.cpus_per_worker = o.cpus_per_worker.value_or(node.cpus() / l.workers_per_node);
  if (l.cpus_per_worker < 1) {
    throw_error(ErrorCode::kInvalidArgument, "--cpus-per-worker ", l.cpus_per_worker, ": must be at least 1");
  }
  const std::int64_t cpus = std::int64_t{l.workers_per_node} * l.cpus_per_worker;
  if (cpus > node.cpus()) {
    throw_error(ErrorCode::kInvalidArgument, plural(l.workers_per_node, "worker"), " x ",
                plural(l.cpus_per_worker, "CPU"), " = ", cpus, " CPUs per node do not fit: a node has ",
                node.cpus(), " CPUs (", shape, ")");
  }
  if (o.nodes < 1) throw_error(ErrorCode::kInvalidArgument, "--nodes ", o.nodes, ": must be at least 1");
  if (node.nodes && o.nodes > *node.nodes) {
    throw_error(ErrorCode::kInvalidArgument, "--nodes ", o.nodes, ": the partition has ",
                plural(*node.nodes, "node"), " (", shape, ")");
  }
  if (!o.mem.empty()) {
    const std::uint64_t bytes = parse_size(o.mem, "--mem");
    if ((bytes >> 20) == 0) {
      throw_error(ErrorCode::kInvalidArgument, "--mem \"", o.mem,
                  "\" is less than 1 MiB: sizes are in bytes unless they have a unit (e.g. 200GB or 256GiB)");
    }
    if (node.memory && bytes > *node.memory) {
      throw_error(ErrorCode::kInvalidArgument, "--mem ", o.mem, " (", bytes >> 20,
                  " MiB) per node does not fit: a node has ", *node.memory >> 20, " MiB (", shape, ")");
    }
    l.mem_mib = bytes >> 20;
  }
  l.notes.push_back(str_cat("nodes: ", shape));
  l.notes.push_back(str_cat("layout: ", plural(o.nodes, "node"), " x ", plural(l.workers_per_node, "worker"),
                            " x ", plural(l.cpus_per_worker, "CPU"),
                            ", and the scheduler (rank 0) beside the first node's workers"));
  if (cpus < node.cpus()) {
    const std::int64_t idle = node.cpus() - cpus;
    l.notes.push_back(o.exclusive
                          ? str_cat("note: ", cpus, " of a node's ", node.cpus(), " CPUs are used; ", idle,
                                    idle == 1 ? " stays" : " stay", " idle (the job holds whole nodes)")
                          : str_cat(cpus, " of a node's ", node.cpus(),
                                    " CPUs are used (--no-exclusive: the job holds only these)"));
  }
  return l;
}

std::string make_script(const ScriptOptions& o) {
  if (o.job.empty()) throw_error(ErrorCode::kInvalidArgument, "tessera slurm: no job file");
  const Layout layout = plan_layout(o);
  const std::int64_t limit = parse_time(o.time, "--time");
  if (o.stop_lead_seconds < 0 || o.stop_lead_seconds >= limit) {
    throw_error(ErrorCode::kInvalidArgument, "--stop-lead ", o.stop_lead_seconds,
                " s: must be shorter than --time ", o.time, " (", limit, " s)");
  }
  std::optional<ArraySpec> array;
  if (!o.array.empty()) array = parse_array(o.array);
  for (const std::string* s : {&o.partition, &o.account, &o.job_name, &o.output}) {
    if (s->find_first_of(" \t\n'\"$`\\") != std::string::npos) {
      throw_error(ErrorCode::kInvalidArgument, "\"", *s,
                  "\" cannot go into an sbatch line (spaces or quotes)");
    }
  }
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  std::string name = o.job_name;
  if (name.empty()) {
    const auto slash = o.job.rfind('/');
    name = o.job.substr(slash == std::string::npos ? 0 : slash + 1);
    const auto dot = name.rfind('.');
    if (dot != std::string::npos && dot > 0) name = name.substr(0, dot);
    name.erase(std::remove_if(name.begin(), name.end(),
                              [](char c) {
                                return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
                              }),
               name.end());
    if (name.empty()) name = "tessera";
  }
  const int w = layout.workers_per_node;
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# Generated by `tessera slurm` for " << o.job << " (every line is explained in docs/slurm.md).\n"
    << "# Nodes: " << o.node.describe() << " (" << (o.node.source.empty() ? "as given" : o.node.source)
    << ").\n"
    << "#SBATCH --job-name=" << name << "\n"
    << "#SBATCH --nodes=" << o.nodes << "\n"
    << "#SBATCH --ntasks-per-node=" << w
    << "    # worker ranks per node; the scheduler (rank 0) comes on top\n"
    << "#SBATCH --cpus-per-task=" << layout.cpus_per_worker
    << "    # CPUs per worker: one compute thread each\n";
  if (o.exclusive) s << "#SBATCH --exclusive    # whole nodes\n";
  if (layout.mem_mib > 0) {
    s << "#SBATCH --mem=" << layout.mem_mib
      << "M    # per node: " << format_bytes(static_cast<double>(layout.mem_mib << 20)) << "\n";
  } else if (o.exclusive) {
    s << "#SBATCH --mem=0    # all of each node's memory\n";
  }
  s << "#SBATCH --time=" << o.time << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.account.empty()) s << "#SBATCH --account=" << o.account << "\n";
  if (array) {
    s << "#SBATCH --array=" << array->slurm << "    # " << plural(static_cast<int>(array->ids.size()), "task")
      << ": ${SLURM_ARRAY_TASK_ID} in the job file\n";
  }
  s << "#SBATCH --signal=B:USR1@" << o.stop_lead_seconds << "    # warn this script " << o.stop_lead_seconds
    << " s before the time limit\n";
  if (o.requeue) s << "#SBATCH --requeue\n";
  s << "#SBATCH --open-mode=append\n"
    << "#SBATCH --output="
    << (!o.output.empty() ? o.output
        : array           ? "%x-%A_%a.out"
                          : "%x-%j.out")
    << "\n"
    << "set -uo pipefail\n"
    << "workers_per_node=$SLURM_NTASKS_PER_NODE\n"
    << "# The step has one task more than --ntasks-per-node on the first node (the scheduler): srun must "
       "not\n"
    << "# expect exactly that many per node.\n"
    << "unset SLURM_NTASKS_PER_NODE\n"
    << "# pmix: how Open MPI meets srun. --cpu-bind=none: tessera pins its own threads (hwloc). "
       "--overcommit: the\n"
    << "# scheduler shares the first node's CPUs. plane: ranks 0..W-1 on the first node, W..2W-1 on the "
       "second,\n"
    << "# ..., the last rank back on the first, so every node runs W workers and the first one the "
       "scheduler.\n"
    << "srun --mpi=pmix --cpu-bind=none --kill-on-bad-exit=1 --overcommit \\\n"
    << "  --ntasks=$((SLURM_JOB_NUM_NODES * workers_per_node + 1)) --distribution=plane=$workers_per_node "
       "\\\n"
    << "  " << quote(o.tessera) << " run " << quote(o.job) << " --resume";
  for (const auto& a : o.run_args) s << " " << quote(a);
  s << " &\n"
    << "step=$!\n"
    << "# Near the time limit: ask tessera to stop (running tasks finish, outputs and journals stay valid).\n"
    << "trap 'echo \"tessera slurm: time limit near, stopping\"; kill -USR1 \"$step\"' USR1\n"
    << "status=0\n"
    << "wait \"$step\" || status=$?\n"
    << "while kill -0 \"$step\" 2>/dev/null; do wait \"$step\"; status=$?; done    # wait again after the "
       "trap\n"
    << "if [ \"$status\" -eq " << kExitResumable << " ]; then\n";
  if (o.requeue) {
    // An array task requeues itself by its array name: one of them has the array's own job ID, which would
    // requeue every task.
    const char* me = array ? "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" : "$SLURM_JOB_ID";
    s << "  echo \"tessera slurm: stopped before the end; requeueing job " << me << " (it resumes)\"\n"
      << "  scontrol requeue \"" << me << "\"\n";
  } else {
    s << "  echo \"tessera slurm: stopped before the end; submit this script again to resume\"\n";
  }
  s << "fi\n"
    << "exit \"$status\"\n";
  return s.str();
}

}  // namespace tessera::slurm
