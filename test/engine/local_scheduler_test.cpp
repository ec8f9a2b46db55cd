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
#include <optional>
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

// Spillback's view of a rank: what would start at once, and which waiting tasks may leave.
TEST(LocalScheduler, AdmissionCountsTheQueueAhead) {
  Probe p;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 4, [&](const TaskPtr& t) { p.run(t); });
  sched.start();
  EXPECT_TRUE(sched.admission(ResourceSet::cpus(1)).starts_now);  // idle
  sched.enqueue(make_task(1));  // holds one CPU until the gate opens
  ASSERT_TRUE(p.wait_until([&] { return p.started == 1; }));
  EXPECT_TRUE(sched.admission(ResourceSet::cpus(1)).starts_now);  // one CPU is still free
  sched.enqueue(make_task(2, 2));                                 // waits for both CPUs
  auto a = sched.admission(ResourceSet::cpus(1));
  EXPECT_EQ(a.queued, 1u);
  EXPECT_TRUE(a.starts_now) << "the waiting 2-CPU task does not take the free CPU";
  EXPECT_FALSE(sched.admission(ResourceSet::cpus(2)).starts_now);
  sched.enqueue(make_task(3));  // takes the free CPU
  ASSERT_TRUE(p.wait_until([&] { return p.started == 2; }));
  a = sched.admission(ResourceSet::cpus(1));
  EXPECT_FALSE(a.starts_now);
  EXPECT_EQ(a.queued, 1u);
  EXPECT_TRUE(sched.admission(ResourceSet()).starts_now);  // asks for nothing
  p.open();
  ASSERT_TRUE(p.wait_until([&] { return p.finished == 3; }));
  ASSERT_TRUE(eventually([&] { return sched.admission(ResourceSet::cpus(2)).starts_now; }));
  sched.stop();
}

TEST(LocalScheduler, DrainTimeFollowsTheRecentRunTimesPerCpu) {
  Probe p;
  LocalScheduler sched(ResourceSet::cpus(4), 1, 4, [&](const TaskPtr& t) { p.run(t); });
  // Before any task ran, tasks are of unknown length: a backlog is worth a lease.
  EXPECT_EQ(sched.drain_time(4), std::chrono::nanoseconds::max());
  EXPECT_EQ(sched.drain_time(0), std::chrono::nanoseconds(0));
  for (int i = 0; i < 200; ++i) sched.note_run_time(std::chrono::microseconds(2));
  // 1000 tasks of about 2 us on 4 CPUs: about half a millisecond.
  const auto tiny = sched.drain_time(1000);
  EXPECT_GT(tiny, std::chrono::microseconds(400));
  EXPECT_LT(tiny, std::chrono::microseconds(600));
  // One long task makes a backlog behind it worth moving at once ...
  sched.note_run_time(std::chrono::seconds(1));
  EXPECT_GT(sched.drain_time(4), std::chrono::milliseconds(50));
  // ... and long tasks take over within a few dozen runs: the mean weighs recent tasks most.
  for (int i = 0; i < 200; ++i) sched.note_run_time(std::chrono::milliseconds(8));
  EXPECT_GT(sched.drain_time(4), std::chrono::milliseconds(7));
  EXPECT_EQ(sched.drain_time(0), std::chrono::nanoseconds(0));
  // CPUs an actor holds do not drain the queue; with none left it never drains here.
  sched.reserve(ResourceSet::cpus(2));
  EXPECT_GT(sched.drain_time(4), std::chrono::milliseconds(14));
  sched.reserve(ResourceSet::cpus(2));
  EXPECT_EQ(sched.drain_time(1), std::chrono::nanoseconds::max());
  sched.release(ResourceSet::cpus(4));
  EXPECT_LT(sched.drain_time(4), std::chrono::milliseconds(9));
}

TEST(LocalScheduler, TakeWaitingTakesWhatCannotStartAndMayLeave) {
  Probe p;
  LocalScheduler sched(ResourceSet::cpus(2), 2, 4, [&](const TaskPtr& t) { p.run(t); });
  sched.start();
  sched.enqueue(make_task(1));
  sched.enqueue(make_task(2));
  ASSERT_TRUE(p.wait_until([&] { return p.started == 2; }));  // both CPUs busy
  for (std::uint64_t i = 3; i <= 5; ++i) sched.enqueue(make_task(i));
  auto pinned = [](const TaskSpec& t) { return t.id.seq != 4; };  // task 4 must stay
  auto taken = sched.take_waiting(10, pinned);
  std::set<std::uint64_t> seqs;
  for (const auto& t : taken) seqs.insert(t->id.seq);
  EXPECT_EQ(seqs, (std::set<std::uint64_t>{3, 5}));
  EXPECT_EQ(sched.queued(), 1u);
  EXPECT_TRUE(sched.take_waiting(0, pinned).empty());
  // Newest first, up to the limit.
  sched.enqueue(make_task(6));
  sched.enqueue(make_task(7));
  taken = sched.take_waiting(1, pinned);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0]->id.seq, 7u);
  // What stays runs here, each once.
  p.open();
  ASSERT_TRUE(p.wait_until([&] { return p.finished == 4; }));
  EXPECT_EQ(p.ran, (std::multiset<std::uint64_t>{1, 2, 4, 6}));
  sched.stop();
}

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

namespace {

// A recursion like fib on a small pool, each parent waiting for its children the way
// ObjectAccess::get does: run the child inline if it is still queued, else lend the CPU, help while
// the pool is full, and sleep until the child signals. Half the children arrive through another
// thread, as tasks sent from a remote rank do. No wake-up may be lost: every run must finish.
class NestedWaits {
 public:
  NestedWaits(int cpus, int max_threads)
      : sched_(ResourceSet::cpus(cpus), cpus, max_threads, [this](const TaskPtr& t) { run(t); }) {
    forwarder_ = std::thread([this] { forward(); });
    sched_.start();
  }
  ~NestedWaits() {
    {
      std::lock_guard lock(m_);
      quit_ = true;
    }
    cv_.notify_all();
    forwarder_.join();
    sched_.stop();
  }

  /// fib(n) computed by nested tasks; nullopt if some wait outlived the deadline.
  std::optional<std::int64_t> fib(int n, std::chrono::steady_clock::duration limit) {
    deadline_ = std::chrono::steady_clock::now() + limit;
    auto root = submit(n, false);
    std::unique_lock lock(m_);
    if (!cv_.wait_until(lock, deadline_, [&] { return root->done; })) return std::nullopt;
    if (stuck_) return std::nullopt;
    return root->value;
  }
  [[nodiscard]] const LocalScheduler& scheduler() const { return sched_; }

 private:
  struct Waiter {
    std::mutex m;
    std::condition_variable cv;
    bool signaled = false;
    void notify() {
      {
        std::lock_guard lock(m);
        signaled = true;
      }
      cv.notify_one();
    }
  };
  struct Node {
    int n = 0;
    std::int64_t value = 0;
    bool done = false;             // under NestedWaits::m_
    std::vector<Waiter*> waiters;  // under NestedWaits::m_
  };

  std::shared_ptr<Node> submit(int n, bool via_forwarder) {
    auto node = std::make_shared<Node>();
    node->n = n;
    auto task = make_task(next_seq_.fetch_add(1));
    std::lock_guard lock(m_);
    nodes_.emplace(task->id.seq, node);
    if (via_forwarder) {
      inbox_.push_back(task);
      cv_.notify_all();
    } else {
      sched_.enqueue(task);
    }
    node_of_task_.emplace(node.get(), task->id);
    return node;
  }

  void forward() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return quit_ || !inbox_.empty(); });
      if (quit_) return;
      auto batch = std::move(inbox_);
      inbox_.clear();
      lock.unlock();
      for (auto& t : batch) sched_.enqueue(t);
      lock.lock();
    }
  }

  void wait_for(Node& node) {
    TaskId id;
    {
      std::lock_guard lock(m_);
      id = node_of_task_.at(&node);
    }
    Waiter w;
    bool registered = false, lent = false;
    for (;;) {
      {
        std::lock_guard lock(m_);
        if (node.done) break;
        if (!registered) {
          node.waiters.push_back(&w);
          registered = true;
        }
      }
      if (sched_.run_inline(id)) continue;
      if (!lent) {
        sched_.worker_blocked(&w, [&w] { w.notify(); });
        lent = true;
      }
      if (sched_.help(&w)) continue;
      bool woke;
      {
        std::unique_lock lock(w.m);
        woke = w.cv.wait_until(lock, deadline_, [&] { return w.signaled; });
        w.signaled = false;
      }
      if (!woke) {
        std::lock_guard lock(m_);
        stuck_ = true;
        break;
      }
    }
    if (lent) sched_.worker_unblocked(&w);
    std::lock_guard lock(m_);
    std::erase(node.waiters, &w);
  }

  void run(const TaskPtr& t) {
    std::shared_ptr<Node> node;
    {
      std::lock_guard lock(m_);
      node = nodes_.at(t->id.seq);
    }
    std::int64_t value = node->n;
    if (node->n >= 2) {
      auto a = submit(node->n - 1, false);
      auto b = submit(node->n - 2, true);
      wait_for(*a);
      wait_for(*b);
      value = a->value + b->value;
    }
    std::vector<Waiter*> waiters;
    {
      std::lock_guard lock(m_);
      node->value = value;
      node->done = true;
      waiters = node->waiters;
      for (Waiter* w : waiters) w->notify();  // under m_: a waiter leaves only after taking it
    }
    cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::shared_ptr<Node>> nodes_;
  std::map<const Node*, TaskId> node_of_task_;
  std::vector<TaskPtr> inbox_;
  bool quit_ = false, stuck_ = false;
  std::atomic<std::uint64_t> next_seq_{1};
  std::chrono::steady_clock::time_point deadline_;
  LocalScheduler sched_;
  std::thread forwarder_;
};

}  // namespace

TEST(LocalScheduler, NestedWaitsNeverLoseAWakeUp) {
  // One CPU at a low thread cap forces helping; a higher cap mixes helping and new threads.
  for (const int max_threads : {2, 4, 16}) {
    for (int round = 0; round < 20; ++round) {
      NestedWaits job(1, max_threads);
      const auto value = job.fib(14, 20s);
      ASSERT_TRUE(value.has_value())
          << "fib(14) with 1 CPU and at most " << max_threads << " threads stopped making progress"
          << " (round " << round << "): " << job.scheduler().queued() << " tasks queued, "
          << job.scheduler().thread_count() << " threads";
      EXPECT_EQ(*value, 377);
    }
  }
}

namespace {

TaskPtr make_gpu_task(std::uint64_t seq, double gpus) {
  auto t = make_task(seq, 0.1);
  ResourceSet r = *t->resources;
  r.set("GPU", gpus);
  t->resources = std::make_shared<const ResourceSet>(r);
  return t;
}

/// Records each running task's granted devices while tasks hold them.
struct GpuProbe {
  std::mutex m;
  std::condition_variable cv;
  bool gate_open = false;
  int started = 0, finished = 0;
  std::multiset<int> held;  // devices held by whole-GPU tasks right now
  bool overlap = false;
  std::vector<std::vector<int>> grants;

  void run(const TaskPtr& t) {
    std::unique_lock lock(m);
    const bool whole = t->resources->get("GPU") >= 1;
    for (int id : t->gpu_ids) {
      if (whole && held.count(id)) overlap = true;
      if (whole) held.insert(id);
    }
    grants.push_back(t->gpu_ids);
    ++started;
    cv.notify_all();
    cv.wait_for(lock, kTimeout, [&] { return gate_open; });
    if (whole) {
      for (int id : t->gpu_ids) held.erase(held.find(id));
    }
    ++finished;
    cv.notify_all();
  }
  template <class Pred>
  bool wait_until(Pred pred) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, kTimeout, pred);
  }
  void open() {
    std::lock_guard lock(m);
    gate_open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST(LocalScheduler, ConcurrentGpuTasksGetDistinctDevices) {
  GpuProbe p;
  ResourceSet total = ResourceSet::cpus(8);
  total.set("GPU", 4);
  LocalScheduler sched(total, 8, 16, [&](const TaskPtr& t) { p.run(t); });
  sched.set_gpus({0, 1, 2, 3});
  sched.start();
  for (std::uint64_t i = 1; i <= 6; ++i) sched.enqueue(make_gpu_task(i, 1));
  ASSERT_TRUE(p.wait_until([&] { return p.started == 4; }));
  std::this_thread::sleep_for(50ms);
  {
    std::lock_guard lock(p.m);
    EXPECT_EQ(p.started, 4) << "only four GPUs: two tasks wait";
    EXPECT_FALSE(p.overlap);
    EXPECT_EQ(p.held, (std::multiset<int>{0, 1, 2, 3}));
  }
  p.open();
  ASSERT_TRUE(p.wait_until([&] { return p.finished == 6; }));
  EXPECT_FALSE(p.overlap);
  ASSERT_TRUE(eventually([&] {
    const auto used = sched.gpus_used();
    return std::all_of(used.begin(), used.end(), [](double u) { return u == 0; });
  }));
  sched.stop();
}

TEST(LocalScheduler, FractionalGpuTasksShareADevice) {
  GpuProbe p;
  ResourceSet total = ResourceSet::cpus(8);
  total.set("GPU", 2);
  LocalScheduler sched(total, 8, 16, [&](const TaskPtr& t) { p.run(t); });
  sched.set_gpus({0, 1});
  sched.start();
  for (std::uint64_t i = 1; i <= 4; ++i) sched.enqueue(make_gpu_task(i, 0.25));
  ASSERT_TRUE(p.wait_until([&] { return p.started == 4; }));
  {
    std::lock_guard lock(p.m);
    for (const auto& g : p.grants) EXPECT_EQ(g, std::vector<int>{0}) << "quarters pack";
  }
  sched.enqueue(make_gpu_task(5, 1));  // device 1 is whole and free
  ASSERT_TRUE(p.wait_until([&] { return p.started == 5; }));
  {
    std::lock_guard lock(p.m);
    EXPECT_EQ(p.grants.back(), std::vector<int>{1});
  }
  p.open();
  ASSERT_TRUE(p.wait_until([&] { return p.finished == 5; }));
  sched.stop();
}

TEST(LocalScheduler, BlockedGpuTaskKeepsItsDevice) {
  // A task blocked in get lends its CPU, not its GPU: a second GPU task must wait.
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> started{0};
  ResourceSet total = ResourceSet::cpus(1);
  total.set("GPU", 1);
  LocalScheduler* self = nullptr;
  LocalScheduler sched(total, 1, 4, [&](const TaskPtr& t) {
    ++started;
    if (t->id.seq == 1) {
      int key = 0;
      self->worker_blocked(&key, [] {});
      std::unique_lock lock(m);
      cv.wait_for(lock, kTimeout, [&] { return release; });
      lock.unlock();
      self->worker_unblocked(&key);
    }
  });
  self = &sched;
  sched.set_gpus({0});
  sched.start();
  sched.enqueue(make_gpu_task(1, 1));
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  sched.enqueue(make_task(2, 0.5));    // the lent CPU runs a CPU task
  sched.enqueue(make_gpu_task(3, 1));  // but not another GPU task
  ASSERT_TRUE(eventually([&] { return started.load() == 2; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(started.load(), 2);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(eventually([&] { return started.load() == 3; }));
  sched.stop();
}
