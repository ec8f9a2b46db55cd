// What a Manta job costs before it does any work, per rank: the start-up (process start to the
// rank running its first task), the shutdown, the CPU an idle rank uses and its memory (RSS).
// The same job first measures itself as a bare MPI process (MPI_Init + a barrier, then idle),
// the baseline of each figure. Times are per rank on the rank's own clock (CLOCK_BOOTTIME, the
// clock of /proc's process start time), so ranks on other nodes compare too.
// Prints a table and JSON (also written to --json FILE).
//   mpirun -n 64 --oversubscribe ./manta_startup_bench [--quick] [--idle SECONDS] [--json F]
//     [--manta-num-cpus=1 --manta-object-store-memory=32M ...]
#include <mpi.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

#include "cli_args.h"
#include "mpi_baselines.h"
#include "report.h"

namespace {

using manta::bench::Row;

double boot_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// When this process started, in seconds of CLOCK_BOOTTIME (field 22 of /proc/self/stat, in clock
// ticks; the fields after the command name, which may hold spaces, are counted from its ')').
double process_start_seconds() {
  std::ifstream in("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(all.substr(all.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  return std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A number from /proc/self/status ("VmRSS:", in KiB; "Threads:").
double status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) == 0) return std::stod(line.substr(name.size()));
  }
  return 0;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Taken on every rank before manta::init (the ranks other than 0 do not return from it).
double g_process_start = 0, g_mpi_ready = 0, g_init_called = 0;

// A sample of this rank: [clock, CPU seconds, RSS MiB, threads, process start, MPI ready,
// manta::init called].
enum Field { kClock, kCpu, kRss, kThreads, kStart, kMpiReady, kInitCalled, kFields };
std::vector<double> sample() {
  std::vector<double> s(kFields);
  s[kClock] = boot_seconds();
  s[kCpu] = cpu_seconds();
  s[kRss] = status_field("VmRSS:") / 1024.0;
  s[kThreads] = status_field("Threads:");
  s[kStart] = g_process_start;
  s[kMpiReady] = g_mpi_ready;
  s[kInitCalled] = g_init_called;
  return s;
}

MANTA_REMOTE(sample);

// A sample of every rank, by a task pinned to each, all in flight at once.
std::vector<std::vector<double>> sample_all(int world) {
  std::vector<manta::ObjectRef<std::vector<double>>> refs;
  for (int r = 0; r < world; ++r) refs.push_back(manta::task(sample).on_rank(r).remote());
  std::vector<std::vector<double>> out;
  for (auto& s : manta::get(refs)) out.push_back(*s);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double sum_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

// CPU of each rank between two samples, in % of one core.
std::vector<double> cpu_percent(const std::vector<std::vector<double>>& a,
                                const std::vector<std::vector<double>>& b) {
  std::vector<double> out;
  for (std::size_t r = 0; r < a.size(); ++r)
    out.push_back(100.0 * (b[r][kCpu] - a[r][kCpu]) / (b[r][kClock] - a[r][kClock]));
  return out;
}

std::vector<double> column(const std::vector<std::vector<double>>& s, Field f) {
  std::vector<double> out;
  for (const auto& r : s) out.push_back(r[f]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  g_process_start = process_start_seconds();
  double idle_s = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--idle") continue;
    // Every rank reads the same arguments, so every rank stops here alike, before MPI starts.
    idle_s = manta::bench::number_argument("--idle (seconds)", i + 1 < argc ? argv[i + 1] : "", 0.1,
                                           3600);
  }
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  (void)scale;
  if (idle_s <= 0) idle_s = quick ? 2 : 5;
  const auto idle_for = std::chrono::duration<double>(idle_s);

  // Bare MPI: MPI_Init (in start) and a barrier, then idle; gathered on rank 0.
  manta::bench::quiet_barrier();
  g_mpi_ready = boot_seconds();
  const std::vector<double> mpi_a = sample();
  std::this_thread::sleep_for(idle_for);
  const std::vector<double> mpi_b = sample();
  std::vector<double> mine = {g_mpi_ready - g_process_start,
                              100.0 * (mpi_b[kCpu] - mpi_a[kCpu]) / (mpi_b[kClock] - mpi_a[kClock]),
                              mpi_a[kRss], mpi_b[kRss], mpi_a[kThreads]};
  std::vector<double> all_mpi(mine.size() * static_cast<std::size_t>(world));
  MPI_Gather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all_mpi.data(),
             static_cast<int>(mine.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  std::vector<double> mpi_startup, mpi_cpu, mpi_rss_init, mpi_rss_idle, mpi_threads;
  for (std::size_t r = 0; r < all_mpi.size(); r += mine.size()) {
    mpi_startup.push_back(all_mpi[r]);
    mpi_cpu.push_back(all_mpi[r + 1]);
    mpi_rss_init.push_back(all_mpi[r + 2]);
    mpi_rss_idle.push_back(all_mpi[r + 3]);
    mpi_threads.push_back(all_mpi[r + 4]);
  }
  manta::bench::quiet_barrier();

  // Manta: ranks other than 0 serve from here on, until the shutdown.
  g_init_called = boot_seconds();
  manta::init(argc, argv);
  const double init_returned = boot_seconds();
  // A rank is ready when it runs a task: its first, sent to every rank as soon as init returns.
  const auto first = sample_all(world);
  // Process start to ready, less the bare-MPI measurement between MPI_Init and manta::init.
  std::vector<double> ready_from_start, ready_from_init;
  for (const auto& s : first) {
    ready_from_init.push_back(s[kClock] - s[kInitCalled]);
    ready_from_start.push_back(s[kMpiReady] - s[kStart] + ready_from_init.back());
  }
  // Idle: a second for start-up work to settle, then `idle_s` of nothing.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto idle_a = sample_all(world);
  std::this_thread::sleep_for(idle_for);
  const auto idle_b = sample_all(world);
  const std::vector<double> cpu = cpu_percent(idle_a, idle_b);
  const std::vector<double> rss_init = column(idle_a, kRss), rss_idle = column(idle_b, kRss);
  const std::vector<double> threads = column(idle_b, kThreads);

  const std::string mpi_name = "bare MPI process (MPI_Init + barrier, same ranks)";
  std::vector<Row> rows = {
      {"start-up: process start to ready, max over ranks", max_of(ready_from_start), "s",
       max_of(mpi_startup), mpi_name, "", true},
      {"start-up: process start to ready, median over ranks", median(ready_from_start), "s",
       median(mpi_startup), mpi_name, "", true},
      {"start-up: manta::init called to ready, max over ranks", max_of(ready_from_init), "s", 0, "",
       "", true},
      {"start-up: manta::init called to ready, median over ranks", median(ready_from_init), "s", 0,
       "", "", true},
      {"start-up: manta::init on rank 0, called to returned", init_returned - g_init_called, "s", 0,
       "", "", true},
      {"idle CPU per rank, median", median(cpu), "% of a core", median(mpi_cpu), mpi_name, "",
       true},
      {"idle CPU per rank, max", max_of(cpu), "% of a core", max_of(mpi_cpu), mpi_name, "", true},
      {"idle CPU, all ranks together", sum_of(cpu), "% of a core", sum_of(mpi_cpu), mpi_name, "",
       true},
      {"RSS per rank after init, median", median(rss_init), "MiB", median(mpi_rss_init), mpi_name,
       "", true},
      {"RSS per rank after init, max", max_of(rss_init), "MiB", max_of(mpi_rss_init), mpi_name, "",
       true},
      {"RSS per rank after idling, median", median(rss_idle), "MiB", median(mpi_rss_idle), mpi_name,
       "", true},
      {"RSS per rank after idling, max", max_of(rss_idle), "MiB", max_of(mpi_rss_idle), mpi_name,
       "", true},
      {"RSS, all ranks together after idling", sum_of(rss_idle), "MiB", sum_of(mpi_rss_idle),
       mpi_name, "", true},
      {"threads per rank, median", median(threads), "threads", median(mpi_threads), mpi_name, "",
       true},
  };
  const double shutdown_start = boot_seconds();
  manta::shutdown();
  const double shutdown_done = boot_seconds();
  MPI_Finalize();
  const double finalized = boot_seconds();
  rows.push_back({"shutdown: manta::shutdown on rank 0", shutdown_done - shutdown_start, "s", 0, "",
                  "", true});
  rows.push_back({"shutdown: MPI_Finalize on rank 0 after it", finalized - shutdown_done, "s", 0,
                  "", "", true});
  std::printf("idle: %.1f s per sample window; ready = the rank's first task ran\n", idle_s);
  manta::bench::print_report("Manta start-up and idle cost", world, quick, 0, rows, json_path);
  std::printf(
      "startup summary: %d ranks ready %.2f s after their start (max; bare MPI %.2f s), "
      "idle CPU %.1f %% of a core for all ranks together (bare MPI %.1f %%), RSS per rank %.1f "
      "MiB after idling (median; bare MPI %.1f MiB)\n",
      world, max_of(ready_from_start), max_of(mpi_startup), sum_of(cpu), sum_of(mpi_cpu),
      median(rss_idle), median(mpi_rss_idle));
  return 0;
}
