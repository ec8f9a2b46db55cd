// The whole-job checkpoint file on 1, 2 and 4 ranks: what every rank writes, every rank reads back
// (also on another number of ranks); names must be unique; a rank that fails, a directory that
// cannot be written and a rename that fails all end the write on every rank with one message and
// leave the previous checkpoint as it was; damage to a record, to the manifest or to the file is
// reported, as are files that are not checkpoints and checkpoints that never finished.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spill/checkpoint_file.h"
#include "spill_test_support.h"

namespace {

using manta::spill::checkpoint_checksum;
using manta::spill::checkpoint_path;
using manta::spill::CheckpointEntry;
using manta::spill::CheckpointError;
using manta::spill::CheckpointManifest;
using manta::spill::CheckpointRecord;
using manta::spill::CheckpointWritten;
using manta::spill::read_checkpoint_entry;
using manta::spill::read_checkpoint_manifest;
using manta::spill::verify_checkpoint;
using manta::spill::write_checkpoint;
using spill_test::pattern;

constexpr std::size_t MiB = std::size_t{1} << 20;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// A scratch directory every rank uses (rank 0 makes it), removed at the end of the test.
class SharedDir {
 public:
  SharedDir() {
    std::string path(256, '\0');
    if (world_rank() == 0) {
      std::string tmpl = "/tmp/manta-checkpoint-test-XXXXXX";
      if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
      path = tmpl;
      path.resize(256);
    }
    MPI_Bcast(path.data(), 256, MPI_CHAR, 0, MPI_COMM_WORLD);
    path_ = path.c_str();
  }
  ~SharedDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  SharedDir(const SharedDir&) = delete;
  SharedDir& operator=(const SharedDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// One rank's records and the bytes behind them.
struct Contribution {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<CheckpointRecord> records;

  void add(std::string kind, std::string name, std::string meta, std::vector<std::byte> b) {
    bytes.push_back(std::move(b));
    records.push_back({std::move(kind), std::move(name), std::move(meta), {}});
  }
  // Spans are taken once all bytes are in place (the vector of vectors may move them).
  std::vector<CheckpointRecord>& finish() {
    for (std::size_t i = 0; i < records.size(); ++i) records[i].bytes = std::span(bytes[i]);
    return records;
  }
};

std::uint64_t seed_of(int rank, int i) { return static_cast<std::uint64_t>(rank) * 1000 + i + 1; }

// Varied records: rank 1 (of 2 or more) has none; the others have empty records, small ones,
// enough small ones to fill the writer's staging buffer more than once, records past its size
// limit for copying, and rank 0 a record larger than 64 MiB.
Contribution varied(int rank) {
  Contribution c;
  if (rank == 1) return c;
  const std::vector<std::size_t> sizes = {
      0, 1, 7, 4096 + static_cast<std::size_t>(rank), 0, MiB + 3, 5 * MiB + 1};
  int i = 0;
  for (const std::size_t size : sizes) {
    // Built without `"literal" + std::to_string(...)`, which trips a -Wrestrict false positive
    // of GCC 12 at -O3.
    const std::string r = std::to_string(rank), n = std::to_string(i);
    c.add("object", std::string("r").append(r).append("-").append(n),
          nlohmann::json{{"index", i}, {"rank", rank}}.dump(), pattern(seed_of(rank, i), size));
    ++i;
  }
  if (rank == 0) {
    // 20 records of 3.5 MiB: more than one staging buffer of small records.
    for (int k = 0; k < 20; ++k, ++i) {
      c.add("actor", "small-" + std::to_string(k), "{}", pattern(seed_of(rank, i), 7 * MiB / 2));
    }
    c.add("actor", "z\xc3\xa4hler \xe2\x88\x91", R"({"note": "\u00fcber"})",
          pattern(seed_of(rank, i++), 1234));
    c.add("driver", "state", R"({"class": "Driver", "options": {"a": [1, 2]}})",
          pattern(seed_of(rank, i), 65 * MiB + 5));
  }
  return c;
}

// The bytes record `e` must hold, made again from its writer's seeds.
std::vector<std::byte> expected_bytes(const CheckpointEntry& e) {
  static std::map<int, Contribution> made;
  if (!made.contains(e.rank)) made.emplace(e.rank, varied(e.rank));
  const Contribution& c = made.at(e.rank);
  for (std::size_t i = 0; i < c.records.size(); ++i) {
    if (c.records[i].kind == e.kind && c.records[i].name == e.name) return c.bytes[i];
  }
  ADD_FAILURE() << "no record " << e.kind << " " << e.name << " on rank " << e.rank;
  return {};
}

void expect_same(const CheckpointManifest& a, const CheckpointManifest& b) {
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.program, b.program);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_EQ(a.world_size, b.world_size);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.data_bytes, b.data_bytes);
  EXPECT_EQ(a.data_address, b.data_address);
  ASSERT_EQ(a.entries.size(), b.entries.size());
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    const CheckpointEntry& x = a.entries[i];
    const CheckpointEntry& y = b.entries[i];
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(nlohmann::json::parse(x.meta), nlohmann::json::parse(y.meta));
    EXPECT_EQ(x.rank, y.rank);
    EXPECT_EQ(x.offset, y.offset);
    EXPECT_EQ(x.size, y.size);
    EXPECT_EQ(x.checksum, y.checksum);
  }
}

// Runs `f` on rank 0 while the others wait (changes to the files under test).
void on_rank0(const std::function<void()>& f) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) f();
  MPI_Barrier(MPI_COMM_WORLD);
}

// Whether every rank saw `ok` (so a failure on one rank shows on all, and none goes on alone).
bool all(bool ok) {
  int mine = ok ? 1 : 0;
  int every = 0;
  MPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return every == 1;
}

// The message of the CheckpointError `f` throws, or "" (and a failure) when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no CheckpointError";
  return {};
}

// Every rank's text is the same as rank 0's.
void expect_same_everywhere(const std::string& text) {
  std::string root = text;
  root.resize(4096);
  std::string mine = root;
  MPI_Bcast(root.data(), 4096, MPI_CHAR, 0, MPI_COMM_WORLD);
  EXPECT_EQ(mine, root) << "rank " << world_rank() << " got another message than rank 0";
}

std::uint64_t whole_file_checksum(const std::string& path) {
  const std::vector<char> bytes = spill_test::file_bytes(path);
  return checkpoint_checksum(std::as_bytes(std::span(bytes)));
}

void overwrite(const std::string& path, std::uint64_t at, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(at)),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

CheckpointWritten write_varied(const std::string& dir, bool sync = false) {
  Contribution mine = varied(world_rank());
  return write_checkpoint(MPI_COMM_WORLD, dir, "checkpoint_file_test", "fp-1", mine.finish(), {},
                          sync);
}

TEST(CheckpointFile, EveryRankReadsBackWhatEveryRankWrote) {
  SharedDir dir;
  const CheckpointWritten w = write_varied(dir.path(), /*sync=*/true);
  EXPECT_EQ(w.path, dir.sub("checkpoint.h5"));
  EXPECT_FALSE(std::filesystem::exists(w.path + ".part"));
  EXPECT_EQ(w.manifest.world_size, world_size());
  EXPECT_EQ(w.manifest.format, manta::spill::kCheckpointFormat);
  EXPECT_EQ(w.manifest.program, "checkpoint_file_test");
  EXPECT_EQ(w.manifest.fingerprint, "fp-1");

  // Records by rank, then in each rank's order, back to back in /data.
  std::size_t expected_count = 0;
  std::uint64_t expected_bytes_total = 0;
  for (int r = 0; r < world_size(); ++r) {
    const Contribution c = varied(r);
    expected_count += c.records.size();
    for (const auto& b : c.bytes) expected_bytes_total += b.size();
  }
  ASSERT_EQ(w.manifest.entries.size(), expected_count);
  EXPECT_EQ(w.manifest.data_bytes, expected_bytes_total);
  EXPECT_EQ(w.bytes, expected_bytes_total);
  std::uint64_t offset = 0;
  int last_rank = 0;
  for (const CheckpointEntry& e : w.manifest.entries) {
    EXPECT_GE(e.rank, last_rank);
    EXPECT_NE(e.rank, 1) << "rank 1 wrote no records";
    last_rank = e.rank;
    EXPECT_EQ(e.offset, offset);
    offset += e.size;
  }

  // The same manifest from the file, on every rank, without MPI.
  const CheckpointManifest m = read_checkpoint_manifest(dir.path());
  expect_same(m, w.manifest);
  const auto driver = std::find_if(m.entries.begin(), m.entries.end(),
                                   [](const CheckpointEntry& e) { return e.kind == "driver"; });
  ASSERT_NE(driver, m.entries.end());
  EXPECT_GT(driver->size, 64 * MiB);
  EXPECT_EQ(nlohmann::json::parse(driver->meta),
            nlohmann::json::parse(R"({"class": "Driver", "options": {"a": [1, 2]}})"));

  // Every rank reads every record (also the other ranks') and gets the bytes written.
  for (const CheckpointEntry& e : m.entries) {
    const std::vector<std::byte> want = expected_bytes(e);
    EXPECT_EQ(e.checksum, checkpoint_checksum(want)) << e.name;
    const manta::SharedBuffer got = read_checkpoint_entry(dir.path(), m, e);
    ASSERT_EQ(got->size(), want.size()) << e.name;
    EXPECT_TRUE(want.empty() || std::equal(want.begin(), want.end(), got->data())) << e.name;
  }
  EXPECT_EQ(verify_checkpoint(MPI_COMM_WORLD, dir.path(), m), "");
}

TEST(CheckpointFile, ACheckpointWithNoBytes) {
  SharedDir dir;
  Contribution c;
  if (world_rank() == 0) c.add("actor", "empty", "", {});
  const CheckpointWritten w =
      write_checkpoint(MPI_COMM_WORLD, dir.path(), "p", "f", c.finish(), {}, true);
  const CheckpointManifest m = read_checkpoint_manifest(dir.path());
  expect_same(m, w.manifest);
  EXPECT_EQ(m.data_bytes, 0u);
  ASSERT_EQ(m.entries.size(), 1u);
  EXPECT_EQ(m.entries[0].meta, "{}");
  EXPECT_EQ(read_checkpoint_entry(dir.path(), m, m.entries[0])->size(), 0u);
  EXPECT_EQ(verify_checkpoint(MPI_COMM_WORLD, dir.path(), m), "");
}

TEST(CheckpointFile, ReadOnAnotherNumberOfRanks) {
  SharedDir dir;
  const CheckpointWritten w = write_varied(dir.path());
  // A restart on fewer ranks: all but the last rank (on one rank, that rank alone), and every
  // rank on its own.
  const int size = world_size();
  const bool member = size == 1 || world_rank() < size - 1;
  MPI_Comm fewer = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, member ? 0 : MPI_UNDEFINED, world_rank(), &fewer);
  const CheckpointManifest m = read_checkpoint_manifest(dir.path());
  expect_same(m, w.manifest);
  if (member) {
    int fewer_size = 0;
    MPI_Comm_size(fewer, &fewer_size);
    EXPECT_EQ(fewer_size, std::max(1, size - 1));
    EXPECT_EQ(verify_checkpoint(fewer, dir.path(), m), "");
  }
  EXPECT_EQ(verify_checkpoint(MPI_COMM_SELF, dir.path(), m), "");

  // Damage the last record with bytes: every reader count finds it.
  const auto last = std::find_if(m.entries.rbegin(), m.entries.rend(),
                                 [](const CheckpointEntry& e) { return e.size > 0; });
  ASSERT_NE(last, m.entries.rend());
  on_rank0([&] { overwrite(w.path, m.data_address + last->offset + last->size / 2, "\x5a"); });
  if (member) {
    const std::string problem = verify_checkpoint(fewer, dir.path(), m);
    EXPECT_NE(problem.find(last->kind + " '" + last->name + "' is damaged"), std::string::npos)
        << problem;
    MPI_Comm_free(&fewer);
  }
}

TEST(CheckpointFile, ADamagedRecordIsReported) {
  SharedDir dir;
  const CheckpointWritten w = write_varied(dir.path());
  const CheckpointManifest m = read_checkpoint_manifest(dir.path());
  // Two damaged records: verify reports the first in the manifest, the same on every rank.
  std::vector<std::size_t> nonempty;
  for (std::size_t i = 0; i < m.entries.size(); ++i) {
    if (m.entries[i].size > 0) nonempty.push_back(i);
  }
  ASSERT_GE(nonempty.size(), 2u);
  const CheckpointEntry& first = m.entries[nonempty[1]];
  const CheckpointEntry& second = m.entries[nonempty.back()];
  on_rank0([&] {
    const std::uint64_t at = m.data_address + first.offset + first.size - 1;
    std::ifstream in(w.path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(at));
    char old = 0;
    in.get(old);
    overwrite(w.path, at, std::string(1, static_cast<char>(old ^ 0x10)));  // one bit
    overwrite(w.path, m.data_address + second.offset, "\x01\x02\x03");
  });
  const std::string problem = verify_checkpoint(MPI_COMM_WORLD, dir.path(), m);
  EXPECT_NE(problem.find(w.path + ": record " + first.kind + " '" + first.name + "' is damaged"),
            std::string::npos)
      << problem;
  expect_same_everywhere(problem);
  const std::string read_error = error_of([&] { read_checkpoint_entry(dir.path(), m, first); });
  EXPECT_EQ(read_error, problem);
  // Records without damage still read.
  EXPECT_EQ(read_checkpoint_entry(dir.path(), m, m.entries[nonempty[0]])->size(),
            m.entries[nonempty[0]].size);

  // A file cut short: the manifest says so, and the records past the end are cut short.
  on_rank0([&] {
    ASSERT_EQ(::truncate(w.path.c_str(), static_cast<off_t>(m.data_address + second.offset + 1)),
              0);
  });
  const std::string cut = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(cut.find("is truncated"), std::string::npos) << cut;
  const std::string short_read = error_of([&] { read_checkpoint_entry(dir.path(), m, second); });
  EXPECT_NE(short_read.find("is cut short: expected " + std::to_string(second.size) + " bytes"),
            std::string::npos)
      << short_read;
}

// Finds `text` in the file and puts `replacement` (as long) in its place.
void replace_in_file(const std::string& path, const std::string& text,
                     const std::string& replacement) {
  const std::vector<char> bytes = spill_test::file_bytes(path);
  const auto at = std::search(bytes.begin(), bytes.end(), text.begin(), text.end());
  ASSERT_NE(at, bytes.end()) << text << " not in " << path;
  overwrite(path, static_cast<std::uint64_t>(at - bytes.begin()), replacement);
}

// Rewrites /manifest with `edit` applied to its text, with a matching checksum.
void rewrite_manifest(const std::string& path, const std::function<void(std::string&)>& edit) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t d = H5Dopen2(file, "manifest", H5P_DEFAULT);
  const hid_t type = H5Dget_type(d);
  std::string text(H5Tget_size(type), '\0');
  ASSERT_GE(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data()), 0);
  const std::size_t length = text.size();
  edit(text);
  ASSERT_EQ(text.size(), length) << "the edit must keep the length";
  ASSERT_GE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data()), 0);
  const std::uint64_t sum = checkpoint_checksum(std::as_bytes(std::span(text)));
  const hid_t attr = H5Aopen(d, "checksum", H5P_DEFAULT);
  ASSERT_GE(H5Awrite(attr, H5T_NATIVE_UINT64, &sum), 0);
  H5Aclose(attr);
  H5Tclose(type);
  H5Dclose(d);
  H5Fclose(file);
}

void replace_once(std::string& s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  s.replace(at, from.size(), to);
}

TEST(CheckpointFile, ManifestDamageNewerFormatsAndForeignFormats) {
  SharedDir dir;
  Contribution c;
  c.add("actor", "a" + std::to_string(world_rank()), "{}", pattern(seed_of(world_rank(), 0), 999));
  const CheckpointWritten w =
      write_checkpoint(MPI_COMM_WORLD, dir.path(), "p", "f", c.finish(), {}, false);
  const std::string copy = dir.sub("original.h5");
  on_rank0([&] { std::filesystem::copy_file(w.path, copy); });

  // A damaged byte in the manifest's text.
  on_rank0([&] { replace_in_file(w.path, "manta-checkpoint-1", "manta-checkpoint-7"); });
  std::string e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(e.find(w.path + ": the manifest is damaged (checksum mismatch"), std::string::npos)
      << e;

  // The same change made consistently: a format this version does not know yet.
  on_rank0([&] {
    std::filesystem::copy_file(copy, w.path, std::filesystem::copy_options::overwrite_existing);
    rewrite_manifest(w.path, [](std::string& t) {
      replace_once(t, "manta-checkpoint-1", "manta-checkpoint-7");
    });
  });
  e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(e.find("was written by a newer format manta-checkpoint-7"), std::string::npos) << e;

  // Another program's format.
  on_rank0([&] {
    std::filesystem::copy_file(copy, w.path, std::filesystem::copy_options::overwrite_existing);
    rewrite_manifest(w.path, [](std::string& t) {
      replace_once(t, "manta-checkpoint-1", "other-checkpoint-1");
    });
  });
  e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(e.find("is not a Manta checkpoint (its format is 'other-checkpoint-1')"),
            std::string::npos)
      << e;

  // A manifest whose record lies past the end of /data.
  on_rank0([&] {
    std::filesystem::copy_file(copy, w.path, std::filesystem::copy_options::overwrite_existing);
    rewrite_manifest(w.path,
                     [](std::string& t) { replace_once(t, "\"size\": 999", "\"size\": 9e9"); });
  });
  e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(e.find("lies outside /data"), std::string::npos) << e;

  // Put back, it reads again.
  on_rank0([&] {
    std::filesystem::copy_file(copy, w.path, std::filesystem::copy_options::overwrite_existing);
  });
  expect_same(read_checkpoint_manifest(dir.path()), w.manifest);
}

TEST(CheckpointFile, FilesThatAreNotCheckpoints) {
  SharedDir dir;
  const std::string path = checkpoint_path(dir.path());
  std::string e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_EQ(e, path + ": no checkpoint here (no such file)");

  // Only the .part of a write that never finished.
  on_rank0([&] { std::ofstream(path + ".part") << "half a checkpoint"; });
  e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(e.find("a checkpoint that never finished"), std::string::npos) << e;
  EXPECT_NE(e.find(path + ".part"), std::string::npos) << e;

  // Random bytes.
  on_rank0([&] {
    const std::vector<std::byte> noise = pattern(99, 10000);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(noise.data()), static_cast<std::streamsize>(10000));
  });
  e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_NE(e.find(path + " is not a Manta checkpoint (HDF5 cannot open it"), std::string::npos)
      << e;

  // An HDF5 file of something else.
  on_rank0([&] {
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t n = 4;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t d =
        H5Dcreate2(f, "data", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
  });
  e = error_of([&] { read_checkpoint_manifest(dir.path()); });
  EXPECT_EQ(e, path + " is not a Manta checkpoint (it has no /manifest)");
}

TEST(CheckpointFile, DuplicateNamesAreRefusedOnEveryRank) {
  SharedDir dir;
  Contribution c;
  const int size = world_size();
  c.add("actor", "unique-" + std::to_string(world_rank()), "{}", pattern(1, 100));
  // On one rank, that rank names two records alike.
  if (world_rank() == 0) c.add("actor", "twin", "{}", pattern(2, 10));
  if (world_rank() == size - 1) c.add("actor", "twin", "{}", pattern(2, 10));
  // The same name in another kind is no clash.
  if (world_rank() == 0) c.add("object", "twin", "{}", pattern(3, 10));
  const std::string e = error_of(
      [&] { write_checkpoint(MPI_COMM_WORLD, dir.path(), "p", "f", c.finish(), {}, false); });
  EXPECT_NE(e.find("two records are named actor 'twin' (from rank 0 and rank " +
                   std::to_string(size - 1) + ")"),
            std::string::npos)
      << e;
  expect_same_everywhere(e);
  EXPECT_FALSE(std::filesystem::exists(checkpoint_path(dir.path())));
  EXPECT_FALSE(std::filesystem::exists(checkpoint_path(dir.path()) + ".part"));
}

TEST(CheckpointFile, AFailingRankLeavesThePreviousCheckpoint) {
  SharedDir dir;
  const CheckpointWritten previous = write_varied(dir.path(), /*sync=*/true);
  std::uint64_t before = 0;
  on_rank0([&] { before = whole_file_checksum(previous.path); });

  // The last rank could not save its state: every rank throws with its reason.
  const int failing = world_size() - 1;
  Contribution c = varied(world_rank());
  const std::string reason = world_rank() == failing ? "actor 'counter' threw in save()" : "";
  std::string e = error_of(
      [&] { write_checkpoint(MPI_COMM_WORLD, dir.path(), "p2", "f", c.finish(), reason, true); });
  EXPECT_NE(e.find("rank " + std::to_string(failing) + ": actor 'counter' threw in save()"),
            std::string::npos)
      << e;
  expect_same_everywhere(e);

  // Meta that is not a JSON object names its record.
  Contribution bad;
  bad.add("actor", "m" + std::to_string(world_rank()), world_rank() == failing ? "[1, 2]" : "{}",
          pattern(5, 10));
  e = error_of(
      [&] { write_checkpoint(MPI_COMM_WORLD, dir.path(), "p2", "f", bad.finish(), {}, true); });
  EXPECT_NE(e.find("record actor 'm" + std::to_string(failing) + "': meta is not a JSON object"),
            std::string::npos)
      << e;
  expect_same_everywhere(e);

  // So do a name that is not UTF-8 text (the manifest is JSON).
  Contribution latin1;
  latin1.add("actor", world_rank() == failing ? "z\xe4hler" : "ok" + std::to_string(world_rank()),
             "{}", pattern(6, 10));
  e = error_of(
      [&] { write_checkpoint(MPI_COMM_WORLD, dir.path(), "p2", "f", latin1.finish(), {}, true); });
  EXPECT_NE(e.find("rank " + std::to_string(failing) + ": record actor"), std::string::npos) << e;
  EXPECT_NE(e.find("is not UTF-8 text"), std::string::npos) << e;
  expect_same_everywhere(e);

  // The directory cannot be written to at the last step: .part is taken by a directory.
  on_rank0([&] { std::filesystem::create_directory(previous.path + ".part"); });
  e = error_of(
      [&] { write_checkpoint(MPI_COMM_WORLD, dir.path(), "p2", "f", c.finish(), {}, true); });
  EXPECT_NE(e.find(previous.path + ".part"), std::string::npos) << e;
  EXPECT_NE(e.find("Is a directory"), std::string::npos) << e;
  expect_same_everywhere(e);
  on_rank0([&] { std::filesystem::remove(previous.path + ".part"); });

  // The previous checkpoint is as it was, byte for byte, and there is no .part.
  on_rank0([&] {
    EXPECT_EQ(whole_file_checksum(previous.path), before);
    EXPECT_FALSE(std::filesystem::exists(previous.path + ".part"));
  });
  expect_same(read_checkpoint_manifest(dir.path()), previous.manifest);
  EXPECT_EQ(verify_checkpoint(MPI_COMM_WORLD, dir.path(), previous.manifest), "");

  // A write that succeeds replaces it.
  const CheckpointWritten next = write_varied(dir.path(), true);
  expect_same(read_checkpoint_manifest(dir.path()), next.manifest);
  EXPECT_GE(next.manifest.created_ms, previous.manifest.created_ms);
  on_rank0([&] { EXPECT_NE(whole_file_checksum(previous.path), before); });
}

TEST(CheckpointFile, AnUnwritableDirectoryFailsOnEveryRank) {
  // Under a regular file: no directory can be made there, not even by root.
  const std::string dir = "/etc/hostname/checkpoint";
  Contribution c = varied(world_rank());
  const std::string e =
      error_of([&] { write_checkpoint(MPI_COMM_WORLD, dir, "p", "f", c.finish(), {}, true); });
  EXPECT_NE(e.find("cannot make directory /etc/hostname/checkpoint: Not a directory"),
            std::string::npos)
      << e;
  expect_same_everywhere(e);
  EXPECT_TRUE(all(!e.empty()));
}

TEST(CheckpointFile, AFullDiskFailsOnEveryRank) {
  // test/with_small_tmpfs.sh runs this on a 32 MiB file system of its own.
  const char* small = std::getenv("MANTA_TEST_SMALL_FS");
  if (small == nullptr) GTEST_SKIP() << "needs MANTA_TEST_SMALL_FS, a small file system";
  const std::string dir = std::string(small) + "/checkpoint";
  Contribution fits;
  fits.add("actor", "small" + std::to_string(world_rank()), "{}", pattern(1, 1000));
  const CheckpointWritten previous =
      write_checkpoint(MPI_COMM_WORLD, dir, "p", "f", fits.finish(), {}, true);

  // 48 MiB in all: the disk fills while the ranks write /data.
  Contribution big;
  big.add("actor", "big" + std::to_string(world_rank()), "{}",
          pattern(2, 48 * MiB / static_cast<std::size_t>(world_size())));
  const std::string e =
      error_of([&] { write_checkpoint(MPI_COMM_WORLD, dir, "p", "f", big.finish(), {}, true); });
  EXPECT_NE(e.find("checkpoint " + previous.path + " not written"), std::string::npos) << e;
  EXPECT_NE(e.find("No space left on device"), std::string::npos) << e;
  expect_same_everywhere(e);
  EXPECT_FALSE(std::filesystem::exists(previous.path + ".part"));
  expect_same(read_checkpoint_manifest(dir), previous.manifest);
  EXPECT_EQ(verify_checkpoint(MPI_COMM_WORLD, dir, previous.manifest), "");
}

TEST(CheckpointFile, APartLargerThan2GiBOnOneRank) {
  // MPI counts are int: the writer must split a rank's part, the reader its reads.
  if (world_size() != 1) GTEST_SKIP() << "run on one rank only (2 GiB of memory per rank)";
  SharedDir dir;
  // The part is 2 GiB on disk; with less room to spare than another 2 GiB, the test would fill
  // the disk under the tests that run beside it.
  const std::uintmax_t needed = std::uintmax_t{4} << 30;
  const std::uintmax_t free_bytes = std::filesystem::space(dir.path()).available;
  if (free_bytes < needed) {
    GTEST_SKIP() << "needs 4 GiB free in " << dir.path() << ", has " << (free_bytes >> 20)
                 << " MiB";
  }
  Contribution c;
  c.add("actor", "huge", "{}", pattern(77, (std::size_t{2} << 30) + 3 * MiB + 1));
  c.add("actor", "after", "{}", pattern(78, 1000));
  const CheckpointWritten w =
      write_checkpoint(MPI_COMM_WORLD, dir.path(), "p", "f", c.finish(), {}, false);
  const CheckpointManifest m = read_checkpoint_manifest(dir.path());
  expect_same(m, w.manifest);
  for (std::size_t i = 0; i < 2; ++i) {
    const manta::SharedBuffer got = read_checkpoint_entry(dir.path(), m, m.entries[i]);
    ASSERT_EQ(got->size(), c.bytes[i].size());
    EXPECT_TRUE(std::equal(c.bytes[i].begin(), c.bytes[i].end(), got->data()));
  }
  EXPECT_EQ(verify_checkpoint(MPI_COMM_WORLD, dir.path(), m), "");
}

}  // namespace
