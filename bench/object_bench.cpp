// Object-plane benchmarks: put, get between ranks and broadcast of large manta::Arrays, each next
// to memcpy or raw MPI measured in the same run. Prints a table and JSON (also to --json FILE).
//   mpirun -n 2 ./manta_object_bench [--quick] [--json out.json] [--manta-transport=ucx|mpi]
#include <mpi.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;
using Doubles = manta::Array<double>;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kBig = 256 * kMiB;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string size_label(std::size_t bytes) {
  return bytes >= kMiB ? fmt::format("{} MiB", bytes / kMiB) : fmt::format("{} KiB", bytes >> 10);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "object_bench: %s\n", what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

// Every object holds element i = seed + i: exact in a double for these sizes, so a sampled sum
// has one right answer and a chunk landing at the wrong offset changes it.
void fill(double* p, std::size_t n, double seed) {
  for (std::size_t i = 0; i < n; ++i) p[i] = seed + static_cast<double>(i);
}

// Samples one element in every ~4 KiB (a prime stride, so the offset within pages varies) and
// the last one: touches every page of the transfer without costing a full pass.
constexpr std::size_t kStride = 509;
double sampled_sum(const double* p, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; i += kStride) s += p[i];
  return s + p[n - 1];
}
double expected_sampled_sum(std::size_t n, double seed) {
  double s = 0;
  for (std::size_t i = 0; i < n; i += kStride) s += seed + static_cast<double>(i);
  return s + seed + static_cast<double>(n - 1);
}
void verify(const double* p, std::size_t n, double seed, const std::string& what) {
  if (!p || sampled_sum(p, n) != expected_sampled_sum(n, seed))
    fail(what + ": wrong contents (seed " + std::to_string(seed) + ")");
}

// ---- remote functions -----------------------------------------------------------------------

// A fresh array made on the rank that runs the task; its owner is the submitter.
Doubles make_array(std::uint64_t n, double seed) {
  Doubles a = Doubles::uninitialized(n);
  fill(a.mutable_data(), n, seed);
  return a;
}

// Arrays put (and so owned) by the rank that runs the task, kept alive there until dropped, so
// the driver's get has to ask that rank for them.
std::vector<manta::ObjectRef<Doubles>>& kept() {
  static std::vector<manta::ObjectRef<Doubles>> refs;
  return refs;
}
manta::ObjectRef<Doubles> put_array(std::uint64_t n, double seed) {
  auto ref = manta::put(make_array(n, seed));
  kept().push_back(ref);
  return ref;
}
int drop_arrays() {
  kept().clear();
  return 0;
}

// A broadcast reader: takes the reference, so the get inside asks the owner where to read.
double read_sampled(manta::ObjectRef<Doubles> ref) {
  auto a = manta::get(ref);
  return sampled_sum(a->data(), a->size());
}

std::string transport_here() { return manta::local_stats().transport; }

// A std::vector put (and so owned) by the rank that runs the task, kept until dropped.
std::vector<manta::ObjectRef<std::vector<double>>>& kept_vectors() {
  static std::vector<manta::ObjectRef<std::vector<double>>> refs;
  return refs;
}
manta::ObjectRef<std::vector<double>> put_vector(std::uint64_t n, double seed) {
  std::vector<double> v(n);
  fill(v.data(), n, seed);
  auto ref = manta::put(v);
  kept_vectors().push_back(ref);
  return ref;
}
int drop_vectors() {
  kept_vectors().clear();
  return 0;
}

MANTA_REMOTE(make_array, put_array, drop_arrays, read_sampled, transport_here, put_vector,
             drop_vectors);

// Memory as the object store allocates it (2 MiB aligned, advised to use huge pages), touched.
// The baselines use it too: with 4 KiB pages, single-copy MPI transfers here run at a third of
// the speed, which would flatter Manta.
struct Pages {
  std::unique_ptr<double[], decltype(&std::free)> mem{nullptr, &std::free};
  double* data() const { return mem.get(); }
};
Pages huge_pages(std::size_t bytes, bool touch = true) {
  constexpr std::size_t kHuge = 2 * kMiB;
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  Pages p;
  p.mem.reset(static_cast<double*>(std::aligned_alloc(kHuge, rounded)));
  if (!p.mem) fail("out of memory");
  madvise(p.data(), rounded, MADV_HUGEPAGE);
  if (touch) std::memset(p.data(), 0, bytes);
  return p;
}

// ---- raw baselines (MPI ones before manta::init, on MPI_COMM_WORLD) -------------------------

// A barrier that sleeps instead of spinning, so ranks that only wait (2 and up in the pulls)
// leave the two cores to the ranks being measured, as idle Manta ranks do.
void quiet_barrier() {
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  int done = 0;
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE), !done)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// Where rank 0 receives: the baseline is pre-touched memory like the store's; the others show
// what 4 KiB pages, or a new buffer per transfer (as a get has), cost.
enum class Into { touched, small_pages, fresh };

// Rank 0 asks, rank 1 answers with `bytes`: the shape of a get from another rank. Median seconds.
double mpi_pull_seconds(std::size_t bytes, int iters, Into into = Into::touched) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::size_t n = bytes / sizeof(double);
  const bool small = into == Into::small_pages;
  std::vector<double> vec(rank <= 1 && small ? n : 0, 1.0);
  Pages pages = rank <= 1 && !small ? huge_pages(bytes) : Pages{};
  double* buf = small ? vec.data() : pages.data();
  std::vector<double> times;
  int ask = 0;
  quiet_barrier();
  // No barrier per iteration: rank 1 waits for the next ask in MPI_Recv, awake, as a serving
  // rank's progress thread is while it is busy.
  for (int i = 0; i < iters; ++i) {
    if (rank == 0 && into == Into::fresh) {
      pages = huge_pages(bytes, false);
      buf = pages.data();
    }
    const auto t0 = Clock::now();
    if (rank == 0) {
      MPI_Send(&ask, 1, MPI_INT, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(buf, static_cast<int>(bytes), MPI_BYTE, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      times.push_back(seconds_since(t0));
      if (buf[0] != i || buf[n - 1] != i) fail("MPI pull: wrong contents");
    } else if (rank == 1) {
      buf[0] = buf[n - 1] = i;
      MPI_Recv(&ask, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, static_cast<int>(bytes), MPI_BYTE, 0, 2, MPI_COMM_WORLD);
    }
  }
  quiet_barrier();
  return rank == 0 ? median(times) : 0;
}

// MPI_Bcast of `bytes` from rank 0 into pre-touched buffers, timed on rank 0 until every rank
// has it (a barrier after). Median seconds.
double mpi_bcast_seconds(std::size_t bytes, int iters) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::size_t n = bytes / sizeof(double);
  Pages pages = huge_pages(bytes);
  double* buf = pages.data();
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) {
    if (rank == 0) buf[0] = buf[n / 2] = buf[n - 1] = i;
    MPI_Barrier(MPI_COMM_WORLD);  // every rank takes part, so none sleeps
    const auto t0 = Clock::now();
    MPI_Bcast(buf, static_cast<int>(bytes), MPI_BYTE, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    times.push_back(seconds_since(t0));
    if (buf[0] != i || buf[n / 2] != i || buf[n - 1] != i) fail("MPI_Bcast: wrong contents");
  }
  quiet_barrier();
  return median(times);
}

struct MpiBaselines {
  double rtt_us = 0;
  std::vector<double> pull_s;              // by get size
  std::vector<double> pull_small_pages_s;  // 64 MiB and up
  std::vector<double> pull_fresh_s;        // 64 MiB and up
  double bcast_s = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  auto iters_for = [&](int full) { return std::max(3, full / scale); };

  const std::vector<std::size_t> get_sizes = {std::size_t{1} << 10, kMiB, 64 * kMiB, kBig};
  auto get_iters = [&](std::size_t bytes) {
    return iters_for(bytes >= kBig ? 5 : bytes >= 64 * kMiB ? 10 : bytes >= kMiB ? 50 : 200);
  };

  // Raw MPI, same job, before Manta starts its threads.
  MpiBaselines mpi;
  if (world >= 2) {
    manta::bench::mpi_round_trip_us(1000);  // warm up
    mpi.rtt_us = manta::bench::mpi_round_trip_us(20000 / scale);
    for (std::size_t bytes : get_sizes) {
      mpi_pull_seconds(bytes, 2);  // warm up (first-touch of MPI's own buffers)
      mpi.pull_s.push_back(mpi_pull_seconds(bytes, get_iters(bytes)));
      if (bytes >= 64 * kMiB) {
        mpi_pull_seconds(bytes, 1, Into::small_pages);
        mpi.pull_small_pages_s.push_back(
            mpi_pull_seconds(bytes, get_iters(bytes), Into::small_pages));
        mpi.pull_fresh_s.push_back(mpi_pull_seconds(bytes, get_iters(bytes), Into::fresh));
      }
    }
    mpi_bcast_seconds(kBig, 1);
    mpi.bcast_s = mpi_bcast_seconds(kBig, iters_for(5));
  }

  // Nodes as the runtime will count them (init takes the --manta-* flags out of argv).
  const std::string node_size_text =
      manta::bench::manta_setting(argc, argv, "node-size", "MANTA_NODE_SIZE");
  const int node_size = node_size_text.empty() || std::atoi(node_size_text.c_str()) <= 0
                            ? world
                            : std::atoi(node_size_text.c_str());
  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;
  const std::string transport = manta::local_stats().transport;
  const std::string tag = " [" + transport + "]";
  if (world >= 2) {
    const std::string other = *manta::get(manta::task(transport_here).on_rank(1).remote());
    if (other != transport)
      std::fprintf(stderr, "object_bench: rank 0 moves objects with %s, rank 1 with %s\n",
                   transport.c_str(), other.c_str());
  }
  const double gb = static_cast<double>(kBig) / 1e9;
  const std::size_t big_n = kBig / sizeof(double);
  double seed = 1;  // a new value for every object, so no get is answered from a cached copy

  // 1. put of 256 MiB, next to memcpy here and now (the other ranks are idle in Manta).
  {
    const int iters = iters_for(10);
    // The source is a std::vector, as for the vector put; the destination is memory like the
    // store's, touched, so no page faults are timed.
    std::vector<double> src(big_n);
    fill(src.data(), big_n, seed);
    Pages dst_pages = huge_pages(kBig);
    double* dst = dst_pages.data();
    std::vector<double> warm, fresh;
    for (int i = 0; i < iters + 1; ++i) {
      src[0] = src[big_n - 1] = seed + i;  // a new value each time
      auto t0 = Clock::now();
      std::memcpy(dst, src.data(), kBig);
      const double w = seconds_since(t0);
      if (dst[0] != seed + i || dst[big_n - 1] != seed + i || dst[big_n / 2] != src[big_n / 2])
        fail("memcpy: wrong contents");
      // Into fresh memory, as a put's destination is: its page faults are counted.
      Pages fresh_pages = huge_pages(kBig, false);
      double* p = fresh_pages.data();
      t0 = Clock::now();
      std::memcpy(p, src.data(), kBig);
      const double f = seconds_since(t0);
      if (p[0] != seed + i || p[big_n - 1] != seed + i || p[big_n / 2] != src[big_n / 2])
        fail("memcpy: wrong contents");
      if (i > 0) {  // the first one warms up
        warm.push_back(w);
        fresh.push_back(f);
      }
    }
    const double memcpy_gbps = gb / median(warm);

    // Array: the store adopts the array's memory, so this is bookkeeping only.
    std::vector<double> adopt;
    bool zero_copy = true;
    for (int i = 0; i < iters + 1; ++i) {
      seed += 1;
      Doubles a = Doubles::uninitialized(big_n);
      fill(a.mutable_data(), big_n, seed);  // touches the source
      const double* before = a.data();
      const auto t0 = Clock::now();
      auto ref = manta::put(std::move(a));
      const double t = seconds_since(t0);
      auto got = manta::get(ref);
      verify(got->data(), got->size(), seed, "put Array");
      zero_copy = zero_copy && got->data() == before;
      if (i > 0) adopt.push_back(t);
    }
    // std::vector: one copy into a buffer the store allocates (its page faults included).
    std::vector<double> copy;
    for (int i = 0; i < iters + 1; ++i) {
      seed += 1;
      src[0] = src[big_n - 1] = seed;
      const auto t0 = Clock::now();
      auto ref = manta::put(src);
      const double t = seconds_since(t0);
      auto got = manta::get(ref);  // decodes a copy; outside the timing
      if (got->size() != big_n || (*got)[0] != seed || (*got)[big_n - 1] != seed ||
          (*got)[big_n / 2] != src[big_n / 2])
        fail("put std::vector: wrong contents");
      if (i > 0) copy.push_back(t);
    }
    const double adopt_gbps = gb / median(adopt);
    const double copy_gbps = gb / median(copy);
    rows.push_back(
        {"memcpy 256 MiB (destination touched before)", memcpy_gbps, "GB/s", 0, "", "", true});
    rows.push_back({"memcpy 256 MiB into fresh memory (page faults)", gb / median(fresh), "GB/s", 0,
                    "", "", true});
    // The baseline column holds memcpy here (print_report calls it "raw MPI").
    rows.push_back({std::string("put 256 MiB manta::Array (adopted") +
                        (zero_copy ? ", zero-copy)" : ", BUT COPIED)"),
                    adopt_gbps, "GB/s", memcpy_gbps, "memcpy 256 MiB, touched destination",
                    ">= 50% of memcpy", adopt_gbps >= 0.5 * memcpy_gbps && zero_copy});
    rows.push_back({"put 256 MiB std::vector<double> (one copy)", copy_gbps, "GB/s", memcpy_gbps,
                    "memcpy 256 MiB, touched destination", ">= 50% of memcpy",
                    copy_gbps >= 0.5 * memcpy_gbps});
  }

  if (world >= 2) {
    // 2. get from rank 1 to rank 0. Two shapes: an object rank 1 put (rank 1 owns it: get asks
    // rank 1, then pulls), and a task result that stays on rank 1 (rank 0 owns it and knows the
    // location: get pulls). Results up to the inline limit come back inside the task's reply,
    // so the second shape is measured only above it. `idle`: the job is quiet for 10 ms before
    // the get, so the progress threads have backed off to sleeping. Median seconds.
    auto time_gets = [&](std::size_t bytes, bool owned_by_1, bool idle, int iters) {
      const std::uint64_t n = bytes / sizeof(double);
      std::vector<double> times;
      for (int i = 0; i < iters + 2; ++i) {
        seed += 1;
        manta::ObjectRef<Doubles> ref;
        if (owned_by_1) {
          ref = *manta::get(manta::task(put_array).on_rank(1).remote(n, seed));
        } else {
          ref = manta::task(make_array).on_rank(1).remote(n, seed);
          manta::wait(std::vector{ref}, 1);
        }
        if (idle) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        const auto t0 = Clock::now();
        auto got = manta::get(ref);
        const double t = seconds_since(t0);
        if (got->size() != n) fail("get: wrong size");
        verify(got->data(), n, seed, "get " + size_label(bytes));
        if (i >= 2) times.push_back(t);  // the first ones warm up allocators and pages
        got.reset();
        ref = {};
        if (owned_by_1) manta::get(manta::task(drop_arrays).on_rank(1).remote());
      }
      return median(times);
    };
    std::size_t extra = 0;  // index into the 64 MiB-and-up baselines
    for (std::size_t s = 0; s < get_sizes.size(); ++s) {
      const std::size_t bytes = get_sizes[s];
      const double mpi_gbps = static_cast<double>(bytes) / mpi.pull_s[s] / 1e9;
      const bool target_applies = bytes == 64 * kMiB;
      for (const bool owned_by_1 : {true, false}) {
        if (!owned_by_1 && bytes <= 100 * 1024) continue;
        const double gbps = static_cast<double>(bytes) /
                            time_gets(bytes, owned_by_1, false, get_iters(bytes)) / 1e9;
        rows.push_back(
            {fmt::format("get {} from rank 1 ({}){}", size_label(bytes),
                         owned_by_1 ? "put there, rank 1 owns" : "task result, held there", tag),
             gbps, "GB/s", mpi_gbps, "MPI ask + send of that size",
             target_applies ? ">= 80% of MPI" : "", !target_applies || gbps >= 0.8 * mpi_gbps});
      }
      if (bytes >= 64 * kMiB) {
        rows.push_back({fmt::format("raw MPI ask + send {}, 4 KiB pages", size_label(bytes)),
                        static_cast<double>(bytes) / mpi.pull_small_pages_s[extra] / 1e9, "GB/s", 0,
                        "", "", true});
        rows.push_back({fmt::format("raw MPI ask + send {} into fresh memory", size_label(bytes)),
                        static_cast<double>(bytes) / mpi.pull_fresh_s[extra] / 1e9, "GB/s", 0, "",
                        "", true});
        ++extra;
      }
    }
    {
      const double us = time_gets(kMiB, true, true, iters_for(20)) * 1e6;
      rows.push_back(
          {"get 1 MiB from rank 1 after 10 ms idle (latency)" + tag, us, "us", 0, "", "", true});
    }

    // 2b. Ranks of one node: a get of an Array is a view of the holder's shared memory, whatever
    // its size; a std::vector decodes straight from it (one copy into fresh memory, as memcpy
    // into a fresh buffer). `in_place`: the reads were views (the node-shared store is on).
    {
      const std::uint64_t views_before = manta::memory_summary(0).ranks.at(1).views_served;
      const double array_us = time_gets(64 * kMiB, true, false, iters_for(20)) * 1e6;
      const double array_256_us = time_gets(kBig, true, false, iters_for(10)) * 1e6;
      const bool in_place = manta::memory_summary(0).ranks.at(1).views_served > views_before;
      const std::string how = in_place ? "in place" : "copied: the node-shared store is off";
      rows.push_back({fmt::format("get 64 MiB Array from a same-node rank ({}){}", how, tag),
                      array_us, "us", 0, "", in_place ? "<= 20 us" : "",
                      !in_place || array_us <= 20});
      rows.push_back({fmt::format("get 256 MiB Array from a same-node rank ({}){}", how, tag),
                      array_256_us, "us", 0, "", "", true});
      const std::size_t n = 64 * kMiB / sizeof(double);
      std::vector<double> times, memcpy_times;
      std::vector<double> src(n);
      fill(src.data(), n, 0);
      for (int i = 0; i < iters_for(20) + 2; ++i) {
        seed += 1;
        auto ref = *manta::get(manta::task(put_vector).on_rank(1).remote(n, seed));
        auto t0 = Clock::now();
        auto got = manta::get(ref);
        const double t = seconds_since(t0);
        if (got->size() != n) fail("vector get: wrong size");
        verify(got->data(), n, seed, "vector get");
        // memcpy into fresh memory of the same kind, as the decode's destination is.
        t0 = Clock::now();
        std::vector<double> copy(src.begin(), src.end());
        const double m = seconds_since(t0);
        if (copy[n - 1] != src[n - 1]) fail("memcpy: wrong contents");
        if (i >= 2) {
          times.push_back(t);
          memcpy_times.push_back(m);
        }
        got.reset();
        ref = {};
        manta::get(manta::task(drop_vectors).on_rank(1).remote());
      }
      const double gbps = 0.064 * 1.048576 / median(times);
      const double memcpy_gbps = 0.064 * 1.048576 / median(memcpy_times);
      rows.push_back({fmt::format("get 64 MiB std::vector<double> from a same-node rank{}", tag),
                      gbps, "GB/s", memcpy_gbps, "memcpy 64 MiB into a fresh std::vector",
                      in_place ? ">= 80% of memcpy" : "", !in_place || gbps >= 0.8 * memcpy_gbps});
    }

    // 3. broadcast: one reader task per other rank; the owner spreads readers over the copies
    // as they finish.
    {
      const int iters = iters_for(5);
      const manta::MemorySummary broadcast_before = manta::memory_summary();
      const manta::RankMemory before = broadcast_before.total();
      std::vector<double> times;
      for (int i = 0; i < iters + 1; ++i) {
        seed += 1;
        Doubles a = Doubles::uninitialized(big_n);
        fill(a.mutable_data(), big_n, seed);
        auto ref = manta::put(std::move(a));
        const auto t0 = Clock::now();
        std::vector<manta::ObjectRef<double>> sums;
        for (int r = 1; r < world; ++r)
          sums.push_back(manta::task(read_sampled).on_rank(r).remote(ref));
        auto got = manta::get(sums);
        const double t = seconds_since(t0);
        const double want = expected_sampled_sum(big_n, seed);
        for (int r = 1; r < world; ++r)
          if (*got[r - 1] != want) fail(fmt::format("broadcast: rank {} read wrong contents", r));
        if (i > 0) times.push_back(t);
      }
      const manta::MemorySummary summary_after = manta::memory_summary();
      const manta::RankMemory after = summary_after.total();
      const double gbps = (world - 1) * gb / median(times);
      const double mpi_gbps = (world - 1) * gb / mpi.bcast_s;
      rows.push_back({fmt::format("broadcast 256 MiB to {} ranks{}", world - 1, tag), gbps, "GB/s",
                      mpi_gbps, "MPI_Bcast of 256 MiB", "", true});
      // Reads of the broadcasts that a copy (not the owner) served. The counter also counts the
      // task results above, served by the rank that made them, hence the difference.
      const auto from_copies =
          static_cast<double>(after.serves_of_copies - before.serves_of_copies);
      const double served_gb = static_cast<double>(after.bytes_served - before.bytes_served) / 1e9;
      // Copies serve readers where ranks copy (private memory, or other nodes); readers on the
      // owner's node read in place instead.
      const bool copies_expected = world >= 4 && after.views_served == before.views_served;
      rows.push_back({fmt::format("broadcast: reads served from copies ({} broadcasts)", iters + 1),
                      from_copies, "reads", 0, "", copies_expected ? ">= 1" : "",
                      !copies_expected || from_copies >= 1});
      rows.push_back({fmt::format("broadcast: reads in place ({} broadcasts)", iters + 1),
                      static_cast<double>(after.views_served - before.views_served), "reads", 0, "",
                      "", true});
      rows.push_back({fmt::format("broadcast: bytes served, all ranks ({} broadcasts)", iters + 1),
                      served_gb, "GB", 0, "", "", true});
      // Bytes that moved (copies, not views) per broadcast and node: 0 on the owner's node, one
      // object on each other node. Nodes as the runtime counts them (--manta-node-size).
      const int nodes = (world + node_size - 1) / node_size;
      for (int node = 0; node < nodes; ++node) {
        std::uint64_t fetched = 0;
        for (const auto& r : summary_after.ranks)
          if (r.rank / node_size == node) fetched += r.bytes_fetched;
        for (const auto& r : broadcast_before.ranks)
          if (r.rank / node_size == node) fetched -= r.bytes_fetched;
        const double per = static_cast<double>(fetched) / (iters + 1) / static_cast<double>(kBig);
        rows.push_back(
            {fmt::format("broadcast: copies landed per broadcast on node {} (ranks "
                         "{}-{})",
                         node, node * node_size, std::min(world, (node + 1) * node_size) - 1),
             per, "objects", 0, "", node == 0 ? "0 (the owner's node)" : "<= 1",
             node == 0 ? per == 0 : per <= 1.0001});
      }
      std::printf("\nmemory_summary() after the broadcasts, per rank (counters since start):\n");
      for (const auto& r : manta::memory_summary().ranks)
        std::printf("  rank %d: serves %llu (of copies %llu), bytes served %.2f GB, fetches %llu\n",
                    r.rank, static_cast<unsigned long long>(r.serves),
                    static_cast<unsigned long long>(r.serves_of_copies),
                    static_cast<double>(r.bytes_served) / 1e9,
                    static_cast<unsigned long long>(r.fetches));
    }
  }

  manta::bench::print_report("Manta object plane" + tag, world, quick, mpi.rtt_us, rows, json_path);
  manta::shutdown();
  int finalized = 0;  // shutdown may have finalized MPI already
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  return 0;
}
