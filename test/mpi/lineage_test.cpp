// Lineage reconstruction (run with a 64 MiB store, so objects spill): an object whose every copy
// is lost is rebuilt by its owner from the task that made it, recursively for lost inputs on
// this rank and on others; puts, actor results, objects past the lineage bound and objects
// rebuilt max_retries times fail with an ObjectLostError that says which case it is. Copies are
// lost the two ways a job loses them: a damaged spill file region, and a copy that is gone from
// the rank the reader was sent to. Execution counts are read on the ranks that ran the tasks.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <manta/manta.h>

namespace manta::engine::testing {
// Engine test hook (engine/lineage.h): drops this rank's copy without telling the owner.
bool drop_copy_here(const manta::ObjectId& id);
}  // namespace manta::engine::testing

namespace {

using Words = manta::Array<std::uint64_t>;
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kWords = 4 * kMiB / sizeof(std::uint64_t);  // 4 MiB objects

// Executions of each function on this rank, by name; read on a rank by `executions`.
std::mutex counts_mutex;
std::map<std::string, std::uint64_t> counts;
std::uint64_t count_run(const std::string& name) {
  std::lock_guard lock(counts_mutex);
  return ++counts[name];
}

std::uint64_t word(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + i;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 29);
}

Words make_words(std::uint64_t seed, std::uint64_t count) {
  count_run("make_words:" + std::to_string(seed));
  Words w = Words::uninitialized(count);
  std::uint64_t* p = w.mutable_data();
  for (std::uint64_t i = 0; i < count; ++i) p[i] = word(seed, i);
  return w;
}

// Block `seed` + 1 from block `seed`: a chain a -> b -> c of distinct contents.
Words next_words(Words in, std::uint64_t seed) {
  count_run("next_words:" + std::to_string(seed));
  Words w = Words::uninitialized(in.size());
  std::uint64_t* p = w.mutable_data();
  for (std::uint64_t i = 0; i < in.size(); ++i) p[i] = in[i] - word(seed, i) + word(seed + 1, i);
  return w;
}

// Runs once; a rerun throws (a task that fails during reconstruction).
Words once_only(std::uint64_t seed, std::uint64_t count) {
  if (count_run("once_only:" + std::to_string(seed)) > 1) {
    throw std::runtime_error("once_only refuses to run twice");
  }
  return make_words(seed, count);
}

// Makes block `seed` on this rank and returns the ref: this rank owns it.
std::vector<manta::ObjectRef<Words>> own_words(std::uint64_t seed, std::uint64_t count) {
  return {manta::task(make_words).on_rank(manta::rank()).remote(seed, count)};
}

std::uint64_t count_bad(const Words& w, std::uint64_t seed, std::uint64_t count) {
  if (w.size() != count) return count;
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < count; ++i) bad += w[i] != word(seed, i);
  return bad;
}

// A get on this rank of a ref it does not own (the reader of a copy elsewhere).
std::uint64_t bad_words_of(std::vector<manta::ObjectRef<Words>> refs, std::uint64_t seed) {
  return count_bad(*manta::get(refs.at(0)), seed, kWords);
}

std::uint64_t executions(const std::string& name) {
  std::lock_guard lock(counts_mutex);
  auto it = counts.find(name);
  return it == counts.end() ? 0 : it->second;
}

bool drop_copy(std::int32_t owner, std::uint32_t index, std::uint64_t seq) {
  return manta::engine::testing::drop_copy_here(manta::ObjectId{owner, index, seq});
}

struct Maker {
  static Maker* create() { return new Maker; }
  Words make(std::uint64_t seed) { return make_words(seed, kWords); }
};

MANTA_REMOTE(make_words, next_words, once_only, own_words, bad_words_of, executions, drop_copy,
             Maker::create, &Maker::make);

// The rank that holds task results in these tests: another one when there is one.
int holder() { return manta::world_size() > 1 ? 1 : 0; }

std::uint64_t runs_on(int rank, const std::string& name) {
  return *manta::get(manta::task(executions).on_rank(rank).remote(name));
}

manta::RankMemory rank_memory(int rank) {
  for (const auto& r : manta::memory_summary(0).ranks) {
    if (r.rank == rank) return r;
  }
  return {};
}

manta::RankMemory total_memory() { return manta::memory_summary(0).total(); }

// Where the objects' bytes are held now: spilled and out of memory on `rank`.
bool on_disk(int rank, const manta::ObjectId& id) {
  for (const auto& o : manta::memory_summary(100000).objects) {
    if (o.rank == rank && o.id == id) return o.spilled && !o.in_memory;
  }
  return false;
}

// Fills `rank`'s 64 MiB store until every object in `ids` is on disk only. Returns the fillers
// (kept alive by the caller so the objects stay out of memory).
std::vector<manta::ObjectRef<Words>> push_to_disk(int rank, const std::vector<manta::ObjectId>& ids,
                                                  std::uint64_t seed) {
  std::vector<manta::ObjectRef<Words>> fillers;
  for (std::uint64_t i = 0; i < 20; ++i) {
    fillers.push_back(manta::task(make_words).on_rank(rank).remote(seed + i, kWords));
  }
  EXPECT_TRUE(manta::wait(fillers, fillers.size(), std::chrono::seconds(60)).unready.empty());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    bool all = true;
    for (const auto& id : ids) all = all && on_disk(rank, id);
    if (all) break;
    if (std::chrono::steady_clock::now() > until) {
      ADD_FAILURE() << "objects did not spill on rank " << rank << "\n"
                    << manta::memory_summary(30).to_string();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fillers;
}

// Flips a byte of block `seed` in `rank`'s spill file, as a failing disk would.
void damage(int rank, std::uint64_t seed) {
  const std::string file = rank_memory(rank).spill_file;
  ASSERT_FALSE(file.empty());
  std::ifstream in(file, std::ios::binary);
  ASSERT_TRUE(in) << file;
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t pattern[4];
  for (int i = 0; i < 4; ++i) pattern[i] = word(seed, 1000 + i);
  const auto at = data.find(std::string(reinterpret_cast<const char*>(pattern), sizeof pattern));
  ASSERT_NE(at, std::string::npos) << "block " << seed << " is not in " << file;
  const int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const char flipped = static_cast<char>(data[at] ^ 0x5a);
  ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
}

// Drops the copy of `ref` on `rank` (that rank then answers readers "no longer on rank R").
template <class T>
void lose_copy(int rank, const manta::ObjectRef<T>& ref) {
  const manta::ObjectId id = ref.id();
  ASSERT_TRUE(*manta::get(manta::task(drop_copy).on_rank(rank).remote(id.owner, id.index, id.seq)))
      << "rank " << rank << " held no copy of " << id.to_string();
}

std::string lost_message(const std::function<void()>& get) {
  try {
    get();
  } catch (const manta::ObjectLostError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the get did not fail with ObjectLostError";
  return "";
}

TEST(Lineage, ChainWithALostMiddleObjectRebuildsOnlyIt) {
  const int r = holder();
  auto a = manta::task(make_words).on_rank(r).remote(std::uint64_t{100}, kWords);
  auto b = manta::task(next_words).on_rank(r).remote(a, std::uint64_t{100});
  auto c = manta::task(next_words).on_rank(r).remote(b, std::uint64_t{101});
  ASSERT_TRUE(manta::wait(std::vector{c}, 1, std::chrono::seconds(60)).unready.empty());
  const auto before = total_memory();
  auto fillers = push_to_disk(r, {a.id(), b.id(), c.id()}, 1000);
  damage(r, 101);  // b is block 101
  EXPECT_EQ(count_bad(*manta::get(b), 101, kWords), 0u);
  EXPECT_EQ(count_bad(*manta::get(c), 102, kWords), 0u);
  EXPECT_EQ(count_bad(*manta::get(a), 100, kWords), 0u);
  EXPECT_EQ(runs_on(r, "make_words:100"), 1u) << "a was intact: it must not run again";
  EXPECT_EQ(runs_on(r, "next_words:100"), 2u) << "b was lost: it runs once more";
  EXPECT_EQ(runs_on(r, "next_words:101"), 1u) << "c was intact";
  const auto after = total_memory();
  EXPECT_EQ(after.objects_reconstructed - before.objects_reconstructed, 1u);
  EXPECT_EQ(after.objects_lost, before.objects_lost);
}

TEST(Lineage, LostInputOnTheSameRankIsRebuiltFirst) {
  const int r = holder();
  auto a = manta::task(make_words).on_rank(r).remote(std::uint64_t{200}, kWords);
  auto b = manta::task(next_words).on_rank(r).remote(a, std::uint64_t{200});
  ASSERT_TRUE(manta::wait(std::vector{b}, 1, std::chrono::seconds(60)).unready.empty());
  auto fillers = push_to_disk(r, {a.id(), b.id()}, 2000);
  damage(r, 200);
  damage(r, 201);
  EXPECT_EQ(count_bad(*manta::get(b), 201, kWords), 0u);
  EXPECT_EQ(runs_on(r, "make_words:200"), 2u);
  EXPECT_EQ(runs_on(r, "next_words:200"), 2u);
  EXPECT_EQ(count_bad(*manta::get(a), 200, kWords), 0u);
  EXPECT_EQ(runs_on(r, "make_words:200"), 2u) << "a was rebuilt once, for b";
}

TEST(Lineage, LostInputOwnedByAnotherRankIsRebuiltByItsOwner) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  // a is made and owned by rank 1; b (owned by the driver) is made from it on rank 1.
  auto a = manta::get(manta::task(own_words).on_rank(1).remote(std::uint64_t{300}, kWords))->at(0);
  ASSERT_EQ(a.id().owner, 1);
  auto b = manta::task(next_words).on_rank(1).remote(a, std::uint64_t{300});
  ASSERT_TRUE(manta::wait(std::vector{b}, 1, std::chrono::seconds(60)).unready.empty());
  const auto before1 = rank_memory(1);
  auto fillers = push_to_disk(1, {a.id(), b.id()}, 3000);
  damage(1, 300);
  damage(1, 301);
  EXPECT_EQ(count_bad(*manta::get(b), 301, kWords), 0u);
  EXPECT_EQ(runs_on(1, "make_words:300"), 2u) << "rank 1 rebuilds its own object";
  EXPECT_EQ(runs_on(1, "next_words:300"), 2u);
  EXPECT_EQ(rank_memory(1).objects_reconstructed - before1.objects_reconstructed, 1u)
      << "rank 1 owns a: it counts a's rebuild";
}

TEST(Lineage, CopyGoneFromTheRankTheOwnerSentTheReaderTo) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto x = manta::task(make_words).on_rank(1).remote(std::uint64_t{400}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{x}, 1, std::chrono::seconds(60)).unready.empty());
  lose_copy(1, x);
  // The owner still lists rank 1; its read there finds the copy gone and rebuilds it.
  EXPECT_EQ(count_bad(*manta::get(x), 400, kWords), 0u);
  EXPECT_EQ(runs_on(1, "make_words:400"), 2u);
  if (manta::world_size() < 3) return;
  // A reader that is not the owner: it tells the owner and asks again.
  auto y = manta::task(make_words).on_rank(1).remote(std::uint64_t{401}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{y}, 1, std::chrono::seconds(60)).unready.empty());
  lose_copy(1, y);
  EXPECT_EQ(*manta::get(manta::task(bad_words_of)
                            .on_rank(2)
                            .remote(std::vector<manta::ObjectRef<Words>>{y}, std::uint64_t{401})),
            0u);
  EXPECT_EQ(runs_on(1, "make_words:401"), 2u);
}

TEST(Lineage, LostPutFailsSayingAPutCannotBeRebuilt) {
  const int r = 0;  // a put lives on its owner
  auto p = manta::put(make_words(500, kWords));
  auto fillers = push_to_disk(r, {p.id()}, 5000);
  damage(r, 500);
  const auto before = total_memory();
  const std::string what = lost_message([&] { manta::get(p); });
  EXPECT_NE(what.find(p.id().to_string()), std::string::npos) << what;
  EXPECT_NE(what.find("was made by manta::put: a put has no task to rebuild it from"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("checksum"), std::string::npos) << "the cause is kept: " << what;
  EXPECT_EQ(total_memory().objects_lost - before.objects_lost, 1u);
  // It stays lost, with the same message.
  EXPECT_EQ(lost_message([&] { manta::get(p); }), what);
}

TEST(Lineage, LostActorResultFailsSayingActorResultsAreNotRebuilt) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto maker = manta::actor(Maker::create).on_rank(1).remote();
  auto x = maker.task(&Maker::make).remote(std::uint64_t{600});
  ASSERT_TRUE(manta::wait(std::vector{x}, 1, std::chrono::seconds(60)).unready.empty());
  lose_copy(1, x);
  const std::string what = lost_message([&] { manta::get(x); });
  EXPECT_NE(what.find("is the result of a call on actor"), std::string::npos) << what;
  EXPECT_NE(what.find("actor results are not rebuilt"), std::string::npos) << what;
  EXPECT_NE(what.find("no longer on rank 1"), std::string::npos) << "the cause: " << what;
}

TEST(Lineage, RebuildsStopAtMaxRetries) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto x = manta::task(make_words).max_retries(1).on_rank(1).remote(std::uint64_t{700}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{x}, 1, std::chrono::seconds(60)).unready.empty());
  lose_copy(1, x);
  // Read on rank 1 itself (its stale location is its own), so that it keeps the only copy.
  EXPECT_EQ(*manta::get(manta::task(bad_words_of)
                            .on_rank(1)
                            .remote(std::vector<manta::ObjectRef<Words>>{x}, std::uint64_t{700})),
            0u);
  lose_copy(1, x);
  const std::string what = lost_message([&] { manta::get(x); });
  EXPECT_NE(what.find("was rebuilt 1 times, max_retries=1"), std::string::npos) << what;
  EXPECT_EQ(runs_on(1, "make_words:700"), 2u);
  auto none = manta::task(make_words).max_retries(0).on_rank(1).remote(std::uint64_t{701}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{none}, 1, std::chrono::seconds(60)).unready.empty());
  lose_copy(1, none);
  EXPECT_NE(lost_message([&] { manta::get(none); }).find("rebuilt 0 times, max_retries=0"),
            std::string::npos);
}

TEST(Lineage, TaskThatFailsDuringReconstructionFailsTheGetWithItsError) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto x = manta::task(once_only).on_rank(1).remote(std::uint64_t{800}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{x}, 1, std::chrono::seconds(60)).unready.empty());
  lose_copy(1, x);
  try {
    manta::get(x);
    FAIL() << "the rebuilt object was returned although its task threw";
  } catch (const manta::TaskError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("once_only refuses to run twice"), std::string::npos) << what;
    // The rerun names itself: the same name is its event in the timeline.
    EXPECT_NE(what.find("(reconstruction 1 of " + x.id().to_string() + ")"), std::string::npos)
        << what;
  }
  EXPECT_EQ(runs_on(1, "once_only:800"), 2u);
}

// Run with --manta-max-lineage-bytes=4K (LineageBound.*) and =0 (LineageNone.*).
TEST(LineageBound, OldestSpecsAreDroppedNewestAreRebuilt) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto old = manta::task(make_words).on_rank(1).remote(std::uint64_t{900}, kWords);
  std::vector<manta::ObjectRef<Words>> more;
  for (std::uint64_t i = 0; i < 12; ++i) {
    more.push_back(manta::task(make_words).on_rank(1).remote(910 + i, std::uint64_t{1024}));
  }
  auto recent = manta::task(make_words).on_rank(1).remote(std::uint64_t{901}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{old, recent}, 2, std::chrono::seconds(60)).unready.empty());
  const auto m = rank_memory(0);
  EXPECT_GT(m.lineage_evicted, 0u);
  EXPECT_LE(m.lineage_bytes, 4096u);
  lose_copy(1, old);
  lose_copy(1, recent);
  const std::string what = lost_message([&] { manta::get(old); });
  EXPECT_NE(what.find("its lineage was dropped to stay under --manta-max-lineage-bytes=4096; "
                      "raise it to rebuild such objects"),
            std::string::npos)
      << what;
  EXPECT_EQ(count_bad(*manta::get(recent), 901, kWords), 0u);
  EXPECT_EQ(runs_on(1, "make_words:901"), 2u);
}

TEST(LineageNone, ZeroKeepsNoLineage) {
  if (manta::world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto x = manta::task(make_words).on_rank(1).remote(std::uint64_t{950}, kWords);
  ASSERT_TRUE(manta::wait(std::vector{x}, 1, std::chrono::seconds(60)).unready.empty());
  EXPECT_EQ(rank_memory(0).lineage_objects, 0u);
  lose_copy(1, x);
  EXPECT_NE(lost_message([&] { manta::get(x); }).find("--manta-max-lineage-bytes=0"),
            std::string::npos);
  EXPECT_EQ(runs_on(1, "make_words:950"), 1u);
}

}  // namespace
