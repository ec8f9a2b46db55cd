// TeardownGuard: a teardown step that stalls ends the process with the job's code and names the
// step; steps that finish in time, however many, leave the process alone.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/teardown_guard.h"

namespace {

using manta::engine::TeardownGuard;
using namespace std::chrono_literals;

TEST(TeardownGuardDeathTest, StalledStepEndsTheProcessWithTheJobsCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        TeardownGuard guard(3, 200ms, 7);
        guard.step("MPI_Finalize");
        std::this_thread::sleep_for(20s);
      },
      testing::ExitedWithCode(7), "rank 3: MPI_Finalize did not finish within 200 ms");
}

TEST(TeardownGuard, StepsThatFinishInTimeLeaveTheProcessAlone) {
  const auto start = std::chrono::steady_clock::now();
  {
    TeardownGuard guard(0, 300ms, 9);
    guard.step("closing the data plane");
    std::this_thread::sleep_for(200ms);
    guard.step("MPI_Finalize");  // a new step gets the whole limit again
    std::this_thread::sleep_for(200ms);
  }
  std::this_thread::sleep_for(300ms);  // disarmed: nothing fires after the guard is gone
  EXPECT_GE(std::chrono::steady_clock::now() - start, 700ms);
}

}  // namespace
