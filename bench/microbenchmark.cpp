// Manta microbenchmarks, in the spirit of `ray microbenchmark`, with raw MPI baselines measured
// in the same run. Prints a table and JSON (also written to --json FILE).
//   mpirun -n 2 ./manta_microbench [--quick] [--json out.json]
#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <manta/manta.h>

#include "batched_rate.h"
#include "report.h"

namespace {

using manta::bench::batched_rate;
using manta::bench::mpi_round_trip_us;
using manta::bench::Row;

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- remote functions -----------------------------------------------------------------------

int small_value() { return 0; }

// Objects made on a rank and kept alive there, so the driver reads them from their owner.
std::vector<manta::ObjectRef<Bytes>>& kept() {
  static std::vector<manta::ObjectRef<Bytes>> refs;
  return refs;
}
manta::ObjectRef<Bytes> make_object(std::uint64_t n) {
  auto ref = manta::put(Bytes(n, 7));
  kept().push_back(ref);
  return ref;
}
int drop_objects() {
  kept().clear();
  return 0;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

std::uint64_t messages_to_rank0() { return manta::local_stats().messages_to.at(0); }

// Runs n small tasks on this rank in waves the local scheduler keeps (bottom-up: no forwarding).
std::uint64_t run_local_waves(int n) {
  int done = 0;
  while (done < n) {
    std::vector<manta::ObjectRef<int>> wave;
    for (int i = 0; i < 4 && done < n; ++i, ++done)
      wave.push_back(manta::task(small_value).remote());
    for (auto& r : wave) manta::get(r);
  }
  return static_cast<std::uint64_t>(done);
}

MANTA_REMOTE(small_value, make_object, drop_objects, cpu_seconds, messages_to_rank0,
             run_local_waves);

// ---- raw MPI baselines (before manta::init, on MPI_COMM_WORLD) ------------------------------

// Rank 0 asks, rank 1 answers with `bytes`: the shape of a get from another rank.
double mpi_pull_seconds(std::size_t bytes, int iters) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  Bytes data(rank <= 1 ? bytes : 0, 1);
  int ask = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    if (rank == 0) {
      MPI_Send(&ask, 1, MPI_INT, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(data.data(), static_cast<int>(bytes), MPI_BYTE, 1, 2, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(&ask, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(data.data(), static_cast<int>(bytes), MPI_BYTE, 0, 2, MPI_COMM_WORLD);
    }
    times.push_back(seconds_since(t0));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);

  // Raw MPI, same job, before Manta starts its threads.
  const std::vector<std::size_t> sizes = {1u << 10, 1u << 20, 64u << 20};
  double mpi_rtt = 0;
  std::vector<double> mpi_pull(sizes.size(), 0);
  if (world >= 2) {
    mpi_round_trip_us(1000);  // warm up
    mpi_rtt = mpi_round_trip_us(20000 / scale);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const int iters = sizes[i] >= (64u << 20) ? 10 : 200;
      mpi_pull_seconds(sizes[i], 2);
      mpi_pull[i] = mpi_pull_seconds(sizes[i], std::max(3, iters / scale));
    }
  }

  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;

  // Async empty tasks on the driver's own rank.
  {
    const int n = 200000 / scale, batch = 10000 / scale;
    const double rate =
        batched_rate(n, batch, [] { return manta::task(small_value).on_rank(0).remote(); });
    rows.push_back({"single_client_tasks_async (one rank)", rate, "tasks/s", 0, "", ">= 250000",
                    rate >= 250000});
  }
  if (world >= 2) {
    // Async empty tasks from the driver to rank 1.
    {
      const int n = 100000 / scale, batch = 10000 / scale;
      const double rate =
          batched_rate(n, batch, [] { return manta::task(small_value).on_rank(1).remote(); });
      rows.push_back({"single_client_tasks_async (driver to rank 1)", rate, "tasks/s", 0, "",
                      ">= 100000", rate >= 100000});
    }
    // Synchronous round trip to rank 1.
    {
      const int n = 5000 / scale;
      for (int i = 0; i < 200; ++i) manta::get(manta::task(small_value).on_rank(1).remote());
      const auto t0 = Clock::now();
      for (int i = 0; i < n; ++i) manta::get(manta::task(small_value).on_rank(1).remote());
      const double us = seconds_since(t0) * 1e6 / n;
      rows.push_back({"single_client_tasks_sync (round trip to rank 1)", us, "us", mpi_rtt,
                      "MPI ping-pong round trip", "<= 30 x MPI", us <= 30 * mpi_rtt});
    }
    // Get of objects held by rank 1 (resolve with the owner, then pull). Reported twice: the
    // bytes arriving in the local store, and the whole get that also decodes a std::vector.
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const std::size_t bytes = sizes[i];
      const int iters = std::max(3, (bytes >= (64u << 20) ? 10 : 200) / scale);
      std::vector<double> fetch_times, get_times;
      for (int k = 0; k < iters + 2; ++k) {
        auto ref = *manta::get(
            manta::task(make_object).on_rank(1).remote(static_cast<std::uint64_t>(bytes)));
        const auto t0 = Clock::now();
        (void)manta::detail::get_object(ref.id(), std::nullopt);
        const double fetch = seconds_since(t0);
        auto value = manta::get(ref);
        const double total = seconds_since(t0);
        if (value->size() != bytes || (*value)[bytes - 1] != 7) {
          std::fprintf(stderr, "bench: wrong object contents\n");
          return 1;
        }
        if (k >= 2) {  // the first ones warm up allocators and pages
          fetch_times.push_back(fetch);
          get_times.push_back(total);
        }
        manta::get(manta::task(drop_objects).on_rank(1).remote());
      }
      auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
      };
      const double mpi_gbps = static_cast<double>(bytes) / mpi_pull[i] / 1e9;
      const double fetch_gbps = static_cast<double>(bytes) / median(fetch_times) / 1e9;
      const double get_gbps = static_cast<double>(bytes) / median(get_times) / 1e9;
      const std::string label = bytes >= (1u << 20) ? fmt::format("{} MiB", bytes >> 20)
                                                    : fmt::format("{} KiB", bytes >> 10);
      const bool target_applies = bytes >= (64u << 20);
      rows.push_back({"fetch " + label + " from rank 1 into the store", fetch_gbps, "GB/s",
                      mpi_gbps, "MPI request+send at that size",
                      target_applies ? ">= 80% of MPI" : "",
                      !target_applies || fetch_gbps >= 0.8 * mpi_gbps});
      rows.push_back({"get " + label + " from rank 1 as std::vector", get_gbps, "GB/s", mpi_gbps,
                      "MPI request+send at that size", "", true});
    }
    // Control messages to rank 0 per task run locally on rank 1.
    {
      const int n = 20000 / scale;
      const auto before = *manta::get(manta::task(messages_to_rank0).on_rank(1).remote());
      manta::get(manta::task(run_local_waves).on_rank(1).remote(n));
      const auto after = *manta::get(manta::task(messages_to_rank0).on_rank(1).remote());
      // The reading tasks' own replies go to rank 0 (2 messages); the rest is load reports.
      const double per_task = static_cast<double>(after - before - 2) / n;
      rows.push_back({"control messages to rank 0 per locally run task", per_task, "msgs", 0, "",
                      "~0", per_task < 0.01});
    }
  }
  // CPU an idle job uses, per rank.
  {
    const double idle_s = quick ? 1.0 : 3.0;
    std::vector<manta::ObjectRef<double>> a, b;
    for (int r = 0; r < world; ++r) a.push_back(manta::task(cpu_seconds).on_rank(r).remote());
    auto t0 = manta::get(a);
    std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
    for (int r = 0; r < world; ++r) b.push_back(manta::task(cpu_seconds).on_rank(r).remote());
    auto t1 = manta::get(b);
    double worst = 0, total = 0;
    for (int r = 0; r < world; ++r) {
      const double pct = (*t1[r] - *t0[r]) / idle_s * 100;
      worst = std::max(worst, pct);
      total += pct;
    }
    rows.push_back({fmt::format("idle CPU, mean of {} ranks", world), total / world, "% of a core",
                    0, "", "", true});
    rows.push_back({"idle CPU, busiest rank", worst, "% of a core", 0, "", "", true});
  }

  manta::bench::print_report("Manta microbenchmarks", world, quick, mpi_rtt, rows, json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
