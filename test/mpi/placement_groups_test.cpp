// Placement groups on 4 ranks of 2 CPUs each: every strategy, groups that can never fit, groups
// that compete for the whole cluster, tasks and actors in bundles (fixed and any index), the
// separation of bundle and free resources, removal with actors and queued tasks inside, option
// conflicts, ready()/wait() and a group passed to a task that submits into it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

using namespace std::chrono_literals;
using manta::PlacementStrategy;

constexpr auto kLimit = std::chrono::seconds(30);
constexpr int kRanks = 4;
constexpr int kCpus = 2;  // --manta-num-cpus in test/mpi/CMakeLists.txt

template <class T>
T value(const manta::ObjectRef<T>& ref) {
  return *manta::get(ref, kLimit);
}

std::vector<manta::ResourceMap> cpus(int bundles, double each) {
  return std::vector<manta::ResourceMap>(static_cast<std::size_t>(bundles), {{"CPU", each}});
}

// ---- remote functions -------------------------------------------------------------------------

int where() { return manta::rank(); }

// How many tasks with `key` run at once on this rank, at most (kept per rank, per key).
std::mutex g_probe_mutex;
std::map<int, std::pair<int, int>> g_probe;  // key -> (running now, most at once)

int probe(int key, int ms) {
  {
    std::lock_guard lock(g_probe_mutex);
    auto& [now, most] = g_probe[key];
    most = std::max(most, ++now);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  std::lock_guard lock(g_probe_mutex);
  auto& [now, most] = g_probe[key];
  --now;
  return most;
}

std::atomic<int> g_started{0};
int long_task(int ms) {
  g_started.fetch_add(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return manta::rank();
}
int started() { return g_started.load(); }

int submit_into(manta::PlacementGroup pg, int bundle) {
  const std::vector<int> ranks = pg.bundle_ranks();
  const int ran = *manta::get(manta::task(where).placement_group(pg, bundle).remote(), kLimit);
  return ran == ranks[static_cast<std::size_t>(bundle)] ? ran : -100 - ran;
}

struct Holder {
  static Holder* create() { return new Holder; }
  int rank() const { return manta::rank(); }
};

MANTA_REMOTE(where, probe, long_task, started, submit_into, Holder::create, &Holder::rank);

std::atomic<int> g_key{1};
int fresh_key() { return g_key++; }

class PlacementGroups : public ::testing::Test {
 protected:
  void SetUp() override {
    if (manta::world_size() != kRanks) GTEST_SKIP() << "needs " << kRanks << " ranks";
  }
};

// Waits for `pg`, failing the test if it is not ready in time.
void ready_or_fail(const manta::PlacementGroup& pg) { ASSERT_TRUE(pg.wait(20)); }

// The group's ready() fails quickly with UnschedulableError whose message holds `words`.
void fails_at_once(const manta::PlacementGroup& pg, const std::string& words) {
  const auto start = std::chrono::steady_clock::now();
  try {
    manta::get(pg.ready(), kLimit);
    FAIL() << "the group became ready";
  } catch (const manta::UnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_THROW(pg.wait(1), manta::UnschedulableError);
}

// ---- strategies -------------------------------------------------------------------------------

TEST_F(PlacementGroups, StrictSpreadPutsEachBundleOnItsOwnRank) {
  auto pg = manta::placement_group(cpus(4, 1), PlacementStrategy::strict_spread, "spread4");
  ready_or_fail(pg);
  EXPECT_TRUE(value(pg.ready()));
  const auto ranks = pg.bundle_ranks();
  EXPECT_EQ(std::set<int>(ranks.begin(), ranks.end()).size(), 4u);
  EXPECT_EQ(pg.bundle_count(), 4u);
  EXPECT_EQ(pg.name(), "spread4");
  manta::remove_placement_group(pg);
}

TEST_F(PlacementGroups, StrictSpreadWithMoreBundlesThanRanksFailsAtOnce) {
  auto pg = manta::placement_group(cpus(5, 1), PlacementStrategy::strict_spread);
  fails_at_once(pg, "own rank");
}

TEST_F(PlacementGroups, BundleLargerThanAnyRankFailsAtOnce) {
  auto pg = manta::placement_group({{{"CPU", 1}}, {{"CPU", 64}}}, PlacementStrategy::pack);
  fails_at_once(pg, "bundle 1 asks for {CPU: 64}");
  auto gpu = manta::placement_group({{{"GPU", 1}}}, PlacementStrategy::spread);
  fails_at_once(gpu, "no rank offers that");
}

TEST_F(PlacementGroups, StrictPackPutsAllBundlesOnOneRankOrFails) {
  auto pg = manta::placement_group(cpus(2, 1), PlacementStrategy::strict_pack);
  ready_or_fail(pg);
  const auto ranks = pg.bundle_ranks();
  EXPECT_EQ(ranks[0], ranks[1]);
  manta::remove_placement_group(pg);
  // Three CPUs on one rank of two: never.
  auto too_big = manta::placement_group(cpus(3, 1), PlacementStrategy::strict_pack);
  fails_at_once(too_big, "strict_pack");
}

TEST_F(PlacementGroups, PackUsesFewRanksAndSpreadsOnlyWhenItMust) {
  auto two = manta::placement_group(cpus(2, 1), PlacementStrategy::pack);
  ready_or_fail(two);
  auto r2 = two.bundle_ranks();
  EXPECT_EQ(r2[0], r2[1]);
  manta::remove_placement_group(two);
  auto three = manta::placement_group(cpus(3, 1), PlacementStrategy::pack);
  ready_or_fail(three);
  auto r3 = three.bundle_ranks();
  EXPECT_EQ(std::set<int>(r3.begin(), r3.end()).size(), 2u);
  manta::remove_placement_group(three);
}

TEST_F(PlacementGroups, SpreadUsesDistinctRanksAndSharesWhenItMust) {
  auto four = manta::placement_group(cpus(4, 1), PlacementStrategy::spread);
  ready_or_fail(four);
  auto r4 = four.bundle_ranks();
  EXPECT_EQ(std::set<int>(r4.begin(), r4.end()).size(), 4u);
  manta::remove_placement_group(four);
  auto six = manta::placement_group(cpus(6, 1), PlacementStrategy::spread);
  ready_or_fail(six);
  auto r6 = six.bundle_ranks();
  EXPECT_EQ(std::set<int>(r6.begin(), r6.end()).size(), 4u);
  manta::remove_placement_group(six);
}

// ---- competing groups, ready() and wait() -------------------------------------------------------

TEST_F(PlacementGroups, CompetingGroupsAreServedInOrderAndNoneHangs) {
  auto first = manta::placement_group(cpus(kRanks, kCpus), PlacementStrategy::strict_spread);
  auto second = manta::placement_group(cpus(kRanks, kCpus), PlacementStrategy::strict_spread);
  auto third = manta::placement_group(cpus(1, 1), PlacementStrategy::pack);
  ready_or_fail(first);
  // The whole cluster is the first's: the second waits, and the third waits behind it.
  EXPECT_FALSE(second.wait(0.5));
  EXPECT_FALSE(third.wait(0.1));
  manta::remove_placement_group(first);
  ready_or_fail(second);
  EXPECT_FALSE(third.wait(0.2));
  manta::remove_placement_group(second);
  ready_or_fail(third);
  manta::remove_placement_group(third);
  manta::remove_placement_group(third);  // twice: harmless
}

TEST_F(PlacementGroups, RemovingAWaitingGroupFailsItsReady) {
  auto whole = manta::placement_group(cpus(kRanks, kCpus), PlacementStrategy::strict_spread);
  ready_or_fail(whole);
  auto waiting = manta::placement_group(cpus(2, 1), PlacementStrategy::pack);
  EXPECT_FALSE(waiting.wait(0.2));
  manta::remove_placement_group(waiting);
  try {
    manta::get(waiting.ready(), kLimit);
    FAIL() << "a removed group became ready";
  } catch (const manta::UnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find("removed before it was reserved"), std::string::npos)
        << e.what();
  }
  manta::remove_placement_group(whole);
  // Its bundles went back: a group of the whole cluster fits again.
  auto again = manta::placement_group(cpus(kRanks, kCpus), PlacementStrategy::strict_spread);
  ready_or_fail(again);
  manta::remove_placement_group(again);
}

// ---- tasks and actors in bundles ----------------------------------------------------------------

TEST_F(PlacementGroups, TasksRunOnTheirBundlesRank) {
  auto pg = manta::placement_group(cpus(4, 1), PlacementStrategy::strict_spread);
  ready_or_fail(pg);
  const auto ranks = pg.bundle_ranks();
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(value(manta::task(where).placement_group(pg, b).remote()),
              ranks[static_cast<std::size_t>(b)]);
  }
  std::vector<manta::ObjectRef<int>> any;
  for (int i = 0; i < 16; ++i) any.push_back(manta::task(where).placement_group(pg).remote());
  for (auto& r : any) {
    const int ran = value(r);
    EXPECT_NE(std::find(ranks.begin(), ranks.end(), ran), ranks.end()) << ran;
  }
  // The on_rank that agrees with the bundle is accepted.
  EXPECT_EQ(value(manta::task(where).placement_group(pg, 2).on_rank(ranks[2]).remote()), ranks[2]);
  manta::remove_placement_group(pg);
}

TEST_F(PlacementGroups, OneCpuBundleRunsItsTasksOneAtATime) {
  auto pg = manta::placement_group(cpus(1, 1), PlacementStrategy::pack);
  ready_or_fail(pg);
  const int key = fresh_key();
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < 4; ++i)
    refs.push_back(manta::task(probe).placement_group(pg, 0).remote(key, 80));
  for (auto& r : refs) EXPECT_EQ(value(r), 1);
  manta::remove_placement_group(pg);
}

TEST_F(PlacementGroups, BundleAndFreeResourcesAreKeptApart) {
  // One CPU of one rank is the bundle's; the other CPU there stays free for other tasks.
  auto pg = manta::placement_group(cpus(1, 1), PlacementStrategy::pack);
  ready_or_fail(pg);
  const int host = pg.bundle_ranks()[0];
  const int inside = fresh_key();
  const int outside = fresh_key();
  const int both = fresh_key();
  std::vector<manta::ObjectRef<int>> in, out, all;
  for (int i = 0; i < 3; ++i) {
    in.push_back(manta::task(probe).placement_group(pg, 0).remote(inside, 150));
    out.push_back(manta::task(probe).on_rank(host).remote(outside, 150));
  }
  for (auto& r : in) EXPECT_EQ(value(r), 1) << "tasks in a 1-CPU bundle ran side by side";
  for (auto& r : out) EXPECT_EQ(value(r), 1) << "tasks outside the group used its CPU";
  // Both kinds at once: one in the bundle and one on the free CPU.
  for (int i = 0; i < 2; ++i) {
    all.push_back(manta::task(probe).placement_group(pg, 0).remote(both, 300));
    all.push_back(manta::task(probe).on_rank(host).remote(both, 300));
  }
  int most = 0;
  for (auto& r : all) most = std::max(most, value(r));
  EXPECT_EQ(most, 2);
  manta::remove_placement_group(pg);
}

TEST_F(PlacementGroups, ActorsLiveOnTheirBundlesRankAndDieWithTheGroup) {
  auto pg = manta::placement_group(cpus(2, 1), PlacementStrategy::strict_spread);
  ready_or_fail(pg);
  const auto ranks = pg.bundle_ranks();
  auto fixed = manta::actor(Holder::create).placement_group(pg, 1).resources({{"CPU", 1}}).remote();
  auto any = manta::actor(Holder::create).placement_group(pg).remote();
  EXPECT_EQ(value(fixed.task(&Holder::rank).remote()), ranks[1]);
  const int any_rank = value(any.task(&Holder::rank).remote());
  EXPECT_NE(std::find(ranks.begin(), ranks.end(), any_rank), ranks.end());
  manta::remove_placement_group(pg);
  for (auto* h : {&fixed, &any}) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    bool died = false;
    while (!died && std::chrono::steady_clock::now() < deadline) {
      try {
        value(h->task(&Holder::rank).remote());
        std::this_thread::sleep_for(20ms);
      } catch (const manta::ActorDiedError& e) {
        died = true;
        EXPECT_NE(std::string(e.what()).find("placement group"), std::string::npos) << e.what();
      }
    }
    EXPECT_TRUE(died) << "an actor of a removed group still answers";
  }
  // Its CPU went back to the rank: a group of the whole cluster fits.
  auto whole = manta::placement_group(cpus(kRanks, kCpus), PlacementStrategy::strict_spread);
  ready_or_fail(whole);
  manta::remove_placement_group(whole);
}

TEST_F(PlacementGroups, ActorCreatedBeforeItsGroupIsReadyStartsOnceItIs) {
  auto whole = manta::placement_group(cpus(kRanks, kCpus), PlacementStrategy::strict_spread);
  ready_or_fail(whole);
  // Two CPUs: the actor holds one for its life, the task takes the other.
  auto pg = manta::placement_group(cpus(1, 2), PlacementStrategy::pack);
  auto h = manta::actor(Holder::create).placement_group(pg, 0).resources({{"CPU", 1}}).remote();
  auto t = manta::task(where).placement_group(pg, 0).remote();
  auto call = h.task(&Holder::rank).remote();
  EXPECT_FALSE(pg.wait(0.2));
  manta::remove_placement_group(whole);
  ready_or_fail(pg);
  const int host = pg.bundle_ranks()[0];
  EXPECT_EQ(value(call), host);
  EXPECT_EQ(value(t), host);
  manta::remove_placement_group(pg);
}

TEST_F(PlacementGroups, RemovalFailsQueuedTasksAndLetsTheRunningOneFinish) {
  auto pg = manta::placement_group(cpus(1, 1), PlacementStrategy::pack);
  ready_or_fail(pg);
  const int host = pg.bundle_ranks()[0];
  const int before = value(manta::task(started).on_rank(host).remote());
  auto running = manta::task(long_task).placement_group(pg, 0).remote(800);
  std::vector<manta::ObjectRef<int>> queued;
  for (int i = 0; i < 3; ++i)
    queued.push_back(manta::task(long_task).placement_group(pg, 0).remote(10));
  // Wait until the first runs (asked through the rank's other, free CPU).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (value(manta::task(started).on_rank(host).remote()) == before &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  manta::remove_placement_group(pg);
  EXPECT_EQ(value(running), host);
  for (auto& r : queued) {
    try {
      value(r);
      FAIL() << "a task queued in a removed group ran";
    } catch (const manta::UnschedulableError& e) {
      EXPECT_NE(std::string(e.what()).find("was removed"), std::string::npos) << e.what();
    }
  }
  // Submitting into the removed group fails too.
  EXPECT_THROW(value(manta::task(where).placement_group(pg, 0).remote()),
               manta::UnschedulableError);
  // Both of the host's CPUs are free again: two tasks there run side by side.
  const int key = fresh_key();
  auto a = manta::task(probe).on_rank(host).remote(key, 300);
  auto b = manta::task(probe).on_rank(host).remote(key, 300);
  EXPECT_EQ(std::max(value(a), value(b)), 2);
}

// ---- options ---------------------------------------------------------------------------------

TEST_F(PlacementGroups, ConflictingOptionsFailAtSubmission) {
  auto pg = manta::placement_group(cpus(2, 1), PlacementStrategy::strict_spread);
  ready_or_fail(pg);
  const auto ranks = pg.bundle_ranks();
  int elsewhere = 0;
  while (std::find(ranks.begin(), ranks.end(), elsewhere) != ranks.end()) ++elsewhere;
  EXPECT_THROW(manta::task(where).placement_group(pg, 0).on_rank(ranks[1]).remote(),
               std::invalid_argument);
  EXPECT_THROW(manta::task(where).placement_group(pg).on_rank(elsewhere).remote(),
               std::invalid_argument);
  EXPECT_THROW(manta::task(where).placement_group(pg, 2).remote(), std::invalid_argument);
  EXPECT_THROW(manta::task(where).placement_group(pg, -2).remote(), std::invalid_argument);
  EXPECT_THROW(manta::task(where).placement_group(pg, 0).resources({{"CPU", 2}}).remote(),
               manta::UnschedulableError);
  EXPECT_THROW(manta::task(where).placement_group(pg).resources({{"GPU", 1}}).remote(),
               manta::UnschedulableError);
  EXPECT_THROW(manta::actor(Holder::create).placement_group(pg, 0).on_rank(ranks[1]).remote(),
               std::invalid_argument);
  EXPECT_THROW(manta::task(where).placement_group(manta::PlacementGroup{}, 0),
               std::invalid_argument);
  EXPECT_THROW(manta::remove_placement_group(manta::PlacementGroup{}), std::invalid_argument);
  EXPECT_THROW(manta::placement_group({}), std::invalid_argument);
  EXPECT_THROW(manta::placement_group({{{"CPU", -1}}}), std::invalid_argument);
  manta::remove_placement_group(pg);
}

TEST_F(PlacementGroups, AGroupPassedToATaskIsUsableThere) {
  auto pg = manta::placement_group(cpus(2, 1), PlacementStrategy::strict_spread);
  ready_or_fail(pg);
  const auto ranks = pg.bundle_ranks();
  // Runs on a rank outside the group, which learns the ranks from rank 0 and submits into it.
  int elsewhere = 0;
  while (std::find(ranks.begin(), ranks.end(), elsewhere) != ranks.end()) ++elsewhere;
  EXPECT_EQ(value(manta::task(submit_into).on_rank(elsewhere).remote(pg, 1)), ranks[1]);
  manta::remove_placement_group(pg);
}

}  // namespace

namespace {

TEST_F(PlacementGroups, MemorySummaryListsGroups) {
  auto pg = manta::placement_group(cpus(2, 1), PlacementStrategy::strict_spread, "listed");
  ready_or_fail(pg);
  const manta::MemorySummary s = manta::memory_summary();
  auto it = std::find_if(s.placement_groups.begin(), s.placement_groups.end(),
                         [&](const manta::PlacementGroupSummary& g) { return g.name == "listed"; });
  ASSERT_NE(it, s.placement_groups.end());
  EXPECT_EQ(it->id, pg.id().to_string());
  EXPECT_EQ(it->strategy, "strict_spread");
  EXPECT_EQ(it->state, "ready");
  EXPECT_EQ(it->ranks, pg.bundle_ranks());
  EXPECT_EQ(it->bundles.size(), 2u);
  EXPECT_NE(s.to_string().find("listed"), std::string::npos);
  manta::remove_placement_group(pg);
}

}  // namespace
