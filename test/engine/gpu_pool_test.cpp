// GpuPool: whole GPUs go to distinct devices, fractions pack onto as few devices as possible,
// and an actor keeps the devices its creation task ran on.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "engine/bundle_resources.h"
#include "engine/gpu_pool.h"
#include "engine/resources.h"

namespace {

using manta::engine::GpuPool;
using manta::engine::ResourceSet;

TEST(GpuPool, AmountReadsGpuAndBundleNames) {
  EXPECT_EQ(GpuPool::amount(ResourceSet::from_map({{"CPU", 1}})), 0);
  EXPECT_EQ(GpuPool::amount(ResourceSet::from_map({{"GPU", 0.25}})), 0.25);
  // A placement group's bundle renames GPU; the request names the bundle and the group.
  const manta::PlacementGroupId group{0, 3};
  EXPECT_EQ(
      GpuPool::amount(ResourceSet::from_map({{manta::engine::bundle_resource("GPU", group, 0), 2},
                                             {manta::engine::group_resource("GPU", group), 2}})),
      2);
  EXPECT_EQ(GpuPool::amount(ResourceSet::from_map({{"GPUish", 2}})), 0);
  EXPECT_EQ(GpuPool::amount(ResourceSet::from_map({{"GPU_pgx", 2}})), 0) << "a user's own name";
  EXPECT_EQ(
      GpuPool::amount(ResourceSet::from_map({{manta::engine::group_resource("ssd", group), 2}})),
      0);
}

TEST(GpuPool, InvalidAmounts) {
  EXPECT_EQ(GpuPool::invalid_amount(0.5), "");
  EXPECT_EQ(GpuPool::invalid_amount(3), "");
  EXPECT_NE(GpuPool::invalid_amount(1.5).find("whole GPUs"), std::string::npos);
  EXPECT_NE(GpuPool::invalid_amount(-1), "");
}

TEST(GpuPool, WholeGpusAreDistinct) {
  GpuPool pool({0, 1, 2, 3});
  std::set<int> seen;
  for (int i = 0; i < 4; ++i) {
    auto ids = pool.grant(1);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_TRUE(seen.insert(ids[0]).second) << "device " << ids[0] << " granted twice";
  }
  EXPECT_FALSE(pool.can_grant(1));
  EXPECT_TRUE(pool.grant(1).empty());
  pool.give_back({2}, 1);
  EXPECT_EQ(pool.grant(1), std::vector<int>{2});
}

TEST(GpuPool, SeveralWholeGpusAtOnce) {
  GpuPool pool({4, 5, 6});
  EXPECT_EQ(pool.grant(2), (std::vector<int>{4, 5}));
  EXPECT_FALSE(pool.can_grant(2));
  EXPECT_TRUE(pool.can_grant(1));
  pool.give_back({4, 5}, 2);
  EXPECT_EQ(pool.grant(3), (std::vector<int>{4, 5, 6}));
}

TEST(GpuPool, FractionsPackOntoOneDevice) {
  GpuPool pool({0, 1});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pool.grant(0.25), std::vector<int>{0}) << i;
  // Device 0 is full of quarter holders; device 1 is still whole.
  EXPECT_TRUE(pool.can_grant(1));
  EXPECT_EQ(pool.grant(0.25), std::vector<int>{1});
  EXPECT_FALSE(pool.can_grant(1)) << "no device is free any more";
  EXPECT_TRUE(pool.can_grant(0.75));
  EXPECT_FALSE(pool.can_grant(0.8));
  // Tenths do not sum exactly; ten of them still fit one device.
  GpuPool tenths({7});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(tenths.grant(0.1), std::vector<int>{7}) << i;
  EXPECT_FALSE(tenths.can_grant(0.1));
}

TEST(GpuPool, BestFitKeepsWholeDevicesFree) {
  GpuPool pool({0, 1, 2});
  EXPECT_EQ(pool.grant(0.6), std::vector<int>{0});
  EXPECT_EQ(pool.grant(0.3), std::vector<int>{0}) << "the fullest device that holds it";
  EXPECT_EQ(pool.grant(0.5), std::vector<int>{1});
  EXPECT_EQ(pool.grant(1), std::vector<int>{2});
  const auto used = pool.used();
  ASSERT_EQ(used.size(), 3u);
  EXPECT_NEAR(used[0], 0.9, 1e-9);
  EXPECT_NEAR(used[1], 0.5, 1e-9);
  EXPECT_NEAR(used[2], 1.0, 1e-9);
}

TEST(GpuPool, ActorHoldsItsCreationsDevices) {
  GpuPool pool({0, 1});
  auto creation = pool.grant(1);
  pool.hold(creation, 1);       // the actor takes the devices again
  pool.give_back(creation, 1);  // the creation task returns its own grant
  EXPECT_FALSE(pool.can_grant(2)) << "the actor still holds its device";
  EXPECT_EQ(pool.grant(1), std::vector<int>{1});
  pool.give_back(creation, 1);  // the actor ends
  EXPECT_EQ(pool.grant(1), std::vector<int>{0});
}

TEST(GpuPool, EmptyPoolCountsOnly) {
  GpuPool pool;
  EXPECT_TRUE(pool.empty());
  EXPECT_TRUE(pool.can_grant(1));  // the scheduler's count decides; there is nothing to name
  EXPECT_TRUE(pool.grant(1).empty());
  GpuPool some({0});
  EXPECT_TRUE(some.grant(0).empty());
}

}  // namespace
