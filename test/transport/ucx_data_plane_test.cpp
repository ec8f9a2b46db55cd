// UcxDataPlane on 1, 2 and 4 ranks, used directly with MPI collectives (no channel): whole and
// partial reads of other ranks' exposed memory in many chunks, odd sizes, concurrent reads from
// every rank, malformed descriptors, reference-counted exposure, reads from this rank, and
// shutting down with reads in flight. Endpoints made at start up to the size limit and on first
// use past it, also from threads racing to read from one peer first. With
// MANTA_TEST_UCX_EAGER_ENDPOINTS set, every plane a test opens by default uses that limit (0: all
// the tests above read through endpoints made on first use).
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "transport/ucx_data_plane.h"

namespace manta::transport::testing {
namespace {

using UcxDataPlaneTest = TransportTest;
using Clock = std::chrono::steady_clock;

/// What one read's `done` reported.
struct Outcome {
  int calls = 0;
  std::string error;
  bool in_get = false;
  bool ran_inside_get = false;
};

/// The eager endpoint limit of planes opened without one: the environment's, else the default.
int default_eager_limit() {
  const char* text = std::getenv("MANTA_TEST_UCX_EAGER_ENDPOINTS");
  return text ? std::atoi(text) : UcxDataPlane::Options{}.eager_endpoints;
}

/// A data plane on `comm` with exactly these options; a failed test (on every rank) if UCX is
/// unavailable.
std::unique_ptr<UcxDataPlane> open_exact(MPI_Comm comm, UcxDataPlane::Options options) {
  std::string why;
  auto plane = UcxDataPlane::create(comm, options, &why);
  EXPECT_TRUE(plane) << why;
  return plane;
}

/// As open_exact, with the eager endpoint limit of default_eager_limit().
std::unique_ptr<UcxDataPlane> open_plane(MPI_Comm comm, UcxDataPlane::Options options) {
  options.eager_endpoints = default_eager_limit();
  return open_exact(comm, options);
}

/// Starts a read whose outcome lands in `o`, noting a `done` that runs inside get itself.
void start_get(UcxDataPlane& plane, int peer, std::span<const std::byte> descriptor,
               std::byte* dest, std::size_t size, Outcome& o) {
  o.in_get = true;
  plane.get(peer, descriptor, dest, size, [&o](std::string error) {
    ++o.calls;
    o.error = std::move(error);
    if (o.in_get) o.ran_inside_get = true;
  });
  o.in_get = false;
}

/// Calls progress() until pred(); false after kWaitLimit.
template <class Pred>
bool progress_until(UcxDataPlane& plane, Pred pred) {
  const auto deadline = Clock::now() + kWaitLimit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    if (!plane.progress()) std::this_thread::yield();
  }
  return true;
}

/// A barrier during which this rank keeps progressing, so that peers still reading from it
/// over a transport that emulates RMA with messages can finish. False after kWaitLimit.
bool progress_barrier(UcxDataPlane& plane, MPI_Comm comm) {
  MPI_Request request;
  MPI_Ibarrier(comm, &request);
  int done = 0;
  const bool ok = progress_until(plane, [&] {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    return done != 0;
  });
  EXPECT_TRUE(ok) << "the barrier timed out";
  return ok;
}

/// Exposes `data`, then every rank's descriptor, in rank order.
std::vector<Buffer> expose_everywhere(UcxDataPlane& plane, MPI_Comm comm, const Buffer& data,
                                      std::uint64_t& handle) {
  Buffer descriptor;
  handle = plane.expose(data.data(), data.size(), descriptor);
  return allgather_bytes(comm, descriptor.span());
}

/// Every byte of `data` follows the pattern with `seed`.
void expect_pattern(std::uint64_t seed, std::span<const std::byte> data, const std::string& what) {
  const auto bad = pattern_mismatch(seed, data);
  EXPECT_FALSE(bad) << what << ": byte " << *bad << " of " << data.size() << " differs";
}

void expect_success(const Outcome& o, const std::string& what) {
  EXPECT_EQ(o.calls, 1) << what;
  EXPECT_EQ(o.error, "") << what;
  EXPECT_FALSE(o.ran_inside_get) << what;
}

/// Reads `size` bytes from `peer` through its descriptor: one call, no error, `seed`'s pattern.
void expect_read(UcxDataPlane& plane, int peer, std::span<const std::byte> descriptor,
                 std::size_t size, std::uint64_t seed, const std::string& what) {
  Buffer dest(size);
  Outcome o;
  start_get(plane, peer, descriptor, dest.data(), size, o);
  EXPECT_TRUE(progress_until(plane, [&] { return o.calls > 0; }));
  expect_success(o, what);
  expect_pattern(seed, dest.span(), what);
}

TEST_F(UcxDataPlaneTest, CreateSucceedsOnEveryRank) {
  auto plane = open_plane(comm_, {});
  ASSERT_TRUE(plane);
  EXPECT_EQ(plane->rank(), rank_);
  EXPECT_EQ(plane->size(), size_);
  EXPECT_FALSE(plane->busy());
  EXPECT_EQ(plane->transports(rank_), "memcpy");
  const bool eager = size_ <= default_eager_limit();
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    // Asking does not connect: past the limit there is nothing to describe before a read.
    EXPECT_EQ(plane->transports(r).empty(), !eager) << "transports to rank " << r;
    EXPECT_EQ(plane->connected(r), eager) << "rank " << r;
  }
  EXPECT_FALSE(plane->connected(rank_));
  EXPECT_EQ(plane->transports(-1), "");
  EXPECT_EQ(plane->transports(size_), "");
  // Connecting may leave a little to do; then an idle plane says it has nothing to do.
  int rounds = 0;
  while (plane->progress() && rounds < 1000) ++rounds;
  EXPECT_LT(rounds, 1000) << "an idle plane keeps reporting work";
}

TEST_F(UcxDataPlaneTest, InvalidOptionsFailOnEveryRank) {
  // Only the last rank gets bad options: all ranks must still agree that there is no plane.
  UcxDataPlane::Options options;
  if (rank_ == size_ - 1) options.chunks_in_flight = 0;
  std::string why;
  auto plane = UcxDataPlane::create(comm_, options, &why);
  EXPECT_FALSE(plane);
  EXPECT_NE(why, "");
}

TEST_F(UcxDataPlaneTest, ReadsTheRightNeighboursWholeRegionInManyChunks) {
  auto plane = open_plane(comm_, {.chunk_size = std::size_t{1} << 20, .chunks_in_flight = 4});
  ASSERT_TRUE(plane);
  constexpr std::size_t kSize = std::size_t{64} << 20;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_), kSize);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);
  const int right = (rank_ + 1) % size_;

  Buffer dest(kSize);
  std::memset(dest.data(), 0, kSize);
  Outcome o;
  start_get(*plane, right, descriptors[static_cast<std::size_t>(right)].span(), dest.data(), kSize,
            o);
  EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; })) << "the read timed out";
  EXPECT_FALSE(plane->busy());
  expect_success(o, "64 MiB from rank " + std::to_string(right));
  expect_pattern(static_cast<std::uint64_t>(right), dest.span(), "64 MiB read");

  progress_barrier(*plane, comm_);
  EXPECT_EQ(o.calls, 1) << "done ran more than once";
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, OddSizesReadPrefixesOfARegion) {
  auto plane = open_plane(comm_, {.chunk_size = 1024, .chunks_in_flight = 3});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = (std::size_t{3} << 20) + 5;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 100, kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);

  constexpr std::size_t kGuard = 64;
  constexpr auto kSentinel = std::byte{0xab};
  const std::vector<std::size_t> sizes{0, 1, 4096 + 3, kRegion};
  for (const int peer : {(rank_ + 1) % size_, (rank_ + size_ - 1) % size_}) {
    for (const std::size_t n : sizes) {
      const std::string what = std::to_string(n) + " bytes from rank " + std::to_string(peer);
      Buffer dest(n + kGuard);
      std::memset(dest.data(), static_cast<int>(kSentinel), dest.size());
      Outcome o;
      // Nothing may be written for an empty read, so it needs no destination at all.
      start_get(*plane, peer, descriptors[static_cast<std::size_t>(peer)].span(),
                n ? dest.data() : nullptr, n, o);
      EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; })) << what << " timed out";
      expect_success(o, what);
      expect_pattern(static_cast<std::uint64_t>(peer) + 100, {dest.data(), n}, what);
      for (std::size_t i = n; i < dest.size(); ++i) {
        ASSERT_EQ(dest.data()[i], kSentinel) << what << ": wrote past the end at " << i;
      }
    }
  }
  progress_barrier(*plane, comm_);
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, ConcurrentReadsFromEveryRank) {
  auto plane = open_plane(comm_, {.chunk_size = std::size_t{256} << 10, .chunks_in_flight = 4});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = (std::size_t{8} << 20) + 12345;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 7, kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);

  // Two reads of different lengths from every rank (this one included), all started before
  // any progress, so their chunks interleave.
  struct Job {
    int peer;
    std::size_t size;
    Buffer dest;
    Outcome o;
  };
  std::vector<std::unique_ptr<Job>> jobs;
  for (int peer = 0; peer < size_; ++peer) {
    for (const std::size_t n : {kRegion, kRegion / 2 + 1}) {
      auto job = std::make_unique<Job>(Job{peer, n, Buffer(n), {}});
      start_get(*plane, peer, descriptors[static_cast<std::size_t>(peer)].span(), job->dest.data(),
                n, job->o);
      jobs.push_back(std::move(job));
    }
  }
  EXPECT_TRUE(plane->busy());
  EXPECT_TRUE(progress_until(*plane, [&] { return !plane->busy(); })) << "the reads timed out";
  for (const auto& job : jobs) {
    const std::string what =
        std::to_string(job->size) + " bytes from rank " + std::to_string(job->peer);
    expect_success(job->o, what);
    expect_pattern(static_cast<std::uint64_t>(job->peer) + 7, job->dest.span(), what);
  }
  progress_barrier(*plane, comm_);
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, MalformedDescriptorsGiveAnErrorThroughDone) {
  auto plane = open_plane(comm_, {});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = 100000;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_), kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);
  const int right = (rank_ + 1) % size_;
  const auto good = descriptors[static_cast<std::size_t>(right)].span();

  // This rank's own descriptor, moved to a range that was never exposed.
  Buffer moved(descriptors[static_cast<std::size_t>(rank_)].data(),
               descriptors[static_cast<std::size_t>(rank_)].size());
  std::uint64_t address = 0;
  std::memcpy(&address, moved.data(), 8);
  address += 8;
  std::memcpy(moved.data(), &address, 8);

  const auto copy = [](std::span<const std::byte> b, std::size_t extra = 0) {
    Buffer out(b.size() + extra);
    if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
    if (extra) std::memset(out.data() + b.size(), 0, extra);
    return out;
  };
  struct Case {
    std::string what;
    int peer;
    Buffer descriptor;
    std::size_t size;
  };
  std::vector<Case> cases;
  cases.push_back({"an empty descriptor", right, Buffer(), 10});
  cases.push_back({"a truncated header", right, copy(good.first(10)), 10});
  cases.push_back({"a truncated key", right, copy(good.first(good.size() - 1)), 10});
  cases.push_back({"trailing bytes", right, copy(good, 1), 10});
  cases.push_back({"more than the region", right, copy(good), kRegion + 1});
  cases.push_back({"a rank below 0", -1, copy(good), 10});
  cases.push_back({"a rank past the last", size_, copy(good), 10});
  cases.push_back({"a range of this rank that is not exposed", rank_, std::move(moved), 10});
  Buffer dest(kRegion + 1);
  for (const Case& c : cases) {
    Outcome o;
    start_get(*plane, c.peer, c.descriptor.span(), dest.data(), c.size, o);
    EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; })) << c.what << " timed out";
    EXPECT_EQ(o.calls, 1) << c.what;
    EXPECT_FALSE(o.ran_inside_get) << c.what;
    EXPECT_NE(o.error, "") << c.what << " was accepted";
    EXPECT_NE(o.error.find("rank " + std::to_string(c.peer)), std::string::npos)
        << c.what << ": the error does not name the peer: " << o.error;
  }
  EXPECT_FALSE(plane->busy());

  // The plane still works after all that.
  Outcome o;
  start_get(*plane, right, good, dest.data(), kRegion, o);
  EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; }));
  expect_success(o, "a good read after bad ones");
  expect_pattern(static_cast<std::uint64_t>(right), {dest.data(), kRegion}, "good read");
  progress_barrier(*plane, comm_);
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, ExposingARangeTwiceNeedsTwoUnexposes) {
  auto plane = open_plane(comm_, {.chunk_size = std::size_t{64} << 10, .chunks_in_flight = 2});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = std::size_t{1} << 20;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 3, kRegion);
  Buffer first, second;
  const std::uint64_t h1 = plane->expose(mine.data(), kRegion, first);
  const std::uint64_t h2 = plane->expose(mine.data(), kRegion, second);
  EXPECT_EQ(h1, h2) << "the second expose reuses the registration";
  ASSERT_EQ(first.size(), second.size());
  EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size()), 0);
  plane->unexpose(h1);

  // Still exposed once: readable from the right neighbour and from this rank.
  const auto descriptors = allgather_bytes(comm_, second.span());
  const int right = (rank_ + 1) % size_;
  for (const int peer : {right, rank_}) {
    expect_read(*plane, peer, descriptors[static_cast<std::size_t>(peer)].span(), kRegion,
                static_cast<std::uint64_t>(peer) + 3,
                "after one unexpose, from rank " + std::to_string(peer));
  }
  progress_barrier(*plane, comm_);

  // Gone after the second: this rank refuses to read it.
  plane->unexpose(h2);
  Buffer dest(kRegion);
  Outcome o;
  start_get(*plane, rank_, second.span(), dest.data(), kRegion, o);
  EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; }));
  EXPECT_NE(o.error, "") << "a read of an unexposed range of this rank was accepted";
  plane->unexpose(h2);  // unknown by now: ignored
}

TEST_F(UcxDataPlaneTest, ReadsFromThisRank) {
  auto plane = open_plane(comm_, {.chunk_size = 4096, .chunks_in_flight = 2});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = (std::size_t{5} << 20) + 1;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 11, kRegion);
  Buffer descriptor;
  const std::uint64_t handle = plane->expose(mine.data(), kRegion, descriptor);
  for (const std::size_t n : {kRegion, std::size_t{4099}, std::size_t{1}}) {
    Buffer dest(n);
    Outcome o;
    start_get(*plane, rank_, descriptor.span(), dest.data(), n, o);
    EXPECT_EQ(o.calls, 0) << "done runs from progress, not from get";
    EXPECT_TRUE(plane->busy());
    EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; }));
    expect_success(o, std::to_string(n) + " bytes from this rank");
    expect_pattern(static_cast<std::uint64_t>(rank_) + 11, dest.span(), "read from this rank");
  }
  // An empty range: no registration, handle 0, and an empty read of it works.
  Buffer empty_descriptor;
  EXPECT_EQ(plane->expose(mine.data(), 0, empty_descriptor), 0u);
  Outcome o;
  start_get(*plane, rank_, empty_descriptor.span(), nullptr, 0, o);
  EXPECT_TRUE(progress_until(*plane, [&] { return o.calls > 0; }));
  expect_success(o, "an empty read");
  plane->unexpose(0);
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, DestroyingWithReadsInFlightRunsTheirDone) {
  auto plane = open_plane(comm_, {.chunk_size = 4096, .chunks_in_flight = 1});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = std::size_t{4} << 20;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_), kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);
  // Each rank reads from one that goes after it (the last from itself), so whoever it waits
  // for while shutting down is still there to answer.
  const int from = rank_ + 1 < size_ ? rank_ + 1 : rank_;
  Buffer dest(kRegion);
  Outcome o;
  start_get(*plane, from, descriptors[static_cast<std::size_t>(from)].span(), dest.data(), kRegion,
            o);
  // No progress: most chunks are still to be posted when the plane goes. The ranks go in
  // turn while the others keep progressing.
  for (int turn = 0; turn < size_; ++turn) {
    if (turn == rank_) plane.reset();
    if (plane) {
      progress_barrier(*plane, comm_);
    } else {
      MPI_Request request;  // the same kind of barrier as progress_barrier's, so they match
      MPI_Ibarrier(comm_, &request);
      MPI_Wait(&request, MPI_STATUS_IGNORE);
    }
  }
  EXPECT_EQ(o.calls, 1);
  EXPECT_FALSE(o.ran_inside_get);
  if (!o.error.empty()) {
    EXPECT_NE(o.error.find("rank " + std::to_string(from)), std::string::npos) << o.error;
  }
}

TEST_F(UcxDataPlaneTest, ANegativeEagerLimitFailsOnEveryRank) {
  UcxDataPlane::Options options;
  if (rank_ == 0) options.eager_endpoints = -1;
  std::string why;
  auto plane = UcxDataPlane::create(comm_, options, &why);
  EXPECT_FALSE(plane);
  EXPECT_NE(why, "");
}

TEST_F(UcxDataPlaneTest, UpToTheLimitEveryEndpointIsMadeAtStart) {
  // A limit of exactly the job's size still connects at start.
  auto plane = open_exact(comm_, {.chunk_size = std::size_t{64} << 10, .eager_endpoints = size_});
  ASSERT_TRUE(plane);
  const auto made = static_cast<std::uint64_t>(size_ - 1);
  EXPECT_EQ(plane->stats().endpoints_eager, made);
  EXPECT_EQ(plane->stats().endpoints_on_first_use, 0u);
  for (int r = 0; r < size_; ++r) EXPECT_EQ(plane->connected(r), r != rank_) << "rank " << r;

  constexpr std::size_t kRegion = (std::size_t{1} << 20) + 17;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 41, kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);
  for (int peer = 0; peer < size_; ++peer) {
    expect_read(*plane, peer, descriptors[static_cast<std::size_t>(peer)].span(), kRegion,
                static_cast<std::uint64_t>(peer) + 41,
                "eager read from rank " + std::to_string(peer));
  }
  EXPECT_EQ(plane->stats().endpoints_eager, made);
  EXPECT_EQ(plane->stats().endpoints_on_first_use, 0u) << "reads made endpoints of their own";
  progress_barrier(*plane, comm_);
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, PastTheLimitTheFirstReadFromAPeerMakesItsEndpoint) {
  // One rank below the job's size: nothing is connected at start.
  auto plane =
      open_exact(comm_, {.chunk_size = std::size_t{64} << 10, .eager_endpoints = size_ - 1});
  ASSERT_TRUE(plane);
  const UcxDataPlane::Stats start = plane->stats();
  EXPECT_EQ(start.endpoints_eager, 0u);
  EXPECT_EQ(start.endpoints_on_first_use, 0u);
  EXPECT_GT(start.address_bytes, 0u) << "the addresses for later endpoints were not kept";
  for (int r = 0; r < size_; ++r) EXPECT_FALSE(plane->connected(r)) << "rank " << r;
  if (rank_ == 0) {
    std::printf("worker addresses kept per rank: %llu bytes for %d ranks\n",
                static_cast<unsigned long long>(start.address_bytes), size_);
  }

  constexpr std::size_t kRegion = (std::size_t{2} << 20) + 3;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 51, kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);
  const auto read_from = [&](int peer) {
    expect_read(*plane, peer, descriptors[static_cast<std::size_t>(peer)].span(), kRegion,
                static_cast<std::uint64_t>(peer) + 51, "read from rank " + std::to_string(peer));
  };

  // From the right neighbour: one endpoint, to it alone. The left neighbour reads from this
  // rank meanwhile, which needs no endpoint here.
  const int right = (rank_ + 1) % size_;
  const int left = (rank_ + size_ - 1) % size_;
  read_from(right);
  read_from(right);  // the second read reuses it
  progress_barrier(*plane, comm_);
  const std::uint64_t one = size_ > 1 ? 1 : 0;
  EXPECT_EQ(plane->stats().endpoints_on_first_use, one);
  EXPECT_EQ(plane->stats().endpoints_eager, 0u);
  for (int r = 0; r < size_; ++r) {
    EXPECT_EQ(plane->connected(r), r == right && r != rank_) << "rank " << r;
  }
  if (left != right) {
    EXPECT_TRUE(plane->transports(left).empty()) << "serving a read made an endpoint";
  }
  if (right != rank_) {
    EXPECT_FALSE(plane->transports(right).empty()) << "no transport to rank " << right;
  }

  // From every rank: one endpoint per other rank in all, and the data still right.
  for (int peer = 0; peer < size_; ++peer) read_from(peer);
  progress_barrier(*plane, comm_);
  EXPECT_EQ(plane->stats().endpoints_on_first_use, static_cast<std::uint64_t>(size_ - 1));
  for (int r = 0; r < size_; ++r) EXPECT_EQ(plane->connected(r), r != rank_) << "rank " << r;
  plane->unexpose(handle);
}

TEST_F(UcxDataPlaneTest, ThreadsRacingToReadFromAPeerFirstMakeOneEndpoint) {
  auto plane = open_exact(
      comm_, {.chunk_size = std::size_t{16} << 10, .chunks_in_flight = 2, .eager_endpoints = 0});
  ASSERT_TRUE(plane);
  constexpr std::size_t kRegion = std::size_t{1} << 20;
  const Buffer mine = make_pattern(static_cast<std::uint64_t>(rank_) + 61, kRegion);
  std::uint64_t handle = 0;
  const auto descriptors = expose_everywhere(*plane, comm_, mine, handle);
  const int right = (rank_ + 1) % size_;
  const auto descriptor = descriptors[static_cast<std::size_t>(right)].span();

  // Every thread starts its read at once and then progresses until its own read is done
  // (its done may run on any of the threads).
  constexpr int kThreads = 8;
  struct Reader {
    Buffer dest;
    std::atomic<int> calls{0};
    std::string error;  // written before calls counts up
  };
  std::vector<std::unique_ptr<Reader>> readers;
  for (int t = 0; t < kThreads; ++t) {
    readers.push_back(std::make_unique<Reader>());
    readers.back()->dest = Buffer(kRegion - static_cast<std::size_t>(t) * 1000);
  }
  std::latch go(kThreads);
  std::atomic<int> late{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Reader& r = *readers[static_cast<std::size_t>(t)];
      go.arrive_and_wait();
      plane->get(right, descriptor, r.dest.data(), r.dest.size(), [&r](std::string error) {
        r.error = std::move(error);
        r.calls.fetch_add(1, std::memory_order_release);
      });
      if (!progress_until(*plane, [&] { return r.calls.load(std::memory_order_acquire) > 0; })) {
        late.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(late.load(), 0) << "reads timed out";
  for (int t = 0; t < kThreads; ++t) {
    const Reader& r = *readers[static_cast<std::size_t>(t)];
    const std::string what = "thread " + std::to_string(t);
    EXPECT_EQ(r.calls.load(), 1) << what;
    EXPECT_EQ(r.error, "") << what;
    expect_pattern(static_cast<std::uint64_t>(right) + 61, r.dest.span(), what);
  }
  progress_barrier(*plane, comm_);
  EXPECT_EQ(plane->stats().endpoints_on_first_use, size_ > 1 ? 1u : 0u);
  EXPECT_EQ(plane->stats().endpoints_eager, 0u);
  EXPECT_EQ(plane->connected(right), right != rank_);
  plane->unexpose(handle);
}

}  // namespace
}  // namespace manta::transport::testing
