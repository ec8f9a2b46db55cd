// The scheduling decisions: run here or forward, and which rank the global scheduler picks.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "engine/resources.h"
#include "engine/scheduling_policy.h"

namespace {

using manta::engine::decide_locally;
using manta::engine::feasible_anywhere;
using manta::engine::free_slots;
using manta::engine::free_slots_elsewhere;
using manta::engine::LocalDecision;
using manta::engine::pick_free_rank;
using manta::engine::pick_rank;
using manta::engine::RankLoad;
using manta::engine::ResourceSet;
using manta::engine::SpillbackView;

/// `queued`: tasks waiting there for a worker.
RankLoad rank_with(double cpus, double free_cpus, std::uint64_t queued,
                   std::uint64_t assigned = 0) {
  RankLoad l;
  l.total = ResourceSet::cpus(cpus);
  l.available = ResourceSet::cpus(free_cpus);
  l.queued = queued;
  l.assigned = assigned;
  return l;
}

const ResourceSet kOneCpu = ResourceSet::cpus(1);

TEST(DecideLocally, RunsHereWhileQueueIsShort) {
  const ResourceSet total = ResourceSet::cpus(2);
  EXPECT_EQ(decide_locally(kOneCpu, total, 0, 8), LocalDecision::run_here);
  EXPECT_EQ(decide_locally(kOneCpu, total, 7, 8), LocalDecision::run_here);
  EXPECT_EQ(decide_locally(kOneCpu, total, 8, 8), LocalDecision::forward);
  EXPECT_EQ(decide_locally(kOneCpu, total, 100, 8), LocalDecision::forward);
  // Local *totals* decide feasibility, not what is free now: 2 CPUs fit a 2-CPU rank.
  EXPECT_EQ(decide_locally(ResourceSet::cpus(2), total, 1, 8), LocalDecision::run_here);
}

TEST(DecideLocally, ForwardsWhatThisRankCanNeverRun) {
  const ResourceSet total = ResourceSet::cpus(2);
  EXPECT_EQ(decide_locally(ResourceSet::cpus(3), total, 0, 8), LocalDecision::forward);
  EXPECT_EQ(decide_locally(ResourceSet::from_map({{"GPU", 1}}), total, 0, 8),
            LocalDecision::forward);
  const ResourceSet gpu_rank = ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}});
  EXPECT_EQ(decide_locally(ResourceSet::from_map({{"GPU", 1}}), gpu_rank, 0, 8),
            LocalDecision::run_here);
}

TEST(PickRank, PrefersRankWithFreeResources) {
  const std::vector<RankLoad> ranks = {rank_with(2, 0, 4), rank_with(2, 2, 0)};
  EXPECT_EQ(pick_rank(kOneCpu, ranks), 1);
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 1), 1);
}

TEST(PickRank, FreeRankBeatsLessLoadedBusyRank) {
  // A GPU task (no CPU): rank 0 is idle on CPUs but its GPU is taken; rank 1 has every CPU busy
  // and its GPU free.
  std::vector<RankLoad> ranks = {rank_with(4, 4, 0), rank_with(4, 0, 0)};
  for (auto& r : ranks) r.total.set("GPU", 1);
  ranks[1].available.set("GPU", 1);
  ResourceSet gpu_only;
  gpu_only.set("GPU", 1);
  for (std::uint64_t hint = 0; hint < 2; ++hint) EXPECT_EQ(pick_rank(gpu_only, ranks, hint), 1);
}

TEST(PickRank, ComparesLoadPerCpu) {
  // Every CPU busy on both. Rank 0: 4 tasks waiting on 8 CPUs; rank 1: 2 waiting on 2 CPUs.
  std::vector<RankLoad> ranks = {rank_with(8, 0, 4), rank_with(2, 0, 2)};
  EXPECT_EQ(pick_rank(kOneCpu, ranks), 0) << "more tasks, but fewer per CPU";
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 1), 0);
  ranks[1].queued = 0;
  EXPECT_EQ(pick_rank(kOneCpu, ranks), 1);
}

TEST(PickRank, CountsTasksAssignedSinceTheLastReport) {
  std::vector<RankLoad> ranks = {rank_with(2, 1, 0), rank_with(2, 1, 0)};
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 0), 0);  // tie: the hint decides
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 1), 1);
  // One task sent to rank 0 since its report: its free CPU is taken.
  ranks[0].assigned = 1;
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 0), 1);
  // Rank 1 has had two: nothing free anywhere, and rank 0 is the less loaded.
  ranks[1].assigned = 2;
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 0), 0);
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 1), 0);
}

TEST(PickRank, WaitingTasksTakeFreeResourcesFirst) {
  // Rank 0 reports 2 CPUs free but 2 tasks waiting for them; rank 1 has 1 CPU free, none waiting.
  const std::vector<RankLoad> ranks = {rank_with(4, 2, 2), rank_with(4, 1, 0)};
  EXPECT_EQ(pick_rank(kOneCpu, ranks, 0), 1);
}

TEST(PickRank, NoRankWhoseTotalsFit) {
  const std::vector<RankLoad> ranks = {rank_with(2, 2, 0), rank_with(4, 4, 0)};
  EXPECT_EQ(pick_rank(ResourceSet::cpus(5), ranks), std::nullopt);
  EXPECT_EQ(pick_rank(ResourceSet::from_map({{"GPU", 1}}), ranks), std::nullopt);
  EXPECT_EQ(pick_rank(kOneCpu, {}), std::nullopt);
}

TEST(PickRank, FallsBackToLeastLoadedFeasibleRankWhenNoneIsFree) {
  const std::vector<RankLoad> ranks = {
      rank_with(2, 0, 10), rank_with(2, 0, 3), rank_with(2, 0, 5),
      rank_with(1, 1, 0),  // idle, but can never run a 2-CPU task
  };
  EXPECT_EQ(pick_rank(ResourceSet::cpus(2), ranks), 1);
  for (std::uint64_t hint = 0; hint < 8; ++hint) {
    EXPECT_EQ(pick_rank(ResourceSet::cpus(2), ranks, hint), 1) << "hint " << hint;
  }
}

TEST(PickRank, CustomResourceOnlyOnOneRank) {
  std::vector<RankLoad> ranks = {rank_with(4, 4, 0), rank_with(4, 4, 0), rank_with(2, 2, 0)};
  ranks[2].total.set("GPU", 1);
  ranks[2].available.set("GPU", 1);
  const ResourceSet gpu_task = ResourceSet::from_map({{"GPU", 1}});
  for (std::uint64_t hint = 0; hint < 6; ++hint) EXPECT_EQ(pick_rank(gpu_task, ranks, hint), 2);
  // Still rank 2 when its GPU is busy and its queue long: it is the only one that can run it.
  ranks[2].available.set("GPU", 0);
  ranks[2].queued = 100;
  EXPECT_EQ(pick_rank(gpu_task, ranks), 2);
}

TEST(PickRank, HintRotationSpreadsTies) {
  const std::vector<RankLoad> ranks(4, rank_with(2, 2, 0));
  std::vector<int> picks;
  for (std::uint64_t hint = 0; hint < 8; ++hint) {
    auto r = pick_rank(kOneCpu, ranks, hint);
    ASSERT_TRUE(r.has_value());
    picks.push_back(*r);
  }
  EXPECT_EQ(picks, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  // A huge hint still lands on a valid rank.
  auto r = pick_rank(kOneCpu, ranks, ~std::uint64_t{0});
  ASSERT_TRUE(r.has_value());
  EXPECT_GE(*r, 0);
  EXPECT_LT(*r, 4);
}

TEST(PickRank, LoadBreaksTiesBeforeHint) {
  std::vector<RankLoad> ranks(3, rank_with(2, 2, 1));
  ranks[1].queued = 0;
  for (std::uint64_t hint = 0; hint < 3; ++hint) EXPECT_EQ(pick_rank(kOneCpu, ranks, hint), 1);
}

TEST(FeasibleAnywhere, TrueWhenSomeRankTotalFits) {
  const std::vector<ResourceSet> totals = {ResourceSet::cpus(2),
                                           ResourceSet::from_map({{"CPU", 1}, {"GPU", 2}})};
  EXPECT_TRUE(feasible_anywhere(kOneCpu, totals));
  EXPECT_TRUE(feasible_anywhere(ResourceSet::cpus(2), totals));
  EXPECT_TRUE(feasible_anywhere(ResourceSet::from_map({{"GPU", 2}}), totals));
  EXPECT_FALSE(feasible_anywhere(ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}}), totals));
  EXPECT_FALSE(feasible_anywhere(ResourceSet::cpus(3), totals));
  EXPECT_FALSE(feasible_anywhere(kOneCpu, {}));
}

}  // namespace

namespace {

constexpr std::uint64_t kMiB = 1 << 20;

TEST(Locality, HeaviestInputRankNeedsAtLeastTheThreshold) {
  using manta::engine::heaviest_input_rank;
  EXPECT_EQ(heaviest_input_rank({}), -1);
  EXPECT_EQ(heaviest_input_rank({0, kMiB / 2, 0}), -1);
  EXPECT_EQ(heaviest_input_rank({kMiB, 3 * kMiB, 2 * kMiB}), 1);
}

TEST(Locality, LocalSchedulerForwardsTasksWhoseDataIsElsewhere) {
  const auto one = ResourceSet::cpus(1);
  // Rank 0 submits; rank 2 holds 8 MiB of the inputs, rank 0 only 1 MiB.
  EXPECT_EQ(decide_locally(one, ResourceSet::cpus(4), 0, 16, 0, {kMiB, 0, 8 * kMiB}),
            LocalDecision::forward);
  // The data is here: run here.
  EXPECT_EQ(decide_locally(one, ResourceSet::cpus(4), 0, 16, 2, {kMiB, 0, 8 * kMiB}),
            LocalDecision::run_here);
  // Small inputs are not worth following.
  EXPECT_EQ(decide_locally(one, ResourceSet::cpus(4), 0, 16, 0, {0, 0, kMiB / 4}),
            LocalDecision::run_here);
}

TEST(Locality, GlobalSchedulerPrefersTheRankHoldingTheInputs) {
  std::vector<RankLoad> ranks = {rank_with(2, 2, 0), rank_with(2, 2, 0), rank_with(2, 1, 0)};
  // Rank 2 is a little busier but holds the data.
  EXPECT_EQ(pick_rank(ResourceSet::cpus(1), ranks, 0, {0, kMiB, 16 * kMiB}), 2);
  // Without inputs the least loaded wins.
  EXPECT_EQ(pick_rank(ResourceSet::cpus(1), ranks, 0), 0);
}

TEST(Locality, OverloadedDataRankLosesToAFreeRank) {
  // Rank 1 holds the data but has a long queue: moving the bytes is cheaper than waiting.
  std::vector<RankLoad> ranks = {rank_with(2, 2, 0), rank_with(2, 0, 10)};
  EXPECT_EQ(pick_rank(ResourceSet::cpus(1), ranks, 0, {0, 64 * kMiB}), 0);
}

TEST(Locality, DataRankThatCannotRunTheTaskIsSkipped) {
  std::vector<RankLoad> ranks = {rank_with(2, 2, 0), rank_with(1, 1, 0)};
  EXPECT_EQ(pick_rank(ResourceSet::cpus(2), ranks, 0, {0, 64 * kMiB}), 0);
}

SpillbackView spill(bool starts_now, bool free_elsewhere) {
  SpillbackView v;
  v.starts_now = starts_now;
  v.free_elsewhere = free_elsewhere;
  return v;
}

TEST(Spillback, RunsHereWhenItStartsNow) {
  // The hot path: free here, so it stays, whatever the other ranks do.
  EXPECT_EQ(decide_locally(kOneCpu, ResourceSet::cpus(1), 0, 4, 0, {}, spill(true, true)),
            LocalDecision::run_here);
  // Even past the threshold: a free CPU is free.
  EXPECT_EQ(decide_locally(kOneCpu, ResourceSet::cpus(1), 9, 4, 0, {}, spill(true, false)),
            LocalDecision::run_here);
}

TEST(Spillback, WouldWaitWhileAnotherRankIsFree) {
  EXPECT_EQ(decide_locally(kOneCpu, ResourceSet::cpus(1), 0, 4, 0, {}, spill(false, true)),
            LocalDecision::spill_back);
  // Nobody is free: queue here below the threshold, forward past it.
  EXPECT_EQ(decide_locally(kOneCpu, ResourceSet::cpus(1), 1, 4, 0, {}, spill(false, false)),
            LocalDecision::run_here);
  EXPECT_EQ(decide_locally(kOneCpu, ResourceSet::cpus(1), 4, 4, 0, {}, spill(false, false)),
            LocalDecision::forward);
}

TEST(Spillback, DataAndFeasibilityComeFirst) {
  // Cannot run here at all: forwarded, not spilled back.
  EXPECT_EQ(
      decide_locally(ResourceSet::cpus(2), ResourceSet::cpus(1), 0, 4, 0, {}, spill(false, true)),
      LocalDecision::forward);
  // The data is elsewhere: the global scheduler sends it there.
  EXPECT_EQ(
      decide_locally(kOneCpu, ResourceSet::cpus(1), 0, 4, 0, {0, 8 * kMiB}, spill(true, true)),
      LocalDecision::forward);
}

TEST(Spillback, FreeSlotsCountWhatTheQueueLeaves) {
  EXPECT_EQ(free_slots(kOneCpu, rank_with(4, 4, 0)), 4u);
  EXPECT_EQ(free_slots(kOneCpu, rank_with(4, 4, 1)), 3u);
  EXPECT_EQ(free_slots(kOneCpu, rank_with(4, 4, 1, 2)), 1u);
  EXPECT_EQ(free_slots(kOneCpu, rank_with(4, 1, 3)), 0u);
  EXPECT_EQ(free_slots(ResourceSet::cpus(2), rank_with(4, 3, 0)), 1u);
  EXPECT_EQ(free_slots(ResourceSet::cpus(8), rank_with(4, 4, 0)), 0u);  // never fits
  EXPECT_EQ(free_slots(kOneCpu, rank_with(64, 64, 0), 5), 5u);          // capped
}

TEST(Spillback, PickFreeRankSkipsBusyRanksAndTheSender) {
  const std::vector<RankLoad> ranks = {rank_with(1, 0, 2), rank_with(1, 0, 0), rank_with(1, 1, 0),
                                       rank_with(1, 1, 0, 1)};
  // Rank 2 is the only one with a CPU nobody has claimed.
  EXPECT_EQ(pick_free_rank(kOneCpu, ranks, 0), 2);
  EXPECT_EQ(pick_free_rank(kOneCpu, ranks, 0, 3), 2);
  EXPECT_EQ(pick_free_rank(kOneCpu, ranks, 2), std::nullopt);
  // The least loaded free rank wins; the hint spreads ties.
  const std::vector<RankLoad> idle = {rank_with(1, 0, 1), rank_with(2, 2, 0), rank_with(2, 2, 0),
                                      rank_with(2, 1, 0)};
  std::set<int> picked;
  for (std::uint64_t h = 0; h < 4; ++h) picked.insert(*pick_free_rank(kOneCpu, idle, 0, h));
  EXPECT_EQ(picked, (std::set<int>{1, 2}));
}

TEST(Spillback, FreeSlotsElsewhereExcludeTheRankItself) {
  const std::vector<RankLoad> ranks = {rank_with(1, 0, 3), rank_with(2, 2, 0), rank_with(1, 1, 0)};
  EXPECT_EQ(free_slots_elsewhere(kOneCpu, ranks), (std::vector<std::uint64_t>{3, 1, 2}));
}

}  // namespace
