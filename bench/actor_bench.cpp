// Actor benchmarks, named as `ray microbenchmark` names them, with a raw MPI ping-pong measured in
// the same run. Prints a table and JSON (also written to --json FILE).
//   mpirun -n 2 ./manta_actor_bench [--quick] [--json out.json]
//   mpirun -n 4 --oversubscribe ./manta_actor_bench   (the 10,000-actor row on 4 ranks)
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <manta/manta.h>

#include "batched_rate.h"
#include "pinger.h"
#include "report.h"

namespace {

using manta::bench::batched_rate;
using manta::bench::mpi_round_trip_us;
using manta::bench::Row;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- actors and tasks -----------------------------------------------------------------------

using manta::bench::Pinger;

// A caller for "n:n": n asynchronous calls to `a` in batches, then waits for each batch.
std::uint64_t call_async(manta::ActorHandle<Pinger> a, int n, int batch) {
  int done = 0;
  std::vector<manta::ObjectRef<int>> refs;
  while (done < n) {
    refs.clear();
    for (int i = 0; i < batch && done < n; ++i, ++done)
      refs.push_back(a.task(&Pinger::small_value).remote());
    manta::get(refs);
  }
  return static_cast<std::uint64_t>(done);
}

MANTA_REMOTE(Pinger::create, &Pinger::small_value, call_async);

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);

  // Raw MPI, same job, before Manta starts its threads.
  double mpi_rtt = 0;
  if (world >= 2) {
    mpi_round_trip_us(1000);  // warm up
    mpi_rtt = mpi_round_trip_us(20000 / scale);
  }

  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;
  const int other = world >= 2 ? 1 : 0;  // the rank of the "1:1" actor

  {
    auto a = manta::actor(Pinger::create).on_rank(other).remote();
    for (int i = 0; i < 2000 / scale; ++i) manta::get(a.task(&Pinger::small_value).remote());

    // 1:1 actor calls sync: one call at a time, driver to an actor on rank 1. The median of 10
    // runs, as the 2 shared cores of a workstation make single runs noisy.
    {
      const int n = 1000 / scale;
      std::vector<double> runs;
      for (int k = 0; k < 10; ++k) {
        const auto t0 = Clock::now();
        for (int i = 0; i < n; ++i) manta::get(a.task(&Pinger::small_value).remote());
        runs.push_back(seconds_since(t0) * 1e6 / n);
      }
      std::sort(runs.begin(), runs.end());
      const double us = runs[runs.size() / 2];
      if (world >= 2) {
        rows.push_back({"1:1 actor calls sync (round trip to rank 1)", us, "us", mpi_rtt,
                        "MPI ping-pong round trip", "<= 30 x MPI", us <= 30 * mpi_rtt});
      } else {
        rows.push_back({"1:1 actor calls sync (same rank)", us, "us", 0, "", "", true});
      }
    }
    // 1:1 actor calls async: batches of calls in flight, then wait for the batch.
    {
      const int n = 200000 / scale, batch = 10000 / scale;
      const double rate =
          batched_rate(n, batch, [&] { return a.task(&Pinger::small_value).remote(); });
      rows.push_back({world >= 2 ? "1:1 actor calls async (driver to rank 1)"
                                 : "1:1 actor calls async (same rank)",
                      rate, "calls/s", 0, "", ">= 100000", rate >= 100000});
    }
    a.kill();
  }

  // n:n actor calls async: a caller task on each rank r calls its own actor on rank r + 1.
  {
    const int n_per_caller = 100000 / scale, batch = 10000 / scale;
    std::vector<manta::ActorHandle<Pinger>> actors;
    for (int r = 0; r < world; ++r)
      actors.push_back(manta::actor(Pinger::create).on_rank((r + 1) % world).remote());
    auto run = [&](int n) {
      std::vector<manta::ObjectRef<std::uint64_t>> callers;
      for (int r = 0; r < world; ++r)
        callers.push_back(manta::task(call_async).on_rank(r).remote(actors[r], n, batch));
      std::uint64_t total = 0;
      for (auto& c : manta::get(callers)) total += *c;
      return total;
    };
    run(batch);  // warm up: actors built, every caller knows where its actor lives
    const auto t0 = Clock::now();
    const std::uint64_t total = run(n_per_caller);
    const double rate = static_cast<double>(total) / seconds_since(t0);
    rows.push_back(
        {fmt::format("n:n actor calls async (n = {})", world), rate, "calls/s", 0, "", "", true});
    for (auto& h : actors) h.kill();
  }

  // Actor creations per second: create a batch spread over the ranks (each creation goes through
  // rank 0's actor table), wait until each one answers a call, kill the batch; only creation and
  // the first call are timed.
  {
    const int n = 2000 / scale, batch = 40;
    double timed = 0;
    int created = 0;
    while (created < n) {
      const int b = std::min(batch, n - created);
      std::vector<manta::ActorHandle<Pinger>> batch_actors;
      std::vector<manta::ObjectRef<int>> ready;
      const auto t0 = Clock::now();
      for (int i = 0; i < b; ++i) {
        batch_actors.push_back(manta::actor(Pinger::create).on_rank(i % world).remote());
        ready.push_back(batch_actors.back().task(&Pinger::small_value).remote());
      }
      manta::get(ready);
      timed += seconds_since(t0);
      for (auto& h : batch_actors) h.kill();
      created += b;
    }
    rows.push_back({"actor creations per second", created / timed, "actors/s", 0, "", "", true});
  }

  // Ray's envelope: 10,000 actors alive at once. Created without placement (rank 0 spreads
  // them), each answers a first call (timed with the creation), then rounds of one
  // asynchronous call to every actor; an idle actor holds no thread, so all fit.
  {
    const int n = 10000 / scale, rounds = 3;
    std::vector<manta::ActorHandle<Pinger>> many;
    many.reserve(static_cast<std::size_t>(n));
    std::vector<manta::ObjectRef<int>> ready;
    ready.reserve(static_cast<std::size_t>(n));
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      many.push_back(manta::actor(Pinger::create).remote());
      ready.push_back(many.back().task(&Pinger::small_value).remote());
    }
    manta::get(ready);
    const double create_s = seconds_since(t0);
    rows.push_back({fmt::format("{} actors on {} ranks: created (and first call)", n, world),
                    n / create_s, "actors/s", 0, "", "", true});
    t0 = Clock::now();
    for (int k = 0; k < rounds; ++k) {
      ready.clear();
      for (auto& h : many) ready.push_back(h.task(&Pinger::small_value).remote());
      manta::get(ready);
    }
    const double call_s = seconds_since(t0);
    rows.push_back({fmt::format("{} actors on {} ranks: one call to each, async", n, world),
                    static_cast<double>(n) * rounds / call_s, "calls/s", 0, "", "", true});
    for (auto& h : many) h.kill();
  }

  manta::bench::print_report("Manta actor benchmarks", world, quick, mpi_rtt, rows, json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
