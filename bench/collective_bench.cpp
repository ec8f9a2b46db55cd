// Collective groups of actors against raw MPI on the same ranks: allreduce (sum) of 8 B, 1 MiB
// and 64 MiB of floats, and broadcast of 64 MiB, among one member actor per rank (member r on
// rank r, so a job of n ranks has n members and rank 0 also runs the driver); the broadcast also
// against the same data moved by put and get. Prints a table and JSON (also to --json FILE).
//   mpirun -n 2 --oversubscribe ./manta_collective_bench [--quick] [--json out.json]
//   mpirun -n 4 --oversubscribe ./manta_collective_bench
// bench/run_collective_bench.sh runs both.
//
// How it measures, the same way for Manta and for MPI: each member (each rank for MPI) runs the
// whole loop itself, so no actor call is timed: a few untimed calls, then K calls, each timed on
// its own (allreduces back to back; each broadcast after an untimed barrier, so all start
// together). An iteration's time is the slowest member's; the table gives the median and the
// minimum over the iterations, and algorithm bandwidth (bytes / median time). The put + get
// broadcast is timed by the driver, from before its put until every reader has its copy.
// The MPI baselines run on MPI_COMM_WORLD before manta::init (the runtime owns MPI after it).
// Next to MPI_Allreduce, MPI_Iallreduce polled with MPI_Test, out of place and in place (as the
// engine calls it), shows how much of a gap comes from MPI's non-blocking algorithms.
#include <mpi.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;
using Floats = manta::Array<float>;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr char kGroup[] = "bench";

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

std::string size_label(std::size_t bytes) {
  return bytes >= kMiB ? fmt::format("{} MiB", bytes / kMiB) : fmt::format("{} B", bytes);
}

// Memory as the object store allocates it (2 MiB aligned, advised to use huge pages), touched.
// Both Manta's members and the MPI baselines use it, so only the engine differs.
struct Pages {
  std::unique_ptr<float[], decltype(&std::free)> mem{nullptr, &std::free};
  float* data() const { return mem.get(); }
};
Pages huge_pages(std::size_t count) {
  constexpr std::size_t kHuge = 2 * kMiB;
  const std::size_t bytes = count * sizeof(float);
  const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  Pages p;
  p.mem.reset(static_cast<float*>(std::aligned_alloc(kHuge, rounded)));
  if (!p.mem) throw std::runtime_error("out of memory");
  madvise(p.data(), rounded, MADV_HUGEPAGE);
  std::memset(p.data(), 0, bytes);
  return p;
}

// One element in every ~4 KiB (a prime stride, so the offset within pages varies): touches every
// page of a result without a full pass.
constexpr std::size_t kStride = 1021;

// ---- the measured loops, shared by the members and the MPI baselines ---------------------------

// Out-of-place allreduce (sum) of `count` floats: `warmup` untimed calls, then `iters` timed ones
// back to back; each timed call's seconds on this member. Member r contributes r + 1 everywhere
// but the two ends, which change every call, so a stale or partial result is caught.
template <class Allreduce>
std::vector<double> time_allreduce(int rank, int size, std::size_t count, int warmup, int iters,
                                   Allreduce&& allreduce) {
  Pages in_pages = huge_pages(count), out_pages = huge_pages(count);
  const std::span<float> in(in_pages.data(), count), out(out_pages.data(), count);
  std::fill(in.begin(), in.end(), static_cast<float>(rank + 1));
  const float everyone = static_cast<float>(size * (size + 1) / 2);  // exact in a float
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(iters));
  for (int i = 0; i < warmup + iters; ++i) {
    const float k = static_cast<float>(i % 1024);
    in.front() = in.back() = static_cast<float>(rank + 1) + k;
    const auto t0 = Clock::now();
    allreduce(std::span<const float>(in), out);
    const double t = seconds_since(t0);
    const float want = everyone + static_cast<float>(size) * k;
    if (out.front() != want || out.back() != want)
      throw std::runtime_error(
          fmt::format("allreduce of {} floats, call {}: ends hold {} and {}, "
                      "not {}",
                      count, i, out.front(), out.back(), want));
    if (i >= warmup) times.push_back(t);
  }
  for (std::size_t j = 1; j + 1 < count; j += kStride)
    if (out[j] != everyone)
      throw std::runtime_error(fmt::format("allreduce of {} floats: element {} is {}, not {}",
                                           count, j, out[j], everyone));
  return times;
}

// Broadcast of `count` floats from member 0, each started together after a barrier and timed on
// each member until its call returns: the slowest member's time is when the last one has the
// data. The root writes a new value at three places every call, which the others check.
template <class Barrier, class Broadcast>
std::vector<double> time_broadcast(int rank, std::size_t count, int warmup, int iters,
                                   Barrier&& barrier, Broadcast&& broadcast) {
  Pages pages = huge_pages(count);
  const std::span<float> buf(pages.data(), count);
  constexpr float kFill = 7;
  if (rank == 0) std::fill(buf.begin(), buf.end(), kFill);
  const std::size_t probes[] = {0, count / 2, count - 1};
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(iters));
  for (int i = 0; i < warmup + iters; ++i) {
    const float value = static_cast<float>(100 + i);
    if (rank == 0)
      for (std::size_t p : probes) buf[p] = value;
    barrier();
    const auto t0 = Clock::now();
    broadcast(buf);
    const double t = seconds_since(t0);
    for (std::size_t p : probes)
      if (buf[p] != value)
        throw std::runtime_error(
            fmt::format("broadcast of {} floats, call {}: element {} is {}, "
                        "not {}",
                        count, i, p, buf[p], value));
    if (i >= warmup) times.push_back(t);
  }
  for (std::size_t j = 1; j + 1 < count; j += kStride)
    if (j != count / 2 && buf[j] != kFill)
      throw std::runtime_error(
          fmt::format("broadcast of {} floats: element {} is {}, not {}", count, j, buf[j], kFill));
  return times;
}

// ---- the member actor -----------------------------------------------------------------------

class Member {
 public:
  static Member* create() { return new Member; }

  std::vector<double> allreduce_loop(std::uint64_t count, int warmup, int iters) {
    namespace mc = manta::collective;
    return time_allreduce(
        mc::rank(kGroup), mc::size(kGroup), count, warmup, iters,
        [](std::span<const float> in, std::span<float> out) { mc::allreduce(kGroup, in, out); });
  }

  std::vector<double> broadcast_loop(std::uint64_t count, int warmup, int iters) {
    namespace mc = manta::collective;
    return time_broadcast(
        mc::rank(kGroup), count, warmup, iters, [] { mc::barrier(kGroup); },
        [](std::span<float> buf) { mc::broadcast(kGroup, buf, 0); });
  }

  // The put/get broadcast's reader: fetches the object (into this rank's store) and checks it.
  int read(manta::ObjectRef<Floats> ref, float value) {
    auto a = manta::get(ref);
    const float* p = a->data();
    const std::size_t n = a->size();
    for (std::size_t j = 0; j < n; j += kStride)
      if (p[j] != value) throw std::runtime_error(fmt::format("get: element {} is {}", j, p[j]));
    if (p[n - 1] != value) throw std::runtime_error("get: last element wrong");
    return 0;
  }
};

MANTA_REMOTE(Member::create, &Member::allreduce_loop, &Member::broadcast_loop, &Member::read);

using Members = std::vector<manta::ActorHandle<Member>>;

// Per iteration, the slowest member's time.
std::vector<double> slowest(const std::vector<std::shared_ptr<const std::vector<double>>>& all) {
  std::vector<double> worst(all.front()->size(), 0);
  for (const auto& times : all)
    for (std::size_t i = 0; i < worst.size(); ++i) worst[i] = std::max(worst[i], (*times)[i]);
  return worst;
}

template <class M>
std::vector<double> on_every_member(const Members& members, M method, std::uint64_t count,
                                    int warmup, int iters) {
  std::vector<manta::ObjectRef<std::vector<double>>> refs;
  for (const auto& m : members) refs.push_back(m.task(method).remote(count, warmup, iters));
  return slowest(manta::get(refs));
}

// ---- raw MPI, before manta::init, on MPI_COMM_WORLD (the members' ranks) ----------------------

// The same on rank 0 as `slowest`: the MAX over the ranks of each iteration.
std::vector<double> slowest_rank(const std::vector<double>& mine) {
  std::vector<double> worst(mine.size());
  MPI_Reduce(mine.data(), worst.data(), static_cast<int>(mine.size()), MPI_DOUBLE, MPI_MAX, 0,
             MPI_COMM_WORLD);
  return worst;
}

std::vector<double> mpi_allreduce_times(std::size_t count, int warmup, int iters) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Barrier(MPI_COMM_WORLD);
  return slowest_rank(time_allreduce(
      rank, size, count, warmup, iters, [](std::span<const float> in, std::span<float> out) {
        MPI_Allreduce(in.data(), out.data(), static_cast<int>(in.size()), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
      }));
}

// MPI_Iallreduce polled with MPI_Test, out of place, or `in_place` as the engine runs it for
// one member per rank (the input copied into the result, then MPI_IN_PLACE on it). Shows how
// much of a gap to MPI_Allreduce comes from MPI's non-blocking algorithm rather than Manta.
std::vector<double> mpi_iallreduce_times(std::size_t count, int warmup, int iters, bool in_place) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Barrier(MPI_COMM_WORLD);
  return slowest_rank(time_allreduce(rank, size, count, warmup, iters,
                                     [in_place](std::span<const float> in, std::span<float> out) {
                                       const void* from = in.data();
                                       if (in_place) {
                                         std::memcpy(out.data(), in.data(), in.size_bytes());
                                         from = MPI_IN_PLACE;
                                       }
                                       MPI_Request req;
                                       MPI_Iallreduce(from, out.data(),
                                                      static_cast<int>(out.size()), MPI_FLOAT,
                                                      MPI_SUM, MPI_COMM_WORLD, &req);
                                       int done = 0;
                                       while (MPI_Test(&req, &done, MPI_STATUS_IGNORE), !done) {
                                       }
                                     }));
}

std::vector<double> mpi_broadcast_times(std::size_t count, int warmup, int iters) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return slowest_rank(time_broadcast(
      rank, count, warmup, iters, [] { MPI_Barrier(MPI_COMM_WORLD); },
      [](std::span<float> buf) {
        MPI_Bcast(buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
      }));
}

// ---- put and get --------------------------------------------------------------------------------

// The driver (on member 0's rank) puts `count` floats, a new object each time, and members
// 1..n-1 get it: seconds from before the put until every reader has checked its copy. Filling
// the array is not timed; the put adopts it without a copy.
std::vector<double> put_get_times(const Members& members, std::size_t count, int warmup,
                                  int iters) {
  std::vector<double> times;
  for (int i = 0; i < warmup + iters; ++i) {
    const float value = static_cast<float>(1 + i);
    Floats a = Floats::uninitialized(count);
    std::fill(a.mutable_data(), a.mutable_data() + count, value);
    const auto t0 = Clock::now();
    auto ref = manta::put(std::move(a));
    std::vector<manta::ObjectRef<int>> reads;
    for (std::size_t m = 1; m < members.size(); ++m)
      reads.push_back(members[m].task(&Member::read).remote(ref, value));
    manta::get(reads);
    const double t = seconds_since(t0);
    if (i >= warmup) times.push_back(t);
  }
  return times;
}

// ---- the figures ------------------------------------------------------------------------------

struct Size {
  std::size_t bytes;
  int warmup, iters;  // full run; --quick divides iters by Setup::scale (at least 3)
};

struct Measured {
  // Seconds per iteration, slowest member; the MPI_Iallreduce diagnostics out of and in place.
  std::vector<double> manta, mpi, mpi_nonblocking, mpi_nonblocking_in_place;
};

void add_allreduce_rows(std::vector<Row>& rows, int n, std::size_t bytes, const Measured& m) {
  const std::string what = fmt::format("allreduce {} f32, {} members", size_label(bytes), n);
  const bool small = bytes <= 8;
  const double med = median(m.manta) * 1e6, mpi_med = median(m.mpi) * 1e6;
  rows.push_back({what + ": median", med, "us", mpi_med, "MPI_Allreduce, same ranks",
                  small ? "<= 3 x MPI" : "", !small || med <= 3 * mpi_med});
  rows.push_back({what + ": min", minimum(m.manta) * 1e6, "us", minimum(m.mpi) * 1e6,
                  "MPI_Allreduce, same ranks", "", true});
  if (bytes >= kMiB) {
    const double gbps = static_cast<double>(bytes) / median(m.manta) / 1e9;
    const double mpi_gbps = static_cast<double>(bytes) / median(m.mpi) / 1e9;
    const bool target = bytes >= 64 * kMiB;
    rows.push_back({what + ": bandwidth", gbps, "GB/s", mpi_gbps, "MPI_Allreduce, same ranks",
                    target ? ">= 0.9 x MPI" : "", !target || gbps >= 0.9 * mpi_gbps});
  }
  rows.push_back({fmt::format("  raw MPI_Iallreduce, {}: median", size_label(bytes)),
                  median(m.mpi_nonblocking) * 1e6, "us", mpi_med, "MPI_Allreduce, same ranks", "",
                  true});
  rows.push_back(
      {fmt::format("  raw copy + MPI_Iallreduce in place, {}: median", size_label(bytes)),
       median(m.mpi_nonblocking_in_place) * 1e6, "us", mpi_med, "MPI_Allreduce, same ranks", "",
       true});
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  auto iters_for = [scale = scale](int full) { return std::max(3, full / scale); };
  const std::vector<Size> sizes = {{8, 300, 3000}, {kMiB, 10, 200}, {64 * kMiB, 2, 15}};
  const Size bcast = {64 * kMiB, 1, 15};

  if (world < 2) {
    std::fprintf(stderr, "collective_bench: needs 2 or more ranks (one member on each)\n");
    MPI_Finalize();
    return 2;
  }
  try {
    // Raw MPI, same job, same ranks, before Manta starts its threads.
    const double rtt_us = manta::bench::mpi_round_trip_us(quick ? 100 : 2000);
    std::vector<Measured> allreduce(sizes.size());
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      const std::size_t count = sizes[s].bytes / sizeof(float);
      allreduce[s].mpi = mpi_allreduce_times(count, sizes[s].warmup, iters_for(sizes[s].iters));
      allreduce[s].mpi_nonblocking =
          mpi_iallreduce_times(count, sizes[s].warmup, iters_for(sizes[s].iters), false);
      allreduce[s].mpi_nonblocking_in_place =
          mpi_iallreduce_times(count, sizes[s].warmup, iters_for(sizes[s].iters), true);
    }
    const auto mpi_bcast =
        mpi_broadcast_times(bcast.bytes / sizeof(float), bcast.warmup, iters_for(bcast.iters));

    manta::init(argc, argv);  // ranks other than 0 serve from here on

    Members members;
    for (int r = 0; r < world; ++r)
      members.push_back(manta::actor(Member::create).on_rank(r).remote());
    manta::collective::create_group(kGroup, members);

    std::vector<Row> rows;
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      const Size& size = sizes[s];
      allreduce[s].manta =
          on_every_member(members, &Member::allreduce_loop, size.bytes / sizeof(float), size.warmup,
                          iters_for(size.iters));
      add_allreduce_rows(rows, world, size.bytes, allreduce[s]);
    }

    const std::string what =
        fmt::format("broadcast {} f32 from member 0, {} members", size_label(bcast.bytes), world);
    const double gb = static_cast<double>(bcast.bytes) / 1e9;
    const auto manta_bcast =
        on_every_member(members, &Member::broadcast_loop, bcast.bytes / sizeof(float), bcast.warmup,
                        iters_for(bcast.iters));
    const double bcast_gbps = gb / median(manta_bcast);
    rows.push_back({what + ": median", median(manta_bcast) * 1e3, "ms", median(mpi_bcast) * 1e3,
                    "MPI_Bcast, same ranks", "", true});
    rows.push_back({what + ": bandwidth", bcast_gbps, "GB/s", gb / median(mpi_bcast),
                    "MPI_Bcast, same ranks", "", true});
    const auto put_get =
        put_get_times(members, bcast.bytes / sizeof(float), bcast.warmup, iters_for(bcast.iters));
    const double put_get_gbps = gb / median(put_get);
    const std::string by_put_get = fmt::format("the same by put on rank 0 + get on {} member{}",
                                               world - 1, world > 2 ? "s" : "");
    rows.push_back({by_put_get + ": median", median(put_get) * 1e3, "ms", median(mpi_bcast) * 1e3,
                    "MPI_Bcast, same ranks", "", true});
    rows.push_back({by_put_get + ": bandwidth", put_get_gbps, "GB/s", gb / median(mpi_bcast),
                    "MPI_Bcast, same ranks", "", true});
    // The collective against the object store (not MPI) moving the same bytes.
    rows.push_back({"collective broadcast over put + get (bandwidth ratio)",
                    bcast_gbps / put_get_gbps, "x", 0, "", "", true});

    manta::collective::destroy_group(kGroup);
    for (const auto& m : members) m.kill();
    manta::bench::print_report(
        fmt::format("Manta collective benchmarks, members on ranks 0..{}", world - 1), world, quick,
        rtt_us, rows, json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "collective_bench: %s\n", e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
