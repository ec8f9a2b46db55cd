// Joins hwloc's view of the visible GPUs with the CUDA runtime's, when a driver answers: the
// runtime is what tasks will use, so where the two disagree the runtime wins and the log says why
// (hwloc may miss GPUs: no NVML/sysfs access for the user, a container without the PCI tree).
#pragma once

#include <string>
#include <vector>

#include "gpu/cuda_runtime.h"
#include "gpu/devices.h"

namespace manta::gpu {

struct CrossChecked {
  std::vector<GpuDevice> gpus;  // what the rank may use, ordinals as the runtime numbers them
  std::string note;             // "" when both agree (or CUDA is not usable); else what happened
};

/// `visible`: hwloc's GPUs after the environment narrowed them; `cuda`: the runtime's probe.
CrossChecked cross_check(const std::vector<GpuDevice>& visible, const CudaProbe& cuda);

}  // namespace manta::gpu
