// The rank's hardware plan without MPI: the node preview `manta config` prints (the same split
// the ranks compute at init), the devices behind an explicit GPU resource, and NUMA placement of
// fresh large buffers.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <manta/buffer.h>

#include "engine/config.h"
#include "engine/rank_hardware.h"

namespace {

using manta::engine::Config;
using manta::engine::HardwarePlan;

Config on(const std::string& topology) {
  Config c;
  c.topology_xml = std::string(MANTA_GPU_TOPOLOGIES) + "/" + topology;
  return c;
}

TEST(RankHardware, PreviewSplitsTheNodesGpus) {
  for (int ranks : {1, 2, 4, 8}) {
    const auto plans = manta::engine::preview_node(on("two_socket_8gpu.xml"), ranks);
    ASSERT_EQ(static_cast<int>(plans.size()), ranks);
    std::set<int> seen;
    for (const HardwarePlan& p : plans) {
      EXPECT_EQ(p.error, "");
      EXPECT_EQ(static_cast<int>(p.gpus.size()), 8 / ranks);
      EXPECT_EQ(p.gpu_sharers, 1);
      for (const auto& g : p.gpus) EXPECT_TRUE(seen.insert(g.node_index).second);
    }
    EXPECT_EQ(seen.size(), 8u) << ranks << " ranks";
  }
  const auto crowded = manta::engine::preview_node(on("two_socket_8gpu.xml"), 16);
  for (const HardwarePlan& p : crowded) {
    EXPECT_EQ(p.gpus.size(), 1u);
    EXPECT_EQ(p.gpu_sharers, 2);
    EXPECT_FALSE(p.notes.empty()) << "sharing is logged";
  }
}

TEST(RankHardware, NoGpuNodeAndNoneAsked) {
  for (const HardwarePlan& p : manta::engine::preview_node(on("no_gpu.xml"), 2)) {
    EXPECT_TRUE(p.gpus.empty());
    EXPECT_EQ(p.error, "");
  }
  Config none = on("two_socket_8gpu.xml");
  none.gpus = "none";
  for (const HardwarePlan& p : manta::engine::preview_node(none, 2)) EXPECT_TRUE(p.gpus.empty());
}

TEST(RankHardware, BadSettingsLandInError) {
  Config bad = on("two_socket_8gpu.xml");
  bad.bind = "sideways";
  EXPECT_NE(manta::engine::preview_node(bad, 1).at(0).error.find("--manta-bind"),
            std::string::npos);
  Config missing = on("no_such_file.xml");
  EXPECT_NE(manta::engine::preview_node(missing, 1).at(0).error.find("no_such_file.xml"),
            std::string::npos);
}

TEST(RankHardware, DescribeNamesEveryGpu) {
  const auto plans = manta::engine::preview_node(on("two_socket_8gpu.xml"), 2);
  const manta::RankHardware hw = plans.at(1).describe(1, "node7");
  ASSERT_EQ(hw.gpus.size(), 4u);
  EXPECT_EQ(hw.gpus[0].node_index, 4);
  const std::string text = manta::describe(hw);
  for (const auto& g : hw.gpus) EXPECT_NE(text.find(g.pci_bus_id), std::string::npos) << text;
  EXPECT_NE(text.find("binding: none"), std::string::npos) << text;
  EXPECT_EQ(manta::describe_gpus({}), "none");
}

TEST(RankHardware, ExplicitGpuResourceNamesDevices) {
  const auto plans = manta::engine::preview_node(on("two_socket_8gpu.xml"), 2);
  const HardwarePlan& second = plans.at(1);  // node GPUs 4-7, ordinals 4-7 (not renumbered)
  EXPECT_EQ(manta::engine::gpu_pool_ordinals(second, 4), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(manta::engine::gpu_pool_ordinals(second, 2), (std::vector<int>{4, 5}));
  EXPECT_EQ(manta::engine::gpu_pool_ordinals(second, 0.5), (std::vector<int>{4}));
  HardwarePlan bare;  // no GPU found: declared GPUs are numbered 0..N-1
  EXPECT_EQ(manta::engine::gpu_pool_ordinals(bare, 3), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(manta::engine::gpu_pool_ordinals(bare, 0).empty());
}

int g_hook_calls = 0;
std::size_t g_hook_bytes = 0;
void count_block(void*, std::size_t n) {
  ++g_hook_calls;
  g_hook_bytes = n;
}

TEST(RankHardware, FreshLargeBuffersPassTheNumaHook) {
  manta::detail::set_fresh_block_hook(&count_block);
  {
    manta::Buffer big(std::size_t{13} << 20);  // a size no earlier block had: freshly mapped
    std::memset(big.data(), 1, big.size());
  }
  EXPECT_EQ(g_hook_calls, 1);
  EXPECT_GE(g_hook_bytes, std::size_t{13} << 20);
  manta::Buffer small(4096);  // small buffers come from malloc
  EXPECT_EQ(g_hook_calls, 1);
  // The runtime's hook binds to a NUMA node; the memory stays usable either way.
  manta::engine::place_large_buffers_on(0);
  {
    manta::Buffer big(std::size_t{17} << 20);
    std::memset(big.data(), 2, big.size());
    EXPECT_EQ(static_cast<int>(big.data()[big.size() - 1]), 2);
  }
  manta::engine::place_large_buffers_on(-1);
  manta::detail::set_fresh_block_hook(nullptr);
}

}  // namespace
