// Placement-group benchmarks: groups created, reserved and removed per second (as Ray's
// "placement group create/removal" microbenchmark: one 1-CPU bundle, create -> ready -> remove,
// one at a time; then one bundle on every rank), the same pipelined, and the time to reserve 64
// one-CPU bundles over the ranks with spread and with pack. Prints a table and JSON (also written
// to --json FILE).
//   mpirun -n 4 --oversubscribe ./manta_placement_group_bench --manta-num-cpus=16 [--quick]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;

constexpr double kRayCreateRemovePerS = 764;  // Ray's published single-node figure

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<manta::ResourceMap> one_cpu_bundles(int n) {
  return std::vector<manta::ResourceMap>(static_cast<std::size_t>(n), {{"CPU", 1}});
}

void must_be_ready(const manta::PlacementGroup& pg) {
  if (!pg.wait(60)) {
    std::fprintf(stderr, "placement group %s not ready after 60 s (are there enough CPUs?)\n",
                 pg.id().to_string().c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

/// Sequential: create, wait until ready, remove; groups of `bundles` per second.
double create_remove_rate(int n, int bundles = 1,
                          manta::PlacementStrategy strategy = manta::PlacementStrategy::pack) {
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto pg = manta::placement_group(one_cpu_bundles(bundles), strategy);
    must_be_ready(pg);
    manta::remove_placement_group(pg);
  }
  return n / seconds_since(t0);
}

/// Pipelined: `window` groups created before waiting for them, then all removed.
double pipelined_rate(int n, int window) {
  const auto t0 = Clock::now();
  std::vector<manta::PlacementGroup> live;
  for (int done = 0; done < n;) {
    live.clear();
    for (int i = 0; i < window && done < n; ++i, ++done) {
      live.push_back(manta::placement_group(one_cpu_bundles(1)));
    }
    for (const auto& pg : live) must_be_ready(pg);
    for (const auto& pg : live) manta::remove_placement_group(pg);
  }
  return n / seconds_since(t0);
}

/// Median milliseconds from create to ready of one group of `bundles` one-CPU bundles.
double reserve_ms(int bundles, manta::PlacementStrategy strategy, int runs) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    auto pg = manta::placement_group(one_cpu_bundles(bundles), strategy);
    must_be_ready(pg);
    ms.push_back(seconds_since(t0) * 1e3);
    manta::remove_placement_group(pg);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

/// Raw MPI before Manta starts: rank 0 sends 8 bytes to every other rank and waits for every
/// reply, as a group commit does; µs per fan-out. Every rank calls it.
double mpi_fan_out_us(int iters) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char buf[8] = {};
  std::vector<MPI_Request> reqs(static_cast<std::size_t>(2 * size));
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) {
    if (rank == 0) {
      std::vector<char> in(static_cast<std::size_t>(8 * size));
      int n = 0;
      for (int r = 1; r < size; ++r) {
        MPI_Isend(buf, 8, MPI_BYTE, r, 0, MPI_COMM_WORLD, &reqs[static_cast<std::size_t>(n++)]);
        MPI_Irecv(&in[static_cast<std::size_t>(8 * r)], 8, MPI_BYTE, r, 0, MPI_COMM_WORLD,
                  &reqs[static_cast<std::size_t>(n++)]);
      }
      MPI_Waitall(n, reqs.data(), MPI_STATUSES_IGNORE);
    } else {
      MPI_Recv(buf, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
  }
  const double us = seconds_since(t0) * 1e6 / iters;
  MPI_Barrier(MPI_COMM_WORLD);
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  // Raw MPI in the same run: a round trip to one rank, and a fan-out to every rank and back
  // (the least a group's commit on its ranks costs).
  const double rtt_us = world > 1 ? manta::bench::mpi_round_trip_us(quick ? 100 : 2000) : 0;
  const double fan_us = world > 1 ? mpi_fan_out_us(quick ? 100 : 2000) : 0;
  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;
  const double per_rtt = rtt_us > 0 ? 1e6 / rtt_us : 0;
  const double per_fan = fan_us > 0 ? 1e6 / fan_us : 0;

  create_remove_rate(100 / scale);  // warm up
  const double rate = create_remove_rate(2000 / scale);
  rows.push_back({"groups created+removed (1-CPU bundle, one at a time)", rate, "groups/s", per_rtt,
                  "MPI round trips per second",
                  fmt::format("Ray single node: {:.0f}/s", kRayCreateRemovePerS),
                  rate >= kRayCreateRemovePerS});
  // One bundle on every rank: each group is committed on all of them.
  rows.push_back({fmt::format("groups created+removed ({} 1-CPU bundles, strict_spread)", world),
                  create_remove_rate(1000 / scale, world, manta::PlacementStrategy::strict_spread),
                  "groups/s", per_fan, "MPI fan-outs to every rank per second", "", true});
  const int window = std::max(1, world * 8);
  rows.push_back({fmt::format("groups created+removed (1-CPU bundle, {} at once)", window),
                  pipelined_rate(4000 / scale, window), "groups/s", 0, "", "", true});
  const int runs = quick ? 3 : 11;
  for (auto s : {manta::PlacementStrategy::spread, manta::PlacementStrategy::pack}) {
    rows.push_back(
        {fmt::format("reserve 64 1-CPU bundles on {} ranks, {}", world, manta::to_string(s)),
         reserve_ms(64, s, runs) * 1e3, "us", fan_us, "one MPI fan-out to every rank", "", true});
  }

  manta::bench::print_report("Manta placement group benchmarks", world, quick, rtt_us, rows,
                             json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
