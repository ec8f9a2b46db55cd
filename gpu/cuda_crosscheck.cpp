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
  // Devices the CUDA runtime may also see: NVIDIA backends, and bare PCI entries (Debian's hwloc
  // has no NVML or CUDA plugin, so NVIDIA GPUs show as PCI devices only).
  auto maybe_cuda = [](const GpuDevice& g) {
    return g.backend == "CUDA" || g.backend == "NVML" || g.backend == "PCI";
  };
  std::vector<bool> used(visible.size(), false);
  std::vector<GpuDevice> joined;
  std::size_t matched = 0;
  for (const CudaDeviceInfo& d : cuda.devices) {
    GpuDevice g = from_cuda(d);
    for (std::size_t i = 0; i < visible.size(); ++i) {
      const GpuDevice& h = visible[i];
      if (used[i] || !maybe_cuda(h) || d.pci_bus_id.empty() || h.pci_bus_id != d.pci_bus_id) {
        continue;
      }
      used[i] = true;
      ++matched;
      g.node_index = h.node_index;
      g.cpuset = h.cpuset;
      g.numa_node = h.numa_node;
      g.mig_uuids = h.mig_uuids;
      g.mig_instance = h.mig_instance;
      if (g.name.empty()) g.name = h.name;
      if (g.memory_bytes == 0) g.memory_bytes = h.memory_bytes;
      break;
    }
    joined.push_back(std::move(g));
  }
  std::size_t hwloc_cuda = 0;
  for (std::size_t i = 0; i < visible.size(); ++i) {
    if (maybe_cuda(visible[i]) && !used[i]) ++hwloc_cuda;
    // Other vendors' GPUs stay as hwloc found them.
    if (!maybe_cuda(visible[i])) joined.push_back(visible[i]);
  }
  if (matched < cuda.devices.size() || hwloc_cuda > 0) {
    out.note = matched == 0 && hwloc_cuda == 0
                   ? "hwloc found no NVIDIA GPU but the CUDA runtime sees " +
                         std::to_string(cuda.devices.size()) + "; using the runtime's list"
                   : "hwloc and the CUDA runtime disagree (" + std::to_string(cuda.devices.size()) +
                         " runtime devices, " + std::to_string(matched) +
                         " matched by PCI bus id, " + std::to_string(hwloc_cuda) +
                         " hwloc devices unmatched); using the runtime's list";
  }
  out.gpus = std::move(joined);  // the runtime's ordinals and identity, hwloc's locality
  return out;
}

}  // namespace manta::gpu
