// Needs a real CUDA device (label `gpu`): every test skips with the probe's reason where none is
// usable, so a machine without one reports why instead of passing.
#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gpu/cuda_runtime.h"
#include "gpu/device_memory.h"

#if MANTA_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace manta::gpu {
namespace {

// cudaGetDevice itself, not the wrapper under test; -1 when it fails.
int runtime_device() {
#if MANTA_HAVE_CUDA
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  return device;
#else
  return -1;
#endif
}

class CudaDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!probe_cuda().usable) GTEST_SKIP() << "no usable CUDA device: " << probe_cuda().error;
  }
  const std::vector<CudaDeviceInfo>& devices() const { return probe_cuda().devices; }
  int count() const { return static_cast<int>(devices().size()); }
};

TEST_F(CudaDevice, EveryDeviceHasItsIdentity) {
  ASSERT_GT(count(), 0);
  EXPECT_GT(probe_cuda().driver_version, 0);
  std::set<std::string> bus_ids;
  std::set<std::string> uuids;
  for (int i = 0; i < count(); ++i) {
    const CudaDeviceInfo& d = devices()[static_cast<std::size_t>(i)];
    EXPECT_EQ(d.ordinal, i);
    EXPECT_FALSE(d.name.empty()) << i;
    EXPECT_FALSE(d.pci_bus_id.empty()) << i;
    EXPECT_EQ(normalize_pci_bus_id(d.pci_bus_id), d.pci_bus_id) << i;
    EXPECT_EQ(d.uuid.size(), 40u) << d.uuid;
    EXPECT_EQ(d.uuid.rfind("GPU-", 0), 0u) << d.uuid;
    EXPECT_GT(d.memory_bytes, 0u) << i;
    bus_ids.insert(d.pci_bus_id);
    uuids.insert(d.uuid);
  }
  EXPECT_EQ(static_cast<int>(bus_ids.size()), count());
  EXPECT_EQ(static_cast<int>(uuids.size()), count());
}

TEST_F(CudaDevice, ScopedDeviceSetsTheThreadsDeviceAndLeavesNoContextBehind) {
  for (int ordinal = 0; ordinal < count(); ++ordinal) {
    std::thread worker([ordinal] {
      EXPECT_FALSE(thread_has_cuda_context()) << "a fresh thread holds no context";
      {
        ScopedDevice device(ordinal);
        ASSERT_TRUE(device.ok()) << device.error();
        EXPECT_EQ(runtime_device(), ordinal);
        EXPECT_EQ(current_device(), ordinal);
        EXPECT_TRUE(thread_has_cuda_context());
      }
      EXPECT_FALSE(thread_has_cuda_context()) << "device " << ordinal;
    });
    worker.join();
  }
}

TEST_F(CudaDevice, NestedScopesRestoreTheOuterDevice) {
  const int last = count() - 1;
  std::thread worker([last] {
    ScopedDevice outer(0);
    ASSERT_TRUE(outer.ok()) << outer.error();
    {
      ScopedDevice inner(last);
      ASSERT_TRUE(inner.ok()) << inner.error();
      EXPECT_EQ(runtime_device(), last);
    }
    EXPECT_EQ(runtime_device(), 0);
    EXPECT_TRUE(thread_has_cuda_context());
  });
  worker.join();
}

TEST_F(CudaDevice, ConcurrentThreadsEachKeepTheirOwnDevice) {
  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    const int ordinal = t % count();
    workers.emplace_back([ordinal] {
      for (int round = 0; round < 50; ++round) {
        ScopedDevice device(ordinal);
        ASSERT_TRUE(device.ok()) << device.error();
        ASSERT_EQ(runtime_device(), ordinal);
      }
    });
  }
  for (std::thread& w : workers) w.join();
}

TEST_F(CudaDevice, CopyRoundTripsOnEveryDevice) {
  constexpr std::size_t kBytes = 64u << 20;
  for (int ordinal = 0; ordinal < count(); ++ordinal) {
    EXPECT_EQ(check_device_copy(ordinal, kBytes), "") << "device " << ordinal;
  }
  EXPECT_FALSE(check_device_copy(count(), 1024).empty()) << "no such device";
}

TEST_F(CudaDevice, WhereIsFindsDeviceMemoryWithoutOpeningAContext) {
#if MANTA_HAVE_CUDA
  constexpr std::size_t kBytes = 1u << 20;
  for (int ordinal = 0; ordinal < count(); ++ordinal) {
    void* device_memory = nullptr;
    void* managed = nullptr;
    void* pinned = nullptr;
    {
      ScopedDevice device(ordinal);
      ASSERT_TRUE(device.ok()) << device.error();
      ASSERT_EQ(cudaMalloc(&device_memory, kBytes), cudaSuccess);
      ASSERT_EQ(cudaMallocManaged(&managed, kBytes), cudaSuccess);
      ASSERT_EQ(cudaMallocHost(&pinned, kBytes), cudaSuccess);
    }
    // A thread that holds no context asks, as an actor's thread does.
    std::thread asker([&] {
      const PointerPlace start = where_is(device_memory);
      EXPECT_TRUE(start.device) << "device " << ordinal;
      EXPECT_EQ(start.ordinal, ordinal);
      const PointerPlace inside = where_is(static_cast<char*>(device_memory) + kBytes - 1);
      EXPECT_TRUE(inside.device);
      EXPECT_EQ(inside.ordinal, ordinal);
      const PointerPlace unified = where_is(managed);
      EXPECT_TRUE(unified.device) << "managed memory on device " << ordinal;
      EXPECT_EQ(unified.ordinal, ordinal);
      EXPECT_FALSE(where_is(pinned).device) << "pinned host memory is host memory";
      int on_stack = 0;
      EXPECT_FALSE(where_is(&on_stack).device);
      EXPECT_FALSE(thread_has_cuda_context()) << "where_is opened a context";
    });
    asker.join();
    ScopedDevice device(ordinal);
    EXPECT_EQ(cudaFree(device_memory), cudaSuccess);
    EXPECT_EQ(cudaFree(managed), cudaSuccess);
    EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
  }
#endif
}

}  // namespace
}  // namespace manta::gpu
