// SpillManager with an ObjectStore, without MPI: spills past the high-water mark, restores on
// demand, refuses a spill directory without room at start, and cleans up after itself.
#include <gtest/gtest.h>

#include <atomic>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <manta/buffer.h>
#include <manta/ids.h>

#include "engine/object_store.h"
#include "engine/spill_manager.h"
#include "spill/spill_error.h"

namespace {

using manta::Buffer;
using manta::ObjectId;
using manta::SharedBuffer;
using manta::engine::ObjectStore;
using manta::engine::SpillManager;
using manta::engine::SpillSettings;
namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1 << 20;

SharedBuffer filled(std::size_t n, unsigned char seed) {
  auto b = std::make_shared<Buffer>(n);
  for (std::size_t i = 0; i < n; ++i) b->data()[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
  return b;
}

class SpillManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("manta-spill-manager-test-" + std::to_string(getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  SpillSettings settings() const {
    SpillSettings s;
    s.root = root_.string();
    s.job = "unit";
    s.batch = 2 * kMiB;
    s.room_timeout = std::chrono::seconds(5);
    return s;
  }

  template <class Pred>
  static bool eventually(Pred p) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!p()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  fs::path root_;
};

TEST_F(SpillManagerTest, SpillsPastHighWaterAndRestoresByteForByte) {
  ObjectStore store(0);
  SpillManager spill(settings(), store);
  store.set_capacity(16 * kMiB, 8 * kMiB, [&] { spill.kick(); });
  std::vector<std::shared_ptr<manta::detail::RefToken>> tokens;
  for (std::uint64_t i = 1; i <= 12; ++i) {
    ASSERT_TRUE(store.reserve(kMiB, std::chrono::seconds(5)).ok);
    tokens.push_back(store.create_ready(ObjectId{0, 0, i},
                                        filled(kMiB, static_cast<unsigned char>(i)), 7, {}, kMiB));
  }
  ASSERT_TRUE(eventually([&] { return store.stats().bytes <= 8 * kMiB; }));
  EXPECT_TRUE(fs::exists(spill.file_path()));
  EXPECT_EQ(fs::status(spill.directory()).permissions() & fs::perms::all, fs::perms::owner_all);
  // The oldest went first; bring it back.
  const ObjectId first{0, 0, 1};
  ASSERT_EQ(store.view(first).state, ObjectStore::State::spilled);
  spill.restore(first);
  ASSERT_TRUE(eventually([&] { return store.view(first).state == ObjectStore::State::ready; }));
  ObjectStore::View v = store.view(first);
  SharedBuffer expect = filled(kMiB, 1);
  ASSERT_EQ(v.size, kMiB);
  EXPECT_EQ(std::memcmp(v.bytes->data(), expect->data(), kMiB), 0);
  EXPECT_EQ(v.tag, 7u);
  const auto stats = spill.stats();
  EXPECT_GE(stats.bytes_spilled, 4 * kMiB);
  EXPECT_EQ(stats.bytes_restored, kMiB);
  EXPECT_GT(stats.spill_seconds, 0.0);
  const std::string dir = spill.directory();
  v = {};
  tokens.clear();
  spill.stop();
  EXPECT_FALSE(fs::exists(dir)) << "the job's spill directory outlived the job";
}

TEST_F(SpillManagerTest, AfterTheDiskFillsARestoreGivesUpAtOnceAndTheObjectReadsPastTheStore) {
  // A 10 MiB file-size limit fills the "disk" after two batches (4 MiB chunks).
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 10 * kMiB;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  struct Restore {
    rlimit limit;
    ~Restore() { setrlimit(RLIMIT_FSIZE, &limit); }
  } restore_limit{old};
  ObjectStore store(0);
  SpillSettings s = settings();
  s.room_timeout = std::chrono::seconds(60);  // a restore that waited for room would show
  SpillManager spill(s, store);
  store.set_capacity(8 * kMiB, 4 * kMiB, [&] { spill.kick(); });
  std::vector<std::shared_ptr<manta::detail::RefToken>> tokens;
  for (std::uint64_t i = 1; i <= 16; ++i) {
    if (!store.reserve(kMiB, std::chrono::seconds(2)).ok) break;  // full, nothing can spill
    tokens.push_back(store.create_ready(ObjectId{0, 0, i},
                                        filled(kMiB, static_cast<unsigned char>(i)), 7, {}, kMiB));
  }
  ASSERT_TRUE(eventually([&] { return !spill.last_error().empty(); }));
  const ObjectId first{0, 0, 1};
  ASSERT_EQ(store.view(first).state, ObjectStore::State::spilled);
  ASSERT_GT(store.unwritten_bytes(), 4 * kMiB);
  ASSERT_FALSE(store.reserve(kMiB, std::chrono::milliseconds(0)).ok) << "the store is not full";
  const auto start = std::chrono::steady_clock::now();
  spill.restore(first);
  std::shared_ptr<const manta::ErrorInfo> no_room;
  ASSERT_TRUE(eventually([&] { return (no_room = store.take_restore_error(first)) != nullptr; }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(store.view(first).state, ObjectStore::State::spilled);  // still on disk
  SharedBuffer back;
  bool lost = true;
  std::atomic<bool> done{false};  // the read ends on the I/O thread: it publishes back and lost
  spill.read_spilled(first, store.view(first).spill, [&](SharedBuffer b, std::string, bool l) {
    back = std::move(b);
    lost = l;
    done.store(true, std::memory_order_release);
  });
  ASSERT_TRUE(eventually([&] { return done.load(std::memory_order_acquire); }));
  ASSERT_NE(back, nullptr);
  EXPECT_FALSE(lost);
  SharedBuffer expect = filled(kMiB, 1);
  EXPECT_EQ(std::memcmp(back->data(), expect->data(), kMiB), 0);
  EXPECT_LE(store.stats().bytes, 8 * kMiB);  // read past the store, not into it
  tokens.clear();
  spill.stop();
}

TEST_F(SpillManagerTest, FreeingManySpilledObjectsDoesNotHoldUpTheNextSpill) {
  // Thousands of spilled objects freed at once each give their piece of the file back on the
  // I/O thread. A put that needs a spill right after must not wait behind all of that.
  ObjectStore store(0);
  SpillManager spill(settings(), store);
  store.set_capacity(8 * kMiB, 4 * kMiB, [&] { spill.kick(); });
  // Enough freed pieces that waiting for all of them shows, few enough that a slow file (under
  // sanitizers, on a loaded machine) gives them all back well within the test's time.
  constexpr std::uint64_t kSmall = 16 * 1024, kCount = 700;
  std::vector<std::shared_ptr<manta::detail::RefToken>> tokens;
  std::uint64_t seq = 1;
  for (std::uint64_t i = 0; i < kCount; ++i, ++seq) {
    ASSERT_TRUE(store.reserve(kSmall, std::chrono::seconds(20)).ok);
    tokens.push_back(store.create_ready(ObjectId{0, 0, seq}, filled(kSmall, 3), 7, {}, kSmall));
  }
  ASSERT_TRUE(eventually([&] { return store.stats().bytes <= 4 * kMiB; }));
  const std::uint64_t released_before = spill.stats().pieces_released;
  tokens.clear();  // every spilled piece of the file is free now
  for (std::uint64_t i = 1; i <= kCount; ++i) store.release(ObjectId{0, 0, i});
  const std::uint64_t backlog = spill.stats().releases_waiting;
  ASSERT_GT(backlog, 300u) << "too few spilled objects were freed to test anything";
  // File work posted now (a spill pass is such work) runs after at most the batch being given
  // back and the one queued: not after the whole backlog.
  std::promise<std::uint64_t> waiting_then;
  spill.run_file_work([&] { waiting_then.set_value(spill.stats().releases_waiting); });
  const std::uint64_t waiting_at_work = waiting_then.get_future().get();
  EXPECT_GE(waiting_at_work + 16, backlog)
      << "work posted after the frees waited for " << backlog - waiting_at_work << " releases";
  // Puts past the store's capacity still get their room: spills run between the batches.
  for (std::uint64_t i = 0; i < 12; ++i, ++seq) {
    ASSERT_TRUE(store.reserve(kMiB, std::chrono::seconds(20)).ok) << "reservation " << i;
    tokens.push_back(store.create_ready(ObjectId{0, 0, seq}, filled(kMiB, 5), 7, {}, kMiB));
  }
  ASSERT_TRUE(eventually([&] { return store.stats().bytes <= 4 * kMiB; }));
  // And the backlog still drains.
  EXPECT_TRUE(eventually([&] {
    const auto st = spill.stats();
    return st.releases_waiting == 0 && st.pieces_released - released_before >= backlog;
  })) << spill.stats().pieces_released - released_before
      << " of " << backlog << " given back";
  tokens.clear();
  spill.stop();
}

TEST_F(SpillManagerTest, KeptDirectoryStays) {
  ObjectStore store(0);
  SpillSettings s = settings();
  s.keep = true;
  SpillManager spill(s, store);
  const std::string dir = spill.directory();
  spill.stop();
  EXPECT_TRUE(fs::exists(dir));
}

TEST_F(SpillManagerTest, DirectoryWithoutRoomIsRefusedAtStart) {
  ObjectStore store(0);
  SpillSettings s = settings();
  s.min_free = std::uint64_t{1} << 62;  // more than any disk has
  try {
    SpillManager spill(s, store);
    FAIL() << "a spill directory without room was accepted";
  } catch (const manta::spill::SpillError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(root_.string()), std::string::npos) << what;
    EXPECT_NE(what.find("--manta-spill-dir"), std::string::npos) << what;
  }
  EXPECT_TRUE(fs::is_empty(root_)) << "the refused job directory was left behind";
}

}  // namespace
