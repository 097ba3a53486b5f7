#include "tessera/runtime/topology.h"

#include <hwloc.h>

#include <algorithm>

#include "tessera/runtime/error.h"

namespace tessera {
namespace {

struct Bitmap {
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  Bitmap() {
    if (b == nullptr) throw std::bad_alloc();
  }
  ~Bitmap() { hwloc_bitmap_free(b); }
  Bitmap(const Bitmap&) = delete;
  Bitmap& operator=(const Bitmap&) = delete;
};

}  // namespace

struct Topology::Impl {
  hwloc_topology_t topo = nullptr;
  // Per NUMA domain that has allowed cores: its OS index and the first allowed PU (OS index) of each core.
  std::vector<int> domain_os;
  std::vector<std::vector<int>> domain_cores;
  Bitmap allowed;

  ~Impl() {
    if (topo != nullptr) hwloc_topology_destroy(topo);
  }

  void index(hwloc_const_cpuset_t restrict_to) {
    hwloc_bitmap_copy(allowed.b, hwloc_topology_get_allowed_cpuset(topo));
    if (restrict_to != nullptr && !hwloc_bitmap_iszero(restrict_to)) {
      hwloc_bitmap_and(allowed.b, allowed.b, restrict_to);
    }
    const int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    const hwloc_obj_type_t unit = ncores > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    if (ncores <= 0) ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    Bitmap usable;
    for (int n = 0; n < std::max(nnuma, 1); ++n) {
      hwloc_obj_t numa = nnuma > 0 ? hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(n))
                                   : hwloc_get_root_obj(topo);
      std::vector<int> cores;
      for (int c = 0; c < ncores; ++c) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, unit, static_cast<unsigned>(c));
        if (!hwloc_bitmap_isincluded(core->cpuset, numa->cpuset)) continue;
        hwloc_bitmap_and(usable.b, core->cpuset, allowed.b);
        if (hwloc_bitmap_iszero(usable.b)) continue;
        cores.push_back(hwloc_bitmap_first(usable.b));
      }
      if (cores.empty()) continue;
      std::sort(cores.begin(), cores.end());
      domain_os.push_back(nnuma > 0 ? static_cast<int>(numa->os_index) : 0);
      domain_cores.push_back(std::move(cores));
    }
    if (domain_cores.empty()) throw_error(ErrorCode::kInternal, "hwloc found no usable core in the topology");
  }
};

std::string format_ranges(const std::vector<int>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size();) {
    std::size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(values[i]);
    if (j > i) {
      out += '-';
      out += std::to_string(values[j]);
    }
    i = j + 1;
  }
  return out;
}

std::string WorkerBinding::describe() const {
  return str_cat("NUMA ", format_ranges(numa_domains), ", cores ", format_ranges(cores), " (", cores.size(),
                 ")");
}

Topology::Topology(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Topology::Topology(Topology&&) noexcept = default;
Topology& Topology::operator=(Topology&&) noexcept = default;
Topology::~Topology() = default;

Topology Topology::this_machine() {
  auto impl = std::make_unique<Impl>();
  if (hwloc_topology_init(&impl->topo) != 0 || hwloc_topology_load(impl->topo) != 0) {
    throw_error(ErrorCode::kInternal, "hwloc could not load this machine's topology");
  }
  Bitmap bound;
  const bool have_binding = hwloc_get_cpubind(impl->topo, bound.b, HWLOC_CPUBIND_PROCESS) == 0;
  impl->index(have_binding ? bound.b : nullptr);
  return Topology(std::move(impl));
}

Topology Topology::synthetic(std::string_view description) {
  auto impl = std::make_unique<Impl>();
  const std::string desc(description);
  if (hwloc_topology_init(&impl->topo) != 0 || hwloc_topology_set_synthetic(impl->topo, desc.c_str()) != 0 ||
      hwloc_topology_load(impl->topo) != 0) {
    throw_error(ErrorCode::kInvalidArgument, "hwloc rejected the synthetic topology \"", desc, "\"");
  }
  impl->index(nullptr);
  return Topology(std::move(impl));
}

Topology Topology::from_xml(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  if (hwloc_topology_init(&impl->topo) != 0 || hwloc_topology_set_xml(impl->topo, path.c_str()) != 0 ||
      hwloc_topology_load(impl->topo) != 0) {
    throw_error(ErrorCode::kInvalidArgument, "hwloc could not read a topology from \"", path, "\"");
  }
  impl->index(nullptr);
  return Topology(std::move(impl));
}

int Topology::numa_domains() const noexcept {
  return static_cast<int>(impl_->domain_cores.size());
}

int Topology::cores() const noexcept {
  int n = 0;
  for (const auto& d : impl_->domain_cores) n += static_cast<int>(d.size());
  return n;
}

WorkerBinding Topology::place(int local_index, int workers) const {
  if (workers < 1 || local_index < 0 || local_index >= workers) {
    throw_error(ErrorCode::kInvalidArgument, "worker ", local_index, " of ", workers,
                " on a node: the index must be in [0, workers)");
  }
  const auto& domains = impl_->domain_cores;
  const int d = static_cast<int>(domains.size());
  WorkerBinding b;
  if (workers <= d) {
    // Whole domains: worker i gets domains [i*d/w, (i+1)*d/w).
    for (int k = local_index * d / workers; k < (local_index + 1) * d / workers; ++k) {
      b.numa_domains.push_back(impl_->domain_os[static_cast<std::size_t>(k)]);
      const auto& c = domains[static_cast<std::size_t>(k)];
      b.cores.insert(b.cores.end(), c.begin(), c.end());
    }
  } else {
    // Several workers per domain: worker i lives in domain i*d/w and takes its share of that domain's cores.
    const int k = local_index * d / workers;
    int first = local_index;
    while (first > 0 && (first - 1) * d / workers == k) --first;
    int sharing = 0;
    while (first + sharing < workers && (first + sharing) * d / workers == k) ++sharing;
    const int rank_in_domain = local_index - first;
    const auto& c = domains[static_cast<std::size_t>(k)];
    const int n = static_cast<int>(c.size());
    b.numa_domains.push_back(impl_->domain_os[static_cast<std::size_t>(k)]);
    const int lo = rank_in_domain * n / sharing;
    const int hi = (rank_in_domain + 1) * n / sharing;
    if (hi > lo) {
      b.cores.assign(c.begin() + lo, c.begin() + hi);
    } else {
      b.cores.push_back(c[static_cast<std::size_t>(rank_in_domain % n)]);  // more workers than cores here
    }
  }
  std::sort(b.cores.begin(), b.cores.end());
  std::sort(b.numa_domains.begin(), b.numa_domains.end());
  return b;
}

bool Topology::bind_thread(const std::vector<int>& cores) const {
  Bitmap set;
  for (int core : cores) {
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(impl_->topo, static_cast<unsigned>(core));
    if (pu == nullptr) return false;
    hwloc_obj_t c = hwloc_get_ancestor_obj_by_type(impl_->topo, HWLOC_OBJ_CORE, pu);
    hwloc_bitmap_or(set.b, set.b, c != nullptr ? c->cpuset : pu->cpuset);
  }
  hwloc_bitmap_and(set.b, set.b, impl_->allowed.b);
  if (hwloc_bitmap_iszero(set.b)) return false;
  return hwloc_set_cpubind(impl_->topo, set.b, HWLOC_CPUBIND_THREAD) == 0;
}

bool Topology::bind_thread_to_core(int core) const {
  return bind_thread({core});
}

bool Topology::bind_memory(const std::vector<int>& numa_domains) const {
  Bitmap nodes;
  for (int n : numa_domains) hwloc_bitmap_set(nodes.b, static_cast<unsigned>(n));
  return hwloc_set_membind(impl_->topo, nodes.b, HWLOC_MEMBIND_BIND,
                           HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) == 0;
}

std::string Topology::summary() const {
  auto count = [&](hwloc_obj_type_t t) { return std::max(0, hwloc_get_nbobjs_by_type(impl_->topo, t)); };
  auto plural = [](int n, const char* word) { return str_cat(n, " ", word, n == 1 ? "" : "s"); };
  return str_cat(plural(count(HWLOC_OBJ_PACKAGE), "package"), ", ",
                 plural(count(HWLOC_OBJ_NUMANODE), "NUMA domain"), ", ",
                 plural(count(HWLOC_OBJ_CORE), "core"), ", ", plural(count(HWLOC_OBJ_PU), "PU"),
                 "; usable here: ", plural(cores(), "core"), " in ", plural(numa_domains(), "NUMA domain"));
}

}  // namespace tessera
