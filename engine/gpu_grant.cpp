#include "engine/gpu_grant.h"

#include <atomic>

#include "engine/log.h"
#include "gpu/cuda_runtime.h"

namespace manta::engine {
namespace {
thread_local const std::vector<int>* t_grant = nullptr;
const std::vector<int> kNone;

// Whether granted ordinals name devices the CUDA runtime has: not so when the GPUs came from a
// stand-in topology (--manta-topology-xml) or a build without CUDA. Said once, not per task.
bool cuda_can_select(int ordinal) {
  const gpu::CudaProbe& probe = gpu::probe_cuda();
  const bool ok = probe.usable && ordinal < static_cast<int>(probe.devices.size());
  static std::atomic<bool> said{false};
  if (!ok && !said.exchange(true)) {
    log().debug("GPU {} is not set as the current CUDA device: {}", ordinal,
                probe.usable ? "the CUDA runtime sees fewer devices" : probe.error);
  }
  return ok;
}
}  // namespace

GpuGrantScope::GpuGrantScope(const std::vector<int>& ids) : previous_(t_grant) {
  t_grant = &ids;  // a task without GPUs does not see its caller's
  if (ids.empty()) return;
  if (cuda_can_select(ids.front())) device_ = std::make_unique<gpu::ScopedDevice>(ids.front());
}

GpuGrantScope::~GpuGrantScope() {
  device_.reset();
  t_grant = previous_;
}

const std::vector<int>& GpuGrantScope::current() noexcept { return t_grant ? *t_grant : kNone; }

}  // namespace manta::engine
