// Spillback: work that cannot start on a busy rank goes where resources are free, and a task
// blocked in get never strands the work it waits for. Run with one CPU per rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

using Clock = std::chrono::steady_clock;

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return manta::rank();
}

// Submits n tasks of 1 s from inside a task and waits for them: the distinct ranks they ran on.
int fan_out(int n) {
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(manta::task(sleep_ms).remote(1000));
  std::set<int> ranks;
  for (auto& r : manta::get(refs)) ranks.insert(*r);
  return static_cast<int>(ranks.size());
}

// Hands a ref from the driver to a task that is already running.
struct Mailbox {
  static Mailbox* create() { return new Mailbox; }
  void put(std::vector<manta::ObjectRef<int>> refs) {
    std::lock_guard lock(mutex);
    box = std::move(refs);
  }
  std::vector<manta::ObjectRef<int>> take() {
    std::lock_guard lock(mutex);
    return box.value_or(std::vector<manta::ObjectRef<int>>{});
  }
  std::mutex mutex;
  std::optional<std::vector<manta::ObjectRef<int>>> box;
};

// Waits for the driver to post a ref, then blocks in get on it.
int get_from_mailbox(manta::ActorHandle<Mailbox> mailbox) {
  for (;;) {
    auto refs = *manta::get(mailbox.task(&Mailbox::take).remote());
    if (!refs.empty()) return *manta::get(refs[0]) + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Holds a CPU of its rank for as long as it lives, and waits in get on what it is given.
struct Holder {
  static Holder* create() { return new Holder; }
  int wait_for(std::vector<manta::ObjectRef<int>> refs) { return *manta::get(refs.at(0)) + 1; }
  int ping() { return 0; }
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Lets the load reports of the previous test reach rank 0.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(200)); }

}  // namespace

MANTA_REMOTE(sleep_ms, fan_out, Mailbox::create, &Mailbox::put, &Mailbox::take, get_from_mailbox,
             Holder::create, &Holder::wait_for, &Holder::ping);

// N tasks of 1 s on N one-CPU ranks take about 1 s, not N: the busy submitter hands them on.
TEST(Spillback, OneSecondTasksRunOnePerRank) {
  settle();
  const int n = manta::world_size();
  const auto start = Clock::now();
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(manta::task(sleep_ms).remote(1000));
  std::set<int> ranks;
  for (auto& r : manta::get(refs)) ranks.insert(*r);
  const double took = seconds_since(start);
  EXPECT_EQ(ranks.size(), static_cast<std::size_t>(n)) << "tasks did not spread over the ranks";
  // Serial would be n seconds; generous for a loaded machine.
  if (n > 1) {
    EXPECT_LT(took, 1.0 + 0.5 * n) << n << " tasks of 1 s on " << n << " ranks";
  }
}

// Tasks already waiting on a busy rank other than rank 0 move when rank 0 says others are free.
TEST(Spillback, WaitingTasksOfABusyRankMoveToIdleRanks) {
  const int n = manta::world_size();
  settle();
  const auto start = Clock::now();
  const int ranks = *manta::get(manta::task(fan_out).on_rank(n - 1).remote(n));
  const double took = seconds_since(start);
  EXPECT_GE(ranks, 2);
  EXPECT_LT(took, std::min(1.0 + 0.5 * n, n - 0.4))
      << n << " nested tasks of 1 s, " << n << " ranks";
}

// Tasks of different lengths, all submitted at once: they finish in about the longest one.
TEST(Spillback, MixedLengthsFinishInTheLongest) {
  settle();
  const int n = manta::world_size();
  if (n < 4) GTEST_SKIP() << "needs 4 ranks";
  const auto start = Clock::now();
  std::vector<manta::ObjectRef<int>> refs;
  for (int ms : {1000, 2000, 1500, 500}) refs.push_back(manta::task(sleep_ms).remote(ms));
  manta::get(refs);
  EXPECT_LT(seconds_since(start), 3.5) << "2 s was the longest; 5 s is the serial time";
}

// A task blocked in get on a task queued behind it on its rank must not strand that task.
TEST(Spillback, BlockedGetDoesNotStrandTheTaskItWaitsFor) {
  settle();
  auto mailbox = manta::actor(Mailbox::create).remote();
  manta::get(mailbox.task(&Mailbox::take).remote());  // the mailbox is up
  auto waiter = manta::task(get_from_mailbox).on_rank(0).remote(mailbox);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the waiter runs
  auto awaited = manta::task(sleep_ms).remote(10);
  mailbox.task(&Mailbox::put).remote(std::vector<manta::ObjectRef<int>>{awaited});
  auto v = manta::get(waiter, std::chrono::seconds(20));
  EXPECT_GE(*v, 1);
}

// An actor holding its rank's only CPU blocks in get on a task submitted on that rank: the task
// must go to a rank with a free CPU instead of queueing behind the actor forever.
TEST(Spillback, TaskAnActorWaitsForDoesNotQueueBehindIt) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs an idle rank";
  settle();
  auto holder = manta::actor(Holder::create).on_rank(0).resources({{"CPU", 1}}).remote();
  manta::get(holder.task(&Holder::ping).remote());  // it holds the CPU now
  auto awaited = manta::task(sleep_ms).remote(10);
  auto v = manta::get(holder.task(&Holder::wait_for).remote(std::vector{awaited}),
                      std::chrono::seconds(20));
  EXPECT_GE(*v, 1);
  holder.kill();
}

// Pinned tasks stay where they are asked to run, even while other ranks are idle.
TEST(Spillback, OnRankIsNeverHandedOn) {
  settle();
  const int n = manta::world_size();
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(manta::task(sleep_ms).on_rank(n - 1).remote(200));
  for (auto& r : manta::get(refs)) EXPECT_EQ(*r, n - 1);
}

// Many short tasks from the driver: all run, spread, and each once.
TEST(Spillback, ManyShortTasksAllRun) {
  settle();
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < 400; ++i) refs.push_back(manta::task(sleep_ms).remote(2));
  std::set<int> ranks;
  for (auto& r : manta::get(refs)) ranks.insert(*r);
  EXPECT_EQ(ranks.size(), static_cast<std::size_t>(manta::world_size()));
}
