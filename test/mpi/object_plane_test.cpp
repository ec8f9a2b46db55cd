// The object plane: distributed reference counting, cached copies and broadcast, zero-copy
// arrays, memory_summary and the UCX endpoints made at start or on first use. Runs on 1, 2 and 4
// ranks, over UCX and over MPI.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

using Doubles = manta::Array<double>;
using DoublesRef = manta::ObjectRef<Doubles>;
constexpr std::size_t kMiB = 1u << 20;

double value_at(std::uint64_t seed, std::size_t i) {
  return static_cast<double>((seed * 1000003 + i) % 999983);
}

Doubles make_array(std::uint64_t seed, std::uint64_t count) {
  auto a = Doubles::uninitialized(count);
  double* p = a.mutable_data();
  for (std::size_t i = 0; i < count; ++i) p[i] = value_at(seed, i);
  return a;
}

// Elements that differ from the pattern; checks every one.
std::uint64_t mismatches(const Doubles& a, std::uint64_t seed, std::uint64_t count) {
  if (a.size() != count) return ~0ull;
  std::uint64_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) bad += a[i] != value_at(seed, i);
  return bad;
}

// Gets the array inside a task (so the executing rank borrows the ref and reads a copy the
// owner assigns) and returns the number of wrong elements.
std::uint64_t check_remote(DoublesRef ref, std::uint64_t seed, std::uint64_t count) {
  return mismatches(*manta::get(ref), seed, count);
}

std::uintptr_t address_of(Doubles a) { return reinterpret_cast<std::uintptr_t>(a.data()); }

// A holder of a reference: the actor keeps it after the driver dropped its own.
struct Keeper {
  static Keeper* create() { return new Keeper; }
  int keep(DoublesRef r) {
    kept = std::move(r);
    return 0;
  }
  std::uint64_t check(std::uint64_t seed, std::uint64_t count) {
    return mismatches(*manta::get(kept), seed, count);
  }
  int forget() {
    kept = DoublesRef();
    return 0;
  }
  DoublesRef kept;
};

// An object that holds a reference to another object.
struct Holder {
  DoublesRef inner;
  int tag = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& inner& tag;
  }
};

// Makes an object on this rank and returns it only inside another object: once the task
// ends, nothing but the Holder refers to it.
Holder make_holder(std::uint64_t seed, std::uint64_t count) {
  return Holder{manta::put(make_array(seed, count)), static_cast<int>(seed)};
}

Doubles make_remote_array(std::uint64_t seed, std::uint64_t count) {
  return make_array(seed, count);
}

// This rank's UCX endpoints: made at start, made by a first read.
std::vector<std::uint64_t> endpoint_counts() {
  const manta::RankStats s = manta::local_stats();
  return {s.endpoints_eager, s.endpoints_on_first_use};
}

MANTA_REMOTE(check_remote, address_of, Keeper::create, &Keeper::keep, &Keeper::check,
             &Keeper::forget, make_holder, make_remote_array, endpoint_counts);

int other_rank() { return manta::world_size() > 1 ? 1 : 0; }

// Polls memory_summary until `done` holds (frees travel as messages) or 30 s pass.
template <class Pred>
manta::MemorySummary summary_when(Pred done, std::size_t max_objects = 0) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    manta::MemorySummary s = manta::memory_summary(max_objects);
    if (done(s) || std::chrono::steady_clock::now() > until) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(ReferenceCounting, MemoryReturnsToBaselineAfterTenThousandObjects) {
  const auto base = summary_when([](const manta::MemorySummary&) { return true; }).total();
  const int world = manta::world_size();
  constexpr std::uint64_t kCount = kMiB / sizeof(double);
  constexpr int kObjects = 10000;
  constexpr int kBatch = 100;
  std::uint64_t bad = 0;
  for (int b = 0; b < kObjects / kBatch; ++b) {
    std::vector<DoublesRef> refs;
    for (int i = 0; i < kBatch; ++i) {
      const int n = b * kBatch + i;
      // Half are puts on the driver, half results made on every rank in turn.
      refs.push_back(n % 2 == 0 ? manta::put(Doubles(kCount, static_cast<double>(n)))
                                : manta::task(make_remote_array)
                                      .on_rank(n % world)
                                      .remote(static_cast<std::uint64_t>(n), kCount));
    }
    // Read some of them here and some on another rank, so copies exist too.
    std::vector<manta::ObjectRef<std::uint64_t>> checks;
    for (int i = 1; i < kBatch; i += 10) {
      const std::uint64_t n = b * kBatch + i;
      checks.push_back(
          manta::task(check_remote).on_rank((i / 10) % world).remote(refs[i], n, kCount));
      bad += mismatches(*manta::get(refs[i]), n, kCount);
    }
    for (auto& c : checks) bad += *manta::get(c);
  }
  EXPECT_EQ(bad, 0u);
  const auto after = summary_when([&](const manta::MemorySummary& s) {
                       return s.total().bytes == base.bytes && s.total().objects == base.objects;
                     }).total();
  EXPECT_EQ(after.bytes, base.bytes) << manta::memory_summary().to_string();
  EXPECT_EQ(after.objects, base.objects) << manta::memory_summary().to_string();
}

TEST(ReferenceCounting, BorrowedRefKeepsObjectAliveAfterOwnerDropsIt) {
  constexpr std::uint64_t kCount = 2 * kMiB / sizeof(double);
  auto keeper = manta::actor(Keeper::create).on_rank(other_rank()).remote();
  manta::ObjectId id;
  {
    DoublesRef ref = manta::put(make_array(7, kCount));
    id = ref.id();
    manta::get(keeper.task(&Keeper::keep).remote(ref));
  }  // the driver's last reference goes here
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(*manta::get(keeper.task(&Keeper::check).remote(std::uint64_t{7}, kCount)), 0u);
  auto held = manta::memory_summary(1000);
  bool present = false;
  for (const auto& o : held.objects) present |= o.id == id && o.rank == 0 && o.state == "ready";
  EXPECT_TRUE(present) << held.to_string();
  manta::get(keeper.task(&Keeper::forget).remote());
  const auto gone = summary_when(
      [&](const manta::MemorySummary& s) {
        return std::none_of(s.objects.begin(), s.objects.end(),
                            [&](const manta::ObjectSummary& o) { return o.id == id; });
      },
      1000);
  for (const auto& o : gone.objects) EXPECT_NE(o.id, id);
  keeper.kill();
}

TEST(ReferenceCounting, RefInsideObjectKeepsTargetAlive) {
  constexpr std::uint64_t kCount = kMiB / sizeof(double);
  const auto base = summary_when([](const manta::MemorySummary&) { return true; }).total();
  {
    auto holder = manta::task(make_holder).on_rank(manta::world_size() - 1).remote(11, kCount);
    std::shared_ptr<const Holder> h = manta::get(holder);
    EXPECT_EQ(h->tag, 11);
    // The task that made the inner object is long finished; only the Holder keeps it alive.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(mismatches(*manta::get(h->inner), 11, kCount), 0u);
    // Another rank can read it through the Holder's reference too.
    EXPECT_EQ(*manta::get(manta::task(check_remote).on_rank(0).remote(h->inner, 11, kCount)), 0u);
  }
  {
    // A put of references: the inner objects outlive the driver's own refs to them.
    std::vector<DoublesRef> inner;
    for (std::uint64_t i = 0; i < 3; ++i) inner.push_back(manta::put(make_array(i, 1000)));
    auto outer = manta::put(inner);
    inner.clear();
    auto got = manta::get(outer);
    for (std::uint64_t i = 0; i < 3; ++i)
      EXPECT_EQ(mismatches(*manta::get((*got)[i]), i, 1000), 0u);
  }
  const auto after = summary_when([&](const manta::MemorySummary& s) {
                       return s.total().objects == base.objects;
                     }).total();
  EXPECT_EQ(after.objects, base.objects) << manta::memory_summary().to_string();
  EXPECT_EQ(after.bytes, base.bytes);
}

TEST(Copies, SecondGetOnARankCostsNothing) {
  constexpr std::uint64_t kCount = 8 * kMiB / sizeof(double);
  auto ref = manta::task(make_remote_array).on_rank(other_rank()).remote(3, kCount);
  manta::wait(std::vector{ref}, 1);
  const auto before = manta::memory_summary(0);
  auto a = manta::get(ref);
  auto b = manta::get(ref);
  EXPECT_EQ(a.get(), b.get());  // one decoded copy shared by every get on the rank
  EXPECT_EQ(mismatches(*a, 3, kCount), 0u);
  const auto after = manta::memory_summary(0);
  EXPECT_EQ(after.ranks[0].fetches - before.ranks[0].fetches, other_rank() == 0 ? 0u : 1u);
  // The maker's primary copy served it: that is not a read from a cached copy.
  EXPECT_EQ(after.total().serves_of_copies, before.total().serves_of_copies);
  // On a rank that is neither owner nor maker, the second read uses its cached copy.
  if (manta::world_size() >= 3) {
    const auto f0 = manta::memory_summary(0).ranks[2].fetches;
    EXPECT_EQ(*manta::get(manta::task(check_remote).on_rank(2).remote(ref, 3, kCount)), 0u);
    EXPECT_EQ(*manta::get(manta::task(check_remote).on_rank(2).remote(ref, 3, kCount)), 0u);
    EXPECT_EQ(manta::memory_summary(0).ranks[2].fetches - f0, 1u);
  }
}

TEST(Copies, BroadcastIsServedFromSeveralCopies) {
  const int world = manta::world_size();
  constexpr std::uint64_t kCount = 16 * kMiB / sizeof(double);
  auto ref = manta::put(make_array(5, kCount));
  const auto before = manta::memory_summary(0).total();
  std::vector<manta::ObjectRef<std::uint64_t>> checks;
  for (int r = 1; r < world; ++r) {
    checks.push_back(manta::task(check_remote).on_rank(r).remote(ref, 5, kCount));
  }
  for (auto& c : checks) EXPECT_EQ(*manta::get(c), 0u);
  const auto after = manta::memory_summary(0).total();
  EXPECT_EQ(after.serves - before.serves, static_cast<std::uint64_t>(world - 1))
      << manta::memory_summary(0).to_string();
  if (world >= 3) {
    // Copies finished during the broadcast served some of the reads, not the owner alone.
    EXPECT_GE(after.serves_of_copies - before.serves_of_copies, 1u);
  }
}

// Up to --manta-ucx-eager-endpoints ranks (MANTA_UCX_EAGER_ENDPOINTS in a variant) every rank
// connects to all others at start; past it a rank connects to another only to read from it.
TEST(UcxEndpoints, MadeAtStartUpToTheLimitElseByTheFirstRead) {
  if (manta::local_stats().transport != "ucx") GTEST_SKIP() << "large objects move over MPI";
  const char* text = std::getenv("MANTA_UCX_EAGER_ENDPOINTS");
  const int limit = text ? std::atoi(text) : 64;
  const int world = manta::world_size();
  const auto others = static_cast<std::uint64_t>(world - 1);
  const std::uint64_t eager = world <= limit ? others : 0;

  // Rank 0 reads an object from the last rank (other tests may have connected them already).
  constexpr std::uint64_t kCount = 4 * kMiB / sizeof(double);
  auto ref = manta::task(make_remote_array).on_rank(world - 1).remote(21, kCount);
  EXPECT_EQ(mismatches(*manta::get(ref), 21, kCount), 0u);
  for (int r = 0; r < world; ++r) {
    const auto counts = *manta::get(manta::task(endpoint_counts).on_rank(r).remote());
    EXPECT_EQ(counts[0], eager) << "rank " << r;
    EXPECT_LE(counts[1], others - eager) << "rank " << r;
    if (r == 0 && world > 1 && eager == 0) {
      EXPECT_GE(counts[1], 1u) << "the read from rank " << world - 1 << " made no endpoint";
    }
  }
}

TEST(ZeroCopy, PutAdoptsAndGetViewsTheSameMemory) {
  Doubles a = make_array(1, 1 << 20);
  const double* where = a.data();
  auto ref = manta::put(a);
  auto got = manta::get(ref);
  EXPECT_EQ(got->data(), where);  // no copy on put, none on get
  // A task on the holding rank sees the same memory as its argument.
  EXPECT_EQ(*manta::get(manta::task(address_of).on_rank(0).remote(ref)),
            reinterpret_cast<std::uintptr_t>(where));
  // Writing to the array afterwards copies first: the object never changes.
  a[0] = -1;
  EXPECT_NE(a.data(), where);
  EXPECT_EQ((*manta::get(ref))[0], value_at(1, 0));
  EXPECT_EQ(mismatches(*got, 1, 1 << 20), 0u);
}

TEST(ZeroCopy, ArraysMoveBetweenRanksIntact) {
  for (std::uint64_t count : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{12345},
                              std::uint64_t{64 * kMiB / sizeof(double)}}) {
    auto ref = manta::task(make_remote_array).on_rank(manta::world_size() - 1).remote(9, count);
    EXPECT_EQ(mismatches(*manta::get(ref), 9, count), 0u) << count << " elements";
  }
}

TEST(ZeroCopy, ArrayBasics) {
  Doubles empty;
  EXPECT_TRUE(empty.empty());
  Doubles b{1.0, 2.0, 3.0};
  Doubles c = b;  // shares
  EXPECT_EQ(c.data(), b.data());
  c[1] = 5;  // copies first
  EXPECT_EQ(b[1], 2.0);
  EXPECT_EQ(c[1], 5.0);
  EXPECT_EQ(Doubles(std::vector<double>{1, 2, 3}), b);
  EXPECT_EQ(b.to_vector(), (std::vector<double>{1, 2, 3}));
  // Inside a Boost-serialized type an Array travels too.
  std::vector<Doubles> nested{b, Doubles(4, 0.5)};
  auto back = manta::get(manta::put(nested));
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0], b);
  EXPECT_EQ((*back)[1][3], 0.5);
}

TEST(MemorySummary, CountsBytesPinsAndLargestObjects) {
  auto small = manta::put(make_array(1, 1000));
  auto big = manta::put(make_array(2, 3 * kMiB / sizeof(double)));
  manta::MemorySummary s = manta::memory_summary(5);
  ASSERT_EQ(s.ranks.size(), static_cast<std::size_t>(manta::world_size()));
  EXPECT_EQ(s.ranks[0].rank, 0);
  EXPECT_GE(s.ranks[0].owned_objects, 2u);
  EXPECT_GE(s.ranks[0].bytes, 3 * kMiB + 8000);
  ASSERT_FALSE(s.objects.empty());
  EXPECT_EQ(s.objects[0].id, big.id());
  EXPECT_EQ(s.objects[0].size, 3 * kMiB);
  EXPECT_EQ(s.objects[0].role, "owned");
  EXPECT_TRUE(s.objects[0].referenced);
  for (std::size_t i = 1; i < s.objects.size(); ++i)
    EXPECT_GE(s.objects[i - 1].size, s.objects[i].size);
  EXPECT_LE(s.objects.size(), 5u);
  const auto pinned_before = s.ranks[0].pinned_bytes;
  {
    auto view = manta::get(big);  // a get view pins the object's memory
    EXPECT_GE(manta::memory_summary(0).ranks[0].pinned_bytes, pinned_before + 3 * kMiB);
  }
  EXPECT_EQ(s.ranks[0].in_use_bytes >= 3 * kMiB, true);
  const std::string text = s.to_string();
  EXPECT_NE(text.find("object store summary"), std::string::npos) << text;
  EXPECT_NE(text.find(big.id().to_string()), std::string::npos) << text;
}

}  // namespace
