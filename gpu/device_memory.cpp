#include "gpu/device_memory.h"

#include <atomic>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "gpu/cuda_runtime.h"

#if MANTA_HAVE_CUDA
#include <cuda.h>  // driver types only: the function is reached through the runtime
#include <cuda_runtime_api.h>
#endif

namespace manta::gpu {

namespace {

#if MANTA_HAVE_CUDA

using PointerAttributesCall = CUresult (*)(unsigned int, CUpointer_attribute*, void**, CUdeviceptr);

// cuPointerGetAttributes, looked up through the runtime so that Manta links no libcuda. The
// driver call looks the address up without a context, where cudaPointerGetAttributes would first
// open the primary context of the thread's device (usually device 0) on a thread that has none.
// Null where the runtime predates the lookup.
PointerAttributesCall pointer_attributes_call() {
  static const PointerAttributesCall call = [] {
    PointerAttributesCall found = nullptr;
#if CUDART_VERSION >= 12050
    void* symbol = nullptr;
    cudaDriverEntryPointQueryResult status{};
    // 7000: the ABI version the function has had since CUDA 7.0 (PFN_..._v7000).
    if (cudaGetDriverEntryPointByVersion("cuPointerGetAttributes", &symbol, 7000, cudaEnableDefault,
                                         &status) == cudaSuccess &&
        status == cudaDriverEntryPointSuccess) {
      found = reinterpret_cast<PointerAttributesCall>(symbol);
    }
    cudaGetLastError();
#endif
    return found;
  }();
  return call;
}

// Whether the driver may be asked: set false by the probe finding no usable device and by the
// first failed call, after which every answer is "host" without a driver call.
std::atomic<bool> driver_usable{true};

bool cuda_usable() noexcept {
  if (!driver_usable.load(std::memory_order_relaxed)) return false;
  try {
    if (probe_cuda().usable) return true;
  } catch (const std::exception&) {
    // The probe could not allocate its answer: treated as no CUDA.
  }
  driver_usable.store(false, std::memory_order_relaxed);
  return false;
}

// The driver's answer, or nullopt-like {false, -1} with `ok` false when it failed.
PointerPlace ask_driver(const void* p, bool& ok) noexcept {
  PointerPlace place;
  ok = false;
  if (const PointerAttributesCall call = pointer_attributes_call()) {
    unsigned int memory_type = 0;
    unsigned int managed = 0;  // a boolean the driver writes; zero-initialized wider storage
    int ordinal = -1;
    CUpointer_attribute attributes[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                        CU_POINTER_ATTRIBUTE_IS_MANAGED,
                                        CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL};
    void* data[] = {&memory_type, &managed, &ordinal};
    // An address CUDA does not know is not an error: the attributes come back zero.
    if (call(3, attributes, data, reinterpret_cast<CUdeviceptr>(p)) != CUDA_SUCCESS) return place;
    ok = true;
    place.device = memory_type == CU_MEMORYTYPE_DEVICE || managed != 0;
    place.ordinal = place.device && ordinal >= 0 ? ordinal : -1;
    place.device = place.device && place.ordinal >= 0;
    return place;
  }
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, p) != cudaSuccess) {
    cudaGetLastError();
    return place;
  }
  ok = true;
  place.device =
      attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
  place.ordinal = place.device && attributes.device >= 0 ? attributes.device : -1;
  place.device = place.device && place.ordinal >= 0;
  return place;
}

#endif

}  // namespace

PointerPlace where_is(const void* p) noexcept {
#if MANTA_HAVE_CUDA
  if (p == nullptr || !cuda_usable()) return {};
  bool ok = false;
  const PointerPlace place = ask_driver(p, ok);
  if (!ok) driver_usable.store(false, std::memory_order_relaxed);
  return place;
#else
  (void)p;
  return {};
#endif
}

bool built_with_nccl() noexcept { return MANTA_HAVE_NCCL != 0; }

void copy_memory(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0 || dst == src) return;
#if MANTA_HAVE_CUDA
  if (where_is(dst).device || where_is(src).device) {
    const cudaError_t rc = cudaMemcpy(dst, src, bytes, cudaMemcpyDefault);
    if (rc != cudaSuccess)
      throw std::runtime_error(std::string("cudaMemcpy failed: ") + cudaGetErrorString(rc));
    return;
  }
#endif
  std::memcpy(dst, src, bytes);
}

}  // namespace manta::gpu
