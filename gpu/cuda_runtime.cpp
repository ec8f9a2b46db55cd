#include "gpu/cuda_runtime.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#if MANTA_HAVE_CUDA
#include <cuda.h>  // driver types only: the functions are reached through the runtime
#include <cuda_runtime_api.h>
#endif

namespace manta::gpu {

namespace {

// Parses 1..max_digits hex digits that make up all of `s`; -1 when they do not.
long parse_hex(const std::string& s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return -1;
  long value = 0;
  for (char c : s) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

#if MANTA_HAVE_CUDA

// "cudaGetDeviceCount: no CUDA-capable device is detected (cudaErrorNoDevice)".
std::string cuda_error(const char* call, cudaError_t code) {
  return std::string(call) + ": " + cudaGetErrorString(code) + " (" + cudaGetErrorName(code) + ")";
}

CudaDeviceInfo read_device(int ordinal, std::string& error) {
  CudaDeviceInfo info;
  info.ordinal = ordinal;
  cudaDeviceProp prop{};
  if (const cudaError_t e = cudaGetDeviceProperties(&prop, ordinal); e != cudaSuccess) {
    error = cuda_error("cudaGetDeviceProperties", e);
    return info;
  }
  info.name = prop.name;
  info.memory_bytes = prop.totalGlobalMem;
  std::array<std::uint8_t, 16> uuid{};
  std::memcpy(uuid.data(), prop.uuid.bytes, uuid.size());
  info.uuid = format_gpu_uuid(uuid);
  char bus_id[32] = {};
  if (const cudaError_t e = cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, ordinal);
      e != cudaSuccess) {
    error = cuda_error("cudaDeviceGetPCIBusId", e);
    return info;
  }
  info.pci_bus_id = normalize_pci_bus_id(bus_id);
  if (info.pci_bus_id.empty()) {
    error = std::string("cudaDeviceGetPCIBusId: unexpected bus id '") + bus_id + "'";
  }
  return info;
}

CudaProbe run_probe() {
  CudaProbe probe;
  probe.built_with_cuda = true;
  // Both versions answer without a driver (the driver version is then 0).
  cudaRuntimeGetVersion(&probe.runtime_version);
  cudaDriverGetVersion(&probe.driver_version);
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    probe.error = e != cudaSuccess ? cuda_error("cudaGetDeviceCount", e)
                                   : std::string("cudaGetDeviceCount: no devices");
    if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES")) {
      probe.error += std::string(" with CUDA_VISIBLE_DEVICES='") + visible + "'";
    }
    // The failed call is also this thread's last error; clear it so later calls start clean.
    cudaGetLastError();
    return probe;
  }
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    std::string error;
    probe.devices.push_back(read_device(ordinal, error));
    if (!error.empty()) {
      probe.error = "device " + std::to_string(ordinal) + ": " + error;
      probe.devices.clear();
      cudaGetLastError();
      return probe;
    }
  }
  probe.usable = true;
  return probe;
}

// cuCtxGetCurrent and cuCtxSetCurrent, looked up through the runtime so that Manta links no
// libcuda (which machines without a driver lack). Null where the runtime predates the lookup.
struct DriverContextCalls {
  CUresult (*get)(CUcontext*) = nullptr;
  CUresult (*set)(CUcontext) = nullptr;
};

const DriverContextCalls& driver_context_calls() {
  static const DriverContextCalls calls = [] {
    DriverContextCalls c;
#if CUDART_VERSION >= 12050
    // 4000: the ABI version both functions have had since CUDA 4.0.
    void* get = nullptr;
    void* set = nullptr;
    cudaDriverEntryPointQueryResult get_status{};
    cudaDriverEntryPointQueryResult set_status{};
    if (cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &get, 4000, cudaEnableDefault,
                                         &get_status) == cudaSuccess &&
        cudaGetDriverEntryPointByVersion("cuCtxSetCurrent", &set, 4000, cudaEnableDefault,
                                         &set_status) == cudaSuccess &&
        get_status == cudaDriverEntryPointSuccess && set_status == cudaDriverEntryPointSuccess) {
      c.get = reinterpret_cast<CUresult (*)(CUcontext*)>(get);
      c.set = reinterpret_cast<CUresult (*)(CUcontext)>(set);
    }
    cudaGetLastError();
#endif
    return c;
  }();
  return calls;
}

// Device memory released on every path out of check_device_copy.
struct DeviceBuffer {
  void* ptr = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

#else

CudaProbe run_probe() {
  CudaProbe probe;
  probe.error = kBuiltWithoutCuda;
  return probe;
}

#endif

}  // namespace

std::string normalize_pci_bus_id(const std::string& id) {
  // [domain:]bus:device.function
  const auto colons = std::count(id.begin(), id.end(), ':');
  if (colons < 1 || colons > 2) return {};
  std::size_t pos = 0;
  long domain = 0;
  if (colons == 2) {
    const auto colon = id.find(':');
    domain = parse_hex(id.substr(0, colon), 8);
    pos = colon + 1;
  }
  const auto colon = id.find(':', pos);
  const auto dot = id.find('.', colon);
  if (dot == std::string::npos) return {};
  const long bus = parse_hex(id.substr(pos, colon - pos), 2);
  const long device = parse_hex(id.substr(colon + 1, dot - colon - 1), 2);
  const long function = parse_hex(id.substr(dot + 1), 1);
  if (domain < 0 || bus < 0 || device < 0 || device > 0x1f || function < 0 || function > 7) {
    return {};
  }
  char out[32];
  std::snprintf(out, sizeof out, "%04lx:%02lx:%02lx.%01lx", domain, bus, device, function);
  return out;
}

std::string format_gpu_uuid(const std::array<std::uint8_t, 16>& b) {
  char out[48];
  std::snprintf(out, sizeof out,
                "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                b[14], b[15]);
  return out;
}

bool built_with_cuda() noexcept { return MANTA_HAVE_CUDA != 0; }

const CudaProbe& probe_cuda() {
  static const CudaProbe probe = run_probe();
  return probe;
}

int current_device() noexcept {
#if MANTA_HAVE_CUDA
  try {
    if (!probe_cuda().usable) return -1;
  } catch (const std::exception&) {
    return -1;  // the probe could not allocate its answer
  }
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return device;
#else
  return -1;
#endif
}

bool thread_has_cuda_context() noexcept {
#if MANTA_HAVE_CUDA
  try {
    if (!probe_cuda().usable) return false;
  } catch (const std::exception&) {
    return false;
  }
  const DriverContextCalls& calls = driver_context_calls();
  CUcontext context = nullptr;
  return calls.get != nullptr && calls.get(&context) == CUDA_SUCCESS && context != nullptr;
#else
  return false;
#endif
}

ScopedDevice::ScopedDevice(int ordinal) : ordinal_(ordinal) {
#if MANTA_HAVE_CUDA
  const CudaProbe& probe = probe_cuda();
  if (!probe.usable) {
    error_ = "no usable CUDA device: " + probe.error;
    return;
  }
  if (ordinal < 0 || ordinal >= static_cast<int>(probe.devices.size())) {
    error_ = "CUDA device " + std::to_string(ordinal) + " does not exist; this process sees " +
             std::to_string(probe.devices.size());
    return;
  }
  const DriverContextCalls& calls = driver_context_calls();
  CUcontext context = nullptr;
  if (calls.get != nullptr && calls.set != nullptr && calls.get(&context) == CUDA_SUCCESS) {
    previous_context_ = context;
    context_known_ = true;
  }
  if (const cudaError_t e = cudaGetDevice(&previous_); e != cudaSuccess) {
    error_ = cuda_error("cudaGetDevice", e);
    cudaGetLastError();
    return;
  }
  if (const cudaError_t e = cudaSetDevice(ordinal); e != cudaSuccess) {
    error_ = cuda_error("cudaSetDevice", e);
    cudaGetLastError();
    return;
  }
  ok_ = true;
#else
  error_ = kBuiltWithoutCuda;
#endif
}

ScopedDevice::~ScopedDevice() {
#if MANTA_HAVE_CUDA
  // Only a device this object set is undone; a failed set changed nothing.
  if (!ok_) return;
  if (context_known_) {
    // The exact context from before, or none: cudaSetDevice(previous_) on a thread that had no
    // context would open one on device previous_ (usually 0) that nothing asked for.
    driver_context_calls().set(static_cast<CUcontext>(previous_context_));
  } else if (previous_ != ordinal_) {
    cudaSetDevice(previous_);
  }
#endif
}

std::string check_device_copy(int ordinal, std::size_t bytes) {
#if MANTA_HAVE_CUDA
  if (bytes == 0) return "check_device_copy: nothing to copy (0 bytes)";
  ScopedDevice device(ordinal);
  if (!device.ok()) return device.error();
  // A pattern that differs between neighbouring bytes, pages and devices, so a copy from the
  // wrong offset or the wrong device does not compare equal.
  std::vector<std::uint8_t> sent(bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    sent[i] =
        static_cast<std::uint8_t>(i * 131 + (i >> 12) * 7 + static_cast<std::size_t>(ordinal));
  }
  std::vector<std::uint8_t> received(bytes);
  for (std::size_t i = 0; i < bytes; ++i) received[i] = static_cast<std::uint8_t>(~sent[i]);

  const std::string where = " on CUDA device " + std::to_string(ordinal);
  DeviceBuffer first;
  DeviceBuffer second;
  if (const cudaError_t e = cudaMalloc(&first.ptr, bytes); e != cudaSuccess) {
    cudaGetLastError();
    return cuda_error("cudaMalloc", e) + where;
  }
  if (const cudaError_t e = cudaMalloc(&second.ptr, bytes); e != cudaSuccess) {
    cudaGetLastError();
    return cuda_error("cudaMalloc", e) + where;
  }
  struct Step {
    void* dst;
    const void* src;
    cudaMemcpyKind kind;
    const char* name;
  };
  const Step steps[] = {
      {first.ptr, sent.data(), cudaMemcpyHostToDevice, "cudaMemcpy host to device"},
      {second.ptr, first.ptr, cudaMemcpyDeviceToDevice, "cudaMemcpy device to device"},
      {received.data(), second.ptr, cudaMemcpyDeviceToHost, "cudaMemcpy device to host"},
  };
  for (const Step& step : steps) {
    if (const cudaError_t e = cudaMemcpy(step.dst, step.src, bytes, step.kind); e != cudaSuccess) {
      cudaGetLastError();
      return cuda_error(step.name, e) + where;
    }
  }
  if (std::memcmp(sent.data(), received.data(), bytes) != 0) {
    std::size_t at = 0;
    while (sent[at] == received[at]) ++at;
    return "copy round trip" + where + " differs at byte " + std::to_string(at) + " of " +
           std::to_string(bytes);
  }
  return {};
#else
  (void)ordinal;
  (void)bytes;
  return kBuiltWithoutCuda;
#endif
}

}  // namespace manta::gpu
