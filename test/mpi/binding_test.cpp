// Core binding: with --manta-bind=cores each worker thread runs on one core of its rank's
// cpuset and the rank says how; with none the workers keep the whole process cpuset. The
// expected mode comes from MANTA_TEST_EXPECT_BIND (cores or none).
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

constexpr auto kLimit = std::chrono::seconds(30);

int affinity_count(int pid_or_zero) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(pid_or_zero, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

// {rank, CPUs this worker thread may run on, CPUs the rank's main thread (never bound by Manta)
// may run on, the CPU it is on}.
std::vector<int> where_am_i(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {manta::rank(), affinity_count(0), affinity_count(getpid()), sched_getcpu()};
}

std::string binding() { return manta::rank_hardware().binding; }

std::string expected() {
  const char* e = std::getenv("MANTA_TEST_EXPECT_BIND");
  return e ? e : "";
}

}  // namespace

MANTA_REMOTE(where_am_i, binding);

TEST(Binding, WorkersAreBoundAsAsked) {
  const std::string mode = expected();
  ASSERT_TRUE(mode == "cores" || mode == "none") << "set MANTA_TEST_EXPECT_BIND";
  // Two tasks at once per rank: two workers, each on its own core when bound.
  std::vector<manta::ObjectRef<std::vector<int>>> refs;
  for (int r = 0; r < manta::world_size(); ++r) {
    for (int i = 0; i < 2; ++i) refs.push_back(manta::task(where_am_i).on_rank(r).remote(200));
  }
  for (auto& ref : refs) {
    const auto w = *manta::get(ref, kLimit);
    ASSERT_GE(w[2], 1);
    if (mode == "cores") {
      EXPECT_EQ(w[1], 1) << "a bound worker on rank " << w[0] << " may run on " << w[1] << " CPUs";
    } else {
      EXPECT_EQ(w[1], w[2]) << "an unbound worker on rank " << w[0]
                            << " may run on fewer CPUs than its rank";
    }
  }
  for (int r = 0; r < manta::world_size(); ++r) {
    const std::string b = *manta::get(manta::task(binding).on_rank(r).remote(), kLimit);
    if (mode == "cores") {
      EXPECT_NE(b.find("bound"), std::string::npos) << "rank " << r << ": " << b;
    } else {
      EXPECT_EQ(b, "none") << "rank " << r;
    }
  }
}
