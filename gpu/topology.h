// What hardware this rank may use, read with hwloc from the cpuset the launcher gave it.
#pragma once

#include <string>
#include <vector>

#include "gpu/devices.h"

namespace manta::gpu {

/// One physical core inside the process cpuset.
struct CoreInfo {
  int logical_index = -1;  // hwloc logical index among the node's cores (unique on the node)
  std::vector<int> pus;    // os indices of its PUs inside the process cpuset, ascending
};

struct Topology {
  int cores = 1;  // physical cores in this process's allowed cpuset
  int pus = 1;    // hardware threads in it
  int numa_nodes = 1;
  int node_cores = 1;   // physical cores on the whole node
  std::string summary;  // one line, for logs

  std::vector<GpuDevice> gpus;  // every compute GPU of the node, one entry each (read_gpus)
  std::string process_cpuset;   // list string ("0-11,24-35") of the PUs this process may use
  std::string node_cpuset;      // list string of every PU of the node
  bool launcher_bound = false;  // the process cpuset holds fewer PUs than the node
  int numa_node = -1;           // NUMA node os index covering process_cpuset; -1: several
  std::vector<CoreInfo> cores_in_cpuset;  // the cores touching process_cpuset, in logical order
};

/// Reads the topology; `xml_path` (optional) loads a saved hwloc XML instead of this machine,
/// which is how tests stand in for machines we do not have. With an XML the process counts as
/// unbound unless `bound_cpuset` (a list string) says which PUs the launcher gave it.
/// Throws std::runtime_error naming the file when it cannot be read or parsed.
Topology discover_topology(const std::string& xml_path = {}, const std::string& bound_cpuset = {});

/// Cores this rank should use when `local_ranks` ranks share the node: its allowed cores when
/// the launcher bound it to a subset, else an equal share of the node, at least 1.
int cores_for_rank(const Topology& topo, int local_ranks);

}  // namespace manta::gpu
