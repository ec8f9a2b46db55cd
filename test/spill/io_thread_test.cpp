// IoThread: jobs run one at a time, in order, on another thread; pending() counts queued and
// running jobs; stop() and the destructor run what was posted; later posts run inline; an idle
// thread sleeps.
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "spill/io_thread.h"

namespace {

using manta::spill::IoThread;
using namespace std::chrono_literals;

TEST(IoThread, RunsJobsInOrderOnItsOwnThread) {
  IoThread io;
  std::vector<int> order;
  std::atomic<int> running{0};
  std::atomic<bool> overlap{false};
  std::atomic<bool> on_caller{false};
  const auto caller = std::this_thread::get_id();
  for (int i = 0; i < 1000; ++i) {
    io.post([&, i] {
      if (running.fetch_add(1) != 0) overlap = true;
      if (std::this_thread::get_id() == caller) on_caller = true;
      order.push_back(i);
      running.fetch_sub(1);
    });
  }
  io.stop();
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  EXPECT_FALSE(overlap);
  EXPECT_FALSE(on_caller);
}

TEST(IoThread, PendingCountsQueuedAndRunningJobs) {
  IoThread io;
  EXPECT_EQ(io.pending(), 0u);
  std::promise<void> started;
  std::promise<void> release;
  auto go = release.get_future().share();
  io.post([&] {
    started.set_value();
    go.wait();
  });
  for (int i = 0; i < 3; ++i) io.post([] {});
  started.get_future().wait();
  EXPECT_EQ(io.pending(), 4u);
  release.set_value();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (io.pending() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(io.pending(), 0u);
}

TEST(IoThread, StopRunsWhatWasPostedThenPostsRunInline) {
  IoThread io;
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i) {
    io.post([&] {
      std::this_thread::sleep_for(100us);
      ++done;
    });
  }
  io.stop();
  EXPECT_EQ(done.load(), 100);
  EXPECT_EQ(io.pending(), 0u);
  std::thread::id ran_on;
  io.post([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  io.stop();  // twice is fine
}

TEST(IoThread, JobsPostedWhileStoppingStillRunInOrder) {
  IoThread io;
  std::mutex m;
  std::vector<int> order;
  io.post([&] {
    std::this_thread::sleep_for(20ms);
    io.post([&] {
      std::lock_guard lock(m);
      order.push_back(2);
    });
    std::lock_guard lock(m);
    order.push_back(1);
  });
  io.stop();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], 1);
  EXPECT_EQ(order[1], 2);
}

TEST(IoThread, DestructorRunsWhatWasPosted) {
  std::atomic<int> done{0};
  {
    IoThread io;
    for (int i = 0; i < 50; ++i) {
      io.post([&] {
        std::this_thread::sleep_for(200us);
        ++done;
      });
    }
  }
  EXPECT_EQ(done.load(), 50);
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST(IoThread, IdleThreadDoesNotSpin) {
  IoThread io;
  io.post([] {});
  std::this_thread::sleep_for(10ms);
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(300ms);
  EXPECT_LT(process_cpu_seconds() - before, 0.03);
}

}  // namespace
