// The CUDA runtime as Manta uses it: which devices this process sees, the current device of a
// thread, and a copy check for diagnostics. Plain types only, so code built without the CUDA
// headers includes it; a build without CUDA answers every call with "Manta was built without
// CUDA", and a build with CUDA on a machine without a driver or device reports the runtime's
// error instead of failing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace manta::gpu {

struct CudaDeviceInfo {
  int ordinal = -1;                // cudaSetDevice number in this process
  std::string name;                // cudaDeviceProp::name
  std::string pci_bus_id;          // "0000:07:00.0", as hwloc prints it (normalize_pci_bus_id)
  std::string uuid;                // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::uint64_t memory_bytes = 0;  // cudaDeviceProp::totalGlobalMem
};

struct CudaProbe {
  bool built_with_cuda = false;
  bool usable = false;      // a driver answered and at least one device is visible
  std::string error;        // why not usable: "Manta was built without CUDA", or the CUDA error
  int runtime_version = 0;  // CUDART_VERSION style: 13000 is 13.0; 0 when unknown
  int driver_version = 0;   // 0 when no driver is installed
  std::vector<CudaDeviceInfo> devices;
};

/// The text every GPU path reports when Manta was built without CUDA.
inline constexpr const char* kBuiltWithoutCuda = "Manta was built without CUDA";

bool built_with_cuda() noexcept;

/// Asks the CUDA runtime once per process (thread-safe) and caches the answer. It creates no
/// context: only device properties are read.
const CudaProbe& probe_cuda();

/// This thread's current device, or -1 when CUDA is not usable.
int current_device() noexcept;

/// Whether a CUDA context is current on this thread (a device was set or used here). False
/// without CUDA or when the driver cannot be asked.
bool thread_has_cuda_context() noexcept;

/// Sets this thread's current device for the object's lifetime and restores the previous one
/// after. A no-op (ok() false, error() says why) without CUDA, without a usable device, with
/// ordinal < 0 or past the last device. Setting a device creates its primary context; a thread
/// that held no context before holds none after, so the restore opens no context on device 0.
class ScopedDevice {
 public:
  explicit ScopedDevice(int ordinal);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  ScopedDevice(ScopedDevice&&) = delete;
  ScopedDevice& operator=(ScopedDevice&&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  int ordinal() const { return ordinal_; }

 private:
  int ordinal_ = -1;
  int previous_ = -1;                 // restored by the destructor; only meaningful when ok_
  void* previous_context_ = nullptr;  // the thread's CUcontext before, when context_known_
  bool context_known_ = false;
  bool ok_ = false;
  std::string error_;
};

/// Copies `bytes` host -> device -> device -> host on `ordinal` with cudaMemcpy and compares the
/// result with what was sent. Returns an empty string on success, else what failed.
std::string check_device_copy(int ordinal, std::size_t bytes);

/// A PCI bus id as hwloc prints it ("%04x:%02x:%02x.%01x", lowercase): CUDA's
/// "00000000:07:00.0" becomes "0000:07:00.0"; a missing domain is domain 0. Returns an empty
/// string when `id` is not a PCI bus id.
std::string normalize_pci_bus_id(const std::string& id);

/// The 16 bytes of a device UUID in nvidia-smi's form, "GPU-" + 8-4-4-4-12 lowercase hex.
std::string format_gpu_uuid(const std::array<std::uint8_t, 16>& bytes);

}  // namespace manta::gpu
