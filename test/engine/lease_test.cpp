// The lease protocol's rules: rank 0's LeaseTable (grant, give back, renew, expire, fairness,
// lost ranks) and a submitter's LeaseSet (use, done, refused, asking, returning, renewing).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "engine/lease_set.h"
#include "engine/lease_table.h"

namespace {

using manta::engine::Lease;
using manta::engine::LeaseClock;
using manta::engine::LeaseSet;
using manta::engine::LeaseSettings;
using manta::engine::LeaseTable;
using manta::engine::ResourceSet;
using namespace std::chrono_literals;

std::vector<ResourceSet> ranks_of(int n, double cpus) {
  return std::vector<ResourceSet>(static_cast<std::size_t>(n), ResourceSet::cpus(cpus));
}

LeaseSettings settings(std::uint32_t max_slots = 64) {
  LeaseSettings s;
  s.max_slots = max_slots;
  s.oversubscribe = 2.0;
  s.term = 2s;
  s.lend_rank0 = true;  // the rules below treat every rank alike
  return s;
}

std::uint32_t slots(const std::vector<Lease>& leases) {
  std::uint32_t n = 0;
  for (const Lease& l : leases) n += l.slots;
  return n;
}

const ResourceSet kOneCpu = ResourceSet::cpus(1);
const LeaseClock::time_point t0 = LeaseClock::time_point{} + 1000s;

TEST(LeaseTable, GrantsRoomOnOtherRanksNeverOnTheHoldersOwn) {
  LeaseTable table(ranks_of(4, 2), settings());
  const auto got = table.request(1, kOneCpu, 100, {}, t0);
  // 3 other ranks × 2 CPUs × 2 (oversubscribed) = 12 slots; the rest waits.
  EXPECT_EQ(slots(got), 12u);
  for (const Lease& l : got) {
    EXPECT_NE(l.rank, 1);
    EXPECT_EQ(l.holder, 1);
    EXPECT_EQ(l.expires, t0 + 2s);
    EXPECT_EQ(l.shape, kOneCpu);
  }
  EXPECT_EQ(table.waiting(), 1u);
  EXPECT_EQ(table.free_slots(0, kOneCpu), 0u);
  EXPECT_EQ(table.free_slots(1, kOneCpu), 4u);
}

TEST(LeaseTable, RankZeroIsLentNothingUnlessItIsTheOnlyOtherRank) {
  LeaseSettings s = settings();
  s.lend_rank0 = false;  // the default
  LeaseTable table(ranks_of(4, 2), s);
  const auto got = table.request(1, kOneCpu, 100, {}, t0);
  EXPECT_EQ(slots(got), 8u);  // ranks 2 and 3
  for (const Lease& l : got) EXPECT_NE(l.rank, 0);
  LeaseTable two(ranks_of(2, 2), s);
  const auto other = two.request(1, kOneCpu, 4, {}, t0);
  ASSERT_EQ(slots(other), 4u);
  EXPECT_EQ(other[0].rank, 0);
}

TEST(LeaseTable, LeastLoadedRanksFirstAndLeasesCarryAtMostMaxSlots) {
  LeaseTable table(ranks_of(4, 8), settings(/*max_slots=*/4));
  std::vector<double> busy(4, 0.0);
  busy[2] = 5;  // tasks waiting per CPU
  const auto got = table.request(0, kOneCpu, 8, busy, t0);
  ASSERT_EQ(got.size(), 2u);
  for (const Lease& l : got) {
    EXPECT_NE(l.rank, 2) << "a busy rank was leased while idle ones had room";
    EXPECT_EQ(l.slots, 4u);
  }
}

TEST(LeaseTable, ATaskTooBigForARankIsNeverLeasedThere) {
  std::vector<ResourceSet> totals = ranks_of(3, 2);
  totals[2].set("GPU", 1);
  LeaseTable table(totals, settings());
  ResourceSet gpu_task = kOneCpu;
  gpu_task.set("GPU", 1);
  const auto got = table.request(0, gpu_task, 10, {}, t0);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].rank, 2);
  EXPECT_EQ(got[0].slots, 2u);  // 1 GPU lent twice over
}

TEST(LeaseTable, GivingBackFreesTheSlotsForTheNextRequest) {
  LeaseTable table(ranks_of(2, 2), settings());
  const auto first = table.request(0, kOneCpu, 4, {}, t0);
  ASSERT_EQ(slots(first), 4u);
  EXPECT_TRUE(table.request(0, kOneCpu, 4, {}, t0).empty());
  EXPECT_FALSE(table.give_back(1, first[0].id)) << "a lease went back for another holder";
  for (const Lease& l : first) EXPECT_TRUE(table.give_back(0, l.id));
  EXPECT_FALSE(table.give_back(0, first[0].id)) << "a lease went back twice";
  EXPECT_EQ(table.free_slots(1, kOneCpu), 4u);
  const auto again = table.grant_waiting({}, t0);
  EXPECT_EQ(slots(again), 4u) << "the waiting request was not served when room came back";
  EXPECT_EQ(table.waiting(), 0u);
}

TEST(LeaseTable, ASilentHolderLosesItsLeasesAtTheEndOfTheTerm) {
  LeaseTable table(ranks_of(3, 1), settings());
  const auto got = table.request(0, kOneCpu, 4, {}, t0);
  ASSERT_EQ(slots(got), 4u);
  EXPECT_TRUE(table.expire(t0 + 1s).empty());
  // Renewed leases outlive the first term; the holder then goes quiet.
  const auto renewed = table.renew(0, {got[0].id}, t0 + 1s);
  ASSERT_EQ(renewed.size(), 1u);
  EXPECT_EQ(renewed[0].expires, t0 + 3s);
  const auto ended = table.expire(t0 + 2s);
  EXPECT_EQ(ended.size(), got.size() - 1);
  EXPECT_EQ(table.active(), 1u);
  EXPECT_EQ(table.expire(t0 + 3s).size(), 1u);
  EXPECT_EQ(table.active(), 0u);
  EXPECT_EQ(table.slots_held_by(0), 0u);
  EXPECT_EQ(table.free_slots(1, kOneCpu), 2u);
}

TEST(LeaseTable, TwoHeavySubmittersEndUpWithEqualShares) {
  // 8 ranks of 2 CPUs: 32 slots in all. Holder 1 takes everything it can reach first.
  LeaseTable table(ranks_of(8, 2), settings(/*max_slots=*/2));
  auto a = table.request(1, kOneCpu, 1000, {}, t0);
  EXPECT_EQ(slots(a), 28u);  // all but its own rank's
  // Holder 2 arrives: nothing is free, it waits.
  EXPECT_EQ(slots(table.request(2, kOneCpu, 1000, {}, t0)), 4u);  // holder 1's rank only
  EXPECT_EQ(table.waiting(), 2u);
  // At renewal holder 1 keeps only its share; the rest runs out and goes to holder 2.
  std::vector<std::uint64_t> ids;
  for (const Lease& l : a) ids.push_back(l.id);
  const auto kept = table.renew(1, ids, t0 + 1s);
  EXPECT_LE(slots(kept), 16u);
  EXPECT_GE(slots(kept), 14u);
  table.expire(t0 + 2s);
  table.grant_waiting({}, t0 + 2s);
  const auto held1 = table.slots_held_by(1), held2 = table.slots_held_by(2);
  EXPECT_GE(held1 + held2, 28u);  // holder 2's own rank may be the one left over
  EXPECT_LE(held1 > held2 ? held1 - held2 : held2 - held1, 4u)
      << "holder 1 has " << held1 << " slots, holder 2 " << held2;
}

TEST(LeaseTable, WaitingRequestsAreServedInTurnAsLeasesEnd) {
  LeaseTable table(ranks_of(3, 1), settings(/*max_slots=*/1));
  // Holder 0 holds everything it can; holders 1 and 2 wait.
  const auto a = table.request(0, kOneCpu, 4, {}, t0);
  ASSERT_EQ(slots(a), 4u);
  table.request(1, kOneCpu, 10, {}, t0);  // gets rank 0's 2 slots
  table.request(2, kOneCpu, 10, {}, t0);  // nothing left
  for (const Lease& l : a) table.give_back(0, l.id);
  table.grant_waiting({}, t0);
  EXPECT_GT(table.slots_held_by(2), 0u) << "the last waiter got nothing when room came back";
}

TEST(LeaseTable, ALostRanksLeasesEndAndItIsNeverLeasedAgain) {
  LeaseTable table(ranks_of(3, 1), settings());
  const auto got = table.request(0, kOneCpu, 4, {}, t0);
  ASSERT_EQ(slots(got), 4u);
  table.request(2, kOneCpu, 4, {}, t0);
  const auto ended = table.rank_lost(2);
  // Holder 0's lease on rank 2 and whatever rank 2 held or waited for.
  for (const Lease& l : ended) EXPECT_TRUE(l.rank == 2 || l.holder == 2);
  EXPECT_EQ(table.free_slots(2, kOneCpu), 0u);
  const auto more = table.request(0, kOneCpu, 10, {}, t0);
  for (const Lease& l : more) EXPECT_NE(l.rank, 2);
  EXPECT_EQ(table.slots_held_by(2), 0u);
}

TEST(LeaseTable, RequestForNothingGrantsNothing) {
  LeaseTable table(ranks_of(2, 1), settings());
  EXPECT_TRUE(table.request(0, kOneCpu, 0, {}, t0).empty());
  EXPECT_EQ(table.waiting(), 0u);
  LeaseTable alone(ranks_of(1, 4), settings());
  EXPECT_TRUE(alone.request(0, kOneCpu, 8, {}, t0).empty()) << "one rank has no one to lease";
}

TEST(LeaseTable, TenThousandRanksGrantQuickly) {
  LeaseTable table(ranks_of(10000, 4), settings());
  std::uint64_t granted = 0;
  for (int holder = 0; holder < 200; ++holder) {
    granted += slots(table.request(holder, kOneCpu, 256, {}, t0));
  }
  EXPECT_EQ(granted, 200u * 256u);
  EXPECT_EQ(table.waiting(), 0u);
}

TEST(LeaseTable, AtTenThousandRanksARequestLooksAtAWindowAndLeasesStillSpread) {
  LeaseSettings s = settings();
  s.oversubscribe = 2;  // 2 slots per one-CPU rank
  LeaseTable table(ranks_of(10000, 1), s);
  std::set<int> ranks;
  for (int i = 0; i < 100; ++i) {
    for (const Lease& l : table.request(0, kOneCpu, 10, {}, t0)) ranks.insert(l.rank);
  }
  EXPECT_LE(table.ranks_examined(), 100u * LeaseTable::kSampleRanks)
      << "requests scanned the whole job";
  EXPECT_GE(ranks.size(), 500u) << "leases piled onto the same few ranks";
  // A request larger than the window still finds its room further on.
  const auto big = table.request(1, kOneCpu, 4000, {}, t0);
  EXPECT_EQ(slots(big), 4000u);
}

TEST(LeaseTable, AFewLongTasksGetASlotOnEachOfAsManyRanks) {
  // Two slots per one-CPU rank: without the even first pass, seven tasks would sit on four
  // ranks, two deep, while three ranks stayed idle.
  LeaseTable table(ranks_of(8, 1), settings());
  const auto got = table.request(0, kOneCpu, 7, {}, t0);
  std::set<int> ranks;
  for (const Lease& l : got) {
    EXPECT_EQ(l.slots, 1u);
    ranks.insert(l.rank);
  }
  EXPECT_EQ(ranks.size(), 7u);
  EXPECT_EQ(slots(got), 7u);
}

TEST(LeaseTable, AFullJobCostsNothingUntilALeaseEnds) {
  // 2 slots on each rank: 19,998 in all for holder 0 (never leased its own rank).
  LeaseTable table(ranks_of(10000, 1), settings());
  std::vector<Lease> held;
  for (int i = 0; i < 5; ++i) {
    for (Lease& l : table.request(0, kOneCpu, i < 4 ? 4000 : 3998, {}, t0)) held.push_back(l);
  }
  ASSERT_EQ(slots(held), 19998u);
  // Nothing is free: a new request looks at a few windows, not at all 10,000 ranks, and waits.
  std::uint64_t before = table.ranks_examined();
  EXPECT_TRUE(table.request(1, kOneCpu, 100, {}, t0).empty());
  EXPECT_LE(table.ranks_examined() - before, 4 * LeaseTable::kSampleRanks + 1);
  EXPECT_EQ(table.waiting(), 1u);
  // Ticks while nothing ended look at no rank at all (after one look at what was there).
  EXPECT_TRUE(table.grant_waiting({}, t0).empty());
  before = table.ranks_examined();
  for (int tick = 0; tick < 50; ++tick) EXPECT_TRUE(table.grant_waiting({}, t0).empty());
  EXPECT_EQ(table.ranks_examined(), before);
  // A lease given back is found by the waiting request at the next look, wherever the rank.
  const Lease back = held[held.size() / 2];
  ASSERT_NE(back.rank, 1);
  ASSERT_TRUE(table.give_back(0, back.id));
  const auto got = table.grant_waiting({}, t0);
  EXPECT_EQ(slots(got), back.slots);
  for (const Lease& l : got) EXPECT_EQ(l.rank, back.rank);
}

// ---- the submitter's side -------------------------------------------------------------------

Lease lease(std::uint64_t id, int rank, std::uint32_t slots, LeaseClock::time_point expires) {
  Lease l;
  l.id = id;
  l.holder = 0;
  l.rank = rank;
  l.shape = kOneCpu;
  l.slots = slots;
  l.expires = expires;
  return l;
}

TEST(LeaseSet, TasksSpreadOverLeasesAndStopWhenSlotsAreUsed) {
  LeaseSet set(2s);
  set.add(lease(1, 1, 2, t0 + 2s));
  set.add(lease(2, 2, 2, t0 + 2s));
  std::map<int, int> per_rank;
  for (int i = 0; i < 4; ++i) {
    auto use = set.take(kOneCpu, t0);
    ASSERT_TRUE(use) << "slot " << i;
    ++per_rank[use->rank];
  }
  EXPECT_EQ(per_rank[1], 2);
  EXPECT_EQ(per_rank[2], 2);
  EXPECT_FALSE(set.take(kOneCpu, t0)) << "a fifth task went out on four slots";
  EXPECT_FALSE(set.take(ResourceSet::cpus(2), t0)) << "a lease served another shape";
  set.done(1, t0);
  auto use = set.take(kOneCpu, t0);
  ASSERT_TRUE(use);
  EXPECT_EQ(use->lease, 1u);
  EXPECT_EQ(set.in_flight(), 4u);
}

TEST(LeaseSet, NoTaskGoesOutInALeasesLastMoments) {
  LeaseSet set(2s);
  set.add(lease(1, 1, 4, t0 + 2s));
  EXPECT_TRUE(set.take(kOneCpu, t0 + 1s));
  EXPECT_FALSE(set.take(kOneCpu, t0 + 1900ms));
  set.renewed(1, t0 + 4s);
  EXPECT_TRUE(set.take(kOneCpu, t0 + 1900ms));
}

TEST(LeaseSet, AsksForWhatTheBacklogNeedsOnceAtATime) {
  LeaseSet set(2s);
  EXPECT_EQ(set.to_ask(kOneCpu, 100, t0, 64), 64u);
  EXPECT_EQ(set.to_ask(kOneCpu, 10, t0, 64), 10u);
  EXPECT_EQ(set.to_ask(kOneCpu, 0, t0, 64), 0u);
  set.asked(kOneCpu);
  EXPECT_EQ(set.to_ask(kOneCpu, 100, t0, 64), 0u) << "a second request while one is out";
  set.answered(kOneCpu);
  set.add(lease(1, 1, 8, t0 + 2s));
  EXPECT_EQ(set.to_ask(kOneCpu, 10, t0, 64), 2u);
  EXPECT_EQ(set.to_ask(kOneCpu, 8, t0, 64), 0u);
}

TEST(LeaseSet, IdleLeasesGoBackBusyOnesAreRenewed) {
  LeaseSet set(2s);
  set.add(lease(1, 1, 2, t0 + 2s));
  set.add(lease(2, 2, 2, t0 + 2s));
  auto use = set.take(kOneCpu, t0);
  ASSERT_TRUE(use);
  const std::uint64_t busy = use->lease, idle = busy == 1 ? 2 : 1;
  EXPECT_TRUE(set.to_return(t0 + 100ms, 500ms).empty());
  EXPECT_TRUE(set.to_renew(t0 + 500ms).empty()) << "renewed long before its end";
  const auto back = set.to_return(t0 + 600ms, 500ms);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], idle);
  EXPECT_FALSE(set.holds(idle));
  const auto renew = set.to_renew(t0 + 1500ms);
  ASSERT_EQ(renew.size(), 1u);
  EXPECT_EQ(renew[0], busy);
}

TEST(LeaseSet, ARefusingRankGetsFewerSlotsAndAnEndedLeaseIsForgottenWhenItsTasksAreBack) {
  LeaseSet set(2s);
  set.add(lease(1, 1, 2, t0 + 2s));
  auto a = set.take(kOneCpu, t0);
  auto b = set.take(kOneCpu, t0);
  ASSERT_TRUE(a && b);
  set.refused(1, t0);
  EXPECT_EQ(set.free_slots(kOneCpu, t0), 0u) << "a refused slot came back";
  set.ended(1);
  EXPECT_TRUE(set.holds(1)) << "forgotten with a task still in flight";
  EXPECT_FALSE(set.take(kOneCpu, t0));
  set.done(1, t0);
  EXPECT_FALSE(set.holds(1));
  EXPECT_EQ(set.in_flight(), 0u);
}

TEST(LeaseSet, ExpiredLeasesAreDroppedWithoutAMessage) {
  LeaseSet set(2s);
  set.add(lease(1, 1, 2, t0 + 2s));
  EXPECT_TRUE(set.to_return(t0 + 3s, 10s).empty());
  EXPECT_FALSE(set.holds(1));
}

}  // namespace
