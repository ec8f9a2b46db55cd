// Joining hwloc's GPUs with the CUDA runtime's: they agree (hwloc's locality, the runtime's
// ordinals), hwloc missed the GPUs (the runtime's list), they disagree (the runtime wins and the
// note says so), CUDA not usable (hwloc's list as is).
#include "gpu/cuda_crosscheck.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace {

using manta::gpu::CudaDeviceInfo;
using manta::gpu::CudaProbe;
using manta::gpu::GpuDevice;
using manta::gpu::test::eight;

CudaProbe runtime_seeing(const std::vector<GpuDevice>& gpus) {
  CudaProbe p;
  p.built_with_cuda = true;
  p.usable = true;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    CudaDeviceInfo d;
    d.ordinal = static_cast<int>(i);
    d.name = "NVIDIA A100 (runtime)";
    d.pci_bus_id = gpus[i].pci_bus_id;
    d.uuid = "GPU-runtime-" + std::to_string(i);
    d.memory_bytes = 1000 + i;
    p.devices.push_back(d);
  }
  return p;
}

TEST(CudaCrossCheck, AgreeingViewsKeepLocalityAndTakeTheRuntimesIdentity) {
  const std::vector<GpuDevice> visible(eight().begin() + 4, eight().end());  // as if renumbered
  const auto out = manta::gpu::cross_check(visible, runtime_seeing(visible));
  EXPECT_EQ(out.note, "");
  ASSERT_EQ(out.gpus.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out.gpus[i].ordinal, static_cast<int>(i));
    EXPECT_EQ(out.gpus[i].node_index, visible[i].node_index);
    EXPECT_EQ(out.gpus[i].cpuset, visible[i].cpuset);
    EXPECT_EQ(out.gpus[i].uuid, "GPU-runtime-" + std::to_string(i));
  }
}

TEST(CudaCrossCheck, HwlocFoundNoneTheRuntimeSome) {
  const auto out = manta::gpu::cross_check({}, runtime_seeing(eight()));
  ASSERT_EQ(out.gpus.size(), 8u);
  EXPECT_NE(out.note.find("hwloc found no NVIDIA GPU but the CUDA runtime sees 8"),
            std::string::npos)
      << out.note;
  EXPECT_EQ(out.gpus[3].pci_bus_id, eight()[3].pci_bus_id);
  EXPECT_EQ(out.gpus[3].memory_bytes, 1003u);
}

TEST(CudaCrossCheck, DisagreementTrustsTheRuntime) {
  const std::vector<GpuDevice> two(eight().begin(), eight().begin() + 2);
  const auto out = manta::gpu::cross_check(eight(), runtime_seeing(two));
  EXPECT_EQ(out.gpus.size(), 2u);
  EXPECT_NE(out.note.find("disagree"), std::string::npos) << out.note;
  EXPECT_NE(out.note.find("6 hwloc devices unmatched"), std::string::npos) << out.note;
}

TEST(CudaCrossCheck, UnusableCudaLeavesHwlocsList) {
  CudaProbe none;
  none.error = "no driver";
  const auto out = manta::gpu::cross_check(eight(), none);
  EXPECT_EQ(out.gpus.size(), eight().size());
  EXPECT_EQ(out.note, "");
}

}  // namespace
