// The stand-in machines of test/gpu/topologies/, for the gpu layer's tests.
#pragma once

#include <string>
#include <vector>

#include "gpu/devices.h"
#include "gpu/topology.h"

namespace manta::gpu::test {

/// The path of a fixture topology.
inline std::string fixture(const std::string& name) {
  return std::string(MANTA_GPU_TOPOLOGIES) + "/" + name;
}

/// The GPUs of the 2-socket, 8-GPU node.
inline const std::vector<GpuDevice>& eight() {
  static const auto gpus = discover_topology(fixture("two_socket_8gpu.xml")).gpus;
  return gpus;
}

/// The GPUs of the 4-GPU node with MIG instances.
inline const std::vector<GpuDevice>& mig_node() {
  static const auto gpus = discover_topology(fixture("four_gpu_mig.xml")).gpus;
  return gpus;
}

}  // namespace manta::gpu::test
