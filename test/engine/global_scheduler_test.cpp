// Rank 0's global scheduler: load reports (delivered as messages) and its own placements since
// steer where tasks go; the data's rank wins within reason; what no rank offers goes nowhere;
// actors wait while every rank is full of them and take a slot an ended actor freed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/dispatcher.h"
#include "engine/global_scheduler.h"
#include "engine/messages.h"
#include "fake_outbox.h"

namespace manta::engine {
namespace {

using transport::WireWriter;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::vector<ResourceSet> totals(int ranks, double cpus, double actor_slots = 0) {
  std::vector<ResourceSet> out;
  for (int r = 0; r < ranks; ++r) {
    ResourceSet t = ResourceSet::cpus(cpus);
    if (actor_slots > 0) t.set("actor_slots", actor_slots);
    out.push_back(t);
  }
  return out;
}

// Rank 0's own load, as its local scheduler would say.
struct Rank0Load {
  std::uint64_t queued = 0;
  ResourceSet available;
};

struct Scheduler {
  Scheduler(std::vector<ResourceSet> t, int max_actors = 10)
      : global(t, max_actors, [this](RankLoad& r0) {
          r0.queued = rank0.queued;
          r0.available = rank0.available;
        }) {
    rank0.available = t[0];
    global.register_handlers(dispatcher);
  }
  void report(int rank, std::uint64_t queued, std::uint64_t received, const ResourceSet& free) {
    fakes::deliver(dispatcher, rank, [&](WireWriter& w) {
      w.put(MessageType::load_report).put(queued).put(received);
      write_resources(w, free);
    });
  }
  Rank0Load rank0;
  GlobalScheduler global;
  Dispatcher dispatcher;
};

ResourceSet actor_request() {
  ResourceSet r;
  r.set("actor_slots", 1);
  return r;
}

TEST(GlobalScheduler, LoadReportsChangeWhereTasksGo) {
  Scheduler s(totals(3, 4));
  s.rank0 = {6, ResourceSet::cpus(0)};
  s.report(1, 5, 0, ResourceSet::cpus(0));
  s.report(2, 0, 0, ResourceSet::cpus(4));
  EXPECT_EQ(s.global.place_task(ResourceSet::cpus(1), {}), 2);
  // Now rank 2 is the busy one (it got the task above) and rank 1 has emptied.
  s.report(2, 9, 1, ResourceSet::cpus(0));
  s.report(1, 0, 0, ResourceSet::cpus(4));
  EXPECT_EQ(s.global.place_task(ResourceSet::cpus(1), {}), 1);
  // With every rank busy, the least loaded per CPU still gets it (it waits there).
  s.report(1, 20, 1, ResourceSet::cpus(0));
  EXPECT_EQ(s.global.place_task(ResourceSet::cpus(1), {}), 0);
}

TEST(GlobalScheduler, PlacementsCountUntilTheRankReportsThem) {
  Scheduler s(totals(3, 4));
  s.rank0 = {6, ResourceSet::cpus(0)};
  std::map<int, int> placed;
  for (int i = 0; i < 8; ++i) ++placed[s.global.place_task(ResourceSet::cpus(1), {}).value()];
  // The idle ranks share the work instead of one of them getting all of it.
  EXPECT_EQ(placed, (std::map<int, int>{{1, 4}, {2, 4}}));
  EXPECT_EQ(s.global.loads()[1].assigned, 4u);
  // Rank 1 has seen 3 of its 4: one is still on its way.
  s.report(1, 0, 3, ResourceSet::cpus(4));
  EXPECT_EQ(s.global.loads()[1].assigned, 1u);
  s.report(1, 0, 4, ResourceSet::cpus(4));
  EXPECT_EQ(s.global.loads()[1].assigned, 0u);
}

// Rank 0 asks for each task it would queue; the answer follows every report and placement.
TEST(GlobalScheduler, FreeElsewhereFollowsReportsAndPlacements) {
  Scheduler s(totals(3, 1));
  s.rank0 = {5, ResourceSet::cpus(0)};
  const ResourceSet one = ResourceSet::cpus(1);
  EXPECT_TRUE(s.global.free_elsewhere(one)) << "no report yet: the ranks start idle";
  s.report(1, 3, 0, ResourceSet::cpus(0));
  s.report(2, 3, 0, ResourceSet::cpus(0));
  EXPECT_FALSE(s.global.free_elsewhere(one));
  EXPECT_FALSE(s.global.free_elsewhere(one));
  s.report(2, 0, 0, ResourceSet::cpus(1));
  EXPECT_TRUE(s.global.free_elsewhere(one));
  // A request no rank's free part fits is answered for itself, not from the last answer.
  EXPECT_FALSE(s.global.free_elsewhere(ResourceSet::cpus(2)));
  EXPECT_TRUE(s.global.free_elsewhere(one));
  // The placement takes rank 2's only slot before rank 2 reports again.
  EXPECT_EQ(s.global.place_task(one, {}), 2);
  EXPECT_FALSE(s.global.free_elsewhere(one));
  // Rank 0's own load never counts: it asks about the others.
  s.rank0 = {0, ResourceSet::cpus(1)};
  EXPECT_FALSE(s.global.free_elsewhere(one));
}

TEST(GlobalScheduler, ATaskFollowsItsInputBytesUnlessThatRankIsFarBehind) {
  Scheduler s(totals(3, 4));
  const std::vector<std::uint64_t> on_rank2{0, 0, 8 * kMiB};
  EXPECT_EQ(s.global.place_task(ResourceSet::cpus(1), on_rank2), 2);
  const std::vector<std::uint64_t> on_rank1{0, 8 * kMiB, kMiB};
  EXPECT_EQ(s.global.place_task(ResourceSet::cpus(1), on_rank1), 1);
  // Rank 2 is far more loaded than the idle ranks: moving the data wins.
  s.report(2, 40, 1, ResourceSet::cpus(0));
  const auto placed = s.global.place_task(ResourceSet::cpus(1), on_rank2);
  ASSERT_TRUE(placed);
  EXPECT_NE(*placed, 2);
}

TEST(GlobalScheduler, ATaskNoRankOffersGoesNowhere) {
  Scheduler s(totals(3, 4));
  ResourceSet gpu = ResourceSet::cpus(1);
  gpu.set("GPU", 1);
  EXPECT_FALSE(s.global.place_task(gpu, {}).has_value());
  EXPECT_FALSE(s.global.place_task(ResourceSet::cpus(5), {}).has_value());
  EXPECT_FALSE(s.global.free_elsewhere(gpu));
  for (const RankLoad& l : s.global.loads()) EXPECT_EQ(l.assigned, 0u);
  // An actor asking for it: neither a host nor a wait.
  ResourceSet actor = actor_request();
  actor.set("GPU", 1);
  const auto p = s.global.place_actor(actor, -1);
  EXPECT_FALSE(p.host.has_value());
  EXPECT_EQ(p.waits_for, "");
}

TEST(GlobalScheduler, SpillHintsGoToBusyRanksOnlyWhenTheyChange) {
  Scheduler s(totals(3, 4));
  s.report(1, 5, 0, ResourceSet::cpus(0));
  // Ranks 0 and 2 are idle: 8 tasks could start there.
  auto b = s.global.balance(ResourceSet::cpus(1));
  EXPECT_EQ(b.hints, (std::vector<std::pair<int, std::uint64_t>>{{1, 8}}));
  EXPECT_EQ(b.free_for_rank0, 0u);
  EXPECT_TRUE(s.global.balance(ResourceSet::cpus(1)).hints.empty()) << "unchanged";
  s.report(1, 0, 0, ResourceSet::cpus(4));
  b = s.global.balance(ResourceSet::cpus(1));
  EXPECT_EQ(b.hints, (std::vector<std::pair<int, std::uint64_t>>{{1, 0}}));
}

TEST(GlobalScheduler, ActorsWaitWhenEveryRankIsFullAndTakeAFreedSlot) {
  Scheduler s(totals(2, 4, 1), /*max_actors=*/1);
  const auto a = s.global.place_actor(actor_request(), -1);
  const auto b = s.global.place_actor(actor_request(), -1);
  ASSERT_TRUE(a.host && b.host);
  EXPECT_NE(*a.host, *b.host) << "one actor slot per rank";
  EXPECT_EQ(s.global.actors_on(0), 1u);
  EXPECT_EQ(s.global.actors_on(1), 1u);

  const auto c = s.global.place_actor(actor_request(), -1);
  EXPECT_FALSE(c.host.has_value());
  EXPECT_NE(c.waits_for.find("every rank that could host it is full"), std::string::npos)
      << c.waits_for;
  EXPECT_NE(c.waits_for.find("2 actors live on 2 ranks"), std::string::npos) << c.waits_for;
  EXPECT_NE(c.waits_for.find("--manta-max-actors=1"), std::string::npos) << c.waits_for;
  const auto on1 = s.global.place_actor(actor_request(), 1);
  EXPECT_FALSE(on1.host.has_value());
  EXPECT_NE(on1.waits_for.find("rank 1 hosts its 1 actors"), std::string::npos) << on1.waits_for;

  s.global.actor_ended(*b.host);
  EXPECT_EQ(s.global.actors_on(*b.host), 0u);
  const auto d = s.global.place_actor(actor_request(), -1);
  ASSERT_TRUE(d.host);
  EXPECT_EQ(*d.host, *b.host);
  // An end for a rank with no actors, or no such rank, frees nothing.
  s.global.actor_ended(7);
  s.global.actor_ended(-1);
  EXPECT_FALSE(s.global.place_actor(actor_request(), -1).host.has_value());
}

TEST(GlobalScheduler, ALoadReportFromAnUnknownRankIsIgnored) {
  Scheduler s(totals(2, 4));
  s.report(5, 100, 0, ResourceSet::cpus(0));
  const auto loads = s.global.loads();
  ASSERT_EQ(loads.size(), 2u);
  EXPECT_EQ(loads[1].queued, 0u);
}

}  // namespace
}  // namespace manta::engine
