// Spillback: how long N tasks of 1 s take on N ranks of one CPU each. Run where they wait on a
// busy rank they take N seconds; handed on to the idle ranks, 1 s plus overhead. Three ways of
// submitting: N tasks from the driver at once; N tasks submitted from inside a task on the last
// rank (queued behind its busy worker until rank 0 says others are free); and 2N tasks, two
// waves. Each figure is the median of several runs.
// Prints a table and JSON (also written to --json FILE):
//   mpirun -n 2 ./manta_spillback_bench --manta-num-cpus=1 [--quick] [--json out.json]
//   mpirun -n 4 --oversubscribe ./manta_spillback_bench --manta-num-cpus=1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;

int sleep_one_second() {
  std::this_thread::sleep_for(std::chrono::seconds(1));
  return manta::rank();
}

// Submits n tasks of 1 s from the rank it runs on and waits for them.
int submit_from_here(int n) {
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(manta::task(sleep_one_second).remote());
  std::set<int> ranks;
  for (auto& r : manta::get(refs)) ranks.insert(*r);
  return static_cast<int>(ranks.size());
}

int cpus_here() { return static_cast<int>(manta::local_stats().worker_threads); }
std::uint64_t handed_on_here() { return manta::local_stats().tasks_handed_on; }

MANTA_REMOTE(sleep_one_second, submit_from_here, cpus_here, handed_on_here);

// Median seconds of `runs` runs of `body`, with a pause between them so that the ranks' load
// reports of one run reach rank 0 before the next.
double median_seconds(int runs, const std::function<void()>& body) {
  std::vector<double> took;
  for (int i = 0; i < runs; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto t0 = Clock::now();
    body();
    took.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(took.begin(), took.end());
  return took[took.size() / 2];
}

std::uint64_t handed_on_everywhere(int world) {
  std::vector<manta::ObjectRef<std::uint64_t>> refs;
  for (int r = 0; r < world; ++r) refs.push_back(manta::task(handed_on_here).on_rank(r).remote());
  std::uint64_t n = 0;
  for (auto& v : manta::get(refs)) n += *v;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const manta::bench::Setup setup = manta::bench::start(argc, argv);
  manta::init(argc, argv);
  const int n = manta::world_size();
  const int runs = setup.quick ? 1 : 3;
  std::vector<Row> rows;
  // Only meaningful with one worker per rank: say so rather than report misleading times.
  const int cpus = *manta::get(manta::task(cpus_here).on_rank(0).remote());
  if (cpus != 1) {
    std::fprintf(stderr,
                 "manta_spillback_bench: ranks have %d CPUs; run with --manta-num-cpus=1 so that "
                 "one task of 1 s keeps a rank busy\n",
                 cpus);
  }
  auto add = [&](const std::string& name, double seconds, double ideal) {
    Row r;
    r.name = name;
    r.value = seconds;
    r.unit = "s";
    // The target: the ideal plus half a second of overhead, far below the serial time.
    r.target = fmt::format("<= {:.1f} s (ideal {:.0f} s)", ideal + 0.5, ideal);
    r.met = seconds <= ideal + 0.5;
    rows.push_back(r);
  };

  const double from_driver = median_seconds(runs, [&] {
    std::vector<manta::ObjectRef<int>> refs;
    for (int i = 0; i < n; ++i) refs.push_back(manta::task(sleep_one_second).remote());
    manta::get(refs);
  });
  add(fmt::format("{} tasks of 1 s from the driver, {} ranks", n, n), from_driver, 1);

  const double nested = median_seconds(
      runs, [&] { manta::get(manta::task(submit_from_here).on_rank(n - 1).remote(n)); });
  add(fmt::format("{} tasks of 1 s from a task on rank {}", n, n - 1), nested, 1);

  const double two_waves = median_seconds(runs, [&] {
    std::vector<manta::ObjectRef<int>> refs;
    for (int i = 0; i < 2 * n; ++i) refs.push_back(manta::task(sleep_one_second).remote());
    manta::get(refs);
  });
  add(fmt::format("{} tasks of 1 s from the driver, {} ranks", 2 * n, n), two_waves, 2);

  Row handed;
  handed.name = "tasks handed on (all runs)";
  handed.value = static_cast<double>(handed_on_everywhere(n));
  handed.unit = "tasks";
  rows.push_back(handed);

  manta::bench::print_report("Spillback: N tasks of 1 s on N one-CPU ranks", n, setup.quick, 0,
                             rows, setup.json_path);
  manta::shutdown();
  return 0;
}
