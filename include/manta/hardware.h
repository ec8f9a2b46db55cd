// The hardware a rank was given (cores, GPUs, binding, NUMA node) and the GPUs of the running
// task or actor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace manta {

/// Inside a task or actor: the GPU ordinals granted to it, as this rank's CUDA runtime numbers
/// them (what cudaSetDevice takes). Concurrent holders of whole GPUs get distinct devices;
/// holders of fractions share one. The first is the thread's current CUDA device while the
/// function runs (builds with CUDA). Empty outside tasks and for tasks that asked for no GPU.
std::vector<int> gpu_ids();

struct GpuInfo {
  int ordinal = -1;     // cudaSetDevice number in this rank's process
  int node_index = -1;  // position among the node's GPUs (nvidia-smi order)
  std::string name;
  std::string pci_bus_id;          // "0000:07:00.0"
  std::string uuid;                // "GPU-..." or "MIG-..." when known
  std::uint64_t memory_bytes = 0;  // 0 when unknown
  int numa_node = -1;              // the NUMA node near it, -1 when unknown
};

struct RankHardware {
  int rank = 0;
  std::string host;
  int cores = 0;              // cores this rank's workers use
  std::string cpuset;         // PUs the rank may run on, as a list ("0-11")
  int numa_node = -1;         // NUMA node of the rank's cpuset, -1 when it spans several
  std::string binding;        // "none", or how workers and the progress thread are bound
  std::vector<GpuInfo> gpus;  // the GPUs this rank offers as its GPU resource
  int gpu_sharers = 1;        // ranks sharing each of those GPUs (1: its own)
  std::string gpu_source;     // what decided which GPUs were visible (e.g. CUDA_VISIBLE_DEVICES)
  bool built_with_cuda = false;
  std::string cuda;                // the CUDA runtime's state ("usable, 8 devices" or why not)
  std::vector<std::string> notes;  // what was dropped or disagreed while choosing the GPUs
};

/// One line per item, for people: cores and cpuset, NUMA node, binding, each GPU (ordinal,
/// name, PCI id, memory when known), sharing and the CUDA state.
std::string describe(const RankHardware& hw);
/// The GPUs alone, "0 NVIDIA A100 (0000:07:00.0, 80.0 GiB); 1 ..." or "none".
std::string describe_gpus(const std::vector<GpuInfo>& gpus);

/// The calling rank's hardware (call it inside a task to read another rank's).
RankHardware rank_hardware();

/// Without starting anything: what each of `local_ranks` ranks started on this node now would
/// get, with the --manta-* settings among `args` and the environment (for `manta config`).
/// Throws std::invalid_argument for a bad setting or GPU list.
std::vector<RankHardware> preview_node_hardware(const std::vector<std::string>& args,
                                                int local_ranks);

}  // namespace manta
