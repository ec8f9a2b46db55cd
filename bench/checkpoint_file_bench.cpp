// The whole-job checkpoint file against the disk under it: every rank writes its share of a
// checkpoint (256 MiB each by default, 1 GiB on 4 ranks) with fsync, then reads it back, next to
// a plain write()+fsync and read() of as many bytes by one process in the same directory (what
// `dd conv=fsync` measures), and the record checksum's speed on one core.
//
//   mpirun -n 4 manta_checkpoint_file_bench [--dir DIR] [--mib-per-rank N] [--rounds N]
//                                           [--quick] [--json FILE]
//
// Reads "from the device" follow posix_fadvise(DONTNEED) of the file, which drops its pages from
// this machine's page cache; a virtual disk may still be served from the host's cache.
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "page_cache.h"
#include "report.h"
#include "spill/checkpoint_file.h"
#include "spill/fletcher32.h"

namespace {

using manta::spill::CheckpointManifest;
using manta::spill::CheckpointRecord;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::size_t kIoBlock = 16 * kMiB;  // as dd bs=16M

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double gb_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
}

double slowest(MPI_Comm comm, double seconds) {
  double max = 0;
  MPI_Allreduce(&seconds, &max, 1, MPI_DOUBLE, MPI_MAX, comm);
  return max;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<std::byte> filled(std::size_t size, std::uint64_t seed) {
  std::vector<std::byte> b(size);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(b.data() + i, &x, 8);
  }
  return b;
}

// Waits until the file system under `dir` has written back what earlier steps left dirty, so
// that one measurement does not pay for another's writes.
void settle(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

using manta::bench::drop_cached;

struct Plain {
  double write_sync_gb_s = 0;
  double read_device_gb_s = 0;
  double read_cached_gb_s = 0;
  std::string error;
};

// One process: write() in 16 MiB blocks and fsync, then read() it back twice.
Plain plain_io(const std::string& path, std::uint64_t bytes) {
  Plain p;
  const std::vector<std::byte> block = filled(kIoBlock, 5);
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) {
    p.error = fmt::format("cannot create {}: {}", path, std::strerror(errno));
    return p;
  }
  const auto t0 = Clock::now();
  for (std::uint64_t done = 0; done < bytes; done += kIoBlock) {
    if (::write(fd, block.data(), std::min<std::uint64_t>(kIoBlock, bytes - done)) < 0) {
      p.error = std::strerror(errno);
    }
  }
  if (::fsync(fd) != 0) p.error = std::strerror(errno);
  p.write_sync_gb_s = gb_per_s(bytes, since(t0));
  ::close(fd);
  std::vector<std::byte> into(kIoBlock);
  auto read_all = [&] {
    const int rfd = ::open(path.c_str(), O_RDONLY);
    const auto t1 = Clock::now();
    while (::read(rfd, into.data(), into.size()) > 0) {
    }
    ::close(rfd);
    return gb_per_s(bytes, since(t1));
  };
  drop_cached(path);
  p.read_device_gb_s = read_all();
  p.read_cached_gb_s = read_all();
  ::unlink(path.c_str());
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  manta::bench::Setup setup = manta::bench::start(argc, argv);
  std::string dir = "/tmp/manta-checkpoint-bench";
  std::uint64_t mib_per_rank = setup.quick ? 64 : 256;
  int rounds = setup.quick ? 1 : 3;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--mib-per-rank") mib_per_rank = std::stoull(argv[i + 1]);
    if (a == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));
  }
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const int world = setup.world;
  const std::uint64_t per_rank = mib_per_rank * kMiB;
  const std::uint64_t total = per_rank * static_cast<std::uint64_t>(world);
  std::vector<manta::bench::Row> rows;

  // The checksum on one core, and HDF5's Fletcher-32 (the spill files' checksum) beside it.
  if (rank == 0) {
    const std::vector<std::byte> b = filled(256 * kMiB, 9);
    double best = 1e9;
    double best_f32 = 1e9;
    std::uint64_t sink = 0;
    for (int k = 0; k < 5; ++k) {
      auto t0 = Clock::now();
      sink += manta::spill::checkpoint_checksum(b);
      best = std::min(best, since(t0));
      t0 = Clock::now();
      sink += manta::spill::detail::fletcher32(b.data(), b.size());
      best_f32 = std::min(best_f32, since(t0));
    }
    rows.push_back({"checkpoint_checksum, 256 MiB from memory, one core", gb_per_s(b.size(), best),
                    "GB/s", 0, "", ">= 4", gb_per_s(b.size(), best) >= 4});
    rows.push_back({"  fletcher32 (AVX2) on the same bytes, for comparison",
                    gb_per_s(b.size(), best_f32), "GB/s", 0, "", "", true});
    std::printf("(checksums %llx)\n", static_cast<unsigned long long>(sink));
  }

  if (rank == 0) std::filesystem::create_directories(dir);
  MPI_Barrier(comm);

  // Each rank's share: four records.
  std::vector<std::vector<std::byte>> bytes;
  std::vector<CheckpointRecord> records;
  for (int i = 0; i < 4; ++i) bytes.push_back(filled(per_rank / 4, rank * 4 + i + 1));
  for (int i = 0; i < 4; ++i) {
    records.push_back({"actor", fmt::format("r{}-{}", rank, i), R"({"class":"Bench"})", bytes[i]});
  }

  // Rounds of: the disk (one process, as many bytes as the whole checkpoint), then the
  // checkpoint with and without fsync, then reading it back. The disk's speed drifts on a
  // shared machine: each round has its own baseline, and the medians are compared.
  std::vector<double> write_sync_s, read_device_s, read_cached_s, verify_s;
  std::vector<double> plain_write, plain_read, plain_cached;
  CheckpointManifest manifest;
  const std::string path = manta::spill::checkpoint_path(dir);
  std::string plain_error;
  for (int round = 0; round < rounds; ++round) {
    Plain plain;
    if (rank == 0) {
      settle(dir);
      plain = plain_io(dir + "/plain.bin", total);
      if (!plain.error.empty()) plain_error = plain.error;
    }
    plain_write.push_back(plain.write_sync_gb_s);
    plain_read.push_back(plain.read_device_gb_s);
    plain_cached.push_back(plain.read_cached_gb_s);
    {
      if (rank == 0) settle(dir);
      MPI_Barrier(comm);
      const auto t0 = Clock::now();
      const auto w = manta::spill::write_checkpoint(comm, dir, "bench", "fp", records, {}, true);
      write_sync_s.push_back(slowest(comm, since(t0)));
      manifest = w.manifest;
    }
    // A restart on as many ranks: each reads its own records.
    if (rank == 0) settle(dir);
    for (const bool cached : {false, true}) {
      if (!cached && rank == 0) drop_cached(path);
      MPI_Barrier(comm);
      const auto t0 = Clock::now();
      for (const auto& e : manifest.entries) {
        if (e.rank == rank) manta::spill::read_checkpoint_entry(dir, manifest, e);
      }
      (cached ? read_cached_s : read_device_s).push_back(slowest(comm, since(t0)));
    }
    if (rank == 0) drop_cached(path);
    MPI_Barrier(comm);
    const auto t0 = Clock::now();
    const std::string problem = manta::spill::verify_checkpoint(comm, dir, manifest);
    verify_s.push_back(slowest(comm, since(t0)));
    if (!problem.empty() && rank == 0) std::printf("verify failed: %s\n", problem.c_str());
    if (rank == 0) {
      std::printf(
          "round %d: plain write+fsync %.2f GB/s, checkpoint write+fsync %.2f GB/s (%.2f s); "
          "plain read %.2f GB/s, restart read %.2f GB/s, verify %.2f GB/s\n",
          round + 1, plain.write_sync_gb_s, gb_per_s(total, write_sync_s.back()),
          write_sync_s.back(), plain.read_device_gb_s, gb_per_s(total, read_device_s.back()),
          gb_per_s(total, verify_s.back()));
      std::fflush(stdout);
    }
  }
  Plain plain;  // medians
  plain.write_sync_gb_s = median(plain_write);
  plain.read_device_gb_s = median(plain_read);
  plain.read_cached_gb_s = median(plain_cached);
  plain.error = plain_error;

  const std::string size = fmt::format("{} MiB x {} ranks", mib_per_rank, world);
  const double w_sync = gb_per_s(total, median(write_sync_s));
  rows.push_back({fmt::format("checkpoint write + fsync + rename, {}", size), w_sync, "GB/s",
                  plain.write_sync_gb_s, "plain write()+fsync", ">= 50% of plain",
                  w_sync >= 0.5 * plain.write_sync_gb_s});
  rows.push_back({"  seconds (median)", median(write_sync_s), "s", 0, "", "", true});
  const double r_dev = gb_per_s(total, median(read_device_s));
  rows.push_back({"restart read of own records (read_checkpoint_entry), from the device", r_dev,
                  "GB/s", plain.read_device_gb_s, "plain read()", ">= 50% of plain",
                  r_dev >= 0.5 * plain.read_device_gb_s});
  rows.push_back({"  seconds (median)", median(read_device_s), "s", 0, "", "", true});
  rows.push_back({"restart read of own records, page cache", gb_per_s(total, median(read_cached_s)),
                  "GB/s", plain.read_cached_gb_s, "plain read(), cached", "", true});
  rows.push_back({"verify_checkpoint, from the device", gb_per_s(total, median(verify_s)), "GB/s",
                  plain.read_device_gb_s, "plain read()", "", true});
  rows.push_back({"plain write() + fsync, one process (median)", plain.write_sync_gb_s, "GB/s", 0,
                  "", "", plain.error.empty()});
  rows.push_back({"plain read(), from the device (median)", plain.read_device_gb_s, "GB/s", 0, "",
                  "", plain.error.empty()});
  if (rank == 0) {
    std::printf(
        "\n(the \"raw MPI\" column holds the plain POSIX I/O figure each row compares with)");
    manta::bench::print_report("Manta checkpoint file in " + dir, world, setup.quick, 0, rows,
                               setup.json_path);
    std::filesystem::remove_all(dir);
  }
  MPI_Finalize();
  return 0;
}
