// An out-of-core distributed sort: the shuffle of a map-reduce, on a data set larger than the
// object stores of all ranks together. Map tasks make and split the keys, reduce tasks sort the
// pieces of one key range each; the pieces and the sorted runs are objects, which spill to disk
// when the stores fill up. The driver checks the result one run at a time.
//   mpirun -n 4 ./manta_out_of_core_sort --size 1G --manta-object-store-memory=64M
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <manta/manta.h>

#include "sort_tasks.h"

namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;

std::string human(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= kGiB) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / kGiB);
  } else if (bytes >= kMiB) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / kMiB);
  } else if (bytes >= kKiB) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / kKiB);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

bool parse_count(const std::string& text, std::uint32_t& out) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n == 0 || n > (1u << 16)) return false;
  out = static_cast<std::uint32_t>(n);
  return true;
}

void usage(const char* program) {
  std::fprintf(stderr,
               "usage: mpirun -n RANKS %s [--size SIZE] [--maps M] [--reduces R] [--manta-...]\n"
               "  --size SIZE    bytes of uint64 keys to sort, e.g. 64M, 1G (default 256M)\n"
               "  --maps M       map tasks, each makes one block of keys (default: 4 per rank,\n"
               "                 more if a block would exceed a quarter of one rank's store)\n"
               "  --reduces R    reduce tasks, each sorts one key range (default: as for --maps)\n"
               "  --manta-object-store-memory=SIZE, --manta-spill-dir=PATH, ...: Manta settings\n"
               "                 (--manta-help lists them)\n",
               program);
}

struct Args {
  std::uint64_t bytes = 256 * kMiB;
  std::uint32_t maps = 0;  // 0: default
  std::uint32_t reduces = 0;
};

// Reads the arguments that manta::init left; prints why and returns false on bad input.
bool parse_args(int argc, char** argv, Args& args, bool& help) {
  help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      help = true;
      return true;
    }
    std::string value;
    std::string name = flag;
    if (const auto eq = flag.find('='); eq != std::string::npos && flag.rfind("--", 0) == 0) {
      name = flag.substr(0, eq);
      value = flag.substr(eq + 1);
    } else if (flag == "--size" || flag == "--maps" || flag == "--reduces") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "out_of_core_sort: %s needs a value\n", flag.c_str());
        return false;
      }
      value = argv[++i];
    }
    if (name == "--size") {
      if (!sort_tasks::parse_size(value, args.bytes) || args.bytes < sizeof(std::uint64_t)) {
        std::fprintf(stderr,
                     "out_of_core_sort: --size %s: expected a size of at least 8 bytes, e.g. "
                     "64M or 1G\n",
                     value.c_str());
        return false;
      }
    } else if (name == "--maps" || name == "--reduces") {
      std::uint32_t& n = name == "--maps" ? args.maps : args.reduces;
      if (!parse_count(value, n)) {
        std::fprintf(stderr, "out_of_core_sort: %s %s: expected a whole number from 1 to 65536\n",
                     name.c_str(), value.c_str());
        return false;
      }
    } else {
      std::fprintf(stderr, "out_of_core_sort: unknown argument %s\n", flag.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  manta::init(argc, argv);  // removes the --manta-* flags; other ranks serve tasks from here on
  Args args;
  bool help = false;
  if (!parse_args(argc, argv, args, help) || help) {
    usage(argv[0]);
    manta::shutdown();
    return help ? 0 : 2;
  }

  const int ranks = manta::world_size();
  const manta::MemorySummary before = manta::memory_summary(0);
  const std::uint64_t capacity = before.total().capacity_bytes;
  std::uint64_t rank_capacity = 0;  // the smallest store: the one that fills first
  for (const auto& r : before.ranks) {
    if (r.capacity_bytes > 0 && (rank_capacity == 0 || r.capacity_bytes < rank_capacity))
      rank_capacity = r.capacity_bytes;
  }

  sort_tasks::Plan plan;
  plan.keys = args.bytes / sizeof(std::uint64_t);
  const std::uint64_t bytes = plan.keys * sizeof(std::uint64_t);
  plan.maps = args.maps ? args.maps : sort_tasks::default_tasks(bytes, ranks, rank_capacity);
  plan.reduces =
      args.reduces ? args.reduces : sort_tasks::default_tasks(bytes, ranks, rank_capacity);
  const std::uint64_t block = (bytes + plan.maps - 1) / plan.maps;
  const std::uint64_t run = (bytes + plan.reduces - 1) / plan.reduces;

  std::printf("out-of-core sort: %s of uint64 keys (%llu keys), %u maps x %u reduces on %d ranks\n",
              human(bytes).c_str(), static_cast<unsigned long long>(plan.keys), plan.maps,
              plan.reduces, ranks);
  if (capacity > 0) {
    std::printf("store capacity: %s in all (%s per rank); data / store = %.2fx\n",
                human(capacity).c_str(), human(rank_capacity).c_str(),
                static_cast<double>(bytes) / static_cast<double>(capacity));
  } else {
    std::printf("store capacity: not reported by the ranks\n");
  }
  std::printf("map blocks %s, reduce runs about %s, pieces about %s\n", human(block).c_str(),
              human(run).c_str(),
              human(bytes / (static_cast<std::uint64_t>(plan.maps) * plan.reduces)).c_str());
  if (rank_capacity > 0) {
    // A task holds its block (map) or its run plus one piece (reduce) in its rank's store.
    const std::uint64_t most = rank_capacity / 4;
    if (block > most) {
      std::fprintf(stderr,
                   "warning: map blocks of %s exceed a quarter of one rank's store (%s): "
                   "expect ObjectStoreFullError; try --maps %u or more\n",
                   human(block).c_str(), human(rank_capacity).c_str(),
                   sort_tasks::default_tasks(bytes, ranks, rank_capacity));
    }
    if (run > most) {
      std::fprintf(stderr,
                   "warning: reduce runs of %s exceed a quarter of one rank's store (%s): "
                   "expect ObjectStoreFullError; try --reduces %u or more\n",
                   human(run).c_str(), human(rank_capacity).c_str(),
                   sort_tasks::default_tasks(bytes, ranks, rank_capacity));
    }
  }
  std::fflush(stdout);

  const sort_tasks::Outcome out = sort_tasks::run_sort(plan);

  const manta::RankMemory after = manta::memory_summary(0).total();
  const manta::RankMemory start = before.total();
  const std::uint64_t spilled = after.bytes_spilled - start.bytes_spilled;
  const std::uint64_t restored = after.bytes_restored - start.bytes_restored;
  const double spill_s = after.spill_seconds - start.spill_seconds;
  const double restore_s = after.restore_seconds - start.restore_seconds;
  std::printf("time %.2f s, %.1f MB/s\n", out.seconds,
              out.seconds > 0 ? static_cast<double>(bytes) / out.seconds / 1e6 : 0.0);
  std::printf(
      "spilled %s (%.0f MB/s of spill I/O), restored %s (%.0f MB/s), read from other "
      "ranks' spill files %s\n",
      human(spilled).c_str(), spill_s > 0 ? static_cast<double>(spilled) / spill_s / 1e6 : 0,
      human(restored).c_str(), restore_s > 0 ? static_cast<double>(restored) / restore_s / 1e6 : 0,
      human(after.bytes_read_from_files - start.bytes_read_from_files).c_str());
  std::printf(
      "input: %llu keys, sum %016llx, xor %016llx; output: %llu keys, sum %016llx, xor "
      "%016llx\n",
      static_cast<unsigned long long>(out.input.count),
      static_cast<unsigned long long>(out.input.sum),
      static_cast<unsigned long long>(out.input.xor_all),
      static_cast<unsigned long long>(out.output.count),
      static_cast<unsigned long long>(out.output.sum),
      static_cast<unsigned long long>(out.output.xor_all));
  if (!out.sorted_and_complete) std::printf("problem: %s\n", out.problem.c_str());
  // One line with the verdict and what it took, for scripts and tests to match.
  std::printf("sorted and complete: %s (data %.2fx the stores, %s spilled)\n",
              out.sorted_and_complete ? "yes" : "no",
              capacity ? static_cast<double>(bytes) / static_cast<double>(capacity) : 0.0,
              human(spilled).c_str());
  manta::shutdown();
  return out.sorted_and_complete ? 0 : 1;
}
