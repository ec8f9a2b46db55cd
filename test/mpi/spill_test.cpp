// Memory management on ranks with small stores (run with --manta-object-store-memory=64M):
// objects spill to HDF5 and come back intact, other ranks read spilled objects from the file,
// damaged files and full stores give clear errors.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace {

using Words = manta::Array<std::uint64_t>;
constexpr std::uint64_t kMiB = 1 << 20;

// Word i of block `seed`: distinct for every block and position, so any misplaced byte shows.
std::uint64_t word(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + i;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 29);
}

Words make_words(std::uint64_t seed, std::uint64_t count) {
  Words w = Words::uninitialized(count);
  std::uint64_t* p = w.mutable_data();
  for (std::uint64_t i = 0; i < count; ++i) p[i] = word(seed, i);
  return w;
}

// Number of words that differ from block `seed`.
std::uint64_t count_bad(const Words& w, std::uint64_t seed, std::uint64_t count) {
  if (w.size() != count) return count;
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < count; ++i) bad += w[i] != word(seed, i);
  return bad;
}

std::uint64_t check_words(Words w, std::uint64_t seed, std::uint64_t count) {
  return count_bad(w, seed, count);
}

int where() { return manta::rank(); }
int where_with(Words w) { return w.size() > 0 ? manta::rank() : -1; }

MANTA_REMOTE(make_words, check_words, where, where_with);

manta::RankMemory rank_memory(int rank) {
  for (const auto& r : manta::memory_summary(0).ranks) {
    if (r.rank == rank) return r;
  }
  return {};
}

template <class Pred>
manta::RankMemory rank_memory_when(int rank, Pred done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    manta::RankMemory m = rank_memory(rank);
    if (done(m) || std::chrono::steady_clock::now() > until) return m;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(Spill, StoresHoldFourTimesTheirCapacityAndEveryByteComesBack) {
  const int world = manta::world_size();
  const std::uint64_t capacity = rank_memory(0).capacity_bytes;
  ASSERT_EQ(capacity, 64 * kMiB) << "run with --manta-object-store-memory=64M";
  // 256 MiB of live objects per rank, 1 GiB on 4 ranks: results made on every rank and puts.
  constexpr std::uint64_t kWords = 4 * kMiB / sizeof(std::uint64_t);  // 4 MiB objects
  const int per_rank = 64;
  std::vector<manta::ObjectRef<Words>> refs;
  for (int i = 0; i < per_rank * world; ++i) {
    const auto seed = static_cast<std::uint64_t>(i);
    if (i % world == 0 && i % 2 == 0) {
      refs.push_back(manta::put(make_words(seed, kWords)));
    } else {
      refs.push_back(manta::task(make_words).on_rank(i % world).remote(seed, kWords));
    }
  }
  ASSERT_TRUE(manta::wait(refs, refs.size(), std::chrono::seconds(120)).unready.empty());
  const manta::MemorySummary held = manta::memory_summary(0);
  std::uint64_t live = 0;
  for (const auto& r : held.ranks) {
    EXPECT_LE(r.bytes, r.capacity_bytes) << "rank " << r.rank << "\n" << held.to_string();
    EXPECT_GT(r.spilled_bytes, 0u) << "rank " << r.rank << "\n" << held.to_string();
    EXPECT_GT(r.bytes_spilled, 0u);
    EXPECT_EQ(r.spill_files, 1u);
    live += r.bytes + r.spilled_bytes;
  }
  EXPECT_GE(live, per_rank * world * kWords * sizeof(std::uint64_t));
  // Every byte, read on the driver (restores here, reads of other ranks' files) and as task
  // arguments on the next rank (restores there, or reads of this rank's file).
  std::uint64_t bad = 0;
  std::vector<manta::ObjectRef<std::uint64_t>> checks;
  for (int i = 0; i < per_rank * world; ++i) {
    const auto seed = static_cast<std::uint64_t>(i);
    if (i % 3 == 0) {
      checks.push_back(
          manta::task(check_words).on_rank((i + 1) % world).remote(refs[i], seed, kWords));
    } else {
      bad += count_bad(*manta::get(refs[i]), seed, kWords);
    }
  }
  for (auto& c : checks) bad += *manta::get(c);
  EXPECT_EQ(bad, 0u);
  const manta::MemorySummary after = manta::memory_summary(0);
  for (const auto& r : after.ranks) EXPECT_LE(r.bytes, r.capacity_bytes) << after.to_string();
  EXPECT_GT(after.total().bytes_restored + after.total().bytes_read_from_files, 0u);
  if (world > 1) {
    EXPECT_GT(after.total().bytes_read_from_files, 0u) << after.to_string();
  }
}

TEST(Spill, RestoredObjectsMatchInReverseOrder) {
  const auto before = rank_memory(0);
  constexpr std::uint64_t kWords = 8 * kMiB / sizeof(std::uint64_t);
  std::vector<manta::ObjectRef<Words>> refs;
  for (std::uint64_t i = 0; i < 24; ++i) refs.push_back(manta::put(make_words(1000 + i, kWords)));
  // 192 MiB put into a 64 MiB store: the oldest went to disk.
  const auto spilled = rank_memory_when(
      0, [&](const manta::RankMemory& m) { return m.bytes_spilled > before.bytes_spilled; });
  EXPECT_GT(spilled.spilled_bytes, 0u);
  std::uint64_t bad = 0;
  for (std::uint64_t i = refs.size(); i-- > 0;) {
    bad += count_bad(*manta::get(refs[i]), 1000 + i, kWords);
  }
  EXPECT_EQ(bad, 0u);
  const auto after = rank_memory(0);
  EXPECT_GT(after.bytes_restored, before.bytes_restored);
  EXPECT_GT(after.restore_mb_per_s(), 0.0);
  EXPECT_GT(after.spill_mb_per_s(), 0.0);
  EXPECT_LE(after.bytes, after.capacity_bytes);
}

TEST(Spill, AnotherRankReadsASpilledObjectFromTheFile) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  constexpr std::uint64_t kWords = 8 * kMiB / sizeof(std::uint64_t);
  // Made on rank 1; more made there push it out to rank 1's spill file.
  auto first = manta::task(make_words).on_rank(1).remote(std::uint64_t{77}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{first}, 1, std::chrono::seconds(60)).unready.empty());
  std::vector<manta::ObjectRef<Words>> more;
  for (std::uint64_t i = 0; i < 12; ++i) {
    more.push_back(manta::task(make_words).on_rank(1).remote(500 + i, kWords));
  }
  ASSERT_TRUE(manta::wait(more, more.size(), std::chrono::seconds(60)).unready.empty());
  const auto holder =
      rank_memory_when(1, [](const manta::RankMemory& m) { return m.spilled_objects >= 4; });
  ASSERT_GE(holder.spilled_objects, 4u);
  const auto reader_before = rank_memory(0);
  // The first is the least recently used: on disk. Rank 0 reads it from rank 1's file.
  EXPECT_EQ(count_bad(*manta::get(first), 77, kWords), 0u);
  const auto reader_after = rank_memory(0);
  const auto holder_after = rank_memory(1);
  EXPECT_GE(reader_after.bytes_read_from_files - reader_before.bytes_read_from_files,
            kWords * sizeof(std::uint64_t));
  EXPECT_EQ(holder_after.bytes_restored, holder.bytes_restored) << "rank 1 restored it instead";
}

TEST(Spill, DamagedSpillFileFailsTheGetNamingTheObject) {
  constexpr std::uint64_t kWords = 4 * kMiB / sizeof(std::uint64_t);
  const std::uint64_t seed = 4242;
  auto victim = manta::put(make_words(seed, kWords));
  std::vector<manta::ObjectRef<Words>> filler;
  for (std::uint64_t i = 0; i < 20; ++i) filler.push_back(manta::put(make_words(9000 + i, kWords)));
  // The oldest object goes to disk first; wait until its memory is gone.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool on_disk = false;
  while (!on_disk && std::chrono::steady_clock::now() < until) {
    for (const auto& o : manta::memory_summary(100000).objects) {
      on_disk |= o.id == victim.id() && o.spilled && !o.in_memory;
    }
    if (!on_disk) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(on_disk) << manta::memory_summary(30).to_string();
  const auto m = rank_memory(0);
  ASSERT_FALSE(m.spill_file.empty());
  // Find the victim's words in the file and change one byte, as a failing disk would.
  std::ifstream in(m.spill_file, std::ios::binary);
  ASSERT_TRUE(in) << m.spill_file;
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t pattern[4];
  for (int i = 0; i < 4; ++i) pattern[i] = word(seed, 1000 + i);
  const auto at = data.find(std::string(reinterpret_cast<const char*>(pattern), sizeof pattern));
  ASSERT_NE(at, std::string::npos) << "the object's bytes are not in " << m.spill_file;
  const int fd = ::open(m.spill_file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const char flipped = static_cast<char>(data[at] ^ 0x5a);
  ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
  try {
    auto v = manta::get(victim);
    FAIL() << "the damaged object was returned; " << count_bad(*v, seed, kWords) << " bad words";
  } catch (const manta::ObjectLostError& e) {
    EXPECT_NE(std::string(e.what()).find(victim.id().to_string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  // The rest of the file still reads.
  EXPECT_EQ(count_bad(*manta::get(filler[0]), 9000, kWords), 0u);
}

TEST(Spill, PutIntoAStoreFullOfPinnedObjectsFailsWithTheFigures) {
  // Arrays the caller still holds share the store's memory: pinned, nothing can spill.
  constexpr std::uint64_t kWords = 24 * kMiB / sizeof(std::uint64_t);
  Words a = make_words(1, kWords), b = make_words(2, kWords);
  auto ra = manta::put(a);
  auto rb = manta::put(b);
  const auto start = std::chrono::steady_clock::now();
  try {
    auto rc = manta::put(make_words(3, kWords));
    FAIL() << "a put that cannot fit returned";
  } catch (const manta::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested(), kWords * sizeof(std::uint64_t));
    EXPECT_EQ(e.capacity(), 64 * kMiB);
    EXPECT_GE(e.pinned(), 2 * kWords * sizeof(std::uint64_t));
    EXPECT_EQ(e.rank(), 0);
    EXPECT_NE(std::string(e.what()).find("--manta-object-store-memory"), std::string::npos);
  }
  // It waited for room (--manta-store-full-timeout=2) before failing.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  // Once a pin goes, the same put succeeds.
  a = Words();
  ra = manta::ObjectRef<Words>();
  auto rc = manta::put(make_words(3, kWords));
  EXPECT_EQ(count_bad(*manta::get(rc), 3, kWords), 0u);
}

TEST(Spill, ObjectLargerThanTheStoreFailsAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(manta::put(std::vector<char>(65 * kMiB, 'x')), manta::ObjectStoreFullError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // A task whose result cannot fit fails with the same error at get.
  auto too_big = manta::task(make_words).remote(std::uint64_t{5}, 65 * kMiB / 8);
  EXPECT_THROW(manta::get(too_big), manta::ObjectStoreFullError);
}

TEST(Spill, QueuedTasksDoNotPinTheirInputs) {
  // Many tasks whose inputs together are 4x this rank's store, all queued at once on rank 0.
  constexpr std::uint64_t kWords = 8 * kMiB / sizeof(std::uint64_t);
  std::vector<manta::ObjectRef<Words>> inputs;
  for (std::uint64_t i = 0; i < 32; ++i) inputs.push_back(manta::put(make_words(300 + i, kWords)));
  std::vector<manta::ObjectRef<std::uint64_t>> checks;
  for (std::uint64_t i = 0; i < inputs.size(); ++i) {
    checks.push_back(manta::task(check_words).on_rank(0).remote(inputs[i], 300 + i, kWords));
  }
  std::uint64_t bad = 0;
  for (auto& c : checks) bad += *manta::get(c, std::chrono::seconds(120));
  EXPECT_EQ(bad, 0u);
}

TEST(Locality, TasksGoToTheRankHoldingTheirInput) {
  const int world = manta::world_size();
  if (world < 2) GTEST_SKIP() << "needs 2 ranks";
  const int holder = world - 1;
  constexpr std::uint64_t kWords = 16 * kMiB / sizeof(std::uint64_t);
  auto big = manta::task(make_words).on_rank(holder).remote(std::uint64_t{11}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{big}, 1, std::chrono::seconds(60)).unready.empty());
  const auto before = manta::memory_summary(0).total();
  // Submitted on the driver with no placement, one at a time (so the holder is free): they
  // follow their 16 MiB input. (A busy holder loses to a free rank: see the unit tests.)
  int there = 0;
  for (int i = 0; i < 4; ++i) there += *manta::get(manta::task(where_with).remote(big)) == holder;
  EXPECT_EQ(there, 4);
  const auto after = manta::memory_summary(0).total();
  EXPECT_LT(after.bytes_fetched - before.bytes_fetched, kWords * sizeof(std::uint64_t))
      << "the input moved instead of the tasks";
}

// Rank 0's spill file damaged while the driver holds refs to objects in it (runs in
// job.spill_file_truncated and job.spill_file_zeroed: the damage would break later tests).
// Every object comes back intact or fails with ObjectLostError naming the object, the file and
// the cause, whether the driver restores it or rank 1 reads the file itself.
void damaged_spill_file_loses_nothing_silently(
    const std::function<void(const std::string&)>& damage, const std::vector<std::string>& causes) {
  auto names_cause = [&](const std::string& what) {
    return std::any_of(causes.begin(), causes.end(),
                       [&](const std::string& c) { return what.find(c) != std::string::npos; });
  };
  if (!std::getenv("MANTA_TEST_DAMAGE_SPILL")) {
    GTEST_SKIP() << "runs in job.spill_file_truncated and job.spill_file_zeroed";
  }
  constexpr std::uint64_t kWords = 4 * kMiB / sizeof(std::uint64_t);
  constexpr std::uint64_t kSeed = 5000;
  std::vector<manta::ObjectRef<Words>> refs;
  for (std::uint64_t i = 0; i < 48; ++i) refs.push_back(manta::put(make_words(kSeed + i, kWords)));
  // Wait until spilling settles (nothing written for a while) with most objects on disk only:
  // 192 MiB into a 64 MiB store.
  std::vector<bool> on_disk(refs.size(), false);
  std::size_t spilled = 0;
  std::uint64_t written = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int quiet = 0; quiet < 3 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const manta::MemorySummary m = manta::memory_summary(100000);
    std::size_t now_spilled = 0;
    for (const auto& o : m.objects) {
      for (std::size_t i = 0; i < refs.size(); ++i) {
        if (o.rank == 0 && o.id == refs[i].id()) {
          on_disk[i] = o.spilled && !o.in_memory;
          now_spilled += on_disk[i];
        }
      }
    }
    const std::uint64_t now_written = rank_memory(0).bytes_spilled;
    quiet = now_spilled >= 30 && now_spilled == spilled && now_written == written ? quiet + 1 : 0;
    spilled = now_spilled;
    written = now_written;
  }
  ASSERT_GE(spilled, 30u) << manta::memory_summary(10).to_string();
  const std::string file = rank_memory(0).spill_file;
  ASSERT_FALSE(file.empty());
  damage(file);
  // Every other object read on the driver, the rest as arguments of tasks on rank 1.
  const int reader = manta::world_size() > 1 ? 1 : 0;
  std::vector<manta::ObjectRef<std::uint64_t>> checks(refs.size());
  for (std::size_t i = 1; i < refs.size(); i += 2) {
    checks[i] = manta::task(check_words).on_rank(reader).remote(refs[i], kSeed + i, kWords);
  }
  int intact = 0, lost = 0, lost_on_reader = 0;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    SCOPED_TRACE("object " + std::to_string(i) + (on_disk[i] ? " (on disk)" : " (in memory)"));
    try {
      const std::uint64_t bad = i % 2 == 0 ? count_bad(*manta::get(refs[i]), kSeed + i, kWords)
                                           : *manta::get(checks[i], std::chrono::seconds(120));
      EXPECT_EQ(bad, 0u) << "an object came back with other bytes than were put";
      ++intact;
    } catch (const manta::ObjectLostError& e) {
      const std::string what = e.what();
      EXPECT_TRUE(on_disk[i]) << "an object in memory was lost: " << what;
      EXPECT_NE(what.find(refs[i].id().to_string()), std::string::npos) << what;
      EXPECT_NE(what.find(file), std::string::npos) << what;
      EXPECT_TRUE(names_cause(what)) << what;
      ++lost;
      lost_on_reader += what.find("on rank 1 from the spill file of rank 0") != std::string::npos;
    }
  }
  EXPECT_GE(lost, 2);
  EXPECT_GE(intact, 12) << "objects outside the damage must still come back";
  if (reader == 1) {
    EXPECT_GE(lost_on_reader, 1) << "rank 1 did not read the damaged file itself";
  }
  // A lost object stays lost, with the same error, on the next get.
  for (std::size_t i = 0; i < refs.size(); i += 2) {
    if (!on_disk[i]) continue;
    try {
      count_bad(*manta::get(refs[i]), kSeed + i, kWords);
    } catch (const manta::ObjectLostError& e) {
      EXPECT_TRUE(names_cause(e.what())) << e.what();
    }
  }
}

TEST(SpillDamage, TruncatedFileFailsTheObjectsBeyondTheCut) {
  damaged_spill_file_loses_nothing_silently(
      [](const std::string& file) {
        struct stat st {};
        ASSERT_EQ(::stat(file.c_str(), &st), 0);
        ASSERT_EQ(::truncate(file.c_str(), st.st_size / 2), 0);
      },
      // Restores after the cut make room by spilling more: the file grows past the cut again,
      // and what was cut off then reads as zeros.
      {"truncated", "reads back as zeros"});
}

TEST(SpillDamage, ZeroedRegionFailsTheObjectsUnderIt) {
  damaged_spill_file_loses_nothing_silently(
      [](const std::string& file) {
        struct stat st {};
        ASSERT_EQ(::stat(file.c_str(), &st), 0);
        const std::vector<char> zeros(8 * kMiB, 0);
        const int fd = ::open(file.c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), st.st_size / 2 - 4 * kMiB),
                  static_cast<ssize_t>(zeros.size()));
        ::close(fd);
      },
      // Manta's own checksum of the bytes, or HDF5's of its index when the zeros land on that.
      {"checksum mismatch", "Fletcher32 checksum"});
}

// The spill disk fills: under a file-size limit (ulimit -f), or on a small tmpfs.
bool spill_disk_fills() {
  return std::getenv("MANTA_TEST_FILE_SIZE_LIMIT") || std::getenv("MANTA_TEST_SMALL_SPILL_DISK");
}

TEST(SpillFailure, FullDiskFailsPutsNamingTheFileAndLosesNothing) {
  if (!spill_disk_fills()) {
    GTEST_SKIP() << "runs in job.spill_disk_full and job.spill_tmpfs_full, where the disk fills";
  }
  constexpr std::uint64_t kWords = 4 * kMiB / sizeof(std::uint64_t);
  std::vector<manta::ObjectRef<Words>> refs;
  std::string error;
  for (std::uint64_t i = 0; i < 64 && error.empty(); ++i) {
    try {
      refs.push_back(manta::put(make_words(700 + i, kWords)));
    } catch (const manta::ObjectStoreFullError& e) {
      error = e.what();
    }
  }
  ASSERT_FALSE(error.empty()) << "64 puts of 4 MiB fit under a 20 MiB file-size limit";
  EXPECT_NE(error.find("spilling failed"), std::string::npos) << error;
  EXPECT_NE(error.find(rank_memory(0).spill_file), std::string::npos) << error;
  // Everything put before the failure is still there, in memory or in the file. Newest first,
  // dropping each after its check, so the ones on disk find room to come back.
  std::uint64_t bad = 0;
  for (std::uint64_t i = refs.size(); i-- > 0;) {
    bad += count_bad(*manta::get(refs[i]), 700 + i, kWords);
    refs[i] = manta::ObjectRef<Words>();
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_GE(refs.size(), 12u);
  EXPECT_GT(rank_memory(0).bytes_restored, 0u);
}

TEST(SpillFailure, SpilledObjectsComeBackAfterTheDiskFills) {
  if (!spill_disk_fills()) {
    GTEST_SKIP() << "runs in job.spill_disk_full_reads_back and job.spill_tmpfs_full, where the "
                    "disk fills";
  }
  constexpr std::uint64_t kWords = 4 * kMiB / sizeof(std::uint64_t);
  constexpr std::uint64_t kSeed = 800;
  std::vector<manta::ObjectRef<Words>> refs;
  std::string error;
  for (std::uint64_t i = 0; i < 64 && error.empty(); ++i) {
    try {
      refs.push_back(manta::put(make_words(kSeed + i, kWords)));
    } catch (const manta::ObjectStoreFullError& e) {
      error = e.what();
    }
  }
  ASSERT_FALSE(error.empty()) << "64 puts of 4 MiB fit with a spill disk of 20 or 32 MiB";
  // The put names the real cause and fix: the spill disk, not the store's size.
  EXPECT_NE(error.find("spilling failed"), std::string::npos) << error;
  EXPECT_NE(error.find("--manta-spill-dir"), std::string::npos) << error;
  EXPECT_EQ(error.find("raise --manta-object-store-memory"), std::string::npos) << error;
  std::vector<bool> on_disk(refs.size(), false);
  int spilled = 0;
  for (const auto& o : manta::memory_summary(100000).objects) {
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (o.id == refs[i].id() && o.spilled && !o.in_memory) {
        on_disk[i] = true;
        ++spilled;
      }
    }
  }
  ASSERT_GE(spilled, 2) << manta::memory_summary(10).to_string();
  // Holding every ref, so memory stays full of objects that cannot be written: each spilled
  // object still comes back, twice, without waiting for room (--manta-store-full-timeout=6).
  std::uint64_t bad = 0;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (!on_disk[i]) continue;
      const auto start = std::chrono::steady_clock::now();
      bad += count_bad(*manta::get(refs[i]), kSeed + i, kWords);
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
          << "the get of object " << i << " waited for room";
    }
  }
  EXPECT_EQ(bad, 0u);
  // As the argument of a task here too.
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (!on_disk[i]) continue;
    auto check = manta::task(check_words).on_rank(0).remote(refs[i], kSeed + i, kWords);
    EXPECT_EQ(*manta::get(check, std::chrono::seconds(60)), 0u) << "object " << i;
    break;
  }
  const auto m = rank_memory(0);
  EXPECT_LE(m.bytes, m.capacity_bytes) << manta::memory_summary(10).to_string();
  EXPECT_GT(m.bytes_restored, 0u);
}

}  // namespace
