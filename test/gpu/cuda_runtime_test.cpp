// The CUDA runtime wrapper in every build: without CUDA it reports so, with CUDA but no driver or
// device it reports the runtime's error, and the pure helpers format ids as hwloc and nvidia-smi.
#include "gpu/cuda_runtime.h"

#include <gtest/gtest.h>

#include <string>

#if MANTA_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace manta::gpu {
namespace {

TEST(NormalizePciBusId, CudaEightDigitDomainBecomesHwlocForm) {
  EXPECT_EQ(normalize_pci_bus_id("00000000:07:00.0"), "0000:07:00.0");
  EXPECT_EQ(normalize_pci_bus_id("00000001:3B:1F.7"), "0001:3b:1f.7");
}

TEST(NormalizePciBusId, LowercasesAndPadsShortFields) {
  EXPECT_EQ(normalize_pci_bus_id("0000:AF:00.0"), "0000:af:00.0");
  EXPECT_EQ(normalize_pci_bus_id("0:7:0.1"), "0000:07:00.1");
  EXPECT_EQ(normalize_pci_bus_id("07:00.0"), "0000:07:00.0");  // no domain: domain 0
}

TEST(NormalizePciBusId, KeepsDomainsWiderThanFourDigits) {
  EXPECT_EQ(normalize_pci_bus_id("00010000:01:00.0"), "10000:01:00.0");
}

TEST(NormalizePciBusId, RejectsWhatIsNotABusId) {
  for (const char* bad : {"", "07:00", "0000:07:00.8", "0000:07:20.0", "0000:107:00.0", "zz:00.0",
                          "0:0:0:0.0", "0000:07:00.0 ", "000000000:07:00.0", "0000::00.0",
                          "0000:07:.0", "0000:07:00.", "GPU-1234"}) {
    EXPECT_EQ(normalize_pci_bus_id(bad), "") << "'" << bad << "'";
  }
}

TEST(FormatGpuUuid, NvidiaSmiForm) {
  const std::array<std::uint8_t, 16> bytes = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                              0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  EXPECT_EQ(format_gpu_uuid(bytes), "GPU-12345678-9abc-def0-0123-456789abcdef");
  EXPECT_EQ(format_gpu_uuid({}), "GPU-00000000-0000-0000-0000-000000000000");
}

TEST(CudaProbe, AgreesWithTheBuild) {
  EXPECT_EQ(built_with_cuda(), MANTA_HAVE_CUDA != 0);
  const CudaProbe& probe = probe_cuda();
  EXPECT_EQ(probe.built_with_cuda, built_with_cuda());
  EXPECT_EQ(&probe, &probe_cuda()) << "the probe is cached";
  EXPECT_EQ(probe.usable, probe.error.empty());
  EXPECT_EQ(probe.usable, !probe.devices.empty());
}

TEST(ScopedDevice, NegativeOrdinalIsANoOpWithAReason) {
  ScopedDevice device(-1);
  EXPECT_FALSE(device.ok());
  EXPECT_FALSE(device.error().empty());
}

#if !MANTA_HAVE_CUDA

TEST(WithoutCuda, EveryPathSaysSo) {
  const CudaProbe& probe = probe_cuda();
  EXPECT_FALSE(probe.usable);
  EXPECT_EQ(probe.error, "Manta was built without CUDA");
  EXPECT_TRUE(probe.devices.empty());
  EXPECT_EQ(probe.runtime_version, 0);
  EXPECT_EQ(current_device(), -1);
  EXPECT_FALSE(thread_has_cuda_context());
  ScopedDevice device(0);
  EXPECT_FALSE(device.ok());
  EXPECT_EQ(device.error(), "Manta was built without CUDA");
  EXPECT_EQ(check_device_copy(0, 1024), "Manta was built without CUDA");
}

#else

TEST(WithCuda, RuntimeVersionIsKnownWithoutADriver) { EXPECT_GT(probe_cuda().runtime_version, 0); }

TEST(WithCuda, ProbeMatchesTheRuntime) {
  const CudaProbe& probe = probe_cuda();
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  cudaGetLastError();
  if (e != cudaSuccess) {
    EXPECT_FALSE(probe.usable);
    EXPECT_NE(probe.error.find(cudaGetErrorString(e)), std::string::npos) << probe.error;
    EXPECT_NE(probe.error.find(cudaGetErrorName(e)), std::string::npos) << probe.error;
  } else {
    EXPECT_EQ(probe.usable, count > 0) << probe.error;
    EXPECT_EQ(static_cast<int>(probe.devices.size()), count);
  }
}

TEST(WithCuda, NoUsableDeviceIsReportedNotFatal) {
  const CudaProbe& probe = probe_cuda();
  if (probe.usable) GTEST_SKIP() << "this machine has a usable CUDA device";
  EXPECT_EQ(current_device(), -1);
  EXPECT_FALSE(thread_has_cuda_context());
  ScopedDevice device(0);
  EXPECT_FALSE(device.ok());
  EXPECT_EQ(device.error(), "no usable CUDA device: " + probe.error);
  EXPECT_EQ(check_device_copy(0, 1024), device.error());
}

TEST(WithCuda, OrdinalPastTheLastDeviceIsRefused) {
  const CudaProbe& probe = probe_cuda();
  if (!probe.usable) GTEST_SKIP() << "no usable CUDA device: " << probe.error;
  const int past = static_cast<int>(probe.devices.size());
  ScopedDevice device(past);
  EXPECT_FALSE(device.ok());
  EXPECT_NE(device.error().find("does not exist"), std::string::npos) << device.error();
  EXPECT_FALSE(check_device_copy(past, 1024).empty());
  EXPECT_FALSE(check_device_copy(0, 0).empty());
}

#endif

}  // namespace
}  // namespace manta::gpu
