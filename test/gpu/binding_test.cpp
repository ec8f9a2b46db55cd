// Thread placement plans on XML machines, the --manta-bind choice, and real binding here.
#include "gpu/binding.h"

#include <gtest/gtest.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "fixtures.h"

namespace {

using manta::gpu::test::fixture;

using manta::gpu::BindMode;
using manta::gpu::discover_topology;
using manta::gpu::plan_threads;
using S = std::vector<std::string>;

TEST(BindMode, ParsesTheTwoModes) {
  EXPECT_EQ(manta::gpu::parse_bind_mode("none"), BindMode::none);
  EXPECT_EQ(manta::gpu::parse_bind_mode("cores"), BindMode::cores);
}

TEST(BindMode, ErrorsNameTheOptionAndChoices) {
  for (const char* bad : {"", "core", "CORES", "sockets"}) {
    try {
      manta::gpu::parse_bind_mode(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("--manta-bind"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("'") + bad + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("none or cores"), std::string::npos) << what;
    }
  }
}

TEST(BindMode, DefaultFollowsTheLauncher) {
  const auto unbound = discover_topology(fixture("two_socket_8gpu.xml"));
  const auto bound = discover_topology(fixture("two_socket_8gpu.xml"), "0-11,24-35");
  EXPECT_EQ(manta::gpu::default_bind_mode(unbound), BindMode::none);
  EXPECT_EQ(manta::gpu::default_bind_mode(bound), BindMode::cores);
  EXPECT_EQ(manta::gpu::resolve_bind_mode("", bound), BindMode::cores);
  EXPECT_EQ(manta::gpu::resolve_bind_mode("auto", unbound), BindMode::none);
  EXPECT_EQ(manta::gpu::resolve_bind_mode("cores", unbound), BindMode::cores);
  EXPECT_THROW(manta::gpu::resolve_bind_mode("yes", unbound), std::invalid_argument);
}

TEST(PlanThreads, NoneLeavesEveryThreadAlone) {
  const auto t = discover_topology(fixture("two_socket_8gpu.xml"), "0-3");
  const auto plan = plan_threads(t, 0, 1, 3, BindMode::none);
  EXPECT_EQ(plan.workers, (S{"", "", ""}));
  EXPECT_EQ(plan.progress, "");
  EXPECT_EQ(plan.summary, "unbound");
}

TEST(PlanThreads, UnboundRanksSplitTheNodeAndUseSmtSiblingsForProgress) {
  const auto t = discover_topology(fixture("two_socket_8gpu.xml"));
  auto plan = plan_threads(t, 0, 2, 4, BindMode::cores);
  EXPECT_EQ(plan.workers, (S{"0", "1", "2", "3"}));
  EXPECT_EQ(plan.progress, "35");  // sibling of core 11, the last of rank 0's twelve
  EXPECT_EQ(plan.summary, "bound: 4 workers on PUs 0-3, progress on PU 35 (SMT sibling)");
  plan = plan_threads(t, 1, 2, 12, BindMode::cores);
  EXPECT_EQ(plan.workers.front(), "12");
  EXPECT_EQ(plan.workers.back(), "23");
  EXPECT_EQ(plan.progress, "47");
}

TEST(PlanThreads, LauncherCpusetWinsOverTheLocalRank) {
  const auto t = discover_topology(fixture("two_socket_8gpu.xml"), "12-23,36-47");
  const auto plan = plan_threads(t, 0, 2, 2, BindMode::cores);
  EXPECT_EQ(plan.workers, (S{"12", "13"}));
  EXPECT_EQ(plan.progress, "47");
}

TEST(PlanThreads, WithoutSmtProgressTakesTheLastCoreWhenOneIsSpare) {
  const auto t = discover_topology(fixture("four_gpu_mig.xml"));  // 16 cores, 1 PU each
  auto plan = plan_threads(t, 0, 1, 4, BindMode::cores);
  EXPECT_EQ(plan.workers, (S{"0", "1", "2", "3"}));
  EXPECT_EQ(plan.progress, "15");
  EXPECT_EQ(plan.summary, "bound: 4 workers on PUs 0-3, progress on PU 15 (own core)");
  plan = plan_threads(t, 1, 2, 7, BindMode::cores);  // cores 8-15: 7 workers leave 15 free
  EXPECT_EQ(plan.workers.front(), "8");
  EXPECT_EQ(plan.workers.back(), "14");
  EXPECT_EQ(plan.progress, "15");
}

TEST(PlanThreads, WithoutSmtAndNoSpareCoreProgressFloatsOverTheRanksCores) {
  const auto t = discover_topology(fixture("four_gpu_mig.xml"));
  const auto plan = plan_threads(t, 1, 2, 10, BindMode::cores);  // 10 workers on 8 cores
  ASSERT_EQ(plan.workers.size(), 10u);
  EXPECT_EQ(plan.workers[7], "15");
  EXPECT_EQ(plan.workers[8], "8");  // round-robin
  EXPECT_EQ(plan.progress, "8-15");
  EXPECT_NE(plan.summary.find("round-robin"), std::string::npos) << plan.summary;
  EXPECT_NE(plan.summary.find("floating over PUs 8-15"), std::string::npos) << plan.summary;
}

TEST(PlanThreads, OneCoreIsShared) {
  const auto one_pu = discover_topology(fixture("four_gpu_mig.xml"), "6");
  auto plan = plan_threads(one_pu, 0, 1, 2, BindMode::cores);
  EXPECT_EQ(plan.workers, (S{"6", "6"}));
  EXPECT_EQ(plan.progress, "6");
  EXPECT_EQ(plan.summary,
            "bound: 2 workers on PU 6 (round-robin), progress shares PU 6 (one core)");
  const auto smt_core = discover_topology(fixture("two_socket_8gpu.xml"), "3,27");
  plan = plan_threads(smt_core, 0, 1, 1, BindMode::cores);
  EXPECT_EQ(plan.workers, S{"3"});
  EXPECT_EQ(plan.progress, "27");
}

TEST(PlanThreads, MoreRanksThanCoresWrapAround) {
  const auto t = discover_topology(fixture("no_gpu.xml"));  // 4 cores x 2 PUs
  const auto plan = plan_threads(t, 5, 8, 1, BindMode::cores);
  EXPECT_EQ(plan.workers, S{"1"});  // rank 5 of 8 on core 5 % 4
  EXPECT_EQ(plan.progress, "5");
}

TEST(PlanThreads, NoWorkers) {
  const auto t = discover_topology(fixture("no_gpu.xml"));
  const auto plan = plan_threads(t, 0, 1, 0, BindMode::cores);
  EXPECT_TRUE(plan.workers.empty());
  EXPECT_EQ(plan.progress, "7");
  EXPECT_EQ(plan.summary, "bound: no workers, progress on PU 7 (SMT sibling)");
}

TEST(BindCurrentThread, BindsToTheFirstAllowedPu) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  int first = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) first = cpu;
  }
  ASSERT_GE(first, 0);
  bool bound = false;
  std::string error;
  int ran_on = -1;
  int allowed_after = -1;
  std::thread([&] {
    bound = manta::gpu::bind_current_thread(std::to_string(first), &error);
    if (!bound) return;
    cpu_set_t now;
    CPU_ZERO(&now);
    pthread_getaffinity_np(pthread_self(), sizeof(now), &now);
    allowed_after = CPU_COUNT(&now);
    ran_on = sched_getcpu();
  }).join();
  if (!bound) GTEST_SKIP() << "this process cannot bind threads here: " << error;
  EXPECT_EQ(allowed_after, 1);
  EXPECT_EQ(ran_on, first);
}

TEST(BindCurrentThread, EmptyLeavesItAndGarbageFails) {
  std::string error;
  EXPECT_TRUE(manta::gpu::bind_current_thread("", &error));
  EXPECT_FALSE(manta::gpu::bind_current_thread("first", &error));
  EXPECT_NE(error.find("bad cpuset 'first'"), std::string::npos) << error;
}

TEST(BindMemory, BindsAnAreaBeforeFirstTouch) {
  const std::size_t len = 1 << 20;
  void* area = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(area, MAP_FAILED);
  manta::gpu::bind_memory_to_numa(area, len, -1);       // no-op
  manta::gpu::bind_memory_to_numa(area, len, 1 << 20);  // no such node: no-op
  manta::gpu::bind_memory_to_numa(area, len, 0);
  static_cast<char*>(area)[0] = 1;
  hwloc_topology_t topo;
  hwloc_topology_init(&topo);
  hwloc_topology_load(topo);
  hwloc_bitmap_t nodes = hwloc_bitmap_alloc();
  hwloc_membind_policy_t policy;
  if (hwloc_get_area_membind(topo, area, len, nodes, &policy, HWLOC_MEMBIND_BYNODESET) == 0 &&
      policy == HWLOC_MEMBIND_BIND) {
    EXPECT_TRUE(hwloc_bitmap_isset(nodes, 0));
  }
  hwloc_bitmap_free(nodes);
  hwloc_topology_destroy(topo);
  munmap(area, len);
}

}  // namespace
