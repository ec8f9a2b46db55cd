// The GPUs the calling thread's task or actor holds, for manta::gpu_ids(). While a scope lives,
// the thread's current CUDA device is the first granted one (when Manta was built with CUDA and
// a device answers), and the previous device comes back after: a task's cudaMalloc lands on its
// own GPU without it calling cudaSetDevice.
#pragma once

#include <memory>
#include <vector>

namespace manta::gpu {
class ScopedDevice;
}

namespace manta::engine {

class GpuGrantScope {
 public:
  explicit GpuGrantScope(const std::vector<int>& ids);
  ~GpuGrantScope();
  GpuGrantScope(const GpuGrantScope&) = delete;
  GpuGrantScope& operator=(const GpuGrantScope&) = delete;

  /// The grant of the innermost scope on this thread; empty outside tasks and actors.
  static const std::vector<int>& current() noexcept;

 private:
  const std::vector<int>* previous_;
  std::unique_ptr<gpu::ScopedDevice> device_;
};

}  // namespace manta::engine
