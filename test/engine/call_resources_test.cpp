// LocalScheduler::acquire: the resources of one actor method call, taken from the rank's pool
// while the call runs. Waiters are served in order and keep their room from queued tasks; a
// waiter gives up when cancelled or when the scheduler stops; could_fit names what never fits.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <manta/ids.h>

#include "engine/local_scheduler.h"
#include "engine/resources.h"
#include "engine/task_spec.h"

namespace {

using manta::TaskId;
using manta::engine::LocalScheduler;
using manta::engine::ResourceSet;
using manta::engine::TaskPtr;
using manta::engine::TaskSpec;
using namespace std::chrono_literals;

constexpr auto kTimeout = 10s;
using Grant = std::optional<std::vector<int>>;

TaskPtr make_task(std::uint64_t seq, double cpus) {
  auto t = std::make_shared<TaskSpec>();
  t->id = TaskId{0, seq};
  t->resources = std::make_shared<const ResourceSet>(ResourceSet::cpus(cpus));
  return t;
}

/// Tasks that run until the test opens their gate, and which of them started.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  std::vector<std::uint64_t> started;

  void run(const TaskPtr& t) {
    std::unique_lock lock(m);
    started.push_back(t->id.seq);
    cv.notify_all();
    cv.wait_for(lock, kTimeout, [&] { return open; });
  }
  void release() {
    std::lock_guard lock(m);
    open = true;
    cv.notify_all();
  }
  bool wait_started(std::size_t n) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, kTimeout, [&] { return started.size() >= n; });
  }
  std::size_t count() {
    std::lock_guard lock(m);
    return started.size();
  }
};

TEST(CallResources, FreeResourcesAreTakenAtOnceAndGivenBack) {
  Gate gate;
  LocalScheduler sched(ResourceSet::cpus(4), 2, 8, [&](const TaskPtr& t) { gate.run(t); });
  sched.start();
  const Grant g = sched.acquire(ResourceSet::cpus(3), {});
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(g->empty()) << "no GPUs asked, none granted";
  EXPECT_EQ(sched.available(), ResourceSet::cpus(1));
  sched.give_back(ResourceSet::cpus(3), *g);
  EXPECT_EQ(sched.available(), ResourceSet::cpus(4));
  sched.stop();
}

TEST(CallResources, AWaiterKeepsItsRoomFromTasksQueuedAfterIt) {
  Gate gate;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) { gate.run(t); });
  sched.start();
  sched.enqueue(make_task(1, 1));  // holds one CPU until the gate opens
  ASSERT_TRUE(gate.wait_started(1));
  auto waiter =
      std::async(std::launch::async, [&] { return sched.acquire(ResourceSet::cpus(2), {}); });
  EXPECT_EQ(waiter.wait_for(100ms), std::future_status::timeout) << "only one CPU is free";
  // A one-CPU task fits the free CPU, but starting it would starve the waiter: it waits.
  sched.enqueue(make_task(2, 1));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(gate.count(), 1u) << "a task queued after the waiter took the waiter's room";
  gate.release();  // task 1 ends: the waiter gets both CPUs before task 2
  ASSERT_EQ(waiter.wait_for(kTimeout), std::future_status::ready);
  const Grant g = waiter.get();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(gate.count(), 1u) << "task 2 ran while the call held both CPUs";
  sched.give_back(ResourceSet::cpus(2), *g);
  ASSERT_TRUE(gate.wait_started(2));
  sched.stop();
}

TEST(CallResources, WaitersAreServedInTheOrderTheyAsked) {
  Gate gate;
  LocalScheduler sched(ResourceSet::cpus(1), 1, 4, [&](const TaskPtr& t) { gate.run(t); });
  sched.start();
  const Grant first = sched.acquire(ResourceSet::cpus(1), {});
  ASSERT_TRUE(first);
  std::mutex m;
  std::vector<int> order;
  auto ask = [&](int who) {
    const Grant g = sched.acquire(ResourceSet::cpus(1), {});
    {
      std::lock_guard lock(m);
      order.push_back(who);
    }
    sched.give_back(ResourceSet::cpus(1), *g);
  };
  std::thread a(ask, 1);
  std::this_thread::sleep_for(50ms);  // a asks first
  std::thread b(ask, 2);
  std::this_thread::sleep_for(50ms);
  sched.give_back(ResourceSet::cpus(1), *first);
  a.join();
  b.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(sched.available(), ResourceSet::cpus(1));
  sched.stop();
}

TEST(CallResources, ACancelledWaiterGivesUpAndTasksGoOn) {
  Gate gate;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) { gate.run(t); });
  sched.start();
  const Grant held = sched.acquire(ResourceSet::cpus(1), {});
  ASSERT_TRUE(held);
  std::atomic<bool> killed{false};
  auto waiter = std::async(std::launch::async, [&] {
    return sched.acquire(ResourceSet::cpus(2), [&] { return killed.load(); });
  });
  EXPECT_EQ(waiter.wait_for(100ms), std::future_status::timeout) << "only one CPU is free";
  sched.enqueue(make_task(1, 1));  // waits behind the waiter's room
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(gate.count(), 0u);
  killed = true;  // the actor was killed while its call waited
  ASSERT_EQ(waiter.wait_for(kTimeout), std::future_status::ready);
  EXPECT_FALSE(waiter.get().has_value());
  ASSERT_TRUE(gate.wait_started(1)) << "the queued task stayed blocked by a waiter that left";
  gate.release();
  sched.give_back(ResourceSet::cpus(1), *held);
  sched.stop();
}

TEST(CallResources, StopReleasesWaiters) {
  LocalScheduler sched(ResourceSet::cpus(1), 1, 4, [](const TaskPtr&) {});
  sched.start();
  const Grant held = sched.acquire(ResourceSet::cpus(1), {});
  ASSERT_TRUE(held);
  auto waiter =
      std::async(std::launch::async, [&] { return sched.acquire(ResourceSet::cpus(1), {}); });
  EXPECT_EQ(waiter.wait_for(50ms), std::future_status::timeout);
  sched.stop();
  ASSERT_EQ(waiter.wait_for(kTimeout), std::future_status::ready);
  EXPECT_FALSE(waiter.get().has_value());
  EXPECT_FALSE(sched.acquire(ResourceSet::cpus(1), {}).has_value()) << "asked after stop";
}

TEST(CallResources, GpusAreGrantedAsDistinctDevices) {
  ResourceSet total = ResourceSet::cpus(4);
  total.set("GPU", 2);
  LocalScheduler sched(total, 2, 8, [](const TaskPtr&) {});
  sched.set_gpus({0, 1});
  sched.start();
  ResourceSet one_gpu;
  one_gpu.set("GPU", 1);
  const Grant a = sched.acquire(one_gpu, {});
  const Grant b = sched.acquire(one_gpu, {});
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), 1u);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_NE(a->front(), b->front());
  EXPECT_EQ(sched.gpus_used(), (std::vector<double>{1, 1}));
  auto third = std::async(std::launch::async, [&] { return sched.acquire(one_gpu, {}); });
  EXPECT_EQ(third.wait_for(50ms), std::future_status::timeout) << "both devices are taken";
  sched.give_back(one_gpu, *a);
  ASSERT_EQ(third.wait_for(kTimeout), std::future_status::ready);
  const Grant c = third.get();
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, *a) << "the device given back is the one granted next";
  sched.give_back(one_gpu, *b);
  sched.give_back(one_gpu, *c);
  EXPECT_EQ(sched.gpus_used(), (std::vector<double>{0, 0}));
  sched.stop();
}

TEST(CallResources, CouldFitNamesWhatTheRankNeverOffers) {
  ResourceSet total = ResourceSet::cpus(2);
  total.set("slot", 1);
  LocalScheduler sched(total, 1, 4, [](const TaskPtr&) {});
  EXPECT_EQ(sched.could_fit(ResourceSet::cpus(2), {}), "");
  ResourceSet gpu;
  gpu.set("GPU", 1);
  EXPECT_EQ(sched.could_fit(gpu, {}), "1 GPU asked but this rank offers 0");
  // What the actor itself holds for its life is not there for its calls.
  EXPECT_EQ(sched.could_fit(ResourceSet::cpus(2), ResourceSet::cpus(1)),
            "2 CPU asked but this rank offers 2 of which the actor itself holds 1");
  ResourceSet slot;
  slot.set("slot", 1);
  EXPECT_EQ(sched.could_fit(slot, ResourceSet::cpus(1)), "");
  // Busy now is not never: the pool being in use changes nothing here.
  const Grant g = sched.acquire(ResourceSet::cpus(2), {});
  ASSERT_TRUE(g);
  EXPECT_EQ(sched.could_fit(ResourceSet::cpus(2), {}), "");
  sched.give_back(ResourceSet::cpus(2), *g);
}

}  // namespace
