// Narrowing the node's GPUs to what CUDA, ROCm, Slurm or --manta-gpus let a process see.
#include "gpu/devices.h"
#include "gpu/topology.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fixtures.h"

namespace {

using manta::gpu::test::eight;
using manta::gpu::test::fixture;
using manta::gpu::test::mig_node;

using manta::gpu::GpuDevice;
using manta::gpu::select_visible;
using manta::gpu::visible_devices;

manta::gpu::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

struct Picked {
  std::vector<int> node_indices;
  std::vector<int> ordinals;
  std::string warning;
};

Picked pick(const std::vector<GpuDevice>& node, std::map<std::string, std::string> env,
            const std::string& option = {}) {
  Picked p;
  for (const auto& g :
       select_visible(node, visible_devices(env_of(std::move(env)), option), &p.warning)) {
    p.node_indices.push_back(g.node_index);
    p.ordinals.push_back(g.ordinal);
  }
  return p;
}

using V = std::vector<int>;

TEST(SelectVisible, NothingSetSeesEverything) {
  const Picked p = pick(eight(), {});
  EXPECT_EQ(p.node_indices, (V{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(p.ordinals, p.node_indices);
  EXPECT_EQ(p.warning, "");
}

TEST(SelectVisible, CudaIndicesAreRenumberedInListOrder) {
  const Picked p = pick(eight(), {{"CUDA_VISIBLE_DEVICES", "5,2"}});
  EXPECT_EQ(p.node_indices, (V{5, 2}));
  EXPECT_EQ(p.ordinals, (V{0, 1}));
}

TEST(SelectVisible, CudaUuidAndUniquePrefix) {
  const Picked full =
      pick(eight(), {{"CUDA_VISIBLE_DEVICES", "GPU-a1000006-1111-2222-3333-000000000106"}});
  EXPECT_EQ(full.node_indices, V{6});
  const Picked prefix = pick(eight(), {{"CUDA_VISIBLE_DEVICES", "GPU-A1000003,1"}});
  EXPECT_EQ(prefix.node_indices, (V{3, 1}));  // case does not matter, as for CUDA
  EXPECT_EQ(prefix.ordinals, (V{0, 1}));
}

TEST(SelectVisible, AmbiguousPrefixStopsTheList) {
  const Picked p = pick(eight(), {{"CUDA_VISIBLE_DEVICES", "1,GPU-a100000,2"}});
  EXPECT_EQ(p.node_indices, V{1});
  EXPECT_NE(p.warning.find("CUDA_VISIBLE_DEVICES: entry 'GPU-a100000' matches 8"),
            std::string::npos)
      << p.warning;
  EXPECT_NE(p.warning.find("the entry after it"), std::string::npos) << p.warning;
}

TEST(SelectVisible, CudaStopsAtTheFirstMissingDevice) {
  const Picked p = pick(eight(), {{"CUDA_VISIBLE_DEVICES", "1,9,2,3"}});
  EXPECT_EQ(p.node_indices, V{1});
  EXPECT_EQ(p.ordinals, V{0});
  EXPECT_NE(p.warning.find("CUDA_VISIBLE_DEVICES: entry '9' names no GPU on this node (it has 8)"),
            std::string::npos)
      << p.warning;
  EXPECT_NE(p.warning.find("the 2 entries after it"), std::string::npos) << p.warning;
}

TEST(SelectVisible, SameGpuByIndexAndUuidIsInvalid) {
  const Picked p = pick(eight(), {{"CUDA_VISIBLE_DEVICES", "0,GPU-a1000000"}});
  EXPECT_EQ(p.node_indices, V{0});
  EXPECT_NE(p.warning.find("already selected"), std::string::npos) << p.warning;
}

TEST(SelectVisible, NoDevFilesAndEmptyHideEverything) {
  for (const char* value : {"NoDevFiles", "", "  "}) {
    const Picked p = pick(eight(), {{"CUDA_VISIBLE_DEVICES", value}});
    EXPECT_TRUE(p.node_indices.empty()) << value;
    EXPECT_EQ(p.warning, "") << value;
  }
}

TEST(SelectVisible, MigInstanceYieldsItsOwnEntry) {
  std::string warning;
  const auto gpus = select_visible(
      mig_node(),
      visible_devices(
          env_of({{"CUDA_VISIBLE_DEVICES", "MIG-cccc0000-0000-0000-0000-000000000002"}})),
      &warning);
  ASSERT_EQ(gpus.size(), 1u) << warning;
  EXPECT_TRUE(gpus[0].mig_instance);
  EXPECT_EQ(gpus[0].uuid, "MIG-cccc0000-0000-0000-0000-000000000002");
  EXPECT_EQ(gpus[0].pci_bus_id, "0000:b1:00.0");
  EXPECT_EQ(gpus[0].node_index, 2);
  EXPECT_EQ(gpus[0].ordinal, 0);
  EXPECT_EQ(manta::gpu::gpu_key(gpus[0]), "MIG-cccc0000-0000-0000-0000-000000000002");
}

TEST(SelectVisible, MigPrefixMustBeUniqueAndExist) {
  Picked p = pick(mig_node(), {{"CUDA_VISIBLE_DEVICES", "MIG-cccc"}});
  EXPECT_TRUE(p.node_indices.empty());
  EXPECT_NE(p.warning.find("matches 3 devices"), std::string::npos) << p.warning;
  p = pick(mig_node(), {{"CUDA_VISIBLE_DEVICES", "MIG-bbbb"}});
  EXPECT_TRUE(p.node_indices.empty());
  EXPECT_NE(p.warning.find("names no GPU"), std::string::npos) << p.warning;
  p = pick(mig_node(), {{"CUDA_VISIBLE_DEVICES", "MIG-aaaa0000-0000-0000-0000-000000000001,3"}});
  EXPECT_EQ(p.node_indices, (V{0, 3}));
  EXPECT_EQ(p.ordinals, (V{0, 1}));
}

TEST(SelectVisible, RocrRenumbers) {
  const Picked p = pick(eight(), {{"ROCR_VISIBLE_DEVICES", "3,7"}});
  EXPECT_EQ(p.node_indices, (V{3, 7}));
  EXPECT_EQ(p.ordinals, (V{0, 1}));
}

TEST(SelectVisible, CudaWinsOverSlurm) {
  const Picked p = pick(eight(), {{"CUDA_VISIBLE_DEVICES", "0"}, {"SLURM_STEP_GPUS", "4,5"}});
  EXPECT_EQ(p.node_indices, V{0});
}

TEST(SelectVisible, SlurmNamesPhysicalIndicesWithoutRenumbering) {
  Picked p = pick(eight(), {{"SLURM_STEP_GPUS", "4,6"}, {"SLURM_JOB_GPUS", "0,1,2,3,4,5,6,7"}});
  EXPECT_EQ(p.node_indices, (V{4, 6}));
  EXPECT_EQ(p.ordinals, (V{4, 6}));
  p = pick(eight(), {{"SLURM_JOB_GPUS", "1"}, {"GPU_DEVICE_ORDINAL", "2"}});
  EXPECT_EQ(p.node_indices, V{1});
  p = pick(eight(), {{"GPU_DEVICE_ORDINAL", "2,3"}});
  EXPECT_EQ(p.ordinals, (V{2, 3}));
}

TEST(SelectVisible, SlurmSkipsAMissingEntryAndGoesOn) {
  const Picked p = pick(eight(), {{"SLURM_STEP_GPUS", "3,12,5"}});
  EXPECT_EQ(p.node_indices, (V{3, 5}));
  EXPECT_NE(p.warning.find("SLURM_STEP_GPUS: entry '12' names no GPU"), std::string::npos)
      << p.warning;
  EXPECT_NE(p.warning.find("skipped"), std::string::npos) << p.warning;
}

TEST(SelectVisible, MantaGpusOverridesTheEnvironment) {
  const std::map<std::string, std::string> env = {{"CUDA_VISIBLE_DEVICES", "0,1"},
                                                  {"SLURM_STEP_GPUS", "2"}};
  EXPECT_EQ(pick(eight(), env, "6,7").node_indices, (V{6, 7}));
  EXPECT_TRUE(pick(eight(), env, "none").node_indices.empty());
  EXPECT_EQ(pick(eight(), env, "auto").node_indices, (V{0, 1}));
  EXPECT_EQ(pick(eight(), {}, "GPU-a1000005").node_indices, V{5});
}

TEST(SelectVisible, NoGpuNodeSeesNothingWhateverIsSet) {
  const std::vector<GpuDevice> none;
  EXPECT_TRUE(pick(none, {}).node_indices.empty());
  const Picked p = pick(none, {{"CUDA_VISIBLE_DEVICES", "0"}});
  EXPECT_TRUE(p.node_indices.empty());
  EXPECT_NE(p.warning.find("it has 0"), std::string::npos) << p.warning;
}

TEST(SelectVisible, NullWarningIsAllowed) {
  const auto gpus =
      select_visible(eight(), visible_devices(env_of({{"CUDA_VISIBLE_DEVICES", "9"}})), nullptr);
  EXPECT_TRUE(gpus.empty());
}

}  // namespace
