#include "gpu/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "gpu/machine.h"

namespace manta::gpu {

namespace {

using Bitmap = std::unique_ptr<hwloc_bitmap_s, decltype(&hwloc_bitmap_free)>;

Bitmap make_bitmap() { return Bitmap(hwloc_bitmap_alloc(), &hwloc_bitmap_free); }

// The PUs this process may use: the launcher's binding on this machine, the whole XML machine
// unless the caller says which PUs the launcher gave.
Bitmap process_set(hwloc_topology_t topo, const std::string& xml_path,
                   const std::string& bound_cpuset) {
  Bitmap set = make_bitmap();
  hwloc_const_bitmap_t node = hwloc_topology_get_topology_cpuset(topo);
  const bool from_os = bound_cpuset.empty() && xml_path.empty() &&
                       hwloc_get_cpubind(topo, set.get(), HWLOC_CPUBIND_PROCESS) == 0;
  if (!bound_cpuset.empty()) {
    if (hwloc_bitmap_list_sscanf(set.get(), bound_cpuset.c_str()) != 0) {
      throw std::runtime_error("manta: bad cpuset '" + bound_cpuset + "'");
    }
  } else if (!from_os) {
    hwloc_bitmap_copy(set.get(), node);
  }
  hwloc_bitmap_and(set.get(), set.get(), node);
  if (!hwloc_bitmap_iszero(set.get())) return set;
  if (!bound_cpuset.empty()) {
    throw std::runtime_error("manta: cpuset '" + bound_cpuset + "' names no PU of the topology");
  }
  hwloc_bitmap_copy(set.get(), node);  // the OS answered nothing usable: assume unbound
  return set;
}

int covering_numa(hwloc_topology_t topo, hwloc_const_bitmap_t set) {
  int found = -1;
  hwloc_obj_t numa = nullptr;
  while ((numa = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, numa)) != nullptr) {
    if (numa->cpuset == nullptr || !hwloc_bitmap_intersects(numa->cpuset, set)) continue;
    if (found >= 0) return -1;
    found = static_cast<int>(numa->os_index);
  }
  return found;
}

std::vector<CoreInfo> cores_in(hwloc_topology_t topo, hwloc_const_bitmap_t set) {
  std::vector<CoreInfo> out;
  hwloc_obj_t core = nullptr;
  while ((core = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, core)) != nullptr) {
    if (!hwloc_bitmap_intersects(core->cpuset, set)) continue;
    CoreInfo info;
    info.logical_index = static_cast<int>(core->logical_index);
    Bitmap pus = make_bitmap();
    hwloc_bitmap_and(pus.get(), core->cpuset, set);
    for (int pu = hwloc_bitmap_first(pus.get()); pu >= 0; pu = hwloc_bitmap_next(pus.get(), pu)) {
      info.pus.push_back(pu);
    }
    out.push_back(std::move(info));
  }
  if (out.empty()) {  // no Core objects (some VMs, odd XML): every PU counts as a core
    for (int pu = hwloc_bitmap_first(set); pu >= 0; pu = hwloc_bitmap_next(set, pu)) {
      out.push_back(CoreInfo{static_cast<int>(out.size()), {pu}});
    }
  }
  return out;
}

}  // namespace

Topology discover_topology(const std::string& xml_path, const std::string& bound_cpuset) {
  // An XML is loaded for this call only; this machine's topology is loaded once and kept.
  std::unique_ptr<hwloc_topology, decltype(&hwloc_topology_destroy)> from_xml(
      xml_path.empty() ? nullptr : load_topology(xml_path.c_str()), &hwloc_topology_destroy);
  hwloc_topology_t topo = xml_path.empty() ? this_machine() : from_xml.get();
  if (topo == nullptr)
    throw std::runtime_error("manta: cannot load hwloc topology of this machine");
  Topology t;
  t.node_cores = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE));
  t.numa_nodes = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));

  hwloc_const_bitmap_t node = hwloc_topology_get_topology_cpuset(topo);
  Bitmap set = process_set(topo, xml_path, bound_cpuset);
  t.node_cpuset = list_string(node);
  t.process_cpuset = list_string(set.get());
  t.launcher_bound = hwloc_bitmap_weight(set.get()) < hwloc_bitmap_weight(node);
  t.numa_node = covering_numa(topo, set.get());
  t.cores_in_cpuset = cores_in(topo, set.get());
  t.cores = std::max(1, static_cast<int>(t.cores_in_cpuset.size()));
  if (hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) == 0) t.node_cores = hwloc_bitmap_weight(node);
  t.pus = std::max(1, hwloc_bitmap_weight(set.get()));
  t.gpus = read_gpus(topo);

  t.summary = std::to_string(t.cores) + " of " + std::to_string(t.node_cores) + " cores (PUs " +
              t.process_cpuset + (t.launcher_bound ? ", bound" : "") + "), " +
              std::to_string(t.pus) + " PUs, " + std::to_string(t.numa_nodes) + " NUMA node(s)" +
              (t.numa_node >= 0 ? " (on " + std::to_string(t.numa_node) + ")" : "") + ", " +
              std::to_string(t.gpus.size()) + " GPU(s)";
  return t;
}

int cores_for_rank(const Topology& topo, int local_ranks) {
  if (topo.cores < topo.node_cores) return std::max(1, topo.cores);  // bound by the launcher
  return std::max(1, topo.node_cores / std::max(1, local_ranks));
}

}  // namespace manta::gpu
