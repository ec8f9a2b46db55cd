// Splitting a node's GPUs among its ranks: exclusive when there are enough, near the rank's
// cores first, evenly shared when there are more ranks than GPUs.
#include "gpu/assignment.h"
#include "gpu/topology.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fixtures.h"

namespace {

using manta::gpu::test::eight;
using manta::gpu::test::fixture;
using manta::gpu::test::mig_node;

using manta::gpu::assign_gpus;
using manta::gpu::GpuDevice;
using manta::gpu::LocalRankView;
using manta::gpu::RankGpus;
using V = std::vector<int>;

constexpr const char* kSocket0 = "0-11,24-35";
constexpr const char* kSocket1 = "12-23,36-47";

std::vector<std::string> keys_of(const std::vector<GpuDevice>& gpus, const V& indices) {
  std::vector<std::string> out;
  for (int i : indices) out.push_back(manta::gpu::gpu_key(gpus.at(static_cast<std::size_t>(i))));
  return out;
}

std::vector<LocalRankView> same_view(int ranks, const std::string& cpuset) {
  return std::vector<LocalRankView>(
      static_cast<std::size_t>(ranks),
      LocalRankView{keys_of(eight(), {0, 1, 2, 3, 4, 5, 6, 7}), cpuset});
}

TEST(AssignGpus, UnboundRanksGetContiguousBlocks) {
  const std::map<int, std::vector<V>> expected = {
      {1, {{0, 1, 2, 3, 4, 5, 6, 7}}},       {2, {{0, 1, 2, 3}, {4, 5, 6, 7}}},
      {4, {{0, 1}, {2, 3}, {4, 5}, {6, 7}}}, {8, {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}}},
      {3, {{0, 1, 2}, {3, 4, 5}, {6, 7}}},
  };
  for (const auto& [ranks, blocks] : expected) {
    const auto result = assign_gpus(same_view(ranks, "0-47"), eight());
    ASSERT_EQ(result.size(), blocks.size());
    for (std::size_t r = 0; r < blocks.size(); ++r) {
      EXPECT_EQ(result[r].ordinals, blocks[r]) << ranks << " ranks, rank " << r;
      EXPECT_EQ(result[r].sharers, 1) << ranks << " ranks, rank " << r;
    }
  }
}

TEST(AssignGpus, SixteenRanksShareEachGpuInPairs) {
  const auto result = assign_gpus(same_view(16, ""), eight());
  ASSERT_EQ(result.size(), 16u);
  for (int r = 0; r < 16; ++r) {
    EXPECT_EQ(result[r].ordinals, V{r / 2}) << r;
    EXPECT_EQ(result[r].sharers, 2) << r;
  }
  const std::string log = manta::gpu::describe_assignment(same_view(16, ""), result);
  EXPECT_NE(log.find("local rank 15: GPU 7 (0000:cb:00.0), shared by 2 ranks"), std::string::npos)
      << log;
}

TEST(AssignGpus, TwelveRanksShareUnevenlyByAtMostOne) {
  const auto result = assign_gpus(same_view(12, ""), eight());
  std::map<int, int> holders;
  for (const auto& r : result) {
    ASSERT_EQ(r.ordinals.size(), 1u);
    ++holders[r.ordinals[0]];
  }
  ASSERT_EQ(holders.size(), 8u);
  for (const auto& [gpu, count] : holders) {
    EXPECT_EQ(count, gpu < 4 ? 2 : 1) << gpu;
  }
  EXPECT_EQ(result[0].sharers, 2);
  EXPECT_EQ(result[11].sharers, 1);
}

TEST(AssignGpus, SocketBoundRanksGetTheirSocketsGpus) {
  std::vector<LocalRankView> two = same_view(2, kSocket1);
  two[1].cpuset = kSocket0;
  auto result = assign_gpus(two, eight());
  EXPECT_EQ(result[0].ordinals, (V{4, 5, 6, 7}));
  EXPECT_EQ(result[1].ordinals, (V{0, 1, 2, 3}));

  std::vector<LocalRankView> four = same_view(4, kSocket0);
  four[1].cpuset = kSocket1;
  four[3].cpuset = kSocket1;
  result = assign_gpus(four, eight());
  EXPECT_EQ(result[0].ordinals, (V{0, 1}));
  EXPECT_EQ(result[1].ordinals, (V{4, 5}));
  EXPECT_EQ(result[2].ordinals, (V{2, 3}));
  EXPECT_EQ(result[3].ordinals, (V{6, 7}));
}

TEST(AssignGpus, CoreBoundRanksStayOnTheirSocket) {
  // 8 ranks bound to one core each, alternating sockets (a round-robin mapping).
  std::vector<LocalRankView> ranks = same_view(8, "");
  for (int r = 0; r < 8; ++r) ranks[r].cpuset = std::to_string(r % 2 == 0 ? r : 12 + r);
  const auto result = assign_gpus(ranks, eight());
  for (int r = 0; r < 8; ++r) {
    ASSERT_EQ(result[r].ordinals.size(), 1u);
    EXPECT_EQ(result[r].ordinals[0] < 4, r % 2 == 0) << "rank " << r;
    EXPECT_EQ(result[r].sharers, 1);
  }
  // Sixteen such ranks: still on their own socket, two per GPU.
  std::vector<LocalRankView> many = same_view(16, "");
  for (int r = 0; r < 16; ++r) many[r].cpuset = r % 2 == 0 ? kSocket0 : kSocket1;
  const auto shared = assign_gpus(many, eight());
  std::map<int, int> holders;
  for (int r = 0; r < 16; ++r) {
    const auto& got = shared[r];
    ASSERT_EQ(got.ordinals.size(), 1u);
    EXPECT_EQ(got.ordinals[0] < 4, r % 2 == 0) << "rank " << r;
    ++holders[got.ordinals[0]];
  }
  for (const auto& [gpu, count] : holders) EXPECT_EQ(count, 2) << gpu;
}

TEST(AssignGpus, OrdinalsFollowEachRanksOwnNumbering) {
  // CUDA_VISIBLE_DEVICES=7,6,...,0 for both ranks: rank 0 still gets node GPUs 0-3, which it
  // calls 4-7.
  std::vector<LocalRankView> ranks(2,
                                   LocalRankView{keys_of(eight(), {7, 6, 5, 4, 3, 2, 1, 0}), ""});
  const auto result = assign_gpus(ranks, eight());
  EXPECT_EQ(result[0].ordinals, (V{4, 5, 6, 7}));
  EXPECT_EQ(result[1].ordinals, (V{0, 1, 2, 3}));
}

TEST(AssignGpus, DisjointLauncherSetsAreKept) {
  std::vector<LocalRankView> ranks;
  for (int r = 0; r < 4; ++r) ranks.push_back({keys_of(eight(), {2 * r, 2 * r + 1}), ""});
  const auto result = assign_gpus(ranks, eight());
  for (const auto& r : result) {
    EXPECT_EQ(r.ordinals, (V{0, 1}));
    EXPECT_EQ(r.sharers, 1);
  }
  // One GPU each (Slurm --gpus-per-task=1): ordinal 0 on every rank.
  std::vector<LocalRankView> single;
  for (int r = 0; r < 8; ++r) single.push_back({keys_of(eight(), {7 - r}), kSocket0});
  for (const auto& r : assign_gpus(single, eight())) EXPECT_EQ(r.ordinals, V{0});
}

TEST(AssignGpus, OverlappingViewsAvoidSharingWhenPossible) {
  std::vector<LocalRankView> ranks = {{keys_of(eight(), {0, 1}), ""},
                                      {keys_of(eight(), {1, 2}), ""}};
  const auto result = assign_gpus(ranks, eight());
  EXPECT_EQ(result[0].ordinals, (V{0, 1}));
  EXPECT_EQ(result[1].ordinals, V{1});  // its second GPU, node GPU 2
  EXPECT_EQ(result[1].sharers, 1);
}

TEST(AssignGpus, StarvedRankSharesTheLeastHeldGpu) {
  // Ranks 0 and 1 see GPU 0 only, rank 2 sees GPUs 0 and 1.
  std::vector<LocalRankView> ranks = {
      {keys_of(eight(), {0}), ""}, {keys_of(eight(), {0}), ""}, {keys_of(eight(), {0, 1}), ""}};
  const auto result = assign_gpus(ranks, eight());
  EXPECT_EQ(result[0].ordinals, V{0});
  EXPECT_EQ(result[1].ordinals, V{0});
  EXPECT_EQ(result[2].ordinals, V{1});
  EXPECT_EQ(result[0].sharers, 2);
  EXPECT_EQ(result[2].sharers, 1);
}

TEST(AssignGpus, MigNodeMoreRanksThanGpus) {
  std::vector<LocalRankView> ranks(6, LocalRankView{keys_of(mig_node(), {0, 1, 2, 3}), "0-15"});
  const auto result = assign_gpus(ranks, mig_node());
  const std::vector<V> expected = {{0}, {0}, {1}, {1}, {2}, {3}};
  const V sharers = {2, 2, 2, 2, 1, 1};
  for (int r = 0; r < 6; ++r) {
    EXPECT_EQ(result[r].ordinals, expected[r]) << r;
    EXPECT_EQ(result[r].sharers, sharers[r]) << r;
  }
}

TEST(AssignGpus, MigInstancesAreDevicesOfTheirOwn) {
  std::vector<std::string> instances = mig_node()[0].mig_uuids;
  instances.insert(instances.end(), mig_node()[2].mig_uuids.begin(), mig_node()[2].mig_uuids.end());
  ASSERT_EQ(instances.size(), 5u);
  std::vector<LocalRankView> ranks(5, LocalRankView{instances, ""});
  const auto result = assign_gpus(ranks, mig_node());
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(result[r].ordinals, V{r});
    EXPECT_EQ(result[r].sharers, 1);
  }
  const std::string log = manta::gpu::describe_assignment(ranks, result);
  EXPECT_NE(log.find("local rank 4: GPU 4 (MIG-cccc0000-0000-0000-0000-000000000003)"),
            std::string::npos)
      << log;
}

TEST(AssignGpus, NoGpusMeansEmptyGrants) {
  std::vector<LocalRankView> ranks(3, LocalRankView{{}, "0-7"});
  const auto result = assign_gpus(ranks, {});
  ASSERT_EQ(result.size(), 3u);
  for (const auto& r : result) {
    EXPECT_TRUE(r.ordinals.empty());
    EXPECT_EQ(r.sharers, 1);
  }
  EXPECT_EQ(manta::gpu::describe_assignment(ranks, result),
            "local rank 0: no GPU\nlocal rank 1: no GPU\nlocal rank 2: no GPU\n");
  EXPECT_TRUE(assign_gpus({}, eight()).empty());
}

TEST(AssignGpus, KeysUnknownToTheNodeListStillSplit) {
  // A view naming devices the node list lacks (hwloc saw no PCI) is split in the ranks' order.
  std::vector<LocalRankView> ranks(2, LocalRankView{{"GPU-b", "GPU-a"}, ""});
  const auto result = assign_gpus(ranks, {});
  EXPECT_EQ(result[0].ordinals, V{1});  // "GPU-a" sorts first
  EXPECT_EQ(result[1].ordinals, V{0});
}

TEST(LocalView, KeysInOrdinalOrder) {
  // Slurm's SLURM_STEP_GPUS=6,2 keeps physical numbers: ordinals 6 and 2, keys sorted by them.
  std::vector<GpuDevice> visible = {eight()[6], eight()[2]};
  const LocalRankView view = manta::gpu::local_view(visible, kSocket0);
  EXPECT_EQ(view.gpu_keys, keys_of(eight(), {2, 6}));
  EXPECT_EQ(view.cpuset, kSocket0);
  RankGpus second;
  second.ordinals = {1};
  EXPECT_EQ(manta::gpu::runtime_ordinals(visible, second), V{6});
  visible[0].ordinal = 0;  // CUDA_VISIBLE_DEVICES=6,2 renumbers: 6 is ordinal 0
  visible[1].ordinal = 1;
  EXPECT_EQ(manta::gpu::local_view(visible, "").gpu_keys, keys_of(eight(), {6, 2}));
  EXPECT_EQ(manta::gpu::runtime_ordinals(visible, second), V{1});
}

TEST(AssignGpus, EveryRankComputesTheSameAnswer) {
  std::vector<LocalRankView> ranks = same_view(5, "");
  ranks[2].cpuset = kSocket1;
  const auto a = assign_gpus(ranks, eight());
  const auto b = assign_gpus(ranks, eight());
  for (std::size_t r = 0; r < a.size(); ++r) EXPECT_EQ(a[r].ordinals, b[r].ordinals);
  // Rank 2 (socket 1) chose after ranks 0 and 1 took GPUs 0-3, yet stays on its socket.
  EXPECT_EQ(a[2].ordinals, (V{4, 5}));
}

}  // namespace
