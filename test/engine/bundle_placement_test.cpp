// Where each strategy puts a placement group's bundles: fits now, can never fit (and why), and
// fits in principle but not now (the group waits).
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "engine/bundle_placement.h"

namespace manta::engine {
namespace {

std::vector<ResourceSet> ranks(std::vector<double> cpus) {
  std::vector<ResourceSet> out;
  for (double c : cpus) out.push_back(ResourceSet::cpus(c));
  return out;
}

std::vector<ResourceSet> bundles(int n, double cpus) {
  return std::vector<ResourceSet>(static_cast<std::size_t>(n), ResourceSet::cpus(cpus));
}

std::size_t distinct(const std::vector<int>& r) { return std::set<int>(r.begin(), r.end()).size(); }

TEST(BundlePlacement, StrictPackPutsAllOnTheTightestRankThatHoldsThem) {
  auto r = place_bundles(bundles(2, 1), PlacementStrategy::strict_pack, ranks({4, 2, 8}));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{1, 1}));
  EXPECT_FALSE(place_bundles(bundles(3, 1), PlacementStrategy::strict_pack, ranks({2, 2, 2})));
}

TEST(BundlePlacement, PackUsesOneRankWhenItCanAndFewWhenItCannot) {
  auto one = place_bundles(bundles(2, 1), PlacementStrategy::pack, ranks({2, 2, 2, 2}));
  ASSERT_TRUE(one);
  EXPECT_EQ(distinct(*one), 1u);
  auto few = place_bundles(bundles(5, 1), PlacementStrategy::pack, ranks({2, 2, 2, 2}));
  ASSERT_TRUE(few);
  EXPECT_EQ(distinct(*few), 3u);
}

TEST(BundlePlacement, SpreadUsesDistinctRanksThenShares) {
  auto four = place_bundles(bundles(4, 1), PlacementStrategy::spread, ranks({2, 2, 2, 2}));
  ASSERT_TRUE(four);
  EXPECT_EQ(distinct(*four), 4u);
  auto six = place_bundles(bundles(6, 1), PlacementStrategy::spread, ranks({2, 2, 2, 2}));
  ASSERT_TRUE(six);
  EXPECT_EQ(distinct(*six), 4u);
  // A rank without room is skipped, the others share.
  auto skip = place_bundles(bundles(3, 1), PlacementStrategy::spread, ranks({2, 0, 2}));
  ASSERT_TRUE(skip);
  EXPECT_EQ(std::set<int>(skip->begin(), skip->end()), (std::set<int>{0, 2}));
}

TEST(BundlePlacement, StrictSpreadMatchesBundlesToDistinctRanks) {
  // The larger bundle goes first, to the roomiest rank, the only one with the GPU the other
  // bundle needs: the matching moves it to the other rank.
  ResourceSet with_gpu = ResourceSet::cpus(1);
  with_gpu.set("GPU", 1);
  std::vector<ResourceSet> b = {with_gpu, ResourceSet::cpus(2)};
  std::vector<ResourceSet> r2 = ranks({2, 2});
  r2[0].set("GPU", 1);
  auto r = place_bundles(b, PlacementStrategy::strict_spread, r2);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{0, 1}));
  EXPECT_FALSE(place_bundles(bundles(3, 1), PlacementStrategy::strict_spread, ranks({2, 2})));
}

TEST(BundlePlacement, AllOrNothing) {
  std::vector<ResourceSet> b = {ResourceSet::cpus(2), ResourceSet::cpus(2), ResourceSet::cpus(2)};
  EXPECT_FALSE(place_bundles(b, PlacementStrategy::pack, ranks({2, 2})));
  EXPECT_FALSE(place_bundles(b, PlacementStrategy::spread, ranks({2, 2})));
}

TEST(BundlePlacement, OtherResourcesCount) {
  ResourceSet gpu = ResourceSet::cpus(1);
  gpu.set("GPU", 1);
  std::vector<ResourceSet> with_gpu = ranks({4, 4});
  with_gpu[1].set("GPU", 2);
  auto r = place_bundles({gpu, gpu}, PlacementStrategy::spread, with_gpu);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<int>{1, 1}));  // only rank 1 has GPUs: spread shares it
}

TEST(BundlePlacement, NeverFitsNamesTheProblem) {
  const auto totals = ranks({2, 2, 2, 2});
  EXPECT_EQ(never_fits(bundles(4, 2), PlacementStrategy::strict_spread, totals), "");
  EXPECT_NE(never_fits(bundles(5, 1), PlacementStrategy::strict_spread, totals)
                .find("5 bundles on its own rank but the job has 4 ranks"),
            std::string::npos);
  const std::string big =
      never_fits({ResourceSet::cpus(1), ResourceSet::cpus(64)}, PlacementStrategy::pack, totals);
  EXPECT_NE(big.find("bundle 1 asks for {CPU: 64}"), std::string::npos) << big;
  EXPECT_NE(big.find("rank 0 offers {CPU: 2}"), std::string::npos) << big;
  EXPECT_NE(never_fits(bundles(3, 1), PlacementStrategy::strict_pack, totals).find("strict_pack"),
            std::string::npos);
  EXPECT_NE(never_fits({}, PlacementStrategy::pack, totals), "");
}

TEST(BundlePlacement, FitsInPrincipleButNotNowWaits) {
  // Every rank's CPUs are taken: no placement now, yet the group could fit the empty cluster.
  const auto totals = ranks({2, 2});
  const auto busy = ranks({0, 1});
  for (auto s : {PlacementStrategy::pack, PlacementStrategy::spread, PlacementStrategy::strict_pack,
                 PlacementStrategy::strict_spread}) {
    EXPECT_FALSE(place_bundles(bundles(2, 1), s, busy)) << to_string(s);
    EXPECT_EQ(never_fits(bundles(2, 1), s, totals), "") << to_string(s);
  }
}

}  // namespace
}  // namespace manta::engine
