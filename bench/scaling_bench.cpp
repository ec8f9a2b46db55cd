// How empty-task throughput and the control traffic into rank 0 change with the number of
// ranks, for four ways of submitting: the driver spreading tasks over every rank; every rank
// submitting tasks pinned to itself; every rank submitting with no placement, few at a time
// (under the local scheduler's forwarding threshold) and many at a time (over it). Message
// counts come from each rank's own counters, so they do not depend on how many cores the ranks
// share. Raw MPI fan-out is measured in the same job. Each shape runs once to warm up, then
// five times (two with --quick): a run lasts a tenth of a second, so one run is at the mercy of
// the machine; the table gives the median and the slowest run, the counters their sum.
// Prints a table and JSON (also written to --json FILE); bench/run_peers.sh runs it at 1-8 ranks.
//   mpirun -n 4 ./manta_scaling_bench [--quick] [--json out.json] [--only SHAPE-TEXT]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "cli_args.h"
#include "mpi_baselines.h"
#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;
using Counters = std::vector<std::uint64_t>;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- remote functions -----------------------------------------------------------------------

int small_value() { return 0; }

// The counters of the rank that runs it, in the order of the Field enum.
enum Field {
  kToRank0,
  kMessages,
  kBatches,
  kForwarded,
  kWorkers,
  kLeased,
  kLeaseRequests,
  kResults,
  kResultBatches,
  kFields
};
Counters counters_here() {
  const manta::RankStats s = manta::local_stats();
  Counters c(kFields, 0);
  c[kToRank0] = manta::rank() == 0 ? 0 : s.messages_to.at(0);  // rank 0 to itself is no message
  c[kMessages] = s.messages_sent;
  c[kBatches] = s.batches_sent;
  c[kForwarded] = s.tasks_forwarded;
  c[kWorkers] = s.worker_threads;
  c[kLeased] = s.tasks_leased;
  c[kLeaseRequests] = s.lease_requests;
  c[kResults] = s.results_sent;
  c[kResultBatches] = s.result_batches;
  return c;
}

// Submits n empty tasks from this rank in batches, each batch waited for before the next;
// pinned to this rank, or placed by the schedulers.
std::uint64_t submit_batches(int n, int batch, bool pinned) {
  std::vector<manta::ObjectRef<int>> refs;
  refs.reserve(static_cast<std::size_t>(batch));
  const int here = manta::rank();
  for (int done = 0; done < n; done += batch) {
    refs.clear();
    const int b = std::min(batch, n - done);
    for (int i = 0; i < b; ++i) {
      refs.push_back(pinned ? manta::task(small_value).on_rank(here).remote()
                            : manta::task(small_value).remote());
    }
    manta::get(refs);
  }
  return static_cast<std::uint64_t>(n);
}

MANTA_REMOTE(small_value, counters_here, submit_batches);

// Counters of every rank, read by a task pinned to each.
std::vector<Counters> read_all(int world) {
  std::vector<manta::ObjectRef<Counters>> refs;
  for (int r = 0; r < world; ++r) refs.push_back(manta::task(counters_here).on_rank(r).remote());
  std::vector<Counters> out;
  for (auto& c : manta::get(refs)) out.push_back(*c);
  return out;
}

// Field f summed over all ranks, after minus before, less what one reading of the counters
// itself adds (measured by two readings back to back).
double delta(const std::vector<Counters>& before, const std::vector<Counters>& after,
             const std::vector<Counters>& idle0, const std::vector<Counters>& idle1, Field f) {
  double d = 0, reading = 0;
  for (std::size_t r = 0; r < before.size(); ++r) {
    d += static_cast<double>(after[r][f] - before[r][f]);
    reading += static_cast<double>(idle1[r][f] - idle0[r][f]);
  }
  return std::max(0.0, d - reading);
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  const int n = 100000 / scale, batch = 10000 / scale, wave = 1000 / scale;
  // --only TEXT: just the shapes whose names contain TEXT (to profile one).
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--only") continue;
    if (i + 1 >= argc || argv[i + 1][0] == '\0') {
      manta::bench::bad_argument("--only: expected part of a shape's name, e.g. --only fan-out");
    }
    only = argv[++i];
  }

  // Raw MPI, same job, before Manta starts its threads.
  double mpi_rate = 0;
  if (world >= 2) {
    mpi_rate = manta::bench::best_mpi_request_reply_rate(n, world - 1);
  }

  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;
  const auto idle0 = read_all(world);
  const auto idle1 = read_all(world);

  // Runs `work` once untimed, then `reps` times timed: the seconds of each timed run and the
  // counters around them all.
  const int reps = quick ? 2 : 5;
  struct Measured {
    std::vector<double> seconds;  // sorted
    std::vector<Counters> before, after;
  };
  auto measure = [&](auto&& work) {
    Measured m;
    work();
    m.before = read_all(world);
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      work();
      m.seconds.push_back(seconds_since(t0));
    }
    m.after = read_all(world);
    std::sort(m.seconds.begin(), m.seconds.end());
    return m;
  };
  // Counters over all timed runs, per task; the idle reading is taken once per measurement.
  auto per_task = [&](const Measured& m, Field f) {
    return delta(m.before, m.after, idle0, idle1, f) / (static_cast<double>(n) * reps);
  };

  // Driver fan-out: task i on rank i % N, batches of `batch` in flight.
  auto fan_out = [&] {
    std::vector<manta::ObjectRef<int>> refs;
    refs.reserve(static_cast<std::size_t>(batch));
    for (int done = 0; done < n; done += batch) {
      refs.clear();
      for (int i = 0; i < batch; ++i)
        refs.push_back(manta::task(small_value).on_rank((done + i) % world).remote());
      manta::get(refs);
    }
  };
  // Every rank submits its share of the n tasks itself (the driver's rank too), `in_flight` at
  // a time, pinned to itself or placed by the schedulers.
  auto every_rank = [&](int in_flight, bool pinned) {
    return [&, in_flight, pinned] {
      std::vector<manta::ObjectRef<std::uint64_t>> subs;
      for (int r = 0; r < world; ++r) {
        const int share = n / world + (r < n % world ? 1 : 0);
        subs.push_back(manta::task(submit_batches).on_rank(r).remote(share, in_flight, pinned));
      }
      manta::get(subs);
    };
  };

  {
    std::vector<manta::ObjectRef<int>> warm;
    for (int i = 0; i < 4 * world; ++i)
      warm.push_back(manta::task(small_value).on_rank(i % world).remote());
    manta::get(warm);
  }
  // 4 in flight stays under the local scheduler's forwarding threshold (4 x CPUs), `wave` does
  // not: the two sides of bottom-up scheduling.
  const int under = 4;
  const std::vector<std::pair<std::string, std::function<void()>>> shapes = {
      {"driver fan-out", fan_out},
      {"every rank, pinned to itself", every_rank(wave, true)},
      {fmt::format("every rank, unplaced, {} in flight", under), every_rank(under, false)},
      {fmt::format("every rank, unplaced, {} in flight", wave), every_rank(wave, false)},
  };
  const auto picked = [&](const std::string& shape) {
    return only.empty() || shape.find(only) != std::string::npos;
  };
  if (std::none_of(shapes.begin(), shapes.end(), [&](const auto& s) { return picked(s.first); })) {
    std::string names;
    for (const auto& s : shapes) {
      if (!names.empty()) names += "; ";
      names += s.first;
    }
    if (manta::rank() == 0) {
      std::fprintf(stderr, "manta_scaling_bench: --only %s matches no shape; the shapes: %s\n",
                   only.c_str(), names.c_str());
    }
    manta::shutdown();
    MPI_Finalize();
    return 2;
  }
  for (const auto& [shape, work] : shapes) {
    if (!picked(shape)) continue;
    const Measured m = measure(work);
    const bool fan = shape == "driver fan-out";
    const double median = m.seconds[m.seconds.size() / 2];
    double all_seconds = 0;
    for (double sec : m.seconds) all_seconds += sec;
    rows.push_back(
        {shape + ": tasks/s", n / median, "tasks/s", fan ? mpi_rate : 0,
         fan ? "MPI request+reply, rank 0 to ranks 1..N-1, best of 16/64/256 in flight" : "", "",
         true});
    rows.push_back(
        {shape + ": tasks/s, slowest run", n / m.seconds.back(), "tasks/s", 0, "", "", true});
    rows.push_back({shape + ": control messages to rank 0 per task", per_task(m, kToRank0), "msgs",
                    0, "", "", true});
    // Traffic that comes with time rather than tasks (load reports, at most one per rank per
    // report interval) shows as a rate per rank.
    const double per_rank_s =
        world > 1 ? delta(m.before, m.after, idle0, idle1, kToRank0) / (world - 1) / all_seconds
                  : 0;
    rows.push_back({shape + ": control messages to rank 0 per rank per second", per_rank_s,
                    "msgs/s", 0, "", "", true});
    rows.push_back({shape + ": control messages per task, all ranks", per_task(m, kMessages),
                    "msgs", 0, "", "", true});
    rows.push_back({shape + ": MPI sends per task, all ranks", per_task(m, kBatches), "sends", 0,
                    "", "", true});
    rows.push_back({shape + ": tasks forwarded to the global scheduler",
                    100.0 * per_task(m, kForwarded), "%", 0, "", "", true});
    rows.push_back(
        {shape + ": tasks sent on leases", 100.0 * per_task(m, kLeased), "%", 0, "", "", true});
    rows.push_back({shape + ": lease requests per task", per_task(m, kLeaseRequests), "msgs", 0, "",
                    "", true});
    const double result_msgs = delta(m.before, m.after, idle0, idle1, kResultBatches);
    rows.push_back(
        {shape + ": results per result message",
         result_msgs > 0 ? delta(m.before, m.after, idle0, idle1, kResults) / result_msgs : 0,
         "results", 0, "", "", true});
  }
  double workers = 0;
  for (const auto& c : idle1) workers += static_cast<double>(c[kWorkers]);
  rows.push_back({"worker threads per rank", workers / world, "threads", 0, "", "", true});

  manta::bench::print_report("Manta scaling", world, quick, 0, rows, json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
