// GPUs on a node described by a stand-in hwloc topology (--manta-topology-xml): the node's GPUs
// are split among its ranks, each rank offers its share as the GPU resource, and tasks and
// actors get distinct devices (or share one, for fractions). Run with the 8-GPU fixture on 1, 2
// and 4 ranks of one node.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace {

constexpr int kNodeGpus = 8;  // in two_socket_8gpu.xml
constexpr auto kLimit = std::chrono::seconds(30);

int gpus_per_rank() { return kNodeGpus / manta::world_size(); }

// Tests that put two GPUs on one rank need the node's 8 over at most 4 ranks.
#define SKIP_UNLESS_TWO_GPUS_PER_RANK()                                                        \
  if (gpus_per_rank() < 2)                                                                     \
  GTEST_SKIP() << "needs 2 GPUs per rank: " << kNodeGpus << " GPUs on " << manta::world_size() \
               << " ranks"

// The node indices of the calling rank's GPUs, then its ordinals.
std::vector<int> node_indices() {
  std::vector<int> out;
  for (const auto& g : manta::rank_hardware().gpus) out.push_back(g.node_index);
  return out;
}
std::vector<int> ordinals() {
  std::vector<int> out;
  for (const auto& g : manta::rank_hardware().gpus) out.push_back(g.ordinal);
  return out;
}

// Holds its grant for `ms` and reports {rank, start µs, end µs, ids...}.
std::vector<long> hold_gpus(int ms) {
  using namespace std::chrono;
  const auto start = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
  const std::vector<int> ids = manta::gpu_ids();
  std::this_thread::sleep_for(milliseconds(ms));
  const auto end = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
  std::vector<long> out{manta::rank(), static_cast<long>(start), static_cast<long>(end)};
  for (int id : ids) out.push_back(id);
  return out;
}

std::vector<int> no_gpus_asked() { return manta::gpu_ids(); }

struct Trainer {
  static Trainer* create() { return new Trainer; }
  std::vector<int> devices() const { return manta::gpu_ids(); }
  int where() const { return manta::rank(); }
};

// Runs `n` tasks asking for `gpus` each, all at once, and returns their reports.
std::vector<std::vector<long>> run_holders(int n, double gpus, int ms) {
  std::vector<manta::ObjectRef<std::vector<long>>> refs;
  for (int i = 0; i < n; ++i) {
    refs.push_back(manta::task(hold_gpus).resources({{"CPU", 0.1}, {"GPU", gpus}}).remote(ms));
  }
  std::vector<std::vector<long>> out;
  for (auto& r : refs) out.push_back(*manta::get(r, kLimit));
  return out;
}

bool overlap(const std::vector<long>& a, const std::vector<long>& b) {
  return a[1] < b[2] && b[1] < a[2];
}

}  // namespace

MANTA_REMOTE(node_indices, ordinals, hold_gpus, no_gpus_asked, Trainer::create, &Trainer::devices,
             &Trainer::where);

TEST(Gpus, NodeGpusAreSplitAmongItsRanks) {
  std::set<int> seen;
  for (int r = 0; r < manta::world_size(); ++r) {
    const auto mine = *manta::get(manta::task(node_indices).on_rank(r).remote(), kLimit);
    EXPECT_EQ(static_cast<int>(mine.size()), gpus_per_rank()) << "rank " << r;
    for (int i : mine) EXPECT_TRUE(seen.insert(i).second) << "GPU " << i << " given twice";
    // Unbound ranks of one node get contiguous blocks, in order.
    for (std::size_t k = 0; k < mine.size(); ++k) {
      EXPECT_EQ(mine[k], r * gpus_per_rank() + static_cast<int>(k)) << "rank " << r;
    }
  }
  EXPECT_EQ(static_cast<int>(seen.size()), kNodeGpus);
  const manta::RankHardware hw = manta::rank_hardware();
  EXPECT_EQ(hw.gpu_sharers, 1);
  EXPECT_FALSE(hw.gpus.empty());
  EXPECT_EQ(hw.gpus.front().pci_bus_id.size(), 12u) << hw.gpus.front().pci_bus_id;
  EXPECT_GT(hw.gpus.front().memory_bytes, 0u);
  EXPECT_NE(manta::describe(hw).find(hw.gpus.front().pci_bus_id), std::string::npos);
}

TEST(Gpus, WholeGpuHoldersGetDistinctDevices) {
  // Every GPU of the job at once: each rank runs its share concurrently.
  const auto reports = run_holders(kNodeGpus, 1, 300);
  std::map<long, std::vector<int>> own;  // each rank's ordinals
  for (int r = 0; r < manta::world_size(); ++r) {
    const auto o = *manta::get(manta::task(ordinals).on_rank(r).remote(), kLimit);
    own[r] = o;
  }
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto& a = reports[i];
    ASSERT_EQ(a.size(), 4u) << "one GPU id per task";
    const auto& mine = own[a[0]];
    EXPECT_NE(std::find(mine.begin(), mine.end(), static_cast<int>(a[3])), mine.end())
        << "task on rank " << a[0] << " got GPU " << a[3] << ", not one of its rank's";
    for (std::size_t j = 0; j < i; ++j) {
      const auto& b = reports[j];
      if (a[0] == b[0] && overlap(a, b)) {
        EXPECT_NE(a[3], b[3]) << "two concurrent tasks on rank " << a[0] << " share GPU " << a[3];
      }
    }
  }
}

TEST(Gpus, TwoGpuTasksGetTwoDevices) {
  SKIP_UNLESS_TWO_GPUS_PER_RANK();
  const auto reports = run_holders(2, 2, 50);
  for (const auto& r : reports) {
    ASSERT_EQ(r.size(), 5u);
    EXPECT_NE(r[3], r[4]);
  }
}

TEST(Gpus, FractionsShareADevice) {
  // Four quarter-GPU tasks on one rank fit one device, and run together.
  std::vector<manta::ObjectRef<std::vector<long>>> refs;
  for (int i = 0; i < 4; ++i) {
    refs.push_back(manta::task(hold_gpus)
                       .resources({{"CPU", 0.1}, {"GPU", 0.25}})
                       .on_rank(manta::world_size() - 1)
                       .remote(300));
  }
  std::set<long> devices;
  std::vector<std::vector<long>> reports;
  for (auto& r : refs) reports.push_back(*manta::get(r, kLimit));
  for (const auto& r : reports) {
    ASSERT_EQ(r.size(), 4u);
    devices.insert(r[3]);
  }
  EXPECT_EQ(devices.size(), 1u) << "quarters pack onto one device";
  for (std::size_t i = 1; i < reports.size(); ++i) {
    EXPECT_TRUE(overlap(reports[0], reports[i])) << "quarter holders run together";
  }
}

TEST(Gpus, MoreGpusThanAnyRankHasIsUnschedulable) {
  auto ref = manta::task(hold_gpus)
                 .resources({{"CPU", 0.1}, {"GPU", static_cast<double>(gpus_per_rank() + 1)}})
                 .remote(1);
  try {
    manta::get(ref, kLimit);
    FAIL() << "a task asking for more GPUs than any rank has ran";
  } catch (const manta::UnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find("GPU"), std::string::npos) << e.what();
  }
}

TEST(Gpus, NoGpusOutsideTasksOrWhenNoneAsked) {
  EXPECT_TRUE(manta::gpu_ids().empty());
  EXPECT_TRUE(manta::get(manta::task(no_gpus_asked).remote(), kLimit)->empty());
}

TEST(Gpus, ActorsKeepTheirDevices) {
  SKIP_UNLESS_TWO_GPUS_PER_RANK();
  const int last = manta::world_size() - 1;
  auto a = manta::actor(Trainer::create).resources({{"CPU", 0}, {"GPU", 1}}).on_rank(last).remote();
  auto b = manta::actor(Trainer::create).resources({{"CPU", 0}, {"GPU", 1}}).on_rank(last).remote();
  const auto da = *manta::get(a.task(&Trainer::devices).remote(), kLimit);
  const auto db = *manta::get(b.task(&Trainer::devices).remote(), kLimit);
  ASSERT_EQ(da.size(), 1u);
  ASSERT_EQ(db.size(), 1u);
  EXPECT_NE(da, db) << "two actors holding a GPU each on one rank";
  EXPECT_EQ(*manta::get(a.task(&Trainer::devices).remote(), kLimit), da) << "stable for life";
  // While both live, a task on that rank gets none of their devices.
  if (gpus_per_rank() <= 2) {
    a.kill();
    b.kill();
    return;
  }
  const auto r = *manta::get(
      manta::task(hold_gpus).resources({{"CPU", 0.1}, {"GPU", 1}}).on_rank(last).remote(1), kLimit);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_NE(r[3], da[0]);
  EXPECT_NE(r[3], db[0]);
  a.kill();
  b.kill();
}

TEST(Gpus, BundleGpusGoToItsTasksDistinctly) {
  SKIP_UNLESS_TWO_GPUS_PER_RANK();
  // A bundle of two GPUs: its two concurrent one-GPU tasks get different devices of that rank.
  const manta::PlacementGroup pg =
      manta::placement_group({{{"CPU", 1}, {"GPU", 2}}}, manta::PlacementStrategy::strict_pack);
  ASSERT_TRUE(pg.wait(30));
  std::vector<manta::ObjectRef<std::vector<long>>> refs;
  for (int i = 0; i < 2; ++i) {
    refs.push_back(manta::task(hold_gpus)
                       .resources({{"CPU", 0.1}, {"GPU", 1}})
                       .placement_group(pg, 0)
                       .remote(200));
  }
  const auto a = *manta::get(refs[0], kLimit);
  const auto b = *manta::get(refs[1], kLimit);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(a[0], pg.bundle_ranks().at(0));
  EXPECT_EQ(a[0], b[0]);
  if (overlap(a, b)) {
    EXPECT_NE(a[3], b[3]) << "two concurrent tasks in a bundle share a GPU";
  }
  manta::remove_placement_group(pg);
}
