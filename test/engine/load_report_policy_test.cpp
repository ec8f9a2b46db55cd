// When a rank reports its load to rank 0: the spacing that bounds rank 0's intake as ranks grow,
// the changes that go at once, and the staleness bound on the others.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

#include "engine/load_report_policy.h"

namespace {

using manta::engine::LoadReportPolicy;
using manta::engine::LoadReportSettings;
using manta::engine::LoadSnapshot;
using manta::engine::ReportClock;
using manta::engine::ResourceSet;
using namespace std::chrono_literals;

LoadReportSettings settings(int ranks, double budget = 50000) {
  LoadReportSettings s;
  s.ranks = ranks;
  s.tick = 20ms;
  s.budget = budget;
  s.forward_threshold = 16;
  s.cpus = 4;
  s.total = ResourceSet::cpus(4);
  return s;
}

LoadSnapshot load(std::uint64_t queued, double free_cpus, std::uint64_t placed = 0) {
  LoadSnapshot l;
  l.queued = queued;
  l.placed = placed;
  l.available = ResourceSet::cpus(free_cpus);
  return l;
}

const ReportClock::time_point t0 = ReportClock::time_point{} + 1h;

TEST(LoadReportPolicy, SpacingIsTheTickUntilTheRanksExceedTheBudget) {
  EXPECT_EQ(LoadReportPolicy(settings(2)).spacing(), 20ms);
  EXPECT_EQ(LoadReportPolicy(settings(1001)).spacing(), 20ms);  // 1000 reporters: 50 k/s
  EXPECT_EQ(LoadReportPolicy(settings(10001)).spacing(), 200ms);
  EXPECT_EQ(LoadReportPolicy(settings(10001, 25000)).spacing(), 400ms);
  EXPECT_EQ(LoadReportPolicy(settings(10001, 0)).spacing(), 20ms);  // no cap
  EXPECT_EQ(LoadReportPolicy(settings(10001)).max_staleness(), 1s);
}

// A rank whose load changes a lot every tick still reports once per spacing: with every rank
// doing that, rank 0 takes in the budget and no more.
TEST(LoadReportPolicy, BusyRanksTogetherStayWithinTheBudget) {
  const int ranks = 10001;
  LoadReportPolicy p(settings(ranks));
  int sent = 0;
  bool free_reported = true;                // as rank 0 assumes at the start
  for (int tick = 0; tick < 500; ++tick) {  // 10 s, each tick the opposite of the last report
    const LoadSnapshot now = free_reported ? load(100, 0) : load(0, 4);
    if (p.report(now, t0 + tick * 20ms)) {
      ++sent;
      free_reported = !free_reported;
    }
  }
  EXPECT_EQ(sent, 50);
  EXPECT_LE((ranks - 1) * sent / 10, 50000);
}

TEST(LoadReportPolicy, FirstReportGoesAndAnUnchangedLoadNeverAgain) {
  LoadReportPolicy p(settings(2));
  EXPECT_TRUE(p.report(load(3, 0), t0));
  EXPECT_FALSE(p.due(load(3, 0), t0 + 20ms));
  EXPECT_FALSE(p.due(load(3, 0), t0 + 1h));
}

// Rank 0 starts out believing every rank idle: an idle rank starting says nothing, one that
// is already busy at its first tick says so at once.
TEST(LoadReportPolicy, AnIdleRankStartingSendsNothing) {
  LoadReportPolicy idle(settings(10001));
  EXPECT_FALSE(idle.due(load(0, 4), t0));
  EXPECT_FALSE(idle.due(load(0, 4), t0 + 1h));
  EXPECT_TRUE(idle.report(load(0, 3), t0 + 1ms));
  EXPECT_FALSE(idle.due(load(0, 0), t0 + 2ms));  // then the spacing holds
}

TEST(LoadReportPolicy, SmallChangesWaitForTheStalenessBound) {
  LoadReportPolicy p(settings(2));
  ASSERT_TRUE(p.report(load(20, 0), t0));
  // One more waiting task on a rank past the threshold: rank 0 would decide the same.
  EXPECT_FALSE(p.due(load(21, 0), t0 + 20ms));
  EXPECT_FALSE(p.due(load(21, 0), t0 + p.max_staleness() - 1ms));
  EXPECT_TRUE(p.due(load(21, 0), t0 + p.max_staleness()));
}

TEST(LoadReportPolicy, FreeResourcesAppearingOrRunningOutGoAtTheNextSpacing) {
  LoadReportPolicy p(settings(10001));
  ASSERT_TRUE(p.report(load(0, 0), t0));
  EXPECT_FALSE(p.due(load(0, 1), t0 + 20ms));  // not before the spacing
  EXPECT_TRUE(p.report(load(0, 1), t0 + 200ms));
  EXPECT_TRUE(p.report(load(0, 0), t0 + 400ms));
  // A GPU coming free matters as much as a CPU.
  LoadSnapshot gpu = load(0, 0);
  gpu.available.set("GPU", 1);
  EXPECT_TRUE(p.report(gpu, t0 + 600ms));
}

TEST(LoadReportPolicy, QueueCrossingZeroOrTheThresholdGoes) {
  LoadReportPolicy p(settings(2));
  ASSERT_TRUE(p.report(load(0, 0), t0));
  EXPECT_TRUE(p.report(load(1, 0), t0 + 20ms));   // work waits here now
  EXPECT_FALSE(p.due(load(3, 0), t0 + 40ms));     // 2 more: under a CPU's worth
  EXPECT_TRUE(p.report(load(16, 0), t0 + 40ms));  // at the threshold
  EXPECT_FALSE(p.due(load(17, 0), t0 + 60ms));
  EXPECT_TRUE(p.report(load(15, 0), t0 + 60ms));  // back under it
  EXPECT_TRUE(p.report(load(0, 0), t0 + 80ms));
}

TEST(LoadReportPolicy, LargeQueueChangesGoSmallRelativeOnesWait) {
  LoadReportPolicy p(settings(2));
  ASSERT_TRUE(p.report(load(100, 0), t0));
  EXPECT_FALSE(p.due(load(120, 0), t0 + 20ms));  // a fifth more
  EXPECT_FALSE(p.due(load(80, 0), t0 + 20ms));
  EXPECT_TRUE(p.due(load(140, 0), t0 + 20ms));
  EXPECT_TRUE(p.due(load(70, 0), t0 + 20ms));
}

// Rank 0 counts the tasks it placed here since the last report as waiting here: when they ran
// at once, it must hear so, or it steers work away from a free rank.
TEST(LoadReportPolicy, PlacementsRankZeroOverestimatesAreReported) {
  LoadReportPolicy p(settings(2));
  ASSERT_TRUE(p.report(load(8, 0, 100), t0));
  EXPECT_FALSE(p.due(load(8, 0, 102), t0 + 20ms));   // rank 0 believes 10, 8 wait
  EXPECT_TRUE(p.due(load(8, 0, 120), t0 + 20ms));    // rank 0 believes 28
  EXPECT_FALSE(p.due(load(12, 0, 104), t0 + 20ms));  // it believes right
}

}  // namespace
