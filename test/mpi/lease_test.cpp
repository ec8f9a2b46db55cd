// Leases across ranks (docs/leases.md): a rank past its forwarding threshold sends its tasks
// straight to ranks rank 0 lent it room on, rank 0 hears about once per lease instead of once
// per task, and a leased rank busy with its own work hands tasks back without losing any.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

int where_after(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return manta::rank();
}

struct Burst {
  std::vector<int> ranks;  // where each task ran
  std::uint64_t leased = 0, forwarded = 0, requests = 0, to_rank0 = 0;
};

// Submits `n` unplaced tasks from this rank, and reports where they ran and what this rank sent.
std::vector<std::uint64_t> burst(int n, int ms) {
  const manta::RankStats before = manta::local_stats();
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(manta::task(where_after).remote(ms));
  std::vector<std::uint64_t> out;
  for (auto& v : manta::get(refs)) out.push_back(static_cast<std::uint64_t>(*v));
  const manta::RankStats after = manta::local_stats();
  out.push_back(after.tasks_leased - before.tasks_leased);
  out.push_back(after.tasks_forwarded - before.tasks_forwarded);
  out.push_back(after.lease_requests - before.lease_requests);
  out.push_back(after.messages_to.at(0) - before.messages_to.at(0));
  return out;
}

// Keeps this rank's queue full of its own long tasks.
int occupy(int tasks, int ms) {
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < tasks; ++i) {
    refs.push_back(manta::task(where_after).on_rank(manta::rank()).remote(ms));
  }
  int here = 0;
  for (auto& v : manta::get(refs)) here += *v == manta::rank();
  return here;
}

std::uint64_t refused_here() { return manta::local_stats().tasks_refused; }

MANTA_REMOTE(where_after, burst, occupy, refused_here);

Burst run_burst(int from, int n, int ms) {
  auto v = *manta::get(manta::task(burst).on_rank(from).remote(n, ms));
  Burst b;
  b.ranks.assign(v.begin(), v.begin() + n);
  b.leased = v[static_cast<std::size_t>(n)];
  b.forwarded = v[static_cast<std::size_t>(n) + 1];
  b.requests = v[static_cast<std::size_t>(n) + 2];
  b.to_rank0 = v[static_cast<std::size_t>(n) + 3];
  return b;
}

// Rank `from` first learns that its tasks take microseconds, then submits 1000 of them at once.
Burst tiny_wave_from(int from) {
  run_burst(from, 300, 0);
  run_burst(from, 300, 0);
  return run_burst(from, 1000, 0);
}

}  // namespace

TEST(Leases, ABusyRankSendsItsTasksOnLeasesNotThroughRankZero) {
  if (manta::world_size() < 3) GTEST_SKIP() << "needs 3 ranks: a submitter and two to lease";
  constexpr int kTasks = 400;
  const Burst b = run_burst(1, kTasks, 2);
  std::set<int> used(b.ranks.begin(), b.ranks.end());
  EXPECT_GE(used.size(), 3u) << "the burst stayed on too few ranks";
  EXPECT_GT(b.leased, kTasks / 4u) << "tasks past the threshold did not go out on leases";
  EXPECT_EQ(b.forwarded, 0u) << "plain tasks still went through rank 0";
  // One request per lease (or a few, as leases end), plus load reports and renewals: far from
  // one message per task.
  EXPECT_LE(b.requests, 10u);
  EXPECT_LT(b.to_rank0, kTasks / 4u) << b.leased << " leased, " << b.requests << " requests";
}

TEST(Leases, ALeasedRankBusyWithItsOwnWorkHandsTasksBackAndNoneIsLost) {
  if (manta::world_size() < 4) GTEST_SKIP() << "needs 4 ranks";
  // Read before rank 3 gets busy: a task pinned there later would wait behind its queue.
  const std::uint64_t refused_before = *manta::get(manta::task(refused_here).on_rank(3).remote());
  // Rank 3 fills its own queue well past what rank 0 lends (--manta-lease-depth=2 here).
  auto busy = manta::task(occupy).on_rank(3).remote(60, 20);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const Burst b = run_burst(1, 200, 2);
  ASSERT_EQ(b.ranks.size(), 200u);  // every task came back with the rank it ran on
  EXPECT_EQ(*manta::get(busy), 60);
  const std::uint64_t refused =
      *manta::get(manta::task(refused_here).on_rank(3).remote()) - refused_before;
  std::map<int, int> per_rank;
  for (int r : b.ranks) ++per_rank[r];
  std::string where;
  for (auto [r, count] : per_rank)
    where += " rank " + std::to_string(r) + ": " + std::to_string(count);
  EXPECT_GT(refused, 0u) << "the busy rank queued leased tasks behind its own work;" << where
                         << "; " << b.leased << " leased";
  EXPECT_GT(b.leased, 0u);
}

TEST(Leases, IdleLeasesGoBackAndTheNextBurstGetsNewOnes) {
  if (manta::world_size() < 3) GTEST_SKIP() << "needs 3 ranks";
  const Burst first = run_burst(2, 200, 1);
  // Leases unused for ten load reports (200 ms) go back; the next burst asks again.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const Burst second = run_burst(2, 200, 1);
  EXPECT_GT(first.leased, 0u);
  EXPECT_GT(second.leased, 0u);
  EXPECT_GE(second.requests, 1u) << "the second burst used leases that should have gone back";
}

TEST(Leases, ABacklogOfTinyTasksStaysOnItsRankButLongTasksStillGoOut) {
  if (manta::world_size() < 3) GTEST_SKIP() << "needs 3 ranks";
  // 1000 tiny tasks past the threshold drain on rank 1 in a few milliseconds, sooner than a trip
  // to another rank would bring them back. (Leasing every task past the threshold here sends
  // about 40 away, two slots per rank.)
  const Burst tiny = tiny_wave_from(1);
  const auto here = std::count(tiny.ranks.begin(), tiny.ranks.end(), 1);
  EXPECT_GE(here, 990) << tiny.leased << " leased, " << tiny.forwarded << " forwarded";
  EXPECT_LE(tiny.leased, 10u);
  EXPECT_LE(tiny.requests, 1u);
  // Then tasks of 5 ms: the mean catches up as the first ones run, and the rest go out on
  // leases (the progress thread's tick moves waiting tasks onto them).
  const Burst slow = run_burst(1, 200, 5);
  std::set<int> used(slow.ranks.begin(), slow.ranks.end());
  EXPECT_GE(used.size(), 2u) << "long tasks stayed on the rank that had run tiny ones";
  EXPECT_GT(slow.leased, 20u) << slow.requests << " requests";
}

TEST(Leases, RankZeroKeepsAWaveOfTinyTasksItsTaskSubmitsButSpreadsTheDrivers) {
  if (manta::world_size() < 3) GTEST_SKIP() << "needs 3 ranks";
  // A task on rank 0 is like a task on any rank: its wave of tiny tasks drains there sooner
  // than the scheduler could move it.
  const Burst tiny = tiny_wave_from(0);
  const auto here = std::count(tiny.ranks.begin(), tiny.ranks.end(), 0);
  EXPECT_GE(here, 990) << tiny.forwarded << " placed by the global scheduler";
  EXPECT_LE(tiny.forwarded, 10u);
  // The driver's own tasks past the threshold are spread over the job, as before.
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < 1000; ++i) refs.push_back(manta::task(where_after).remote(0));
  std::set<int> used;
  for (auto& v : manta::get(refs)) used.insert(*v);
  EXPECT_GE(used.size(), 2u) << "the driver's wave stayed on rank 0";
}
