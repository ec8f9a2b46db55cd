// Lineage reconstruction: the time to get a 64 MiB object after its only copy was lost (its
// region of the holder's spill file damaged), against the time of the task that made it and
// against the get of the same kind of object when nothing was lost (read from the holder's
// spill file). The object is made on rank 1 and owned by the driver; the get finds the region
// damaged, the driver reruns the task on rank 1 and reads the new copy. Median of the rounds.
// Prints a table and JSON (also to --json FILE).
//   mpirun -n 2 ./manta_reconstruction_bench --manta-object-store-memory=160M
//          --manta-spill-dir=DIR [--quick] [--json out.json]
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;
using Words = manta::Array<std::uint64_t>;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kWords = 64 * kMiB / sizeof(std::uint64_t);

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::uint64_t word(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + i;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 29);
}

// How long each run of make_block took on this rank, by seed (the last run).
std::mutex times_mutex;
std::map<std::uint64_t, double> task_ms;

Words make_block(std::uint64_t seed) {
  const auto t0 = Clock::now();
  Words w = Words::uninitialized(kWords);
  std::uint64_t* p = w.mutable_data();
  for (std::uint64_t i = 0; i < kWords; ++i) p[i] = word(seed, i);
  std::lock_guard lock(times_mutex);
  task_ms[seed] = ms_since(t0);
  return w;
}

double task_time(std::uint64_t seed) {
  std::lock_guard lock(times_mutex);
  return task_ms.count(seed) ? task_ms[seed] : -1;
}

std::string spill_file_of(int rank) {
  for (const auto& r : manta::memory_summary(0).ranks) {
    if (r.rank == rank) return r.spill_file;
  }
  return "";
}

MANTA_REMOTE(make_block, task_time);

bool on_disk(int rank, const manta::ObjectId& id) {
  for (const auto& o : manta::memory_summary(100000).objects) {
    if (o.rank == rank && o.id == id) return o.spilled && !o.in_memory;
  }
  return false;
}

// Objects made after `x` on rank 1 until `x` is out of memory there (kept by the caller).
std::vector<manta::ObjectRef<Words>> push_to_disk(const manta::ObjectRef<Words>& x,
                                                  std::uint64_t seed) {
  std::vector<manta::ObjectRef<Words>> fillers;
  const auto until = Clock::now() + std::chrono::seconds(120);
  while (!on_disk(1, x.id()) && Clock::now() < until) {
    if (fillers.size() < 4) {
      fillers.push_back(manta::task(make_block).on_rank(1).remote(seed + fillers.size()));
      manta::wait(std::vector{fillers.back()}, 1, std::chrono::seconds(60));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (!on_disk(1, x.id())) std::fprintf(stderr, "the object did not spill on rank 1\n");
  return fillers;
}

// Zeroes 64 KiB of block `seed` in the file: that region of the object is gone.
bool damage(const std::string& file, std::uint64_t seed) {
  std::ifstream in(file, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t pattern[4];
  for (int i = 0; i < 4; ++i) pattern[i] = word(seed, 1000 + i);
  const auto at = data.find(std::string(reinterpret_cast<const char*>(pattern), sizeof pattern));
  if (at == std::string::npos) return false;
  const std::vector<char> zeros(64 * 1024, 0);
  const int fd = ::open(file.c_str(), O_WRONLY);
  if (fd < 0) return false;
  const bool ok = ::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(at)) ==
                  static_cast<ssize_t>(zeros.size());
  ::close(fd);
  return ok;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  manta::bench::Setup setup = manta::bench::start(argc, argv);
  const int world = setup.world;
  manta::init(argc, argv);  // ranks other than 0 serve from here on
  if (world < 2) {
    std::fprintf(stderr, "run on 2 ranks: the object is made on rank 1\n");
    manta::shutdown();
    MPI_Finalize();
    return 1;
  }
  const int rounds = setup.quick ? 2 : 5;
  std::vector<double> task, made, intact_get, rebuilt_get;
  for (int round = 0; round < rounds; ++round) {
    const std::uint64_t seed = 1000 * (round + 1);
    // The same task twice: one stays intact, one is lost; both are read from rank 1's file.
    auto t0 = Clock::now();
    auto intact = manta::task(make_block).on_rank(1).remote(seed);
    manta::wait(std::vector{intact}, 1, std::chrono::seconds(60));
    made.push_back(ms_since(t0));
    auto lost = manta::task(make_block).on_rank(1).remote(seed + 1);
    manta::wait(std::vector{lost}, 1, std::chrono::seconds(60));
    task.push_back(*manta::get(manta::task(task_time).on_rank(1).remote(seed + 1)));
    auto fillers = push_to_disk(lost, seed + 10);
    if (!on_disk(1, intact.id())) std::fprintf(stderr, "round %d: intact not on disk\n", round);
    if (!damage(spill_file_of(1), seed + 1)) {
      std::fprintf(stderr, "round %d: block %llu not found in rank 1's spill file\n", round,
                   static_cast<unsigned long long>(seed + 1));
      continue;
    }
    t0 = Clock::now();
    const bool intact_ok = (*manta::get(intact))[12345] == word(seed, 12345);
    intact_get.push_back(ms_since(t0));
    t0 = Clock::now();
    const bool rebuilt_ok = (*manta::get(lost))[kWords - 1] == word(seed + 1, kWords - 1);
    rebuilt_get.push_back(ms_since(t0));
    if (!intact_ok || !rebuilt_ok) std::fprintf(stderr, "round %d: wrong bytes\n", round);
  }
  const manta::RankMemory total = manta::memory_summary(0).total();
  std::vector<Row> rows;
  rows.push_back({"task making a 64 MiB object (inside the task)", median(task), "ms"});
  rows.push_back({"submit to ready of that task (driver)", median(made), "ms"});
  rows.push_back({"get of an intact 64 MiB object spilled on rank 1", median(intact_get), "ms"});
  rows.push_back(
      {"get of a lost 64 MiB object (rebuilt from its task)", median(rebuilt_get), "ms"});
  // The rebuild against what it redoes: the task, and reading the object where it lies.
  rows.push_back(
      {"lost get / task time", median(task) > 0 ? median(rebuilt_get) / median(task) : 0, "x"});
  rows.push_back({"lost get / (task + intact get)",
                  median(task) + median(intact_get) > 0
                      ? median(rebuilt_get) / (median(task) + median(intact_get))
                      : 0,
                  "x"});
  rows.push_back({"objects rebuilt (memory summary)",
                  static_cast<double>(total.objects_reconstructed), "objects"});
  manta::bench::print_report("Manta lineage reconstruction", world, setup.quick, 0, rows,
                             setup.json_path);
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
