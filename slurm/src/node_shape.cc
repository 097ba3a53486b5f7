#include "tessera/slurm/node_shape.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <vector>

#include "tessera/runtime/error.h"
#include "tessera/runtime/format.h"
#include "tessera/runtime/topology.h"
#include "text.h"

extern char** environ;

namespace tessera::slurm {
namespace {

using detail::number;
using detail::trim;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::string plural(int n, const char* word) {
  return str_cat(n, " ", word, n == 1 ? "" : "s");
}

// What a program printed and how it ended.
struct Finished {
  int status = -1;  // exit status; -1 when it did not exit normally
  std::string out, err;
};

// Runs `argv` (looked up on PATH) without a shell and collects its output. nullopt, with `error` set to an
// errno value, when it cannot start.
std::optional<Finished> run_program(const std::vector<std::string>& argv, int& error) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    error = errno;
    return std::nullopt;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    error = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    error = rc;
    close(out_pipe[0]);
    close(err_pipe[0]);
    return std::nullopt;
  }
  Finished f;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&f.out, &f.err};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  f.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return f;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (const std::string& dir : split(path, ':')) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

std::string NodeShape::describe() const {
  std::string s = str_cat(plural(sockets, "socket"), " x ", plural(cores_per_socket, "core"));
  if (threads_per_core > 1) s += str_cat(" x ", threads_per_core, " threads");
  s += str_cat(" = ", cpus(), " CPUs");
  if (numa_domains && *numa_domains != sockets) s += str_cat(", ", plural(*numa_domains, "NUMA domain"));
  if (memory) s += str_cat(", ", *memory >> 20, " MiB");
  return s;
}

NodeShape parse_node_shape(const std::string& spec) {
  NodeShape shape;
  bool have_sockets = false, have_cores = false;
  auto bad = [&](const std::string& why) {
    throw_error(
        ErrorCode::kInvalidArgument, "--node-shape \"", spec, "\": ", why,
        " (expected e.g. sockets=2,cores=32,mem=256GB; keys: sockets, cores (per socket), threads (per "
        "core), numa (NUMA domains per node), mem)");
  };
  for (const std::string& raw : split(spec, ',')) {
    const std::string item = trim(raw);
    const auto eq = item.find('=');
    if (item.empty() || eq == std::string::npos) bad(str_cat("\"", item, "\" is not KEY=VALUE"));
    const std::string key = trim(item.substr(0, eq));
    const std::string value = trim(item.substr(eq + 1));
    if (key == "mem") {
      shape.memory = parse_size(value, "--node-shape mem");
      continue;
    }
    const auto n = number(value);
    if (!n || *n < 1 || *n > 100000) bad(str_cat(key, "=", value, " is not a positive whole number"));
    const int v = static_cast<int>(*n);
    if (key == "sockets") {
      shape.sockets = v;
      have_sockets = true;
    } else if (key == "cores") {
      shape.cores_per_socket = v;
      have_cores = true;
    } else if (key == "threads") {
      shape.threads_per_core = v;
    } else if (key == "numa") {
      shape.numa_domains = v;
    } else {
      bad(str_cat("unknown key \"", key, "\""));
    }
  }
  if (!have_sockets || !have_cores) bad("sockets and cores are required");
  if (shape.cpus() > 1'000'000) bad("more than a million CPUs");
  shape.source = "--node-shape";
  return shape;
}

NodeShape shape_from_sinfo(const std::string& sinfo_output, const std::string& partition) {
  std::vector<NodeShape> shapes;
  std::vector<std::string> partitions;
  std::string chosen = partition;
  for (const std::string& raw : split(sinfo_output, '\n')) {
    const std::string line = trim(raw);
    if (line.empty()) continue;
    const std::vector<std::string> f = split(line, '|');
    auto bad = [&](const std::string& why) {
      throw_error(ErrorCode::kInvalidArgument, "cannot read sinfo's line \"", line, "\": ", why);
    };
    if (f.size() != 6) bad("expected partition|sockets|cores|threads|memory|nodes");
    std::string name = trim(f[0]);
    const bool is_default = !name.empty() && name.back() == '*';
    if (is_default) name.pop_back();
    if (std::find(partitions.begin(), partitions.end(), name) == partitions.end()) partitions.push_back(name);
    if (partition.empty() && is_default) chosen = name;
    if (!partition.empty() && name != partition) continue;
    if (partition.empty() && !is_default) continue;
    // Slurm marks a figure that varies within the line with '+' (the smallest is shown).
    auto field = [&](int i, const char* what) -> std::optional<std::int64_t> {
      std::string v = trim(f[static_cast<std::size_t>(i)]);
      if (!v.empty() && v.back() == '+') v.pop_back();
      if (v == "N/A" || v == "0") return std::nullopt;
      const auto n = number(v);
      if (!n) bad(str_cat(what, " \"", f[static_cast<std::size_t>(i)], "\" is not a number"));
      return n;
    };
    NodeShape s;
    const auto sockets = field(1, "sockets"), cores = field(2, "cores"), threads = field(3, "threads");
    if (!sockets || !cores || !threads) bad("the partition's nodes have no sockets, cores or threads");
    s.sockets = static_cast<int>(*sockets);
    s.cores_per_socket = static_cast<int>(*cores);
    s.threads_per_core = static_cast<int>(*threads);
    if (auto mem = field(4, "memory")) s.memory = static_cast<std::uint64_t>(*mem) << 20;
    if (auto count = field(5, "nodes")) s.nodes = static_cast<int>(*count);
    shapes.push_back(s);
  }
  if (shapes.empty()) {
    std::string known;
    for (const auto& p : partitions) known += (known.empty() ? "" : ", ") + p;
    if (partition.empty()) {
      throw_error(ErrorCode::kNotFound, "Slurm has no default partition (partitions: ", known,
                  "): give --partition");
    }
    throw_error(ErrorCode::kNotFound, "Slurm has no partition \"", partition, "\" (partitions: ", known, ")");
  }
  // Lines with the same shape (nodes in other states) are one shape.
  std::vector<NodeShape> distinct;
  for (const NodeShape& s : shapes) {
    auto same = std::find_if(distinct.begin(), distinct.end(), [&](const NodeShape& d) {
      return d.sockets == s.sockets && d.cores_per_socket == s.cores_per_socket &&
             d.threads_per_core == s.threads_per_core && d.memory == s.memory;
    });
    if (same == distinct.end()) {
      distinct.push_back(s);
    } else if (s.nodes) {
      same->nodes = same->nodes.value_or(0) + *s.nodes;
    }
  }
  int total = 0;
  for (const NodeShape& s : distinct) total += s.nodes.value_or(0);
  NodeShape smallest = *std::min_element(distinct.begin(), distinct.end(), [](const auto& a, const auto& b) {
    if (a.cpus() != b.cpus()) return a.cpus() < b.cpus();
    return a.memory.value_or(0) < b.memory.value_or(0);
  });
  smallest.nodes = total > 0 ? std::optional<int>(total) : std::nullopt;
  smallest.source = str_cat("sinfo, partition ", chosen);
  if (distinct.size() > 1) {
    smallest.source += str_cat("; the smallest of its ", distinct.size(), " node shapes");
  }
  return smallest;
}

std::optional<NodeShape> query_node_shape(const std::string& partition, std::string* why_not) {
  auto no = [&](std::string why) -> std::optional<NodeShape> {
    if (why_not != nullptr) *why_not = std::move(why);
    return std::nullopt;
  };
  if (!on_path("sinfo")) return no("sinfo is not on PATH");
  // Without a configuration sinfo would look for one in DNS (configless Slurm) and wait for an answer.
  const char* conf = std::getenv("SLURM_CONF");
  std::error_code ec;
  if (conf != nullptr && *conf != '\0') {
    // sinfo would retry a missing SLURM_CONF for a minute.
    if (!std::filesystem::exists(conf, ec)) return no(str_cat("SLURM_CONF=", conf, " does not exist"));
  } else if (!std::filesystem::exists("/etc/slurm/slurm.conf", ec) &&
             !std::filesystem::exists("/run/slurm/conf/slurm.conf", ec)) {
    return no("no Slurm configuration here (SLURM_CONF, /etc/slurm/slurm.conf, /run/slurm/conf/slurm.conf)");
  }
  // Every partition, so that a wrong name can be answered with the right ones.
  int error = 0;
  const std::optional<Finished> f = run_program({"sinfo", "--noheader", "--format=%P|%X|%Y|%Z|%m|%D"}, error);
  if (!f) return no(str_cat("sinfo could not start: ", std::strerror(error)));
  if (f->status != 0) {
    std::string message = trim(f->err.empty() ? f->out : f->err);
    if (auto nl = message.find('\n'); nl != std::string::npos) message = message.substr(0, nl);
    return no(str_cat("sinfo failed (exit status ", f->status, "): ", message));
  }
  return shape_from_sinfo(f->out, partition);
}

NodeShape this_machine_shape() {
  const Topology topology = Topology::this_machine();
  NodeShape s;
  s.numa_domains = std::max(1, topology.numa_domains());
  s.sockets = *s.numa_domains;
  s.cores_per_socket = std::max(1, topology.cores() / *s.numa_domains);
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) s.memory = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
  s.source = "this machine (hwloc)";
  return s;
}

}  // namespace tessera::slurm
