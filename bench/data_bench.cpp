// The datasets library (manta/data.h) on the three workloads of its issue, each printed as a
// table and as JSON:
//   groupby  N rows (int64 key of K distinct values, double value), count/sum/mean in one
//            aggregate(), against a single-threaded std::unordered_map aggregation of the same
//            rows in this process;
//   sort     SIZE of 100-byte records (10-byte random key, 90-byte payload) by key, with its
//            spilled and restored bytes, against the disk's sequential bandwidth measured in the
//            same run in the spill directory's file system (Exoshuffle's metric: bytes to and from
//            the disk per second over what the disk does);
//   hdf5     read_hdf5 -> map_batches -> write_hdf5 of an [N][8] float file: rows/s, MB/s and
//            peak store bytes.
// Every workload checks its result (a failed check fails the run with exit status 1).
//
//   mpirun -n 4 manta_data_bench [groupby|sort|hdf5|all] [--quick] [--json FILE]
//          [--rows N] [--keys K] [--reps R] [--bytes SIZE] [--block-bytes SIZE] [--disk-bytes SIZE]
//          [--hdf5-bytes SIZE] [--dir DIR] [--inject-fault] [--manta-object-store-memory=256M ...]
// Defaults: 10 M rows of 1,000 keys (3 runs, the median reported), a 4 GiB sort, a 1 GiB disk
// probe, a 512 MiB HDF5 file; sort blocks of a sixteenth of the smallest store, at most 16 MiB;
// --dir: where the probe and HDF5 files go (the spill directory).
// --quick: every workload at a small size, in seconds (a smoke run for tests).
// --inject-fault: every check expects a wrong answer, so the run must fail (for its test).
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <manta/data.h>
#include <manta/manta.h>

#include "page_cache.h"
#include "report.h"
#include "size_text.h"

namespace data = manta::data;

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// A counter-based generator: the value for (seed, i) alone, so a block makes its rows without
/// the others and the driver can recompute any row to check it.
std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
double unit_double(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// ---- groupby rows ---------------------------------------------------------------------------

struct KeyValue {
  std::int64_t key = 0;
  double value = 0;
};

/// Row i: a key uniform in [0, keys) and a value uniform in [0, 1).
KeyValue key_value_row(std::uint64_t seed, std::int64_t keys, std::int64_t i) {
  const std::uint64_t r = splitmix(seed ^ (static_cast<std::uint64_t>(i) * 2 + 1));
  return KeyValue{static_cast<std::int64_t>(r % static_cast<std::uint64_t>(keys)),
                  unit_double(splitmix(r))};
}

struct MakeKeyValues {
  std::uint64_t seed = 0;
  std::int64_t keys = 1;
  std::vector<KeyValue> operator()(std::span<const std::int64_t> ids) const {
    std::vector<KeyValue> out;
    out.reserve(ids.size());
    for (std::int64_t i : ids) out.push_back(key_value_row(seed, keys, i));
    return out;
  }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& seed& keys;
  }
};

std::int64_t key_of(const KeyValue& r) { return r.key; }
double value_of(const KeyValue& r) { return r.value; }

// ---- sort records ---------------------------------------------------------------------------

using SortKey = std::array<std::uint8_t, 10>;

/// Exoshuffle's (and the sort benchmark's) record: a 10-byte key and a 90-byte payload, the
/// payload starting with the record's number so the output can be traced to the input.
struct Record {
  SortKey key;
  std::array<std::uint8_t, 90> payload;
};
static_assert(sizeof(Record) == 100 && std::is_trivially_copyable_v<Record>);

SortKey record_key(std::uint64_t seed, std::uint64_t i) {
  const std::uint64_t a = splitmix(seed ^ (i * 2 + 1));
  const std::uint64_t b = splitmix(a);
  SortKey k;
  std::memcpy(k.data(), &a, 8);
  std::memcpy(k.data() + 8, &b, 2);
  return k;
}

/// What the driver checks for: the records' numbers and keys, summed through a hash (order-free).
std::uint64_t record_hash(const SortKey& key, std::uint64_t number) {
  std::uint64_t head = 0;
  std::memcpy(&head, key.data(), 8);
  std::uint16_t tail = 0;
  std::memcpy(&tail, key.data() + 8, 2);
  return splitmix(head ^ splitmix(number ^ (static_cast<std::uint64_t>(tail) << 48)));
}

struct MakeRecords {
  std::uint64_t seed = 0;
  std::vector<Record> operator()(std::span<const std::int64_t> ids) const {
    std::vector<Record> out(ids.size());
    for (std::size_t j = 0; j < ids.size(); ++j) {
      const auto i = static_cast<std::uint64_t>(ids[j]);
      out[j].key = record_key(seed, i);
      std::memset(out[j].payload.data(), static_cast<int>(i % 251), out[j].payload.size());
      std::memcpy(out[j].payload.data(), &i, sizeof i);
    }
    return out;
  }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& seed;
  }
};

SortKey key_of_record(const Record& r) { return r.key; }

/// One sorted block, summed up where it is: the driver checks the whole from these alone.
struct BlockSummary {
  SortKey first{};
  SortKey last{};
  std::uint64_t rows = 0;
  std::uint64_t hash_sum = 0;
  std::uint32_t sorted = 1;  // the block's keys are in order
  std::uint32_t intact = 1;  // every payload is as its number says
};

std::vector<BlockSummary> summarize_block(std::span<const Record> rows) {
  BlockSummary s;
  s.rows = rows.size();
  if (rows.empty()) return {};
  s.first = rows.front().key;
  s.last = rows.back().key;
  for (std::size_t j = 0; j < rows.size(); ++j) {
    if (j > 0 && rows[j].key < rows[j - 1].key) s.sorted = 0;
    std::uint64_t number = 0;
    std::memcpy(&number, rows[j].payload.data(), sizeof number);
    if (rows[j].payload[sizeof number] != static_cast<std::uint8_t>(number % 251) ||
        rows[j].payload.back() != static_cast<std::uint8_t>(number % 251))
      s.intact = 0;
    s.hash_sum += record_hash(rows[j].key, number);
  }
  return {s};
}

// ---- hdf5 rows ------------------------------------------------------------------------------

using Features = std::array<float, 8>;

Features feature_row(std::uint64_t i) {
  Features f;
  for (std::size_t c = 0; c < f.size(); ++c) f[c] = static_cast<float>((i * (c + 3)) % 1000) * 0.5f;
  return f;
}

std::vector<Features> make_features(std::span<const std::int64_t> ids) {
  std::vector<Features> out;
  out.reserve(ids.size());
  for (std::int64_t i : ids) out.push_back(feature_row(static_cast<std::uint64_t>(i)));
  return out;
}

/// The pipeline's arithmetic: a scale and shift of columns 0..6, and their sum in column 7.
Features transform_row(const Features& in) {
  Features out;
  float sum = 0;
  for (std::size_t c = 0; c + 1 < in.size(); ++c) {
    out[c] = in[c] * 2.0f + 1.0f;
    sum += in[c];
  }
  out[7] = sum;
  return out;
}

std::vector<Features> transform_batch(std::span<const Features> batch) {
  std::vector<Features> out;
  out.reserve(batch.size());
  for (const Features& f : batch) out.push_back(transform_row(f));
  return out;
}

}  // namespace

MANTA_REMOTE(key_of, value_of, key_of_record, summarize_block, make_features, transform_batch);

namespace {

// ---- command line ---------------------------------------------------------------------------

std::string human(double bytes) {
  if (bytes >= static_cast<double>(kGiB)) return fmt::format("{:.2f} GiB", bytes / kGiB);
  if (bytes >= static_cast<double>(kMiB)) return fmt::format("{:.1f} MiB", bytes / kMiB);
  return fmt::format("{:.0f} B", bytes);
}

struct Options {
  std::string which = "all";
  bool quick = false;
  std::string json_path;
  std::int64_t rows = 10'000'000;  // groupby rows
  std::int64_t keys = 1000;
  int reps = 3;                           // groupby repetitions (the median is reported)
  std::uint64_t sort_bytes = 4 * kGiB;    // sort input
  std::uint64_t disk_bytes = 1 * kGiB;    // the disk bandwidth probe
  std::uint64_t hdf5_bytes = 512 * kMiB;  // HDF5 input file
  std::string dir;                        // where the files go: the spill directory's file system
  std::uint64_t sort_block_bytes = 0;     // 0: a sixteenth of the smallest store, at most 16 MiB
  bool inject_fault = false;  // each check expects a wrong answer (the test that checks fail)
};

/// Parses the benchmark's own arguments (what manta::init and bench::start leave); returns an
/// error text, or "" when they are good.
std::string parse_options(int argc, char** argv, Options& o) {
  bool sized[4] = {false, false, false, false};  // rows, bytes, hdf5-bytes, disk-bytes given
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    std::string v;
    if (a == "groupby" || a == "sort" || a == "hdf5" || a == "all") {
      o.which = a;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--inject-fault") {
      o.inject_fault = true;
    } else if (a == "--json") {
      if (!value(o.json_path)) return "--json needs a file";
    } else if (a == "--rows" || a == "--keys" || a == "--reps") {
      if (!value(v)) return a + " needs a number";
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (*end != '\0' || n < 1) return a + " " + v + ": expected a whole number >= 1";
      if (a == "--rows") o.rows = n, sized[0] = true;
      if (a == "--keys") o.keys = n;
      if (a == "--reps") o.reps = static_cast<int>(n);
    } else if (a == "--block-bytes") {
      if (!value(v) || !manta_examples::parse_size(v, o.sort_block_bytes) ||
          o.sort_block_bytes < 4096)
        return a + ": expected a size of at least 4K, e.g. 16M";
    } else if (a == "--bytes" || a == "--hdf5-bytes" || a == "--disk-bytes") {
      std::uint64_t n = 0;
      if (!value(v) || !manta_examples::parse_size(v, n) || n < 4096)
        return a + ": expected a size of at least 4K, e.g. 64M or 4G";
      if (a == "--bytes") o.sort_bytes = n, sized[1] = true;
      if (a == "--hdf5-bytes") o.hdf5_bytes = n, sized[2] = true;
      if (a == "--disk-bytes") o.disk_bytes = n, sized[3] = true;
    } else if (a == "--dir") {
      if (!value(o.dir)) return "--dir needs a directory";
    } else {
      return "unknown argument " + a;
    }
  }
  if (o.quick) {
    if (!sized[0]) o.rows = 200'000;
    if (!sized[1]) o.sort_bytes = 64 * kMiB;
    if (!sized[2]) o.hdf5_bytes = 32 * kMiB;
    if (!sized[3]) o.disk_bytes = 64 * kMiB;
  }
  return "";
}

// ---- the report -----------------------------------------------------------------------------

struct Row {
  std::string name;
  double value = 0;
  std::string unit;
  double baseline = 0;  // the same figure of the baseline named, if any
  std::string baseline_name;
  std::string note;
};

struct Report {
  std::vector<Row> rows;
  nlohmann::json json = nlohmann::json::object();
  std::vector<std::string> failures;

  void add(Row r) { rows.push_back(std::move(r)); }
  void check(bool ok, const std::string& what) {
    if (!ok) failures.push_back(what);
    std::printf("check: %s: %s\n", what.c_str(), ok ? "ok" : "FAILED");
  }
};

void print_report(const Report& rep, int ranks, const Options& o) {
  std::printf("\ndatasets benchmark: %d ranks%s\n", ranks, o.quick ? " (quick)" : "");
  std::printf("%-46s %14s %-8s %14s %-22s %8s  %s\n", "benchmark", "value", "unit", "baseline",
              "baseline is", "ratio", "note");
  nlohmann::json out = rep.json;
  out["ranks"] = ranks;
  out["quick"] = o.quick;
  out["checks_failed"] = rep.failures;
  for (const Row& r : rep.rows) {
    const double ratio = r.baseline > 0 ? r.value / r.baseline : 0;
    std::printf("%-46s %14.3f %-8s %14s %-22s %8s  %s\n", r.name.c_str(), r.value, r.unit.c_str(),
                r.baseline > 0 ? fmt::format("{:.3f}", r.baseline).c_str() : "",
                r.baseline_name.c_str(), r.baseline > 0 ? fmt::format("{:.2f}", ratio).c_str() : "",
                r.note.c_str());
    nlohmann::json j = {{"name", r.name}, {"value", r.value}, {"unit", r.unit}};
    if (r.baseline > 0) {
      j["baseline"] = r.baseline;
      j["baseline_name"] = r.baseline_name;
      j["ratio"] = ratio;
    }
    if (!r.note.empty()) j["note"] = r.note;
    out["results"].push_back(j);
  }
  const std::string text = out.dump(2);
  std::printf("\n%s\n", text.c_str());
  if (!o.json_path.empty()) std::ofstream(o.json_path) << text << "\n";
}

nlohmann::json stats_json(const data::DatasetStats& s) {
  nlohmann::json j = {{"ran", s.ran},
                      {"wall_s", s.wall_s},
                      {"budget_bytes", s.budget_bytes},
                      {"peak_pipeline_bytes", s.peak_pipeline_bytes},
                      {"peak_store_bytes", s.peak_store_bytes},
                      {"spilled_bytes", s.spilled_bytes},
                      {"restored_bytes", s.restored_bytes},
                      {"output_rows", s.output_rows}};
  for (const auto& op : s.operators) {
    j["operators"].push_back({{"name", op.name},
                              {"tasks", op.tasks},
                              {"blocks", op.blocks},
                              {"rows", op.rows},
                              {"bytes", op.bytes},
                              {"wall_s", op.wall_s},
                              {"cpu_s", op.cpu_s},
                              {"peak_bytes", op.peak_bytes}});
  }
  return j;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// ---- groupby --------------------------------------------------------------------------------

void bench_groupby(const Options& o, Report& rep) {
  const std::uint64_t seed = 19;
  std::printf("\n== groupby: %lld rows, %lld keys, count/sum/mean, %d repetitions\n",
              static_cast<long long>(o.rows), static_cast<long long>(o.keys), o.reps);
  std::fflush(stdout);
  // The input, made and kept in the stores before the clock starts.
  auto input = data::range(o.rows).map_batches(MakeKeyValues{seed, o.keys}).materialize();
  std::printf("input: %zu blocks in the stores\n", input.blocks().size());

  // The baseline: the same rows, one thread, one hash map, in this process.
  std::vector<KeyValue> rows(static_cast<std::size_t>(o.rows));
  for (std::int64_t i = 0; i < o.rows; ++i)
    rows[static_cast<std::size_t>(i)] = key_value_row(seed, o.keys, i);
  struct Acc {
    std::uint64_t n = 0;
    double sum = 0;
  };
  std::vector<double> local_s;
  std::unordered_map<std::int64_t, Acc> local;
  for (int r = 0; r < o.reps; ++r) {
    const auto t0 = Clock::now();
    std::unordered_map<std::int64_t, Acc> m;
    for (const KeyValue& kv : rows) {
      Acc& a = m[kv.key];
      ++a.n;
      a.sum += kv.value;
    }
    std::vector<std::tuple<std::int64_t, std::uint64_t, double, double>> result;
    result.reserve(m.size());
    for (const auto& [k, a] : m)
      result.emplace_back(k, a.n, a.sum, a.sum / static_cast<double>(a.n));
    std::sort(result.begin(), result.end());
    local_s.push_back(seconds_since(t0));
    local = std::move(m);
  }
  if (o.inject_fault) ++local.begin()->second.n;

  std::vector<double> manta_s;
  data::DatasetStats last_stats;
  bool matches = true;
  std::size_t groups = 0;
  for (int r = 0; r < o.reps; ++r) {
    const auto t0 = Clock::now();
    auto grouped =
        input.groupby(key_of).aggregate(data::Count{}, data::Sum{value_of}, data::Mean{value_of});
    const auto out = grouped.take_all();
    manta_s.push_back(seconds_since(t0));
    last_stats = grouped.stats();
    groups = out.size();
    // Against the in-process aggregation: counts exactly, sums and means to rounding.
    if (out.size() != local.size()) matches = false;
    for (const auto& [k, res] : out) {
      auto it = local.find(k);
      if (it == local.end()) {
        std::printf("groupby: key %lld is not in the input\n", static_cast<long long>(k));
        matches = false;
        break;
      }
      const auto& [n, sum, mean] = res;
      const double want_mean = it->second.sum / static_cast<double>(it->second.n);
      if (n != it->second.n ||
          std::abs(sum - it->second.sum) > 1e-9 * std::max(1.0, it->second.sum) ||
          std::abs(mean - want_mean) > 1e-9) {
        if (matches)
          std::printf("groupby: key %lld: count %llu sum %.17g mean %.17g, want %llu %.17g %.17g\n",
                      static_cast<long long>(k), static_cast<unsigned long long>(n), sum, mean,
                      static_cast<unsigned long long>(it->second.n), it->second.sum, want_mean);
        matches = false;
      }
    }
  }
  rep.check(matches, fmt::format("groupby: {} groups match the in-process aggregation", groups));

  const double m = median(manta_s), l = median(local_s);
  std::printf("Manta groupby: %s s (median of %d); in-process hash aggregation: %s s\n",
              fmt::format("{:.3f}", m).c_str(), o.reps, fmt::format("{:.3f}", l).c_str());
  std::printf("%s", last_stats.to_string().c_str());
  rep.add({"groupby count/sum/mean, time", m, "s", l, "in-process hash map", "median"});
  rep.add({"groupby count/sum/mean, rate", static_cast<double>(o.rows) / m / 1e6, "Mrows/s",
           static_cast<double>(o.rows) / l / 1e6, "in-process hash map", ""});
  rep.json["groupby"] = {{"rows", o.rows},
                         {"keys", o.keys},
                         {"reps", o.reps},
                         {"manta_s", manta_s},
                         {"manta_median_s", m},
                         {"in_process_s", local_s},
                         {"in_process_median_s", l},
                         {"ratio_to_in_process", l > 0 ? m / l : 0},
                         {"rows_per_s", static_cast<double>(o.rows) / m},
                         {"stats", stats_json(last_stats)}};
}

// ---- the disk -------------------------------------------------------------------------------

struct DiskBandwidth {
  double write_mb_s = 0;  // write() + fsync()
  double read_mb_s = 0;   // read() after dropping the file's cached pages
};

/// One process writing `bytes` to a file in `dir` with fsync, then reading it back from the
/// device (where the kernel lets its cached pages go).
DiskBandwidth measure_disk(const std::string& dir, std::uint64_t bytes) {
  const std::string path = dir + "/manta_data_bench_disk." + std::to_string(::getpid());
  std::vector<char> block(8 * kMiB, 'd');
  DiskBandwidth out;
  auto t0 = Clock::now();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  std::uint64_t done = 0;
  while (done < bytes) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), bytes - done));
    block[0] = static_cast<char>(done);  // no two blocks alike
    const ssize_t w = ::write(fd, block.data(), n);
    if (w <= 0) break;
    done += static_cast<std::uint64_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
  const double ws = seconds_since(t0);
  manta::bench::drop_cached(path);
  t0 = Clock::now();
  const int rfd = ::open(path.c_str(), O_RDONLY);
  std::uint64_t got = 0;
  for (ssize_t r; rfd >= 0 && (r = ::read(rfd, block.data(), block.size())) > 0;)
    got += static_cast<std::uint64_t>(r);
  if (rfd >= 0) ::close(rfd);
  const double rs = seconds_since(t0);
  std::filesystem::remove(path);
  if (done != bytes || got != bytes)
    throw std::runtime_error("the disk probe in " + dir + " wrote " + std::to_string(done) +
                             " and read " + std::to_string(got) + " bytes of " +
                             std::to_string(bytes));
  out.write_mb_s = static_cast<double>(bytes) / ws / 1e6;
  out.read_mb_s = static_cast<double>(bytes) / rs / 1e6;
  return out;
}

// ---- sort -----------------------------------------------------------------------------------

void bench_sort(const Options& o, Report& rep) {
  const std::uint64_t seed = 1019;
  const std::uint64_t records = o.sort_bytes / sizeof(Record);
  const manta::MemorySummary before = manta::memory_summary(0);
  const std::uint64_t capacity = before.total().capacity_bytes;
  std::printf(
      "\n== sort: %s of 100-byte records (%llu), stores %s in all (data %.2fx the stores)\n",
      human(static_cast<double>(records * sizeof(Record))).c_str(),
      static_cast<unsigned long long>(records), human(static_cast<double>(capacity)).c_str(),
      capacity ? static_cast<double>(records * sizeof(Record)) / static_cast<double>(capacity)
               : 0.0);
  std::printf("disk probe: %s written with fsync and read back in %s\n",
              human(static_cast<double>(o.disk_bytes)).c_str(), o.dir.c_str());
  std::fflush(stdout);
  const DiskBandwidth disk = measure_disk(o.dir, o.disk_bytes);
  std::printf("disk: write+fsync %.0f MB/s, read %.0f MB/s\n", disk.write_mb_s, disk.read_mb_s);

  // What the output must add up to, from the generator itself.
  std::uint64_t want_hash = 0;
  for (std::uint64_t i = 0; i < records; ++i) want_hash += record_hash(record_key(seed, i), i);
  if (o.inject_fault) ++want_hash;

  // Blocks of a sixteenth of the smallest store at most: a map task holds its block and its
  // pieces, a merge its pieces and its run, while others do the same on that rank.
  std::uint64_t rank_capacity = 0;
  for (const auto& r : before.ranks) {
    if (r.capacity_bytes > 0 && (rank_capacity == 0 || r.capacity_bytes < rank_capacity))
      rank_capacity = r.capacity_bytes;
  }
  data::DataContext& context = data::DataContext::current();
  const std::uint64_t saved_target = context.target_block_bytes;
  if (o.sort_block_bytes > 0)
    context.target_block_bytes = o.sort_block_bytes;
  else if (rank_capacity > 0)
    context.target_block_bytes =
        std::min(saved_target, std::max<std::uint64_t>(kMiB, rank_capacity / 16));
  const std::uint64_t block_bytes = context.target_block_bytes;
  const std::uint64_t bytes = records * sizeof(Record);
  // range() sizes its blocks by its own 8-byte rows: ask for as many as the records need.
  const std::uint64_t blocks_in = std::max<std::uint64_t>(
      static_cast<std::uint64_t>(manta::world_size()),
      (bytes + context.target_block_bytes - 1) / context.target_block_bytes);
  std::printf("blocks of %s: %llu made by the map stage\n",
              human(static_cast<double>(context.target_block_bytes)).c_str(),
              static_cast<unsigned long long>(blocks_in));

  // The records are made inside the sort's map stage (fused), so they exist only in the stores.
  const auto t0 = Clock::now();
  auto summaries = data::range(static_cast<std::int64_t>(records), blocks_in)
                       .map_batches(MakeRecords{seed})
                       .sort(key_of_record)
                       .map_batches(summarize_block);
  const std::vector<BlockSummary> blocks = summaries.take_all();
  const double seconds = seconds_since(t0);
  const data::DatasetStats stats = summaries.stats();
  context.target_block_bytes = saved_target;

  std::uint64_t rows = 0, hash_sum = 0;
  bool in_order = true, intact = true;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    rows += blocks[i].rows;
    hash_sum += blocks[i].hash_sum;
    if (!blocks[i].sorted || (i > 0 && blocks[i].first < blocks[i - 1].last)) in_order = false;
    if (!blocks[i].intact) intact = false;
  }
  rep.check(in_order, fmt::format("sort: {} blocks in order, each sorted", blocks.size()));
  rep.check(rows == records, fmt::format("sort: {} records out of {}", rows, records));
  rep.check(intact && hash_sum == want_hash, "sort: every record's key and payload came through");

  const double io_bytes = static_cast<double>(stats.spilled_bytes + stats.restored_bytes);
  // The least time the disk needs for that I/O at its measured speeds, over the time taken.
  const double disk_s = static_cast<double>(stats.spilled_bytes) / (disk.write_mb_s * 1e6) +
                        static_cast<double>(stats.restored_bytes) / (disk.read_mb_s * 1e6);
  const double fraction = seconds > 0 ? disk_s / seconds : 0;
  // What any out-of-core sort must move: the data beyond the stores, written once and read once.
  const double beyond = static_cast<double>(bytes > capacity ? bytes - capacity : 0);
  const double needed_s = beyond / (disk.write_mb_s * 1e6) + beyond / (disk.read_mb_s * 1e6);
  const double needed_fraction = seconds > 0 ? needed_s / seconds : 0;
  std::printf(
      "sort: %.2f s, %.1f MB/s of records; spilled %s, restored %s; %.1f MB/s to and from "
      "the disk, %.1f%% of its bandwidth\n",
      seconds, static_cast<double>(bytes) / seconds / 1e6,
      human(static_cast<double>(stats.spilled_bytes)).c_str(),
      human(static_cast<double>(stats.restored_bytes)).c_str(), io_bytes / seconds / 1e6,
      100 * fraction);
  std::printf("%s", stats.to_string().c_str());
  rep.add({"sort, time (records made in the map stage)", seconds, "s", 0, "",
           human(static_cast<double>(bytes))});
  rep.add({"sort, records", static_cast<double>(bytes) / seconds / 1e6, "MB/s", 0, "", ""});
  rep.add({"sort, spilled", static_cast<double>(stats.spilled_bytes) / kMiB, "MiB", 0, "", ""});
  rep.add({"sort, restored", static_cast<double>(stats.restored_bytes) / kMiB, "MiB", 0, "", ""});
  rep.add({"sort, spill + restore I/O", io_bytes / seconds / 1e6, "MB/s",
           (disk.write_mb_s + disk.read_mb_s) / 2, "disk (mean of w, r)", ""});
  rep.add({"sort, fraction of the disk's bandwidth", fraction, "", 0, "",
           "disk-busy time at measured speeds / time"});
  rep.add({"sort, needed I/O's fraction of the disk", needed_fraction, "", 0, "",
           "data beyond the stores written and read once, at disk speeds / time"});
  rep.add({"disk write + fsync", disk.write_mb_s, "MB/s", 0, "", o.dir});
  rep.add({"disk read (cache dropped)", disk.read_mb_s, "MB/s", 0, "", o.dir});
  rep.json["sort"] = {{"bytes", bytes},
                      {"records", records},
                      {"store_capacity_bytes", capacity},
                      {"seconds", seconds},
                      {"spilled_bytes", stats.spilled_bytes},
                      {"restored_bytes", stats.restored_bytes},
                      {"io_mb_s", io_bytes / seconds / 1e6},
                      {"disk_write_mb_s", disk.write_mb_s},
                      {"disk_read_mb_s", disk.read_mb_s},
                      {"disk_probe_bytes", o.disk_bytes},
                      {"disk_dir", o.dir},
                      {"disk_fraction", fraction},
                      {"needed_io_disk_fraction", needed_fraction},
                      {"block_bytes", block_bytes},
                      {"input_blocks", blocks_in},
                      {"output_blocks", blocks.size()},
                      {"stats", stats_json(stats)}};
}

// ---- hdf5 -----------------------------------------------------------------------------------

void bench_hdf5(const Options& o, Report& rep) {
  const std::uint64_t n = o.hdf5_bytes / sizeof(Features);
  const std::string in = o.dir + "/manta_data_bench_in." + std::to_string(::getpid()) + ".h5";
  const std::string out = o.dir + "/manta_data_bench_out." + std::to_string(::getpid()) + ".h5";
  std::printf(
      "\n== hdf5: read_hdf5 -> map_batches -> write_hdf5 of %llu rows of 8 floats (%s), in %s\n",
      static_cast<unsigned long long>(n), human(static_cast<double>(n * sizeof(Features))).c_str(),
      o.dir.c_str());
  std::fflush(stdout);
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove(a, ec);
      std::filesystem::remove(b, ec);
    }
  } cleanup{in, out};

  const std::uint64_t made = data::write_hdf5(
      data::range(static_cast<std::int64_t>(n)).map_batches(make_features), in, "x");
  rep.check(made == n, fmt::format("hdf5: the input file holds {} rows", made));
  manta::bench::drop_cached(in);  // the pipeline reads from the device where the kernel allows

  const auto t0 = Clock::now();
  auto pipeline = data::read_hdf5<Features>(in, "x").map_batches(transform_batch);
  const std::uint64_t written = data::write_hdf5(pipeline, out, "y");
  const double seconds = seconds_since(t0);
  const data::DatasetStats stats = pipeline.stats();
  rep.check(written == n, fmt::format("hdf5: {} rows written out of {}", written, n));

  // A sample of output rows (the first, the last and some between) against the arithmetic.
  const auto layout = data::files::hdf5_inspect(out, "y");
  bool good = layout.rows == n;
  for (std::uint64_t k = 0; good && k < 64; ++k) {
    const std::uint64_t i = k == 63 ? n - 1 : splitmix(k) % n;
    Features got{};
    data::files::hdf5_read_rows(layout, i, 1, reinterpret_cast<std::byte*>(got.data()));
    if (got != transform_row(feature_row(o.inject_fault ? i + 1 : i))) good = false;
  }
  rep.check(good, "hdf5: 64 sampled output rows match the arithmetic");

  const double bytes = static_cast<double>(n * sizeof(Features));
  std::printf(
      "hdf5 pipeline: %.2f s, %.2f Mrows/s, %.1f MB/s read (as much written), peak store %s\n",
      seconds, static_cast<double>(n) / seconds / 1e6, bytes / seconds / 1e6,
      human(static_cast<double>(stats.peak_store_bytes)).c_str());
  std::printf("%s", stats.to_string().c_str());
  rep.add({"hdf5 read->map_batches->write, rate", static_cast<double>(n) / seconds / 1e6, "Mrows/s",
           0, "", ""});
  rep.add({"hdf5 read->map_batches->write, data", bytes / seconds / 1e6, "MB/s", 0, "",
           "read (as much written)"});
  rep.add({"hdf5 pipeline, peak store bytes", static_cast<double>(stats.peak_store_bytes) / kMiB,
           "MiB", 0, "", stats.ran ? "ds.stats()" : "no stats recorded"});
  rep.add({"hdf5 pipeline, time", seconds, "s", 0, "", human(bytes)});
  rep.json["hdf5"] = {{"rows", n},
                      {"bytes", n * sizeof(Features)},
                      {"seconds", seconds},
                      {"rows_per_s", static_cast<double>(n) / seconds},
                      {"mb_per_s", bytes / seconds / 1e6},
                      {"peak_store_bytes", stats.peak_store_bytes},
                      {"stats", stats_json(stats)}};
}

/// Ends the job: MPI was started by bench::start, so it is finalized here unless shutdown did.
int finish(int status) {
  manta::shutdown();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const auto setup = manta::bench::start(argc, argv);
  std::string dir = manta::bench::manta_setting(argc, argv, "spill-dir", "MANTA_SPILL_DIR");
  manta::init(argc, argv);  // ranks other than 0 serve from here on
  Options o;
  if (const std::string error = parse_options(argc, argv, o); !error.empty()) {
    std::fprintf(stderr, "manta_data_bench: %s\n", error.c_str());
    return finish(2);
  }
  if (o.dir.empty()) o.dir = dir;
  if (o.dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    o.dir = tmp && *tmp ? tmp : "/tmp";
  }
  // Progress lines would interleave with the tables.
  data::DataContext::current().progress = false;

  Report rep;
  int status = 0;
  try {
    if (o.which == "all" || o.which == "groupby") bench_groupby(o, rep);
    if (o.which == "all" || o.which == "sort") bench_sort(o, rep);
    if (o.which == "all" || o.which == "hdf5") bench_hdf5(o, rep);
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    rep.failures.push_back(std::string("error: ") + e.what());
  }
  print_report(rep, setup.world, o);
  if (!rep.failures.empty()) {
    std::printf("FAILED: %zu check(s)\n", rep.failures.size());
    status = 1;
  }
  return finish(status);
}
