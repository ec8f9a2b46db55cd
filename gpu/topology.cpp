#include "gpu/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <stdexcept>

namespace manta::gpu {

Topology discover_topology(const std::string& xml_path) {
  hwloc_topology_t topo;
  hwloc_topology_init(&topo);
  if (!xml_path.empty() && hwloc_topology_set_xml(topo, xml_path.c_str()) != 0) {
    hwloc_topology_destroy(topo);
    throw std::runtime_error("manta: cannot read hwloc topology XML '" + xml_path + "'");
  }
  hwloc_topology_load(topo);
  Topology t;
  t.node_cores = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE));
  t.numa_nodes = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));
  t.cores = t.node_cores;
  t.pus = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
  if (xml_path.empty()) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0 && !hwloc_bitmap_iszero(set)) {
      t.cores = std::max(1, hwloc_get_nbobjs_inside_cpuset_by_type(topo, set, HWLOC_OBJ_CORE));
      t.pus = std::max(1, hwloc_bitmap_weight(set));
    }
    hwloc_bitmap_free(set);
  }
  t.summary = std::to_string(t.cores) + " of " + std::to_string(t.node_cores) + " cores, " +
              std::to_string(t.pus) + " PUs, " + std::to_string(t.numa_nodes) + " NUMA node(s)";
  hwloc_topology_destroy(topo);
  return t;
}

int cores_for_rank(const Topology& topo, int local_ranks) {
  if (topo.cores < topo.node_cores) return std::max(1, topo.cores);  // bound by the launcher
  return std::max(1, topo.node_cores / std::max(1, local_ranks));
}

}  // namespace manta::gpu
