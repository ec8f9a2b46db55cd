// Checkpoint and restart figures: GiB of actor state written to one checkpoint by every rank at
// once, and read back by a new job, each set next to the disk's own bandwidth measured in the
// same run, in the same directory, before Manta starts: one process writing as much with write()
// and fsync() (what `dd conv=fsync` measures), every rank writing its share at once, and every
// rank reading its share back.
//
//   mpirun -n 4 ./manta_checkpoint_bench write DIR [--size-mib N] [--actors-per-rank K] [--json F]
//   mpirun -n 4 ./manta_checkpoint_bench restore DIR --manta-restore=DIR [--json F]
//
// `write` makes K actors per rank holding N MiB in all, checkpoints them to DIR and reports;
// `restore` (a new job, on any number of ranks) starts from DIR and reports the time from the
// start of the process to the first call served, and to every actor's first call. Before each
// read the pages of the files read are dropped from the page cache (posix_fadvise), so reads come
// from the disk where the kernel allows it.
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <manta/manta.h>

#include "page_cache.h"
#include "report.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

/// State a checkpoint has to write: bytes that do not compress to nothing.
class Shard {
 public:
  Shard() = default;
  Shard(std::uint64_t bytes, int seed) : data_(bytes) {
    std::uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(seed + 1);
    for (auto& b : data_) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = static_cast<std::uint8_t>(x);
    }
  }
  static Shard* create(std::uint64_t bytes, int seed) { return new Shard(bytes, seed); }
  std::uint64_t size() const { return data_.size(); }
  template <class A>
  void serialize(A& a, unsigned) {
    a& data_;
  }

 private:
  std::vector<std::uint8_t> data_;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

using manta::bench::drop_cached;

/// Every rank writing (or, with `only_rank0`, rank 0 alone) `bytes` to `path` with write() and
/// fsync(); the slowest rank's time.
double raw_write_seconds(const std::string& path, std::uint64_t bytes, bool only_rank0 = false) {
  std::vector<char> block(8 * kMiB, 'x');
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (only_rank0 && rank != 0) bytes = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  const int fd = bytes == 0 ? -1 : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  for (std::uint64_t done = 0; fd >= 0 && done < bytes;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), bytes - done));
    const ssize_t w = ::write(fd, block.data(), n);
    if (w <= 0) break;
    done += static_cast<std::uint64_t>(w);
  }
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  double mine = seconds_since(t0);
  double slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

/// Every rank reads its DIR/raw-RANK back; the slowest rank's time, and all bytes read.
std::pair<double, std::uint64_t> raw_read(const std::string& path) {
  drop_cached(path);
  std::vector<char> block(8 * kMiB);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  std::uint64_t bytes = 0;
  const int fd = ::open(path.c_str(), O_RDONLY);
  for (ssize_t n = 0; fd >= 0 && (n = ::read(fd, block.data(), block.size())) > 0;) {
    bytes += static_cast<std::uint64_t>(n);
  }
  if (fd >= 0) ::close(fd);
  double mine = seconds_since(t0);
  double slowest = 0;
  std::uint64_t all = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&bytes, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
  return {slowest, all};
}

std::string option(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

MANTA_REMOTE(Shard::create, &Shard::size);

int main(int argc, char** argv) {
  const auto process_start = Clock::now();
  manta::bench::Setup setup = manta::bench::start(argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s write|restore DIR [--size-mib N] [--actors-per-rank K]\n",
                 argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::string dir = argv[2];
  const std::uint64_t total = std::stoull(option(argc, argv, "--size-mib", "1024")) * kMiB;
  const int per_rank = std::stoi(option(argc, argv, "--actors-per-rank", "2"));
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string raw = dir + "/raw-" + std::to_string(rank);
  const std::uint64_t share = total / static_cast<std::uint64_t>(setup.world);
  std::vector<Row> rows;

  if (mode == "write") {
    if (rank == 0) std::system(("mkdir -p '" + dir + "'").c_str());
    MPI_Barrier(MPI_COMM_WORLD);
    // The disk as one writer sees it (what `dd conv=fsync` measures), then every rank at once.
    const double one_s = raw_write_seconds(dir + "/raw-one", total, /*only_rank0=*/true);
    if (rank == 0) std::remove((dir + "/raw-one").c_str());
    const double one_gbs = static_cast<double>(total) / one_s / 1e9;
    const double raw_s = raw_write_seconds(raw, share);
    const double raw_gbs = static_cast<double>(total) / raw_s / 1e9;
    manta::init(argc, argv);
    const int actors = per_rank * manta::world_size();
    std::vector<manta::ActorHandle<Shard>> shards;
    for (int k = 0; k < actors; ++k) {
      shards.push_back(manta::actor(Shard::create)
                           .name("shard-" + std::to_string(k))
                           .on_rank(k % manta::world_size())
                           .remote(total / static_cast<std::uint64_t>(actors), k));
    }
    for (auto& s : shards) manta::get(s.task(&Shard::size).remote());
    const manta::CheckpointInfo info = manta::checkpoint(dir);
    const double gbs = static_cast<double>(info.bytes) / info.seconds / 1e9;
    rows.push_back({"checkpoint " + std::to_string(total / kMiB) + " MiB, " +
                        std::to_string(actors) + " actors (fsync)",
                    info.seconds, "s", raw_s, "write+fsync", "", true});
    rows.push_back({"checkpoint write bandwidth, against one writer", gbs, "GB/s", one_gbs,
                    "one process write+fsync", "≥ 0.5 of the disk", gbs >= 0.5 * one_gbs});
    rows.push_back({"checkpoint write bandwidth, against every rank writing", gbs, "GB/s", raw_gbs,
                    "each rank write+fsync", "", true});
    manta::bench::print_report("checkpoint (write)", manta::world_size(), setup.quick, 0, rows,
                               setup.json_path);
    manta::shutdown();
    MPI_Finalize();
    return 0;
  }
  if (mode == "restore") {
    // What the restart reads, out of the page cache first.
    drop_cached(dir + "/checkpoint.h5");
    const auto [raw_s, raw_bytes] = raw_read(raw);
    drop_cached(dir + "/checkpoint.h5");
    const auto t0 = Clock::now();
    manta::init(argc, argv);
    const double init_s = seconds_since(t0);
    std::vector<manta::ActorHandle<Shard>> shards;
    for (int k = 0;; ++k) {
      auto h = manta::get_actor<Shard>("shard-" + std::to_string(k));
      if (!h) break;
      shards.push_back(*h);
    }
    std::uint64_t bytes = 0;
    double first = 0;
    for (std::size_t k = 0; k < shards.size(); ++k) {
      bytes += *manta::get(shards[k].task(&Shard::size).remote());
      if (k == 0) first = seconds_since(process_start);
    }
    const double all = seconds_since(t0);
    const double gbs = static_cast<double>(bytes) / all / 1e9;
    const double raw_gbs = static_cast<double>(raw_bytes) / raw_s / 1e9;
    rows.push_back({"restart: process start to first call served", first, "s", 0, "", "", true});
    rows.push_back({"restart: init (checks every checksum)", init_s, "s", 0, "", "", true});
    rows.push_back(
        {"restart: init to every actor served, " + std::to_string(shards.size()) + " actors", all,
         "s", 0, "", "", true});
    rows.push_back({"restart read bandwidth (" + std::to_string(bytes / kMiB) + " MiB of state)",
                    gbs, "GB/s", raw_gbs, "read", "", true});
    manta::bench::print_report("checkpoint (restart)", manta::world_size(), setup.quick, 0, rows,
                               setup.json_path);
    manta::shutdown();
    std::remove(raw.c_str());
    MPI_Finalize();
    return 0;
  }
  if (rank == 0) std::fprintf(stderr, "unknown mode %s: write or restore\n", mode.c_str());
  MPI_Finalize();
  return 2;
}
