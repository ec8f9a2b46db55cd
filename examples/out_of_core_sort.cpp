// An out-of-core distributed sort on the datasets library, on a data set larger than the object
// stores of all ranks together: range() and map_batches make the keys, sort() shuffles them
// (sampled key ranges, map tasks splitting their blocks, merge tasks making the sorted runs) and
// a map_batches sums up each sorted block where it is. The blocks, pieces and runs are objects,
// which spill to disk when the stores fill up; the driver only gets the summaries and checks
// that the runs are sorted, in order and hold exactly the keys that were made.
//   mpirun -n 4 ./manta_out_of_core_sort --size 1G --manta-object-store-memory=64M
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include <manta/data.h>
#include <manta/manta.h>

#include "size_text.h"
#include "sort_keys.h"

namespace data = manta::data;

namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;

using sort_keys::Checks;
using sort_keys::key_at;

/// One sorted block, summed up on the rank that holds it.
struct Run {
  std::uint64_t first = 0;  // its least key
  std::uint64_t last = 0;   // its greatest
  Checks checks;
  std::uint32_t sorted = 1;  // its keys are in order
};

/// The keys of positions `ids` (a block of range()).
std::vector<std::uint64_t> make_keys(std::span<const std::int64_t> ids) {
  std::vector<std::uint64_t> keys(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) keys[i] = key_at(static_cast<std::uint64_t>(ids[i]));
  return keys;
}

std::uint64_t key_of(std::uint64_t key) { return key; }

std::vector<Run> summarize(std::span<const std::uint64_t> keys) {
  if (keys.empty()) return {};
  Run run;
  run.first = keys.front();
  run.last = keys.back();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    run.checks.add(keys[i]);
    if (i > 0 && keys[i] < keys[i - 1]) run.sorted = 0;
  }
  return {run};
}

}  // namespace

MANTA_REMOTE(make_keys, key_of, summarize);

namespace {

/// Blocks of at most a sixteenth of one rank's store: a rank runs several tasks at once, a map
/// holding its block and its pieces, a merge its pieces and its run, and the rest of the store
/// takes results while older ones spill (with an eighth, 1 GiB on 4 ranks of 64 MiB stores can
/// fill rank 0's store with pinned bytes). `rank_capacity` 0 means unknown: four blocks per rank.
std::uint32_t default_blocks(std::uint64_t bytes, int ranks, std::uint64_t rank_capacity) {
  std::uint64_t n = 4 * static_cast<std::uint64_t>(ranks);
  if (rank_capacity >= 16) {
    const std::uint64_t most = rank_capacity / 16;
    n = std::max(n, (bytes + most - 1) / most);
  }
  n = (n + ranks - 1) / ranks * ranks;  // the same number on every rank
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 1u << 16));
}

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
  std::fprintf(
      stderr,
      "usage: mpirun -n RANKS %s [--size SIZE] [--maps M] [--reduces R] [--manta-...]\n"
      "  --size SIZE    bytes of uint64 keys to sort, e.g. 64M, 1G (default 256M)\n"
      "  --maps M       blocks of keys, each made and split by one map task (default: 4\n"
      "                 per rank, more if a block would exceed a sixteenth of one rank's\n"
      "                 store)\n"
      "  --reduces R    sorted runs, each merged by one task (default: as many as --maps;\n"
      "                 the sort makes one run per input block, so another number\n"
      "                 repartitions the keys into R blocks first)\n"
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
      if (!manta_examples::parse_size(value, args.bytes) || args.bytes < sizeof(std::uint64_t)) {
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

  const std::uint64_t keys = args.bytes / sizeof(std::uint64_t);
  const std::uint64_t bytes = keys * sizeof(std::uint64_t);
  const std::uint32_t maps = args.maps ? args.maps : default_blocks(bytes, ranks, rank_capacity);
  const std::uint32_t reduces = args.reduces ? args.reduces : maps;
  const std::uint64_t block = (bytes + maps - 1) / maps;
  const std::uint64_t run = (bytes + reduces - 1) / reduces;
  // Tasks keep their output whole up to twice the block size: the blocks are cut as asked.
  data::DataContext::current().target_block_bytes = std::max(block, run);

  std::printf("out-of-core sort: %s of uint64 keys (%llu keys), %u maps x %u reduces on %d ranks\n",
              human(bytes).c_str(), static_cast<unsigned long long>(keys), maps, reduces, ranks);
  if (capacity > 0) {
    std::printf("store capacity: %s in all (%s per rank); data / store = %.2fx\n",
                human(capacity).c_str(), human(rank_capacity).c_str(),
                static_cast<double>(bytes) / static_cast<double>(capacity));
  } else {
    std::printf("store capacity: not reported by the ranks\n");
  }
  std::printf("map blocks %s, reduce runs about %s, pieces about %s\n", human(block).c_str(),
              human(run).c_str(),
              human(bytes / (static_cast<std::uint64_t>(maps) * reduces)).c_str());
  if (rank_capacity > 0) {
    // Each of a rank's running tasks holds a block and its pieces, or pieces and a run.
    const std::uint64_t most = rank_capacity / 16;
    if (block > most) {
      std::fprintf(stderr,
                   "warning: map blocks of %s exceed a sixteenth of one rank's store (%s): "
                   "expect ObjectStoreFullError; try --maps %u or more\n",
                   human(block).c_str(), human(rank_capacity).c_str(),
                   default_blocks(bytes, ranks, rank_capacity));
    }
    if (run > most) {
      std::fprintf(stderr,
                   "warning: reduce runs of %s exceed a sixteenth of one rank's store (%s): "
                   "expect ObjectStoreFullError; try --reduces %u or more\n",
                   human(run).c_str(), human(rank_capacity).c_str(),
                   default_blocks(bytes, ranks, rank_capacity));
    }
  }
  std::fflush(stdout);

  // The plan: nothing runs until take_all() below, which gets one small summary per sorted run.
  auto made = data::range(static_cast<std::int64_t>(keys), maps).map_batches(make_keys);
  if (reduces != maps) made = made.repartition(reduces);
  auto runs = made.sort(key_of).map_batches(summarize);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Run> summaries;
  std::string problem;
  try {
    summaries = runs.take_all();
  } catch (const std::exception& e) {
    problem = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // What the keys must add up to, from the generator; then each run and their order.
  Checks input, output;
  for (std::uint64_t j = 0; j < keys; ++j) input.add(key_at(j));
  for (std::size_t r = 0; r < summaries.size(); ++r) {
    const Run& s = summaries[r];
    output.add(s.checks);
    if (!problem.empty()) continue;
    if (!s.sorted)
      problem = "run " + std::to_string(r) + " is not sorted";
    else if (r > 0 && s.first < summaries[r - 1].last)
      problem = "run " + std::to_string(r) + " starts below the end of the one before";
  }
  if (problem.empty() && !(input == output))
    problem = "the output's count, sum or xor differs from the input's";
  const bool sorted_and_complete = problem.empty();

  const manta::RankMemory after = manta::memory_summary(0).total();
  const manta::RankMemory start = before.total();
  const std::uint64_t spilled = after.bytes_spilled - start.bytes_spilled;
  const std::uint64_t restored = after.bytes_restored - start.bytes_restored;
  const double spill_s = after.spill_seconds - start.spill_seconds;
  const double restore_s = after.restore_seconds - start.restore_seconds;
  std::printf("time %.2f s, %.1f MB/s\n", seconds,
              seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0.0);
  std::printf(
      "spilled %s (%.0f MB/s of spill I/O), restored %s (%.0f MB/s), read from other "
      "ranks' spill files %s\n",
      human(spilled).c_str(), spill_s > 0 ? static_cast<double>(spilled) / spill_s / 1e6 : 0,
      human(restored).c_str(), restore_s > 0 ? static_cast<double>(restored) / restore_s / 1e6 : 0,
      human(after.bytes_read_from_files - start.bytes_read_from_files).c_str());
  std::printf(
      "input: %llu keys, sum %016llx, xor %016llx; output: %llu keys, sum %016llx, xor "
      "%016llx\n",
      static_cast<unsigned long long>(input.count), static_cast<unsigned long long>(input.sum),
      static_cast<unsigned long long>(input.xor_all), static_cast<unsigned long long>(output.count),
      static_cast<unsigned long long>(output.sum), static_cast<unsigned long long>(output.xor_all));
  std::printf("%zu sorted runs; the pipeline's figures:\n%s", summaries.size(),
              runs.stats().to_string().c_str());
  if (!sorted_and_complete) std::printf("problem: %s\n", problem.c_str());
  // One line with the verdict and what it took, for scripts and tests to match.
  std::printf("sorted and complete: %s (data %.2fx the stores, %s spilled)\n",
              sorted_and_complete ? "yes" : "no",
              capacity ? static_cast<double>(bytes) / static_cast<double>(capacity) : 0.0,
              human(spilled).c_str());
  manta::shutdown();
  return sorted_and_complete ? 0 : 1;
}
