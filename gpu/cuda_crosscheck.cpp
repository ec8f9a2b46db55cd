#include "gpu/cuda_crosscheck.h"

#include <algorithm>

namespace manta::gpu {
namespace {

GpuDevice from_cuda(const CudaDeviceInfo& d) {
  GpuDevice g;
  g.ordinal = d.ordinal;
  g.name = d.name;
  g.pci_bus_id = d.pci_bus_id;
  g.uuid = d.uuid;
  g.memory_bytes = d.memory_bytes;
  g.backend = "CUDA";
  return g;
}

}  // namespace

CrossChecked cross_check(const std::vector<GpuDevice>& visible, const CudaProbe& cuda) {
  CrossChecked out;
  out.gpus = visible;
  if (!cuda.usable) return out;
  // NVIDIA devices only: hwloc may also list AMD or Intel GPUs the CUDA runtime never sees.
  std::vector<const GpuDevice*> nvidia;
  for (const GpuDevice& g : visible) {
    if (g.backend == "CUDA" || g.backend == "NVML") nvidia.push_back(&g);
  }
  std::vector<GpuDevice> joined;
  std::size_t matched = 0;
  for (const CudaDeviceInfo& d : cuda.devices) {
    GpuDevice g = from_cuda(d);
    auto it = std::find_if(nvidia.begin(), nvidia.end(), [&](const GpuDevice* h) {
      return !d.pci_bus_id.empty() && h->pci_bus_id == d.pci_bus_id;
    });
    if (it != nvidia.end()) {
      ++matched;
      const GpuDevice& h = **it;
      g.node_index = h.node_index;
      g.cpuset = h.cpuset;
      g.numa_node = h.numa_node;
      g.mig_uuids = h.mig_uuids;
      if (g.name.empty()) g.name = h.name;
      if (g.uuid.empty()) g.uuid = h.uuid;
      if (g.memory_bytes == 0) g.memory_bytes = h.memory_bytes;
    }
    joined.push_back(std::move(g));
  }
  if (matched == nvidia.size() && matched == cuda.devices.size()) {
    out.gpus = std::move(joined);  // agree: the runtime's ordinals, hwloc's locality
    return out;
  }
  if (nvidia.empty()) {
    out.note = "hwloc found no NVIDIA GPU but the CUDA runtime sees " +
               std::to_string(cuda.devices.size()) + "; using the runtime's list";
  } else {
    out.note = "hwloc and the CUDA runtime disagree (" + std::to_string(nvidia.size()) + " vs " +
               std::to_string(cuda.devices.size()) + " GPUs, " + std::to_string(matched) +
               " matched by PCI bus id); using the runtime's list";
  }
  // Keep the non-NVIDIA devices hwloc found; the NVIDIA ones are the runtime's.
  for (const GpuDevice& g : visible) {
    if (g.backend != "CUDA" && g.backend != "NVML") joined.push_back(g);
  }
  out.gpus = std::move(joined);
  return out;
}

}  // namespace manta::gpu
