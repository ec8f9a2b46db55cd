// Misuse of the API ends in a typed error naming the problem, never in a crash or a hang: the
// same ref given to wait twice, empty refs as arguments or in wait, options out of range, values
// larger than the whole object store.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = std::chrono::seconds(60);

int last_rank() { return manta::world_size() - 1; }

int add(int a, int b) { return a + b; }
int sleep_us(int us) {
  std::this_thread::sleep_for(std::chrono::microseconds(us));
  return us;
}

// Waits with duplicates from inside a task: the worker lends its CPU while it waits, so the
// local scheduler holds a wake-up for the same waiter as the object store.
int wait_twice_inside(int rounds, int us) {
  int ready = 0;
  for (int i = 0; i < rounds; ++i) {
    auto a = manta::task(sleep_us).remote(us);
    auto r = manta::wait(std::vector{a, a, a}, 2);
    ready += static_cast<int>(r.ready.size());
    auto b = manta::task(sleep_us).remote(us);
    r = manta::wait(std::vector{b, a, b}, 1, std::chrono::microseconds(us / 2));
    ready += static_cast<int>(r.ready.size());
    ready += *manta::get(b) == us;
  }
  return ready;
}

std::vector<char> make_bytes(std::uint64_t n) { return std::vector<char>(n, 'x'); }
std::uint64_t count_bytes(const std::vector<char>& v) { return v.size(); }

struct Holder {
  static Holder* create(int v) { return new Holder{v}; }
  int plus(int x) { return v + x; }
  int v;
};

/// Runs `f` and fails the job (with `what`) if it does not return within the limit: a hang here
/// is the bug under test, and a stuck driver would stop the rest of the suite from reporting.
void returns_within(const char* what, const std::function<void()>& f) {
  auto done = std::async(std::launch::async, f);
  if (done.wait_for(kLimit) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within %lld s\n", what,
                 static_cast<long long>(kLimit.count()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  done.get();  // rethrows what f threw
}

/// `f` throws std::invalid_argument whose message holds each of `parts`.
void expect_refused(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error naming " << parts.front();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << what;
  }
}

void expect_empty_ref_error(const std::function<void()>& f, const std::string& names) {
  try {
    f();
    ADD_FAILURE() << "an empty ObjectRef was accepted";
  } catch (const manta::ObjectLostError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("empty ObjectRef"), std::string::npos) << what;
    EXPECT_NE(what.find(names), std::string::npos) << what;
  }
}

}  // namespace

MANTA_REMOTE(add, sleep_us, wait_twice_inside, make_bytes, count_bytes, Holder::create,
             &Holder::plus);

// ---- wait with the same ref more than once ----------------------------------------------------

TEST(WaitDuplicates, SameRefTwiceOnPendingTasks) {
  returns_within("wait({a, a}, ...)", [] {
    for (int i = 0; i < 1500; ++i) {
      const int rank = i % manta::world_size();
      auto a = manta::task(sleep_us).on_rank(rank).remote(50 + i % 7 * 40);
      if (i % 2 == 0) {
        auto r = manta::wait(std::vector{a, a}, 2);
        ASSERT_EQ(r.ready.size(), 2u) << "iteration " << i;
      } else {
        auto r = manta::wait(std::vector{a, a}, 1);
        ASSERT_EQ(r.ready.size(), 1u) << "iteration " << i;
        ASSERT_EQ(r.unready.size(), 1u) << "iteration " << i;
      }
      ASSERT_EQ(*manta::get(a, kLimit), 50 + i % 7 * 40);
    }
  });
}

TEST(WaitDuplicates, WithTimeoutsThatEndWhileWakeUpsAreOnTheirWay) {
  returns_within("wait({a, b, a}, n, timeout)", [] {
    for (int i = 0; i < 1500; ++i) {
      const int rank = i % manta::world_size();
      const int us = 20 + i % 11 * 30;
      auto a = manta::task(sleep_us).on_rank(rank).remote(us);
      auto b = manta::task(sleep_us).remote(us / 2);
      const std::size_t n = 1 + i % 2;
      // The timeout is about as long as the task: the wait often returns just as a wake-up for
      // it is being delivered, which must not touch the waiter after it is gone.
      auto r = manta::wait(std::vector{a, b, a, b, a}, n, std::chrono::microseconds(us));
      ASSERT_LE(r.ready.size(), n) << "iteration " << i;
      ASSERT_EQ(r.ready.size() + r.unready.size(), 5u) << "iteration " << i;
      ASSERT_EQ(*manta::get(a, kLimit), us);
      ASSERT_EQ(*manta::get(b, kLimit), us / 2);
    }
  });
}

TEST(WaitDuplicates, FromSeveralDriverThreadsAtOnce) {
  returns_within("concurrent duplicate waits", [] {
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([t, &bad] {
        for (int i = 0; i < 300; ++i) {
          auto a = manta::task(sleep_us).on_rank((t + i) % manta::world_size()).remote(30 + i % 5);
          auto r = i % 3 == 0 ? manta::wait(std::vector{a, a, a}, 3)
                              : manta::wait(std::vector{a, a}, 1 + i % 2, 20us);
          if (r.ready.size() + r.unready.size() != (i % 3 == 0 ? 3u : 2u)) ++bad;
          if (*manta::get(a, kLimit) != 30 + i % 5) ++bad;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
  });
}

TEST(WaitDuplicates, InsideTasksThatLendTheirCpu) {
  returns_within("duplicate waits inside tasks", [] {
    std::vector<manta::ObjectRef<int>> outer;
    for (int r = 0; r < manta::world_size(); ++r) {
      outer.push_back(manta::task(wait_twice_inside).on_rank(r).remote(200, 40));
    }
    for (auto& o : outer) EXPECT_GE(*manta::get(o, kLimit), 200 * 2);
  });
}

// ---- empty refs ---------------------------------------------------------------------------------

TEST(EmptyRef, AsTaskArgumentIsAnErrorAtSubmission) {
  manta::ObjectRef<int> empty;
  expect_empty_ref_error([&] { (void)manta::task(add).remote(1, empty); }, "argument 2 of add");
  auto moved = manta::put(5);
  auto taken = std::move(moved);
  expect_empty_ref_error([&] { (void)manta::task(add).on_rank(last_rank()).remote(moved, 1); },
                         "argument 1 of add");
  // Nothing was left behind: the job goes on.
  EXPECT_EQ(*manta::get(manta::task(add).on_rank(last_rank()).remote(taken, 1), kLimit), 6);
}

TEST(EmptyRef, AsActorCallArgumentIsAnErrorAtSubmission) {
  auto h = manta::actor(Holder::create).on_rank(last_rank()).remote(10);
  manta::ObjectRef<int> empty;
  expect_empty_ref_error([&] { (void)h.task(&Holder::plus).remote(empty); },
                         "argument 1 of Holder::plus");
  // The failed call took no place in the caller's order: the next one runs.
  EXPECT_EQ(*manta::get(h.task(&Holder::plus).remote(manta::put(2)), kLimit), 12);
  h.kill();
}

TEST(EmptyRef, AsActorCreationArgumentIsAnErrorAtSubmission) {
  manta::ObjectRef<int> empty;
  expect_empty_ref_error(
      [&] { (void)manta::actor(Holder::create).on_rank(last_rank()).remote(empty); },
      "argument 1 of Holder::create");
  auto ok = manta::actor(Holder::create).on_rank(last_rank()).remote(manta::put(1));
  EXPECT_EQ(*manta::get(ok.task(&Holder::plus).remote(1), kLimit), 2);
  ok.kill();
}

TEST(EmptyRef, WaitWithoutTimeoutIsAnError) {
  returns_within("wait on an empty ref", [] {
    manta::ObjectRef<int> empty;
    expect_empty_ref_error([&] { (void)manta::wait(std::vector{empty}, 1); }, "ref 1 of 1");
    auto a = manta::task(add).on_rank(last_rank()).remote(1, 2);
    expect_empty_ref_error([&] { (void)manta::wait(std::vector{a, empty}, 2); }, "ref 2 of 2");
    EXPECT_EQ(*manta::get(a, kLimit), 3);
  });
}

// ---- options out of range -------------------------------------------------------------------

TEST(BadOptions, TaskResourcesMustBeFiniteAndNotNegative) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  // A negative amount used to add capacity to the rank that ran the task.
  expect_refused(
      [] {
        (void)manta::task(add).resources({{"CPU", -1}}).remote(1, 2);
      },
      {"manta::task(add)", "CPU", "-1", "at least 0"});
  expect_refused(
      [&] {
        (void)manta::task(add).resources({{"CPU", nan}}).remote(1, 2);
      },
      {"CPU", "nan", "finite"});
  expect_refused(
      [&] {
        (void)manta::task(add).resources({{"GPU", inf}}).remote(1, 2);
      },
      {"GPU", "inf", "finite"});
  expect_refused([] { (void)manta::task(add).resources({{"", 1}}).remote(1, 2); }, {"empty name"});
  // Zero of a resource is asking for none of it.
  EXPECT_EQ(*manta::get(manta::task(add).resources({{"CPU", 0}}).remote(1, 2), kLimit), 3);
}

TEST(BadOptions, TaskOnRankMustBeARankOfTheJob) {
  const std::string last = std::to_string(last_rank());
  expect_refused([] { (void)manta::task(add).on_rank(-5).remote(1, 2); },
                 {"on_rank(-5)", "from 0 to " + last, "-1"});
  expect_refused([] { (void)manta::task(add).on_rank(manta::world_size()).remote(1, 2); },
                 {"on_rank(" + std::to_string(manta::world_size()) + ")", "from 0 to " + last});
  expect_refused([] { (void)manta::task(add).max_retries(-1).remote(1, 2); },
                 {"max_retries(-1)", "at least 0"});
  expect_refused([] { (void)manta::task(add).memory(static_cast<std::uint64_t>(-1)).remote(1, 2); },
                 {"memory(18446744073709551615)", "negative"});
  // -1 is the default: any rank.
  EXPECT_EQ(*manta::get(manta::task(add).on_rank(-1).remote(1, 2), kLimit), 3);
}

TEST(BadOptions, ActorOptionsAreCheckedAtCreation) {
  expect_refused(
      [] {
        (void)manta::actor(Holder::create).resources({{"CPU", -2}}).remote(1);
      },
      {"manta::actor(Holder::create)", "CPU", "-2"});
  expect_refused([] { (void)manta::actor(Holder::create).on_rank(-5).remote(1); }, {"on_rank(-5)"});
  expect_refused(
      [] { (void)manta::actor(Holder::create).on_rank(manta::world_size() + 3).remote(1); },
      {"on_rank(" + std::to_string(manta::world_size() + 3) + ")"});
  expect_refused([] { (void)manta::actor(Holder::create).max_concurrency(0).remote(1); },
                 {"max_concurrency(0)", "1 to 4096"});
  expect_refused([] { (void)manta::actor(Holder::create).max_concurrency(1000000).remote(1); },
                 {"max_concurrency(1000000)"});
  expect_refused([] { (void)manta::actor(Holder::create).max_restarts(-1).remote(1); },
                 {"max_restarts(-1)", "at least 0"});
  // Nothing was half made: a good creation right after works.
  auto h = manta::actor(Holder::create).on_rank(last_rank()).max_concurrency(2).remote(4);
  EXPECT_EQ(*manta::get(h.task(&Holder::plus).remote(1), kLimit), 5);
  h.kill();
}

// ---- values larger than the whole store -------------------------------------------------------
// Run with a 64 MiB store (the small_store variant); with a larger store they are skipped.

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::uint64_t driver_store_capacity() {
  return manta::memory_summary(0).ranks.at(0).capacity_bytes;
}

/// The process's peak resident memory since the last reset_peak(), from /proc.
std::uint64_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// Runs `f`, which must fail with ObjectStoreFullError naming `what`, the size and the fix, and
/// returns how much the peak resident memory grew meanwhile.
std::uint64_t growth_of_failing(const std::function<void()>& f, const std::string& what) {
  reset_peak();
  const std::uint64_t before = peak_rss();
  const auto start = std::chrono::steady_clock::now();
  try {
    f();
    ADD_FAILURE() << what << " larger than the store was accepted";
  } catch (const manta::ObjectStoreFullError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(what), std::string::npos) << m;
    EXPECT_NE(m.find("larger than the whole store"), std::string::npos) << m;
    EXPECT_NE(m.find("--manta-object-store-memory"), std::string::npos) << m;
    EXPECT_GT(e.requested(), e.capacity()) << m;
    EXPECT_EQ(e.capacity(), driver_store_capacity()) << m;
  }
  // It fails at once: no waiting for room that can never come (the store-full timeout).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << what;
  return peak_rss() - before;
}

}  // namespace

class PutLargerThanStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (driver_store_capacity() > 128 * kMiB) {
      GTEST_SKIP() << "needs --manta-object-store-memory of at most 128M (the small_store run)";
    }
    if (peak_rss() == 0) GTEST_SKIP() << "no VmHWM in /proc/self/status";
  }
};

TEST_F(PutLargerThanStore, VectorFailsBeforeItIsCopied) {
  const std::vector<double> v(2 * driver_store_capacity() / sizeof(double), 1.5);
  const std::uint64_t grew = growth_of_failing([&] { (void)manta::put(v); }, "put");
  EXPECT_LT(grew, 16 * kMiB) << "the put copied the value before failing";
}

TEST_F(PutLargerThanStore, StringFailsBeforeItIsCopied) {
  const std::string s(2 * driver_store_capacity(), 'y');
  const std::uint64_t grew = growth_of_failing([&] { (void)manta::put(s); }, "put");
  EXPECT_LT(grew, 16 * kMiB) << "the put copied the value before failing";
}

TEST_F(PutLargerThanStore, BoostEncodedValueStopsAtTheStoreSize) {
  // Encoded through Boost: its size shows only while encoding, which stops past the store's.
  std::map<int, std::vector<double>> m;
  const std::uint64_t cap = driver_store_capacity();
  for (int i = 0; i < 4; ++i) m[i] = std::vector<double>(cap / sizeof(double), 2.5);  // 4x
  const std::uint64_t grew = growth_of_failing([&] { (void)manta::put(m); }, "put of at least");
  EXPECT_LT(grew, 3 * cap) << "the encoding went on past the store's size";
}

TEST_F(PutLargerThanStore, TaskArgumentFailsAtSubmission) {
  const std::vector<char> v(2 * driver_store_capacity(), 'z');
  const std::uint64_t grew = growth_of_failing(
      [&] { (void)manta::task(count_bytes).on_rank(last_rank()).remote(v); }, "a task argument");
  EXPECT_LT(grew, 16 * kMiB) << "the argument was copied before failing";
}

TEST_F(PutLargerThanStore, TaskResultFailsOnItsRank) {
  auto r = manta::task(make_bytes).on_rank(last_rank()).remote(2 * driver_store_capacity());
  try {
    (void)manta::get(r, kLimit);
    FAIL() << "a result larger than the store was stored";
  } catch (const manta::ObjectStoreFullError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("larger than the whole store"), std::string::npos) << m;
    EXPECT_NE(m.find("make_bytes"), std::string::npos) << m;
  }
}

TEST_F(PutLargerThanStore, NothingIsLeftBehind) {
  const std::vector<double> v(2 * driver_store_capacity() / sizeof(double), 1.0);
  for (int i = 0; i < 3; ++i) EXPECT_THROW((void)manta::put(v), manta::ObjectStoreFullError);
  // No room was kept for the refused values: the whole store is still there for a put, and an
  // argument just under it.
  const std::vector<char> most(driver_store_capacity() / 4, 'a');
  auto ref = manta::put(most);
  EXPECT_EQ(manta::get(ref, kLimit)->size(), most.size());
  EXPECT_EQ(*manta::get(manta::task(count_bytes).on_rank(0).remote(most), kLimit), most.size());
}
