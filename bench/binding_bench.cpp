// Bound against unbound workers: the async task rate (empty tasks submitted at once, then got)
// and the throughput of CPU-bound tasks (a fixed arithmetic kernel) over every rank. The bind
// mode is the run's --manta-bind; bench/run_binding_bench.sh runs both and sets them side by
// side. The raw baseline is the same kernel run by plain threads, one per core, before Manta
// starts (bound the same way when the run binds).
//   mpirun -n 2 ./manta_binding_bench --manta-bind=cores [--quick] [--json out.json]
#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;

// Dependent floating-point work the compiler cannot fold away: about 25 µs per round.
double kernel(int rounds) {
  double x = 1.0;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < 20000; ++i) x = x * 1.0000001 + 1e-9;
  }
  return x;
}

int nothing() { return 0; }
double crunch(int rounds) { return kernel(rounds); }
std::string binding_here() { return manta::rank_hardware().binding; }

MANTA_REMOTE(nothing, crunch, binding_here);

// Kernels per second of plain threads: `threads` threads on this rank, each running `per` kernels.
double raw_kernels_per_s(int threads, int per, int rounds) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      volatile double sink = 0;
      for (int i = 0; i < per; ++i) sink = sink + kernel(rounds);
    });
  }
  for (auto& t : pool) t.join();
  MPI_Barrier(MPI_COMM_WORLD);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  return threads * per * world / s;
}

// Tasks per second, best of three runs: `n` submitted by `submit`, then all got.
template <class Submit>
double best_of_three(int n, Submit submit) {
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    const auto t0 = Clock::now();
    std::vector<decltype(submit())> refs;
    refs.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) refs.push_back(submit());
    manta::get(refs);
    best = std::max(best, n / std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const manta::bench::Setup setup = manta::bench::start(argc, argv);
  constexpr int rounds = 40;  // about a millisecond per task
  const int per_thread = 400 / setup.scale;
  const double raw = raw_kernels_per_s(1, per_thread, rounds);
  const double rtt = manta::bench::mpi_round_trip_us(setup.quick ? 100 : 2000);
  manta::init(argc, argv);
  const int n = manta::world_size();
  const std::string binding = *manta::get(manta::task(binding_here).on_rank(n - 1).remote());
  std::vector<Row> rows;

  // Async task rate: submit them all, then get them all.
  const int tasks = 20000 / setup.scale;
  const double best_rate = best_of_three(tasks, [] { return manta::task(nothing).remote(); });
  Row rate;
  rate.name = "async tasks per second";
  rate.value = best_rate;
  rate.unit = "tasks/s";
  rate.baseline = 1e6 / rtt;
  rate.baseline_name = "MPI round trips per second";
  rows.push_back(rate);

  // CPU-bound: kernels spread over every rank's workers.
  const int kernels = per_thread * n * static_cast<int>(manta::local_stats().worker_threads);
  const double best_kernels =
      best_of_three(kernels, [&] { return manta::task(crunch).remote(rounds); });
  Row cpu;
  cpu.name = "CPU-bound tasks per second (1 ms each)";
  cpu.value = best_kernels;
  cpu.unit = "tasks/s";
  cpu.baseline = raw;
  cpu.baseline_name = "the kernel on one plain thread per rank";
  rows.push_back(cpu);

  manta::bench::print_report(fmt::format("Binding ({})", binding), n, setup.quick, rtt, rows,
                             setup.json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
