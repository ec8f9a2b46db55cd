// Needs a real CUDA device (label `gpu`): each test skips with the reason where none is usable.
// On a GPU machine: the rank's GPUs are what the CUDA runtime sees (by PCI bus id), a task's
// thread runs with its granted device current, and a copy on that device round-trips.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <manta/manta.h>

#if MANTA_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace {

constexpr auto kLimit = std::chrono::seconds(60);

std::string usable() {
#if MANTA_HAVE_CUDA
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorString(e);
  if (n == 0) return "no usable CUDA device: the runtime sees none";
  return "";
#else
  return "no usable CUDA device: Manta was built without CUDA";
#endif
}

// {granted id, the thread's current device while the task runs}.
std::vector<int> current_device() {
  int device = -1;
#if MANTA_HAVE_CUDA
  if (cudaGetDevice(&device) != cudaSuccess) device = -2;
#endif
  const auto ids = manta::gpu_ids();
  return {ids.empty() ? -1 : ids.front(), device};
}

// Copies 16 MiB host → device → host on the current device; "" when the bytes came back.
std::string copy_on_granted() {
#if MANTA_HAVE_CUDA
  const std::size_t n = std::size_t{16} << 20;
  std::vector<unsigned char> in(n), out(n, 0);
  for (std::size_t i = 0; i < n; ++i) in[i] = static_cast<unsigned char>(i * 7 + 3);
  void* d = nullptr;
  if (cudaMalloc(&d, n) != cudaSuccess) return "cudaMalloc failed";
  cudaPointerAttributes attr{};
  cudaPointerGetAttributes(&attr, d);
  const int ids_front = manta::gpu_ids().empty() ? -1 : manta::gpu_ids().front();
  std::string error;
  if (attr.device != ids_front) error = "allocated on device " + std::to_string(attr.device);
  if (error.empty() && (cudaMemcpy(d, in.data(), n, cudaMemcpyHostToDevice) != cudaSuccess ||
                        cudaMemcpy(out.data(), d, n, cudaMemcpyDeviceToHost) != cudaSuccess)) {
    error = "cudaMemcpy failed";
  }
  if (error.empty() && std::memcmp(in.data(), out.data(), n) != 0) error = "bytes differ";
  cudaFree(d);
  return error;
#else
  return "built without CUDA";
#endif
}

std::vector<std::string> runtime_pci_ids() {
  std::vector<std::string> out;
#if MANTA_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return out;
  for (int i = 0; i < n; ++i) {
    char id[32] = {};
    cudaDeviceGetPCIBusId(id, sizeof id, i);
    std::string s(id);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s.size() > 12) s = s.substr(s.size() - 12);  // "00000000:07:00.0" → "0000:07:00.0"
    out.push_back(s);
  }
#endif
  return out;
}

class CudaTasks : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = usable(); !why.empty()) GTEST_SKIP() << why;
  }
};

}  // namespace

MANTA_REMOTE(current_device, copy_on_granted);

TEST_F(CudaTasks, DiscoveryAgreesWithTheRuntime) {
  // One rank per node here: it offers every GPU the runtime sees, matched by PCI bus id.
  const manta::RankHardware hw = manta::rank_hardware();
  std::set<std::string> found;
  for (const auto& g : hw.gpus) found.insert(g.pci_bus_id);
  const auto runtime = runtime_pci_ids();
  if (manta::world_size() == 1) {
    EXPECT_EQ(found, std::set<std::string>(runtime.begin(), runtime.end())) << describe(hw);
  }
  for (const auto& g : hw.gpus) EXPECT_GT(g.memory_bytes, 0u) << g.pci_bus_id;
}

TEST_F(CudaTasks, GrantedDeviceIsCurrentInTheTask) {
  for (int i = 0; i < 4; ++i) {
    const auto r = *manta::get(
        manta::task(current_device).resources({{"CPU", 0.1}, {"GPU", 1}}).remote(), kLimit);
    ASSERT_GE(r[0], 0) << "no GPU granted";
    EXPECT_EQ(r[1], r[0]) << "the thread's current device is not the granted one";
  }
}

TEST_F(CudaTasks, CopyOnTheGrantedDevice) {
  std::vector<manta::ObjectRef<std::string>> refs;
  for (int i = 0; i < 4; ++i) {
    refs.push_back(manta::task(copy_on_granted).resources({{"CPU", 0.1}, {"GPU", 1}}).remote());
  }
  for (auto& r : refs) EXPECT_EQ(*manta::get(r, kLimit), "");
}
