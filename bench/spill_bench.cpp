// Spilling benchmarks: objects put past the store's capacity are written to the rank's spill
// file and read back on get; each figure is set next to plain write() and read() of the same
// bytes, in the same piece sizes, in the same directory, measured in the same run. Then the
// out-of-core sort of examples/ on a data set four times the stores of all ranks together.
// Prints a table and JSON (also to --json FILE).
//   mpirun -n 2 ./manta_spill_bench --manta-object-store-memory=256M --manta-spill-dir=DIR
//          [--quick] [--json out.json] [--spill-timeout SECONDS] [--sort-size SIZE]
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <manta/manta.h>

#include "report.h"
#include "sort_tasks.h"

namespace {

using manta::bench::Row;
using Clock = std::chrono::steady_clock;
using Bytes = manta::Array<std::uint8_t>;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = kMiB << 10;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double mb_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0;
}
std::string size_label(std::uint64_t bytes) {
  return bytes >= kGiB && bytes % kGiB == 0 ? fmt::format("{} GiB", bytes / kGiB)
         : bytes >= kMiB                    ? fmt::format("{} MiB", bytes / kMiB)
                                            : fmt::format("{} KiB", bytes >> 10);
}

// ---- settings the benchmark reads before manta::init removes them ---------------------------

// The value of the benchmark's own --NAME V, or "".
std::string own_flag(int argc, char** argv, const std::string& flag) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == flag) return argv[i + 1];
  return "";
}

// Where the engine puts its spill files: the baseline writes its file next to them.
std::string spill_root(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

// ---- contents that can be checked after a round trip through the disk ----------------------

// Object i of a phase: every byte (i * 131 + phase) mod 251, with i in its first 8 bytes (the
// pieces are 1 MiB and up).
std::uint8_t fill_byte(std::uint64_t i, int phase) {
  return static_cast<std::uint8_t>((i * 131 + static_cast<std::uint64_t>(phase)) % 251);
}
void fill(std::uint8_t* p, std::uint64_t size, std::uint64_t i, int phase) {
  std::memset(p, fill_byte(i, phase), size);
  std::memcpy(p, &i, sizeof i);
}
// Checks the stamp and one byte in every 4 KiB page (and the last): each page that came back
// from the file is looked at.
bool check(const std::uint8_t* p, std::uint64_t size, std::uint64_t stamp, std::uint8_t byte) {
  std::uint64_t head = 0;
  std::memcpy(&head, p, sizeof head);
  if (head != stamp) return false;
  for (std::uint64_t at = 4096; at < size; at += 4096)
    if (p[at] != byte) return false;
  return p[size - 1] == byte;
}

// ---- the baseline: plain POSIX I/O ------------------------------------------------------------

struct PlainIo {
  double write_mb_s = 0;       // write() of every piece, close; no fsync (spilling has none)
  double read_mb_s = 0;        // read() back, likely from the page cache, as restores are
  double sync_write_mb_s = 0;  // write() and one fdatasync at the end
  double disk_read_mb_s = 0;   // read() after dropping the file's pages: from the device
  std::string error;
};

bool write_all(int fd, const std::uint8_t* p, std::uint64_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::uint64_t>(w);
  }
  return true;
}
bool read_all(int fd, std::uint8_t* p, std::uint64_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::uint64_t>(r);
  }
  return true;
}

// Writes `count` pieces to a file in `dir` and reads them back, twice per variant (without and
// with fdatasync), keeping the faster of the two: the first pass also pays for the page cache
// growing, which would make the baseline easy to beat.
PlainIo plain_io(const std::string& dir, std::uint64_t piece, std::uint64_t count) {
  PlainIo out;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = fmt::format("{}/manta_spill_bench_baseline.{}", dir, ::getpid());
  std::vector<std::uint8_t> buf(piece);
  const std::uint64_t total = piece * count;
  auto fail = [&](const char* what) {
    out.error = fmt::format("{} {}: {}", what, path, std::strerror(errno));
    ::unlink(path.c_str());
    return out;
  };
  for (const bool sync : {false, false, true, true}) {
    ::sync();  // dirty pages left by earlier passes would throttle this one's writes
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0) return fail("cannot create");
    fill(buf.data(), piece, 0, 0);
    auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      std::memcpy(buf.data(), &i, sizeof i);  // each piece its own stamp, as the objects have
      if (!write_all(fd, buf.data(), piece)) {
        ::close(fd);
        return fail("cannot write");
      }
    }
    if (sync && ::fdatasync(fd) != 0) {
      ::close(fd);
      return fail("cannot fdatasync");
    }
    double& write_rate = sync ? out.sync_write_mb_s : out.write_mb_s;
    write_rate = std::max(write_rate, mb_per_s(total, seconds_since(t0)));
    // After fdatasync the pages are clean, so the kernel can drop them: the read then comes
    // from the device.
    if (sync) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::lseek(fd, 0, SEEK_SET);
    t0 = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      if (!read_all(fd, buf.data(), piece)) {
        ::close(fd);
        return fail("cannot read");
      }
      if (!check(buf.data(), piece, i, fill_byte(0, 0))) {
        ::close(fd);
        errno = EIO;
        return fail("wrong bytes read back from");
      }
    }
    double& read_rate = sync ? out.disk_read_mb_s : out.read_mb_s;
    read_rate = std::max(read_rate, mb_per_s(total, seconds_since(t0)));
    ::close(fd);
    ::unlink(path.c_str());
  }
  return out;
}

// ---- spilling and restoring ------------------------------------------------------------------

struct SpillRun {
  std::uint64_t spilled = 0;  // bytes_spilled on rank 0 during the puts and the wait
  double spill_io_s = 0;      // spill_seconds on rank 0 over the same time
  double spill_wall_s = 0;    // first put to "enough has spilled"
  std::uint64_t restored = 0;
  double restore_io_s = 0;
  double restore_wall_s = 0;  // the gets of every object, in order
  std::string note;           // why a figure is missing
  bool failed = false;
};

manta::RankMemory rank0_memory() { return manta::memory_summary(0).ranks.at(0); }

// Puts `count` objects of `piece` bytes on the driver and keeps every reference, so that all
// but a store's worth must go to disk; waits until they have; then gets them all back in order.
SpillRun spill_and_restore(std::uint64_t piece, std::uint64_t count, std::uint64_t capacity,
                           double timeout_s, int phase) {
  SpillRun run;
  const std::uint64_t total = piece * count;
  // In memory the store keeps at most its capacity, so the rest must have spilled (with no
  // capacity known there is nothing to wait for).
  const std::uint64_t must_spill = capacity && capacity < total ? total - capacity : 0;
  const auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(timeout_s));
  std::vector<manta::ObjectRef<Bytes>> refs;
  refs.reserve(count);
  try {
    ::sync();  // the same clean start as the baseline's
    const manta::RankMemory m0 = rank0_memory();
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      Bytes a = Bytes::uninitialized(piece);
      fill(a.mutable_data(), piece, i, phase);
      refs.push_back(manta::put(std::move(a)));
    }
    manta::RankMemory m1 = rank0_memory();
    if (must_spill == 0) {
      run.note = fmt::format("{} fit in the store ({}): nothing has to spill", size_label(total),
                             capacity ? size_label(capacity) : "no capacity");
    } else {
      while (m1.bytes_spilled - m0.bytes_spilled < must_spill && seconds_since(t0) < timeout_s) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        m1 = rank0_memory();
      }
      run.spill_wall_s = seconds_since(t0);
      if (m1.bytes_spilled - m0.bytes_spilled < must_spill) {
        run.note = fmt::format(
            "objects did not spill within {:.0f} s ({} of at least {} spilled): is the store "
            "capacity set (--manta-object-store-memory) and spilling working?",
            timeout_s, size_label(m1.bytes_spilled - m0.bytes_spilled), size_label(must_spill));
      }
    }
    run.spilled = m1.bytes_spilled - m0.bytes_spilled;
    run.spill_io_s = m1.spill_seconds - m0.spill_seconds;

    const auto t1 = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      {
        auto got = manta::get(refs[i], timeout);
        if (got->size() != piece || !check(got->data(), piece, i, fill_byte(i, phase))) {
          run.failed = true;
          run.note = fmt::format("object {} of {} came back with wrong bytes", i, count);
          break;
        }
      }
      refs[i] = {};  // checked: free it, so restoring the next one need not spill
    }
    run.restore_wall_s = seconds_since(t1);
    const manta::RankMemory m2 = rank0_memory();
    run.restored = m2.bytes_restored - m1.bytes_restored;
    run.restore_io_s = m2.restore_seconds - m1.restore_seconds;
  } catch (const manta::Error& e) {
    run.failed = true;
    run.note = e.what();
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path, world, scale] = manta::bench::start(argc, argv);
  (void)scale;
  const std::string dir =
      spill_root(manta::bench::manta_setting(argc, argv, "spill-dir", "MANTA_SPILL_DIR"));
  std::uint64_t flag_capacity = 0;  // used only if the ranks do not report theirs
  sort_tasks::parse_size(
      manta::bench::manta_setting(argc, argv, "object-store-memory", "MANTA_OBJECT_STORE_MEMORY"),
      flag_capacity);
  double timeout_s = quick ? 30 : 60;
  if (const std::string t = own_flag(argc, argv, "--spill-timeout"); !t.empty())
    timeout_s = std::max(1.0, std::atof(t.c_str()));
  std::uint64_t sort_bytes = 0;  // 0: four times the stores
  if (const std::string s = own_flag(argc, argv, "--sort-size"); !s.empty()) {
    if (!sort_tasks::parse_size(s, sort_bytes) || sort_bytes < 8) {
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      if (rank == 0)
        std::fprintf(stderr, "spill_bench: --sort-size %s: expected a size, e.g. 512M\n",
                     s.c_str());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }

  manta::init(argc, argv);  // ranks other than 0 serve from here on
  std::vector<Row> rows;
  const manta::MemorySummary start = manta::memory_summary(0);
  std::uint64_t capacity = start.ranks.at(0).capacity_bytes;  // rank 0's store takes the puts
  if (capacity == 0 && flag_capacity > 0) {
    std::printf("the ranks report no store capacity; using --manta-object-store-memory=%s\n",
                size_label(flag_capacity).c_str());
    capacity = flag_capacity;
  }
  std::uint64_t cluster_capacity = start.total().capacity_bytes;
  if (cluster_capacity == 0) cluster_capacity = capacity * static_cast<std::uint64_t>(world);
  std::printf("spill directory %s; store capacity %s per rank, %s in all\n", dir.c_str(),
              capacity ? size_label(capacity).c_str() : "not set",
              cluster_capacity ? size_label(cluster_capacity).c_str() : "not set");
  std::fflush(stdout);

  // Several stores' worth, so most objects have to go to disk (capped: a store of many GiB
  // would otherwise write that many times over); with no capacity, a modest amount.
  const std::uint64_t per_phase =
      capacity ? std::min(capacity * (quick ? 2 : 3), (quick ? 1 : 4) * kGiB) : 512 * kMiB;

  int phase = 0;
  for (const std::uint64_t piece : {kMiB, 64 * kMiB}) {
    const std::uint64_t count = std::max<std::uint64_t>(1, per_phase / piece);
    const std::uint64_t total = piece * count;
    const std::string label =
        fmt::format("{} objects of {} ({})", count, size_label(piece), size_label(total));
    std::printf("%s: plain I/O in %s ...\n", label.c_str(), dir.c_str());
    std::fflush(stdout);
    const PlainIo plain = plain_io(dir, piece, count);
    if (!plain.error.empty()) std::printf("  plain I/O failed: %s\n", plain.error.c_str());
    std::printf("%s: spilling and restoring ...\n", label.c_str());
    std::fflush(stdout);
    const SpillRun run = spill_and_restore(piece, count, capacity, timeout_s, ++phase);
    if (!run.note.empty()) std::printf("  %s\n", run.note.c_str());

    const std::string what = fmt::format("{} objects", size_label(piece));
    auto manta_row = [&](const std::string& name, double value, double baseline,
                         const std::string& baseline_name) {
      const bool ok = !run.failed && value > 0 && baseline > 0 && value >= 0.5 * baseline;
      rows.push_back({name, value, "MB/s", baseline, baseline_name, ">= 50% of plain", ok});
    };
    manta_row(fmt::format("spill write, {} (I/O thread time)", what),
              mb_per_s(run.spilled, run.spill_io_s), plain.write_mb_s, "plain write()");
    manta_row(fmt::format("spill write, {} (wall clock)", what),
              mb_per_s(run.spilled, run.spill_wall_s), plain.write_mb_s, "plain write()");
    manta_row(fmt::format("restore, {} (I/O thread time)", what),
              mb_per_s(run.restored, run.restore_io_s), plain.read_mb_s, "plain read()");
    manta_row(fmt::format("restore, {} (wall clock, get of each)", what),
              mb_per_s(run.restored, run.restore_wall_s), plain.read_mb_s, "plain read()");
    rows.push_back({fmt::format("  bytes spilled, {}", what),
                    static_cast<double>(run.spilled) / 1e6, "MB", 0, "", "", true});
    rows.push_back({fmt::format("  bytes restored, {}", what),
                    static_cast<double>(run.restored) / 1e6, "MB", 0, "", "", true});
    rows.push_back({fmt::format("plain write(), {} pieces, no sync", size_label(piece)),
                    plain.write_mb_s, "MB/s", 0, "", "", plain.error.empty()});
    rows.push_back({fmt::format("plain read(), {} pieces, after the write", size_label(piece)),
                    plain.read_mb_s, "MB/s", 0, "", "", plain.error.empty()});
    rows.push_back({fmt::format("plain write() + fdatasync, {} pieces", size_label(piece)),
                    plain.sync_write_mb_s, "MB/s", 0, "", "", plain.error.empty()});
    rows.push_back({fmt::format("plain read() from the device, {} pieces", size_label(piece)),
                    plain.disk_read_mb_s, "MB/s", 0, "", "", plain.error.empty()});
  }

  // The out-of-core sort, with the example's tasks and defaults.
  {
    const std::uint64_t cap_sort = (quick ? 512 : 2048) * kMiB;  // keeps a large store's run short
    std::uint64_t bytes = sort_bytes;
    if (bytes == 0)
      bytes = cluster_capacity ? std::min(4 * cluster_capacity, cap_sort) : 256 * kMiB;
    sort_tasks::Plan plan;
    plan.keys = bytes / sizeof(std::uint64_t);
    bytes = plan.keys * sizeof(std::uint64_t);
    std::uint64_t rank_capacity = 0;
    for (const auto& r : start.ranks)
      if (r.capacity_bytes && (!rank_capacity || r.capacity_bytes < rank_capacity))
        rank_capacity = r.capacity_bytes;
    if (rank_capacity == 0) rank_capacity = capacity;
    plan.maps = plan.reduces = sort_tasks::default_tasks(bytes, world, rank_capacity);
    const double ratio =
        cluster_capacity ? static_cast<double>(bytes) / static_cast<double>(cluster_capacity) : 0;
    std::printf("out-of-core sort of %s (%.2fx the stores), %u maps x %u reduces ...\n",
                size_label(bytes).c_str(), ratio, plan.maps, plan.reduces);
    std::fflush(stdout);
    const manta::RankMemory m0 = manta::memory_summary(0).total();
    const sort_tasks::Outcome out = sort_tasks::run_sort(plan);
    const manta::RankMemory m1 = manta::memory_summary(0).total();
    if (!out.sorted_and_complete) std::printf("  the sort failed: %s\n", out.problem.c_str());
    rows.push_back({fmt::format("out-of-core sort {} ({:.2g}x stores, {}x{} tasks)",
                                size_label(bytes), ratio, plan.maps, plan.reduces),
                    out.sorted_and_complete ? mb_per_s(bytes, out.seconds) : 0, "MB/s", 0, "",
                    "sorted and complete", out.sorted_and_complete});
    rows.push_back({"  sort: bytes spilled, all ranks (MB)",
                    static_cast<double>(m1.bytes_spilled - m0.bytes_spilled) / 1e6, "MB", 0, "", "",
                    true});
    rows.push_back({"  sort: bytes restored, all ranks (MB)",
                    static_cast<double>(m1.bytes_restored - m0.bytes_restored) / 1e6, "MB", 0, "",
                    "", true});
  }

  std::printf("\n(the \"raw MPI\" column holds the plain POSIX I/O figure each row compares with)");
  manta::bench::print_report("Manta spilling", world, quick, 0, rows, json_path);
  manta::shutdown();
  int finalized = 0;  // shutdown may have finalized MPI already
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  return 0;
}
