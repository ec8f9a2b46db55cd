// LocalScheduler: worker threads run queued tasks within the rank's resources; blocked workers
// lend their CPUs; stop drops the queue and joins.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <sys/resource.h>

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

TaskPtr make_task(std::uint64_t seq, double cpus = 1) {
  auto t = std::make_shared<TaskSpec>();
  t->id = TaskId{0, seq};
  t->resources = std::make_shared<const ResourceSet>(ResourceSet::cpus(cpus));
  return t;
}

/// Polls a condition that another thread makes true (for state without a notification).
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

/// What the runner saw: tasks started and finished, how many ran at once and on how many CPUs.
/// Tasks block on a gate until the test opens it.
struct Probe {
  std::mutex m;
  std::condition_variable cv;
  bool gate_open = false;
  int running = 0, max_running = 0, started = 0, finished = 0;
  double cpus_in_use = 0, max_cpus_in_use = 0;
  std::multiset<std::uint64_t> ran;

  void run(const TaskPtr& t) {
    const double cpus = t->resources->get("CPU");
    std::unique_lock lock(m);
    ++running;
    ++started;
    cpus_in_use += cpus;
    max_running = std::max(max_running, running);
    max_cpus_in_use = std::max(max_cpus_in_use, cpus_in_use);
    ran.insert(t->id.seq);
    cv.notify_all();
    cv.wait_for(lock, kTimeout, [&] { return gate_open; });
    --running;
    cpus_in_use -= cpus;
    ++finished;
    cv.notify_all();
  }
  void open() {
    {
      std::lock_guard lock(m);
      gate_open = true;
    }
    cv.notify_all();
  }
  template <class Pred>
  bool wait_until(Pred pred) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, kTimeout, pred);
  }
};

TEST(LocalScheduler, RunsEveryTaskOnce) {
  Probe p;
  p.open();
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) { p.run(t); });
  sched.start();
  constexpr int kTasks = 200;
  for (int i = 0; i < kTasks; ++i) sched.enqueue(make_task(static_cast<std::uint64_t>(i)));
  ASSERT_TRUE(p.wait_until([&] { return p.finished == kTasks; }));
  std::multiset<std::uint64_t> expected;
  for (int i = 0; i < kTasks; ++i) expected.insert(static_cast<std::uint64_t>(i));
  EXPECT_EQ(p.ran, expected);
  EXPECT_LE(p.max_running, 2);
  sched.stop();
  EXPECT_EQ(sched.load(), 0u);
  EXPECT_EQ(sched.available(), ResourceSet::cpus(2)) << "every grant was returned";
}

TEST(LocalScheduler, AtMostTwoOneCpuTasksRunAtOnce) {
  Probe p;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) { p.run(t); });
  EXPECT_EQ(sched.load(), 0u);
  EXPECT_EQ(sched.queued(), 0u);
  EXPECT_EQ(sched.total(), ResourceSet::cpus(2));
  sched.start();
  for (std::uint64_t i = 0; i < 6; ++i) sched.enqueue(make_task(i));
  ASSERT_TRUE(p.wait_until([&] { return p.running == 2; }));
  // Both CPUs are taken: the other four wait.
  EXPECT_EQ(sched.queued(), 4u);
  EXPECT_EQ(sched.load(), 6u);
  EXPECT_EQ(sched.available().get("CPU"), 0.0);
  {
    std::lock_guard lock(p.m);
    EXPECT_EQ(p.started, 2);
    // Oldest first.
    EXPECT_EQ(p.ran, (std::multiset<std::uint64_t>{0, 1}));
  }
  p.open();
  ASSERT_TRUE(p.wait_until([&] { return p.finished == 6; }));
  EXPECT_EQ(p.max_running, 2);
  EXPECT_EQ(p.max_cpus_in_use, 2.0);
  sched.stop();
  EXPECT_EQ(sched.load(), 0u);
  EXPECT_EQ(sched.queued(), 0u);
}

TEST(LocalScheduler, TwoCpuTaskWaitsUntilBothCpusAreFree) {
  std::mutex m;
  std::condition_variable cv;
  bool a_started = false, release_a = false, a_done = false, c_done = false, b_done = false;
  bool b_saw_a_done = false, b_saw_c_done = false;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) {
    std::unique_lock lock(m);
    switch (t->id.seq) {
      case 1:  // A: one CPU, held until the test releases it
        a_started = true;
        cv.notify_all();
        cv.wait_for(lock, kTimeout, [&] { return release_a; });
        a_done = true;
        break;
      case 2:  // B: both CPUs
        b_saw_a_done = a_done;
        b_saw_c_done = c_done;
        b_done = true;
        break;
      case 3:  // C: one CPU, queued after B
        c_done = true;
        break;
    }
    cv.notify_all();
  });
  sched.start();
  sched.enqueue(make_task(1, 1));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return a_started; }));
  }
  sched.enqueue(make_task(2, 2));
  EXPECT_EQ(sched.queued(), 1u);
  EXPECT_EQ(sched.load(), 2u);
  EXPECT_EQ(sched.available(), ResourceSet::cpus(1));
  // C fits in the free CPU, so it runs past B while A still holds the other one.
  sched.enqueue(make_task(3, 1));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return c_done; }));
    EXPECT_FALSE(b_done);
    EXPECT_FALSE(a_done);
    release_a = true;
    cv.notify_all();
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return b_done; }));
    EXPECT_TRUE(b_saw_a_done) << "the 2-CPU task started while a 1-CPU task held a CPU";
    EXPECT_TRUE(b_saw_c_done);
  }
  sched.stop();
}

TEST(LocalScheduler, StopJoinsRunningTasksAndDropsQueuedOnes) {
  Probe p;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) { p.run(t); });
  sched.start();
  std::vector<std::weak_ptr<TaskSpec>> tasks;
  for (std::uint64_t i = 0; i < 7; ++i) {
    TaskPtr t = make_task(i);
    tasks.push_back(t);
    sched.enqueue(std::move(t));
  }
  ASSERT_TRUE(p.wait_until([&] { return p.running == 2; }));
  std::thread stopper([&] { sched.stop(); });
  // stop() empties the queue at once, then waits for the two running tasks.
  ASSERT_TRUE(eventually([&] { return sched.queued() == 0; }));
  EXPECT_EQ(sched.load(), 2u);
  p.open();
  stopper.join();
  EXPECT_EQ(p.started, 2);
  EXPECT_EQ(p.finished, 2);
  EXPECT_EQ(sched.load(), 0u);
  EXPECT_EQ(sched.thread_count(), 0u);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    EXPECT_TRUE(tasks[i].expired()) << "task " << i << " is still referenced";
  }
  // After stop, new tasks are ignored.
  TaskPtr late = make_task(100);
  std::weak_ptr<TaskSpec> late_ref = late;
  sched.enqueue(std::move(late));
  EXPECT_TRUE(late_ref.expired());
  EXPECT_EQ(sched.queued(), 0u);
  EXPECT_EQ(p.started, 2);
  sched.stop();  // twice is fine
}

TEST(LocalScheduler, CurrentIsTheSchedulerOfTheWorkerThread) {
  std::atomic<LocalScheduler*> seen{nullptr};
  std::atomic<bool> done{false};
  LocalScheduler sched(ResourceSet::cpus(1), 1, 4, [&](const TaskPtr&) {
    seen = LocalScheduler::current();
    done = true;
  });
  sched.start();
  sched.enqueue(make_task(1));
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  EXPECT_EQ(seen.load(), &sched);
  EXPECT_EQ(LocalScheduler::current(), nullptr);
  sched.stop();
}

TEST(LocalScheduler, BlockedWorkerLendsItsCpuToANestedTask) {
  std::mutex m;
  std::condition_variable cv;
  bool child_done = false, parent_saw_child = false, parent_done = false;
  std::thread::id parent_thread, child_thread;
  LocalScheduler* self = nullptr;
  LocalScheduler sched(ResourceSet::cpus(1), 1, 4, [&](const TaskPtr& t) {
    if (t->id.seq == 1) {
      parent_thread = std::this_thread::get_id();
      self->enqueue(make_task(2));
      int key = 0;
      self->worker_blocked(&key, [] {});
      {
        std::unique_lock lock(m);
        parent_saw_child = cv.wait_for(lock, kTimeout, [&] { return child_done; });
      }
      self->worker_unblocked(&key);
      std::lock_guard lock(m);
      parent_done = true;
      cv.notify_all();
    } else {
      std::lock_guard lock(m);
      child_thread = std::this_thread::get_id();
      child_done = true;
      cv.notify_all();
    }
  });
  self = &sched;
  sched.start();
  sched.enqueue(make_task(1));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return parent_done; }));
  }
  EXPECT_TRUE(parent_saw_child) << "the nested task never ran while its parent was blocked";
  EXPECT_NE(parent_thread, child_thread);
  sched.stop();
  EXPECT_EQ(sched.available(), ResourceSet::cpus(1));
}

TEST(LocalScheduler, RunInlineRunsAQueuedTaskOnTheCallingWorker) {
  std::mutex m;
  std::map<std::uint64_t, int> runs;
  std::map<std::uint64_t, std::thread::id> threads;
  bool inline_ran = false, unknown_ran = true;
  std::atomic<bool> parent_done{false};
  LocalScheduler* self = nullptr;
  LocalScheduler sched(ResourceSet::cpus(1), 1, 4, [&](const TaskPtr& t) {
    {
      std::lock_guard lock(m);
      ++runs[t->id.seq];
      threads[t->id.seq] = std::this_thread::get_id();
    }
    if (t->id.seq == 1) {
      // The child cannot start elsewhere: this task holds the only CPU.
      self->enqueue(make_task(2));
      inline_ran = self->run_inline(TaskId{0, 2});
      unknown_ran = self->run_inline(TaskId{0, 99});
      parent_done = true;
    }
  });
  self = &sched;
  sched.start();
  EXPECT_FALSE(sched.run_inline(TaskId{0, 1})) << "only worker threads run tasks inline";
  sched.enqueue(make_task(1));
  ASSERT_TRUE(eventually([&] { return parent_done.load(); }));
  ASSERT_TRUE(eventually([&] { return sched.load() == 0; }));
  sched.stop();
  EXPECT_TRUE(inline_ran);
  EXPECT_FALSE(unknown_ran);
  std::lock_guard lock(m);
  EXPECT_EQ(runs[1], 1);
  EXPECT_EQ(runs[2], 1) << "the claimed task must not run a second time";
  EXPECT_EQ(threads[1], threads[2]);
}

TEST(LocalScheduler, BlockedWorkerHelpsWhenThePoolIsFull) {
  std::mutex m;
  std::map<std::uint64_t, std::thread::id> threads;
  bool helped = false;
  std::atomic<bool> parent_done{false};
  LocalScheduler* self = nullptr;
  // One thread and no room for more: the blocked parent must run its child itself.
  LocalScheduler sched(ResourceSet::cpus(1), 1, 1, [&](const TaskPtr& t) {
    {
      std::lock_guard lock(m);
      threads[t->id.seq] = std::this_thread::get_id();
    }
    if (t->id.seq == 1) {
      self->enqueue(make_task(2));
      int key = 0;
      self->worker_blocked(&key, [] {});
      helped = self->help(&key);
      self->worker_unblocked(&key);
      parent_done = true;
    }
  });
  self = &sched;
  sched.start();
  sched.enqueue(make_task(1));
  ASSERT_TRUE(eventually([&] { return parent_done.load(); }));
  sched.stop();
  EXPECT_EQ(sched.thread_count(), 0u);
  EXPECT_TRUE(helped);
  std::lock_guard lock(m);
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[1], threads[2]);
  EXPECT_EQ(sched.available(), ResourceSet::cpus(1));
}

}  // namespace

// A task that waits for resources must not make idle workers spin: they sleep until resources
// free up. Measured as the process's CPU time while one task holds a CPU and another waits.
TEST(LocalScheduler, WaitingTaskDoesNotKeepWorkersSpinning) {
  std::mutex m;
  std::condition_variable cv;
  bool started = false, release = false;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 8, [&](const TaskPtr& t) {
    if (t->id.seq != 1) return;
    std::unique_lock lock(m);
    started = true;
    cv.notify_all();
    cv.wait_for(lock, kTimeout, [&] { return release; });
  });
  sched.start();
  sched.enqueue(make_task(1, 1));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, kTimeout, [&] { return started; }));
  }
  sched.enqueue(make_task(2, 2));  // needs both CPUs: waits for task 1
  auto cpu = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  };
  const double cpu0 = cpu();
  std::this_thread::sleep_for(300ms);
  const double used = cpu() - cpu0;
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  EXPECT_LT(used, 0.1) << "workers used " << used << " s of CPU in 0.3 s while nothing could run";
  sched.stop();
}
