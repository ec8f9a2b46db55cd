// The workloads that bench/peers/ runs on mpi4py.futures and Dask, run on Manta, each next to raw
// MPI doing the same communication in the same job: async empty tasks, the synchronous round
// trip, 1:1 actor calls, a put/get round trip of 64 MiB and a map-reduce of 1 MiB blocks.
// Prints a table and JSON (also written to --json FILE); bench/run_peers.sh collects them.
//   mpirun -n 2 ./manta_peer_bench [--quick] [--json out.json] [--maps M]
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
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "batched_rate.h"
#include "mpi_baselines.h"
#include "pinger.h"
#include "report.h"

namespace {

using manta::bench::batched_rate;
using manta::bench::quiet_barrier;
using manta::bench::Row;
using Clock = std::chrono::steady_clock;
using Bytes = manta::Array<std::uint8_t>;
using Block = manta::Array<std::uint64_t>;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kBigBytes = 64 * kMiB;                       // the put/get object
constexpr std::size_t kBlockWords = kMiB / sizeof(std::uint64_t);  // one map output

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "peer_bench: %s\n", what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

// Map m's block holds m + j at index j, so the sum of all blocks has one right answer.
std::uint64_t block_sum(std::uint64_t m) {
  const std::uint64_t n = kBlockWords;
  return n * m + n * (n - 1) / 2;
}
std::uint64_t expected_total(std::uint64_t maps) {
  std::uint64_t s = 0;
  for (std::uint64_t m = 0; m < maps; ++m) s += block_sum(m);
  return s;
}
void fill_block(std::uint64_t* p, std::uint64_t m) {
  for (std::size_t j = 0; j < kBlockWords; ++j) p[j] = m + j;
}
std::uint64_t sum_words(const std::uint64_t* p, std::size_t n) {
  std::uint64_t s = 0;
  for (std::size_t j = 0; j < n; ++j) s += p[j];
  return s;
}

// Byte i of the k-th put/get object; checked at a stride after each round trip.
std::uint8_t pattern(std::size_t i, int k) { return static_cast<std::uint8_t>((i * 7 + k) & 0xff); }
bool pattern_ok(const std::uint8_t* p, std::size_t n, int k) {
  for (std::size_t i = 0; i < n; i += 4093)
    if (p[i] != pattern(i, k)) return false;
  return p[n - 1] == pattern(n - 1, k);
}

// ---- remote functions -----------------------------------------------------------------------

int small_value() { return 0; }

using manta::bench::Pinger;

// The "task that returns it" of the put/get round trip: the argument arrives in this rank's
// store and goes back as the result.
Bytes echo(const Bytes& b) { return b; }

Block make_block(std::uint64_t m) {
  Block b = Block::uninitialized(kBlockWords);
  fill_block(b.mutable_data(), m);
  return b;
}

// A reduce task takes references, not values, so it fetches its inputs itself (as in Ray).
std::uint64_t sum_blocks(std::vector<manta::ObjectRef<Block>> blocks) {
  std::uint64_t s = 0;
  for (const auto& b : manta::get(blocks)) s += sum_words(b->data(), b->size());
  return s;
}

std::uint64_t tasks_executed_here() { return manta::local_stats().tasks_executed; }

MANTA_REMOTE(small_value, Pinger::create, &Pinger::small_value, echo, make_block, sum_blocks,
             tasks_executed_here);

// ---- raw MPI baselines (before manta::init, on MPI_COMM_WORLD) ------------------------------

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// Memory as the object store allocates it (2 MiB aligned, advised to use huge pages), touched:
// with 4 KiB pages MPI's single-copy transfers here run slower, which would flatter Manta.
struct Pages {
  std::unique_ptr<std::uint8_t[], decltype(&std::free)> mem{nullptr, &std::free};
  std::uint8_t* data() const { return mem.get(); }
};
Pages huge_pages(std::size_t bytes) {
  constexpr std::size_t kHuge = 2 * kMiB;
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  Pages p;
  p.mem.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kHuge, rounded)));
  if (!p.mem) fail("out of memory");
  madvise(p.data(), rounded, MADV_HUGEPAGE);
  std::memset(p.data(), 0, bytes);
  return p;
}

// The MPI shape of the put/get round trip: `bytes` to rank 1 and back. Median seconds.
double mpi_there_and_back_seconds(std::size_t bytes, int iters) {
  const int rank = world_rank();
  Pages buf = rank <= 1 ? huge_pages(bytes) : Pages{};
  std::vector<double> times;
  quiet_barrier();
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    if (rank == 0) {
      buf.data()[0] = buf.data()[bytes - 1] = static_cast<std::uint8_t>(i);
      MPI_Send(buf.data(), static_cast<int>(bytes), MPI_BYTE, 1, 5, MPI_COMM_WORLD);
      MPI_Recv(buf.data(), static_cast<int>(bytes), MPI_BYTE, 1, 6, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      times.push_back(seconds_since(t0));
      if (buf.data()[0] != static_cast<std::uint8_t>(i)) fail("MPI there and back: wrong data");
    } else if (rank == 1) {
      MPI_Recv(buf.data(), static_cast<int>(bytes), MPI_BYTE, 0, 5, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      MPI_Send(buf.data(), static_cast<int>(bytes), MPI_BYTE, 0, 6, MPI_COMM_WORLD);
    }
  }
  quiet_barrier();
  return rank == 0 ? median(times) : 0;
}

// The map-reduce with nothing but MPI: map m runs on rank m % N, reduce g (maps g*group ..
// g*group + group - 1) on rank g % N, and each block moves once from its producer to its
// reducer, as in a spread schedule. Every rank walks the maps in the same order, so the blocking
// sends and receives pair up without deadlock. Seconds on rank 0, result checked there.
double mpi_map_reduce_seconds(int maps, int group) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::vector<std::uint64_t> produced(kBlockWords), received(kBlockWords);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  std::uint64_t partial = 0;
  for (int m = 0; m < maps; ++m) {
    const int producer = m % world, reducer = (m / group) % world;
    if (rank == producer) fill_block(produced.data(), static_cast<std::uint64_t>(m));
    if (rank == producer && rank == reducer) {
      partial += sum_words(produced.data(), kBlockWords);
    } else if (rank == producer) {
      MPI_Send(produced.data(), static_cast<int>(kBlockWords), MPI_UINT64_T, reducer, 7,
               MPI_COMM_WORLD);
    } else if (rank == reducer) {
      MPI_Recv(received.data(), static_cast<int>(kBlockWords), MPI_UINT64_T, producer, 7,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      partial += sum_words(received.data(), kBlockWords);
    }
  }
  std::uint64_t total = 0;
  MPI_Reduce(&partial, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  const double s = seconds_since(t0);
  if (rank == 0 && total != expected_total(static_cast<std::uint64_t>(maps)))
    fail("MPI map-reduce: wrong total");
  quiet_barrier();
  return s;
}

struct Options {
  int maps = 1000;
  int group = 50;  // maps per reduce
};

Options parse_options(int argc, char** argv, bool quick) {
  Options o;
  if (quick) {
    o.maps = 40;
    o.group = 10;
  }
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--maps") o.maps = std::max(1, std::atoi(argv[i + 1]));
  }
  o.group = std::min(o.group, o.maps);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  if (world < 2) {
    std::fprintf(stderr, "peer_bench: needs 2 or more ranks (tasks run on another rank)\n");
    MPI_Finalize();
    return 2;
  }
  const Options opt = parse_options(argc, argv, quick);
  const int async_n = 100000 / scale, batch = 10000 / scale;
  const int big_iters = quick ? 3 : 10;

  // Raw MPI, same job, before Manta starts its threads. Each baseline is the best of 3 runs: on
  // shared cores one run can lose its core to another process, and the baseline is meant to be
  // what MPI can do, not what it did while interrupted.
  auto fastest = [](auto&& seconds_like) {
    double best = seconds_like();
    for (int k = 0; k < 2; ++k) best = std::min(best, seconds_like());
    return best;
  };
  manta::bench::mpi_round_trip_us(1000);  // warm up
  const double mpi_rtt = fastest([&] { return manta::bench::mpi_round_trip_us(20000 / scale); });
  const double mpi_rate =
      1 / fastest([&] { return 1 / manta::bench::best_mpi_request_reply_rate(async_n, 1); });
  mpi_there_and_back_seconds(kBigBytes, 2);
  const double mpi_big_s =
      fastest([&] { return mpi_there_and_back_seconds(kBigBytes, big_iters); });
  mpi_map_reduce_seconds(std::min(opt.maps, 2 * opt.group), opt.group);
  const double mpi_mr_s = fastest([&] { return mpi_map_reduce_seconds(opt.maps, opt.group); });

  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;
  const std::string rr = "MPI request+reply, 16 B each way, best of 16/64/256 in flight";

  // Async empty tasks, driver to rank 1: tasks cross a process boundary, as in every peer.
  {
    for (int i = 0; i < batch; ++i) manta::get(manta::task(small_value).on_rank(1).remote());
    const double rate =
        batched_rate(async_n, batch, [] { return manta::task(small_value).on_rank(1).remote(); });
    rows.push_back({"async empty tasks, driver to rank 1", rate, "tasks/s", mpi_rate, rr,
                    ">= 100000", rate >= 100000});
  }
  // Synchronous round trip of an empty task to rank 1: the median of 10 runs.
  {
    const int n = 1000 / scale;
    for (int i = 0; i < 200; ++i) manta::get(manta::task(small_value).on_rank(1).remote());
    std::vector<double> runs;
    for (int k = 0; k < 10; ++k) {
      const auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) manta::get(manta::task(small_value).on_rank(1).remote());
      runs.push_back(seconds_since(t0) * 1e6 / n);
    }
    const double us = median(runs);
    rows.push_back({"sync task round trip to rank 1", us, "us", mpi_rtt, "MPI ping-pong round trip",
                    "<= 30 x MPI", us <= 30 * mpi_rtt});
  }
  // 1:1 actor calls: the driver calls one actor on rank 1, async in batches, then one at a time.
  {
    auto a = manta::actor(Pinger::create).on_rank(1).remote();
    for (int i = 0; i < 2000 / scale; ++i) manta::get(a.task(&Pinger::small_value).remote());
    const double rate =
        batched_rate(async_n, batch, [&] { return a.task(&Pinger::small_value).remote(); });
    rows.push_back({"1:1 actor calls async, driver to rank 1", rate, "calls/s", mpi_rate, rr,
                    ">= 100000", rate >= 100000});
    const int n = 1000 / scale;
    std::vector<double> runs;
    for (int k = 0; k < 10; ++k) {
      const auto t1 = Clock::now();
      for (int i = 0; i < n; ++i) manta::get(a.task(&Pinger::small_value).remote());
      runs.push_back(seconds_since(t1) * 1e6 / n);
    }
    const double us = median(runs);
    rows.push_back({"1:1 actor calls sync, driver to rank 1", us, "us", mpi_rtt,
                    "MPI ping-pong round trip", "<= 30 x MPI", us <= 30 * mpi_rtt});
    a.kill();
  }
  // Put/get round trip of 64 MiB: put on the driver, a task on rank 1 takes it and returns it,
  // the driver gets the result. 2 x 64 MiB cross between the processes, as in the MPI baseline.
  {
    std::vector<double> times;
    for (int k = 0; k < big_iters + 2; ++k) {
      Bytes b = Bytes::uninitialized(kBigBytes);
      std::uint8_t* p = b.mutable_data();
      for (std::size_t i = 0; i < kBigBytes; ++i) p[i] = pattern(i, k);
      const auto t0 = Clock::now();
      auto ref = manta::put(std::move(b));
      auto back = manta::get(manta::task(echo).on_rank(1).remote(ref));
      const double s = seconds_since(t0);
      if (back->size() != kBigBytes || !pattern_ok(back->data(), kBigBytes, k))
        fail("put/get round trip: wrong contents");
      if (k >= 2) times.push_back(s);  // the first ones warm up allocators and pages
    }
    const double gbps = 2.0 * kBigBytes / median(times) / 1e9;
    rows.push_back({"put/get 64 MiB round trip via rank 1 [" + manta::local_stats().transport + "]",
                    gbps, "GB/s", 2.0 * kBigBytes / mpi_big_s / 1e9,
                    "MPI 64 MiB to rank 1 and back", "", true});
  }
  // Map-reduce: maps make 1 MiB blocks, each reduce sums `group` of them; nothing is placed by
  // hand, the schedulers decide where maps and reduces run.
  {
    auto executed = [&] {
      std::vector<manta::ObjectRef<std::uint64_t>> refs;
      for (int r = 0; r < world; ++r)
        refs.push_back(manta::task(tasks_executed_here).on_rank(r).remote());
      std::vector<std::uint64_t> out;
      for (auto& v : manta::get(refs)) out.push_back(*v);
      return out;
    };
    auto run = [&](int maps) {
      std::vector<manta::ObjectRef<Block>> blocks;
      blocks.reserve(static_cast<std::size_t>(maps));
      for (int m = 0; m < maps; ++m)
        blocks.push_back(manta::task(make_block).remote(static_cast<std::uint64_t>(m)));
      std::vector<manta::ObjectRef<std::uint64_t>> partials;
      for (int g = 0; g * opt.group < maps; ++g) {
        const auto first = blocks.begin() + g * opt.group;
        const auto last = blocks.begin() + std::min(maps, (g + 1) * opt.group);
        partials.push_back(
            manta::task(sum_blocks).remote(std::vector<manta::ObjectRef<Block>>(first, last)));
      }
      blocks.clear();  // the reduces hold what they need
      std::uint64_t total = 0;
      for (auto& p : manta::get(partials)) total += *p;
      if (total != expected_total(static_cast<std::uint64_t>(maps)))
        fail("map-reduce: wrong total");
    };
    run(std::min(opt.maps, 2 * opt.group));  // warm up
    const auto before = executed();
    const auto t0 = Clock::now();
    run(opt.maps);
    const double s = seconds_since(t0);
    const auto after = executed();
    // Where the schedulers put the work (the counting tasks add at most one per rank).
    std::uint64_t all = 0;
    for (int r = 0; r < world; ++r) all += after[r] - before[r];
    const double off =
        all > 0 ? 100.0 * static_cast<double>(all - (after[0] - before[0])) / all : 0.0;
    const int reduces = (opt.maps + opt.group - 1) / opt.group;
    rows.push_back({fmt::format("map-reduce, {} maps x 1 MiB, {} reduces", opt.maps, reduces), s,
                    "s", mpi_mr_s, "MPI: the same blocks sent producer to reducer", "", true});
    rows.push_back({"map-reduce: tasks run off the driver's rank", off, "%", 0, "", "", true});
  }

  manta::bench::print_report("Manta, the peers' workloads", world, quick, mpi_rtt, rows, json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
