#include "tessera/slurm/slurm.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "text.h"

extern char** environ;

namespace tessera::slurm {

namespace {

using detail::number;
using detail::positive;
using detail::trim;

int non_negative(const std::string& name, const std::string& value) {
  auto v = number(trim(value));
  if (!v || *v > 1'000'000)
    throw_error(ErrorCode::kInvalidArgument, name, "=", value, ": expected a whole number");
  return static_cast<int>(*v);
}

// "2(x3),1" -> 2, 2, 2, 1
std::vector<int> expand_counts(const std::string& name, const std::string& value) {
  std::vector<int> out;
  std::stringstream in(value);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = trim(item);
    const auto paren = item.find('(');
    int repeat = 1;
    if (paren != std::string::npos) {
      if (item.size() < paren + 4 || item[paren + 1] != 'x' || item.back() != ')') {
        throw_error(ErrorCode::kInvalidArgument, name, "=", value, ": cannot read \"", item,
                    "\" (expected N or N(xR), e.g. 2(x3),1)");
      }
      repeat = positive(name, item.substr(paren + 2, item.size() - paren - 3));
      item = item.substr(0, paren);
    }
    const int n = positive(name, item);
    if (out.size() + static_cast<std::size_t>(repeat) > 100000) {
      throw_error(ErrorCode::kInvalidArgument, name, "=", value, ": too many nodes");
    }
    out.insert(out.end(), static_cast<std::size_t>(repeat), n);
  }
  if (out.empty()) throw_error(ErrorCode::kInvalidArgument, name, "=", value, ": empty");
  return out;
}

std::string human_bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::ostringstream o;
  o.precision(v >= 100 ? 0 : 1);
  o << std::fixed << v << " " << units[u];
  return o.str();
}

// Slurm's memory notation (SLURM_MEM_PER_NODE, SLURM_MEM_PER_CPU, sbatch --mem): megabytes when no unit,
// K, M, G, T suffixes in powers of 1024. Only values Slurm itself writes are read this way; what users write
// is read by tessera::parse_size.
std::uint64_t slurm_memory(const std::string& text, const std::string& what) {
  std::string t = trim(text);
  std::uint64_t unit = std::uint64_t{1} << 20;  // Slurm's default unit is megabytes
  if (!t.empty() && std::isalpha(static_cast<unsigned char>(t.back()))) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(t.back())));
    if (c == 'B' && t.size() >= 2 && std::isalpha(static_cast<unsigned char>(t[t.size() - 2]))) {
      t.pop_back();  // "GB" as "G"
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(t.back())));
    }
    switch (c) {
      case 'K':
        unit = std::uint64_t{1} << 10;
        break;
      case 'M':
        unit = std::uint64_t{1} << 20;
        break;
      case 'G':
        unit = std::uint64_t{1} << 30;
        break;
      case 'T':
        unit = std::uint64_t{1} << 40;
        break;
      default:
        throw_error(ErrorCode::kInvalidArgument, what, "=", text,
                    ": expected a size in megabytes or with a unit K, M, G or T (e.g. 64000 or 64G)");
    }
    t.pop_back();
  }
  auto v = number(t);
  if (!v || *v == 0) {
    throw_error(ErrorCode::kInvalidArgument, what, "=", text,
                ": expected a size in megabytes or with a unit K, M, G or T (e.g. 64000 or 64G)");
  }
  return static_cast<std::uint64_t>(*v) * unit;
}

}  // namespace

Environment parse_environment(const std::map<std::string, std::string>& env) {
  Environment e;
  auto get = [&](const char* name) -> const std::string* {
    auto it = env.find(name);
    return it == env.end() || trim(it->second).empty() ? nullptr : &it->second;
  };
  if (const auto* v = get("SLURM_JOB_ID")) {
    e.inside = true;
    e.job_id = trim(*v);
  }
  if (const auto* v = get("SLURM_NTASKS")) e.ntasks = positive("SLURM_NTASKS", *v);
  if (const auto* v = get("SLURM_CPUS_PER_TASK")) e.cpus_per_task = positive("SLURM_CPUS_PER_TASK", *v);
  if (const auto* v = get("SLURM_CPUS_ON_NODE")) e.cpus_on_node = positive("SLURM_CPUS_ON_NODE", *v);
  if (const auto* v = get("SLURM_MEM_PER_NODE")) e.mem_per_node = slurm_memory(*v, "SLURM_MEM_PER_NODE");
  if (const auto* v = get("SLURM_MEM_PER_CPU")) e.mem_per_cpu = slurm_memory(*v, "SLURM_MEM_PER_CPU");
  if (const auto* v = get("SLURM_LOCALID")) e.local_id = non_negative("SLURM_LOCALID", *v);
  if (const auto* v = get("SLURM_NODEID")) e.node_id = non_negative("SLURM_NODEID", *v);
  if (const auto* v = get("SLURM_TASKS_PER_NODE"))
    e.tasks_per_node = expand_counts("SLURM_TASKS_PER_NODE", *v);
  if (const auto* v = get("SLURM_NTASKS_PER_NODE")) e.ntasks_per_node = positive("SLURM_NTASKS_PER_NODE", *v);
  for (const char* name : {"SLURM_TMPDIR", "TMPDIR"}) {
    if (const auto* v = get(name)) {
      e.scratch = trim(*v);
      e.scratch_source = name;
      break;
    }
  }
  if (!e.inside) {  // outside an allocation only TMPDIR means anything
    Environment outside;
    outside.scratch = e.scratch;
    outside.scratch_source = e.scratch_source;
    return outside;
  }
  return e;
}

Environment environment_of_this_process() {
  std::map<std::string, std::string> env;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    const std::string kv = *p;
    const auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = kv.substr(0, eq);
    if (key.rfind("SLURM_", 0) == 0 || key == "TMPDIR") env[key] = kv.substr(eq + 1);
  }
  return parse_environment(env);
}

Derived derive(const Environment& env, const Explicit& chosen) {
  Derived d;
  // Tasks sharing this node: from SLURM_TASKS_PER_NODE at this node's index, else SLURM_NTASKS_PER_NODE.
  std::optional<int> tasks_here;
  if (!env.tasks_per_node.empty()) {
    const std::size_t node = static_cast<std::size_t>(env.node_id.value_or(0));
    if (node < env.tasks_per_node.size()) tasks_here = env.tasks_per_node[node];
  }
  if (!tasks_here && env.ntasks_per_node) tasks_here = env.ntasks_per_node;

  if (chosen.threads) {
    d.threads_per_worker = chosen.threads;
    d.reasons.push_back(str_cat("threads per worker ", *chosen.threads, ": chosen explicitly"));
  } else if (env.cpus_per_task) {
    d.threads_per_worker = env.cpus_per_task;
    d.reasons.push_back(str_cat("threads per worker ", *env.cpus_per_task, ": SLURM_CPUS_PER_TASK"));
  } else if (env.cpus_on_node && tasks_here) {
    d.threads_per_worker = std::max(1, *env.cpus_on_node / *tasks_here);
    d.reasons.push_back(str_cat("threads per worker ", *d.threads_per_worker, ": SLURM_CPUS_ON_NODE=",
                                *env.cpus_on_node, " shared by ", *tasks_here, " tasks on this node"));
  } else if (env.inside) {
    d.reasons.push_back("threads per worker: the cores of each worker's binding (Slurm gave no CPU count)");
  }

  if (chosen.memory_limit) {
    d.memory_per_worker = chosen.memory_limit;
    d.reasons.push_back(
        str_cat("memory per worker ", human_bytes(*chosen.memory_limit), ": chosen explicitly"));
  } else if (env.mem_per_cpu && (env.cpus_per_task || d.threads_per_worker)) {
    const int cpus = env.cpus_per_task.value_or(d.threads_per_worker.value_or(1));
    d.memory_per_worker = *env.mem_per_cpu * static_cast<std::uint64_t>(cpus);
    d.reasons.push_back(str_cat("memory per worker ", human_bytes(*d.memory_per_worker),
                                ": SLURM_MEM_PER_CPU=", human_bytes(*env.mem_per_cpu), " x ", cpus, " CPUs"));
  } else if (env.mem_per_node && tasks_here) {
    d.memory_per_worker = *env.mem_per_node / static_cast<std::uint64_t>(*tasks_here);
    d.reasons.push_back(str_cat("memory per worker ", human_bytes(*d.memory_per_worker),
                                ": SLURM_MEM_PER_NODE=", human_bytes(*env.mem_per_node), " shared by ",
                                *tasks_here, " tasks on this node"));
  } else if (env.inside) {
    d.reasons.push_back("memory per worker: no limit (Slurm gave no memory figure)");
  }

  if (chosen.scratch) {
    d.scratch_dir = *chosen.scratch;
    d.reasons.push_back("scratch " + d.scratch_dir + ": chosen explicitly");
  } else if (!env.scratch.empty()) {
    d.scratch_dir = env.scratch;
    d.reasons.push_back("scratch " + d.scratch_dir + ": " + env.scratch_source);
  } else {
    d.scratch_dir = "/tmp";
    d.reasons.push_back("scratch /tmp: neither SLURM_TMPDIR nor TMPDIR is set");
  }
  return d;
}

std::string describe(const Environment& env, const Derived& derived) {
  std::ostringstream o;
  if (env.inside) {
    o << "Slurm: job " << env.job_id;
    if (env.ntasks) o << ", " << *env.ntasks << " tasks";
    if (!env.tasks_per_node.empty()) o << " on " << env.tasks_per_node.size() << " nodes";
    o << "\n";
  } else {
    o << "Slurm: not inside an allocation\n";
  }
  for (const auto& r : derived.reasons) o << "  " << r << "\n";
  return o.str();
}

}  // namespace tessera::slurm
