// GPUs as one record per physical device, joined across hwloc's backends, and the narrowing
// of that list to what this process may see (CUDA_VISIBLE_DEVICES and the like).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/visible_devices.h"

struct hwloc_topology;  // hwloc's handle; only gpu/ sources include <hwloc.h>

namespace manta::gpu {

struct GpuDevice {
  int node_index = -1;  // position among the node's GPUs ordered by PCI bus id (nvidia-smi order)
  int ordinal = -1;     // the runtime's number for it (cudaSetDevice) after any renumbering
  std::string name;     // "NVIDIA A100-SXM4-80GB" (GPUModel, else the PCI device name); may be ""
  std::string pci_bus_id;              // "0000:07:00.0", lowercase; "" when hwloc saw no PCI device
  std::string uuid;                    // "GPU-..." when known; "MIG-..." for a MIG instance entry
  std::uint64_t memory_bytes = 0;      // 0 when unknown
  std::string backend;                 // preferred backend: NVML, CUDA, RSMI, LevelZero, OpenCL
  std::vector<std::string> backends;   // every backend that reported it, in that preference
  std::string cpuset;                  // hwloc list string of the PUs near it ("0-23")
  int numa_node = -1;                  // NUMA node os index near it, -1 when unknown or several
  std::vector<std::string> mig_uuids;  // MIG instances of this GPU (all of them on a node entry)
  bool mig_instance = false;           // this entry is one MIG instance (uuid is its MIG UUID)
};

/// The key that names a device across ranks of a node: the MIG UUID for a MIG instance, else
/// the PCI bus id, else the UUID.
std::string gpu_key(const GpuDevice& gpu);

/// Every compute GPU in a loaded hwloc topology (I/O discovery enabled), one entry per device:
/// the OS devices of NVML, CUDA, RSMI, Level Zero and OpenCL under one PCI device merge into
/// one, ordered by PCI bus id. OS devices without a PCI parent cannot be joined across backends,
/// so only those of the most preferred backend present count. Display-only devices (DRM, GL)
/// are skipped. An NVIDIA or AMD VGA/3D/display PCI controller that no backend reported (hwloc
/// built without those plugins) still counts, with backend "PCI" and no UUID or memory. hwloc 2.9
/// does not report MIG instances; repeated "NVIDIAMIGUUID" infos on the NVML device (written by
/// tests or a probe) fill mig_uuids.
std::vector<GpuDevice> read_gpus(hwloc_topology* topology);

/// Narrows the node's GPUs to what `visible` allows, in the order it lists them.
/// Index entries name node_index; "GPU-" entries match a unique UUID prefix (as CUDA does);
/// "MIG-" entries match one instance and yield an entry for it (mig_instance = true).
/// `ordinal` becomes the position in the result when `visible.renumbered`, else node_index.
/// An entry that names no GPU, an ambiguous prefix or a GPU named twice is dropped and
/// explained in `*warning` (naming the variable and the entry). For the runtime variables
/// (renumbered: CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES) the rest of the list is dropped
/// too, as the runtimes ignore everything after an invalid entry; other sources go on.
std::vector<GpuDevice> select_visible(const std::vector<GpuDevice>& node_gpus,
                                      const VisibleDevices& visible, std::string* warning);

}  // namespace manta::gpu
