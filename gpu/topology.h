// What hardware this rank may use, read with hwloc from the cpuset the launcher gave it.
#pragma once

#include <string>

namespace manta::gpu {

struct Topology {
  int cores = 1;  // physical cores in this process's allowed cpuset
  int pus = 1;    // hardware threads in it
  int numa_nodes = 1;
  int node_cores = 1;   // physical cores on the whole node
  std::string summary;  // one line, for logs
};

/// Reads the topology; `xml_path` (optional) loads a saved hwloc XML instead of this machine,
/// which is how tests stand in for machines we do not have.
Topology discover_topology(const std::string& xml_path = {});

/// Cores this rank should use when `local_ranks` ranks share the node: its allowed cores when
/// the launcher bound it to a subset, else an equal share of the node, at least 1.
int cores_for_rank(const Topology& topo, int local_ranks);

}  // namespace manta::gpu
