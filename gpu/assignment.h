// Which of the GPUs a node's ranks can see each rank takes, computed alike on every rank from
// the views the ranks gathered, so no two ranks share a GPU unless the node has too few.
#pragma once

#include <string>
#include <vector>

#include "gpu/devices.h"

namespace manta::gpu {

/// What one local rank reported about itself.
struct LocalRankView {
  std::vector<std::string> gpu_keys;  // gpu_key() of each GPU it may see, in its ordinal order
  std::string cpuset;                 // its cpuset (hwloc list string); "" = anywhere
};

struct RankGpus {
  std::vector<int> ordinals;  // positions in the rank's gpu_keys it is granted, ascending
  int sharers = 1;            // most ranks holding any one of these GPUs (1: exclusive or none)
};

/// This rank's view: the keys of `visible` (select_visible's result) in ordinal order, and
/// `process_cpuset` (Topology::process_cpuset).
LocalRankView local_view(const std::vector<GpuDevice>& visible, const std::string& process_cpuset);

/// The runtime ordinals (GpuDevice::ordinal, for cudaSetDevice) of a grant made on
/// local_view(visible, ...): positions equal ordinals when the runtime renumbers, not under
/// Slurm's physical numbering.
std::vector<int> runtime_ordinals(const std::vector<GpuDevice>& visible, const RankGpus& grant);

/// Splits the GPUs among the ranks, one result per view, in the same order:
/// - ranks whose visible sets overlap no other rank's keep everything they see;
/// - ranks sharing GPUs split them: with at least as many GPUs as ranks each gets its own
///   (floor or ceil of GPUs/ranks, the lower local ranks the larger blocks), else each gets one
///   GPU and every GPU is held by floor or ceil of ranks/GPUs ranks;
/// - a rank takes GPUs near its cpuset first (locality from `node_gpus`), then in node order,
///   so unbound ranks get contiguous blocks; lower local ranks choose first;
/// - a rank left with nothing that can see a GPU gets its least shared one.
/// Pure and deterministic: every rank computes the same answer from the same views.
std::vector<RankGpus> assign_gpus(const std::vector<LocalRankView>& ranks,
                                  const std::vector<GpuDevice>& node_gpus);

/// One line per rank for logs: "local rank 1: GPUs 0,1 (0000:48:00.0, 0000:4c:00.0)", with
/// ", shared by N ranks" when sharing happens and "no GPU" for a rank without any.
std::string describe_assignment(const std::vector<LocalRankView>& ranks,
                                const std::vector<RankGpus>& assignment);

}  // namespace manta::gpu
