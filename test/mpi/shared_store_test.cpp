// The node-shared object store: ranks of one node read each other's large objects in place.
// Runs on 2 and 4 ranks of one machine, and on 4 ranks split into two "nodes" of two
// (--manta-node-size=2), where only one copy may cross to the other node. Extra runs (see
// CMakeLists.txt) try a small store, a shared memory directory too small, and a killed job.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

using Doubles = manta::Array<double>;
using DoublesRef = manta::ObjectRef<Doubles>;
constexpr std::uint64_t kCount = (std::uint64_t{64} << 20) / sizeof(double);  // 64 MiB

double value_at(std::uint64_t seed, std::size_t i) {
  return static_cast<double>((seed * 1000003 + i) % 999983);
}

Doubles make_array(std::uint64_t seed, std::uint64_t count) {
  auto a = Doubles::uninitialized(count);
  double* p = a.mutable_data();
  for (std::size_t i = 0; i < count; ++i) p[i] = value_at(seed, i);
  return a;
}

std::uint64_t mismatches(const double* p, std::size_t n, std::uint64_t seed, std::uint64_t count) {
  if (n != count) return ~0ull;
  std::uint64_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) bad += p[i] != value_at(seed, i);
  return bad;
}

/// The file a mapping of this process at `p` comes from ("" for anonymous memory).
std::string mapping_of(const void* p) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    const auto dash = range.find('-');
    const auto lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const auto hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (at >= lo && at < hi) return path + " " + perms;
  }
  return "";
}

bool in_segment(const void* p) { return mapping_of(p).find("manta-shm.") != std::string::npos; }

// ---- remote functions -----------------------------------------------------------------------

std::vector<DoublesRef>& kept() {
  static std::vector<DoublesRef> refs;
  return refs;
}
// An array this rank puts (and owns), kept until drop_kept.
DoublesRef put_kept(std::uint64_t seed, std::uint64_t count) {
  auto ref = manta::put(make_array(seed, count));
  kept().push_back(ref);
  return ref;
}
int drop_kept() {
  kept().clear();
  return 0;
}
// A vector this rank puts and keeps.
std::vector<manta::ObjectRef<std::vector<double>>>& kept_vectors() {
  static std::vector<manta::ObjectRef<std::vector<double>>> refs;
  return refs;
}
manta::ObjectRef<std::vector<double>> put_vector(std::uint64_t seed, std::uint64_t count) {
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = value_at(seed, i);
  auto ref = manta::put(v);
  kept_vectors().push_back(ref);
  return ref;
}
int drop_vectors() {
  kept_vectors().clear();
  return 0;
}
// Reads the array through a get on this rank: wrong elements, or a huge number.
std::uint64_t check_ref(DoublesRef ref, std::uint64_t seed, std::uint64_t count) {
  auto a = manta::get(ref);
  return mismatches(a->data(), a->size(), seed, count);
}
// A task argument: whether it lies in a shared segment here, and its wrong elements.
std::uint64_t check_argument(Doubles a, std::uint64_t seed, std::uint64_t count) {
  const std::uint64_t bad = mismatches(a.data(), a.size(), seed, count);
  return in_segment(a.data()) ? bad : bad + (std::uint64_t{1} << 40);
}
// Puts `n` arrays of `count` elements with other values and returns their wrong elements: the
// memory of a freed but still viewed object must not be handed out again.
std::uint64_t churn(std::uint64_t seed, std::uint64_t count, int n) {
  std::uint64_t bad = 0;
  for (int i = 0; i < n; ++i) {
    auto a = manta::get(manta::put(make_array(seed + static_cast<std::uint64_t>(i), count)));
    bad += mismatches(a->data(), a->size(), seed + static_cast<std::uint64_t>(i), count);
  }
  return bad;
}
// Puts an array into this rank's store; "ok" or the error's text.
std::string try_put(std::uint64_t seed, std::uint64_t count) {
  try {
    auto ref = manta::put(make_array(seed, count));
    kept().push_back(ref);
    return "ok";
  } catch (const manta::ObjectStoreFullError& e) {
    return e.what();
  }
}
int kill_self() {
  std::raise(SIGKILL);
  return 0;
}

MANTA_REMOTE(put_kept, drop_kept, put_vector, drop_vectors, check_ref, check_argument, churn,
             try_put, kill_self);

int world() { return manta::world_size(); }

manta::RankMemory rank_memory(int rank) { return manta::memory_summary(50).ranks.at(rank); }

/// Waits up to 10 s for `done` (a lease ends by a message to the holder).
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

bool shared_store_on() { return std::getenv("MANTA_TEST_PRIVATE_STORE") == nullptr; }

// ---- tests ----------------------------------------------------------------------------------

TEST(SharedStore, ArrayGetFromANeighbourIsAView) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  if (!shared_store_on()) GTEST_SKIP() << "the shared store is off in this run";
  DoublesRef ref = *manta::get(manta::task(put_kept).on_rank(1).remote(std::uint64_t{11}, kCount));
  const manta::RankMemory before0 = rank_memory(0), before1 = rank_memory(1);
  {
    auto a = manta::get(ref);
    EXPECT_EQ(mismatches(a->data(), a->size(), 11, kCount), 0u);
    EXPECT_TRUE(in_segment(a->data())) << mapping_of(a->data());
    EXPECT_EQ(mapping_of(a->data()).find("rw"), std::string::npos) << "views are read-only";
    const manta::RankMemory now0 = rank_memory(0), now1 = rank_memory(1);
    EXPECT_EQ(now0.bytes_fetched, before0.bytes_fetched) << "no bytes moved";
    EXPECT_EQ(now0.fetches, before0.fetches);
    EXPECT_EQ(now1.views_served, before1.views_served + 1);
    EXPECT_EQ(now1.viewed_objects, 1u);
    EXPECT_EQ(now1.viewed_bytes, kCount * sizeof(double));
    EXPECT_GE(now0.views_held, 1u);
    EXPECT_EQ(now0.bytes, before0.bytes) << "a view takes no room in the reader's store";
    EXPECT_GT(now1.shared_bytes, 0u);
    // The summary lists the object with its viewer.
    const manta::MemorySummary s = manta::memory_summary(50);
    bool holder_row = false;
    for (const auto& o : s.objects) {
      if (o.id == ref.id() && o.rank == 1) holder_row = o.viewers == 1 && o.pinned;
    }
    EXPECT_TRUE(holder_row) << s.to_string();
    EXPECT_NE(s.to_string().find("viewed here"), std::string::npos);
  }
  // The lease ends with the last value viewing the bytes, though the reference lives on.
  EXPECT_TRUE(eventually([] { return rank_memory(1).viewed_objects == 0; }))
      << "the lease did not end with the view";
  EXPECT_EQ(rank_memory(0).views_held, 0u);
  // A second get views again, and reads the same bytes.
  EXPECT_EQ(mismatches(manta::get(ref)->data(), kCount, 11, kCount), 0u);
  ref = DoublesRef();
  manta::get(manta::task(drop_kept).on_rank(1).remote());
}

TEST(SharedStore, LeaseKeepsFreedBytesUntilTheViewGoes) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  if (!shared_store_on()) GTEST_SKIP() << "the shared store is off in this run";
  DoublesRef ref = *manta::get(manta::task(put_kept).on_rank(1).remote(std::uint64_t{21}, kCount));
  Doubles view = *manta::get(ref);
  ASSERT_TRUE(in_segment(view.data()));
  // Nothing refers to the object any more: its owner frees it, but the view still reads it.
  ref = DoublesRef();
  manta::get(manta::task(drop_kept).on_rank(1).remote());
  // New objects of the same size on the holder must not reuse the viewed memory.
  EXPECT_EQ(*manta::get(manta::task(churn).on_rank(1).remote(std::uint64_t{500}, kCount, 4)), 0u);
  EXPECT_EQ(mismatches(view.data(), view.size(), 21, kCount), 0u);
  EXPECT_EQ(rank_memory(1).viewed_objects, 1u);
  view = Doubles();
  EXPECT_TRUE(eventually([] { return rank_memory(1).viewed_objects == 0; }));
}

TEST(SharedStore, WritesCopyFirstAndNeverChangeTheStoredObject) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  DoublesRef ref = *manta::get(manta::task(put_kept).on_rank(1).remote(std::uint64_t{31}, kCount));
  Doubles a = *manta::get(ref);
  EXPECT_TRUE(a.is_shared());
  const double* before = a.data();
  a[0] = -1;  // copies first: the view is read-only
  EXPECT_NE(a.data(), before);
  EXPECT_EQ(a[0], -1);
  // The stored object is unchanged, for this rank's next get and for every other rank.
  EXPECT_EQ(manta::get(ref)->operator[](0), value_at(31, 0));
  for (int r = 1; r < world(); ++r)
    EXPECT_EQ(*manta::get(manta::task(check_ref).on_rank(r).remote(ref, std::uint64_t{31}, kCount)),
              0u)
        << "rank " << r;
  ref = DoublesRef();
  manta::get(manta::task(drop_kept).on_rank(1).remote());
}

TEST(SharedStore, VectorsDecodeFromANeighbour) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  const manta::RankMemory before = rank_memory(0);
  auto ref = *manta::get(manta::task(put_vector).on_rank(1).remote(std::uint64_t{41}, kCount));
  auto v = manta::get(ref);
  EXPECT_EQ(mismatches(v->data(), v->size(), 41, kCount), 0u);
  if (shared_store_on()) {
    // (A task's small result may be fetched; the 64 MiB must not be.)
    EXPECT_LT(rank_memory(0).bytes_fetched - before.bytes_fetched, std::uint64_t{1} << 20)
        << "decoded in place";
  } else {
    const std::uint64_t fetched = rank_memory(0).bytes_fetched - before.bytes_fetched;
    EXPECT_GE(fetched, kCount * sizeof(double)) << "copied";
    EXPECT_LT(fetched, kCount * sizeof(double) + (std::uint64_t{1} << 20));
  }
  // Small vectors and empty ones too.
  for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{100000}}) {
    auto small = *manta::get(manta::task(put_vector).on_rank(1).remote(std::uint64_t{42}, n));
    auto got = manta::get(small);
    EXPECT_EQ(mismatches(got->data(), got->size(), 42, n), 0u) << n;
  }
  manta::get(manta::task(drop_vectors).on_rank(1).remote());
}

TEST(SharedStore, TaskArgumentsAreReadInPlace) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  if (!shared_store_on()) GTEST_SKIP() << "the shared store is off in this run";
  auto ref = manta::put(make_array(51, kCount));
  const manta::RankMemory before = rank_memory(0);
  for (int r = 1; r < world(); ++r) {
    EXPECT_EQ(
        *manta::get(manta::task(check_argument).on_rank(r).remote(ref, std::uint64_t{51}, kCount)),
        0u)
        << "rank " << r << " did not read its argument in place, or read it wrong";
  }
  EXPECT_EQ(rank_memory(0).views_served, before.views_served + static_cast<unsigned>(world() - 1));
  EXPECT_EQ(rank_memory(0).bytes_served, before.bytes_served) << "no copies";
}

// A view pins the holder's object: it is neither spilled nor its memory reused. Run with a
// 64 MiB store and a 2 s store-full timeout (SharedStoreSmall in CMakeLists.txt).
TEST(SharedStoreSmall, ViewsBlockSpillingUntilTheyGo) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  if (!shared_store_on()) GTEST_SKIP() << "the shared store is off in this run";
  constexpr std::uint64_t n = (std::uint64_t{36} << 20) / sizeof(double);
  DoublesRef ref = *manta::get(manta::task(put_kept).on_rank(1).remote(std::uint64_t{61}, n));
  Doubles view = *manta::get(ref);
  ASSERT_TRUE(in_segment(view.data()));
  // 36 + 36 MiB do not fit rank 1's 64 MiB store, and the viewed object may not leave.
  const std::string full =
      *manta::get(manta::task(try_put).on_rank(1).remote(std::uint64_t{62}, n));
  EXPECT_NE(full.find("pinned"), std::string::npos) << full;
  EXPECT_EQ(mismatches(view.data(), view.size(), 61, n), 0u);
  // Once the view is gone (and this rank's reference with it), the object may spill.
  view = Doubles();
  ref = DoublesRef();
  ASSERT_TRUE(eventually([] { return rank_memory(1).viewed_objects == 0; }));
  EXPECT_EQ(*manta::get(manta::task(try_put).on_rank(1).remote(std::uint64_t{63}, n)), "ok");
  EXPECT_GE(rank_memory(1).spilled_objects, 1u);
  manta::get(manta::task(drop_kept).on_rank(1).remote());
}

// A broadcast: every other rank reads one object. On one node nothing is copied; on a layout of
// nodes (--manta-node-size) one copy crosses to each other node and its ranks read that copy.
TEST(SharedStore, BroadcastMakesOneCopyPerNode) {
  if (world() < 2) GTEST_SKIP() << "needs a second rank";
  if (!shared_store_on()) GTEST_SKIP() << "the shared store is off in this run";
  const char* node_size_text = std::getenv("MANTA_TEST_NODE_SIZE");
  const int node_size = node_size_text ? std::atoi(node_size_text) : world();
  const int nodes = (world() + node_size - 1) / node_size;
  auto ref = manta::put(make_array(71, kCount));
  std::vector<manta::RankMemory> before;
  for (int r = 0; r < world(); ++r) before.push_back(rank_memory(r));
  std::vector<manta::ObjectRef<std::uint64_t>> reads;
  for (int r = 1; r < world(); ++r)
    reads.push_back(manta::task(check_ref).on_rank(r).remote(ref, std::uint64_t{71}, kCount));
  for (auto& got : manta::get(reads)) EXPECT_EQ(*got, 0u);
  std::uint64_t fetched = 0, views = 0;
  for (int r = 0; r < world(); ++r) {
    const manta::RankMemory now = rank_memory(r);
    fetched += now.bytes_fetched - before[static_cast<std::size_t>(r)].bytes_fetched;
    views += now.views_served - before[static_cast<std::size_t>(r)].views_served;
    if (r / node_size == 0) {
      EXPECT_EQ(now.bytes_fetched, before[static_cast<std::size_t>(r)].bytes_fetched)
          << "rank " << r << " is on the owner's node";
    }
  }
  EXPECT_EQ(fetched, static_cast<std::uint64_t>(nodes - 1) * kCount * sizeof(double))
      << "one copy per other node";
  EXPECT_EQ(views, static_cast<std::uint64_t>(world() - nodes)) << "every other reader views";
}

// Run by shared_store_cleanup_test.sh only: every rank makes large objects, then the job is
// killed, leaving its segments behind for the next job to remove.
TEST(SharedStoreKilled, LeavesSegmentsBehind) {
  if (std::getenv("MANTA_TEST_KILL_JOB") == nullptr) GTEST_SKIP() << "run by the cleanup test";
  std::vector<DoublesRef> refs;
  for (int r = 0; r < world(); ++r)
    refs.push_back(*manta::get(manta::task(put_kept).on_rank(r).remote(std::uint64_t{81}, kCount)));
  std::printf("segments made\n");
  std::fflush(stdout);
  for (int r = 1; r < world(); ++r) manta::task(kill_self).on_rank(r).remote();
  std::raise(SIGKILL);
}

}  // namespace
