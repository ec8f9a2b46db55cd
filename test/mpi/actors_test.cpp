// Actors across ranks: creation, per-caller ordering, concurrency, handles passed around, named
// actors, kill and restart, exit_actor, errors, resources held for life, and nested calls.
// Every test works on 1 rank too: actors go on_rank(world_size() - 1) and callers on r % world.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every get in these tests has a limit: a hang shows up as GetTimeoutError, not a stuck suite.
constexpr auto kLimit = std::chrono::seconds(60);

int last_rank() { return manta::world_size() - 1; }

template <class T>
T value(const manta::ObjectRef<T>& ref) {
  return *manta::get(ref, kLimit);
}

// Unique per test, so that tests on the same rank never see each other's markers.
std::atomic<int> g_next_token{1};
int fresh_token() { return g_next_token++; }

// Set by Counter::slow on the rank that runs it, read by slow_token() on the same rank: lets the
// driver know that a call is running without guessing with a sleep.
std::atomic<int> g_slow_token{0};
int slow_token() { return g_slow_token.load(); }

// ---- actor classes --------------------------------------------------------------------------

struct Counter {
  static Counter* create(int start) { return new Counter{start, start}; }
  static Counter* create_sum(int a, int b) { return new Counter{a + b, a + b}; }
  static Counter* create_slowly(int ms, int start) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return new Counter{start, start};
  }
  static Counter* create_throws(int) { throw std::runtime_error("factory refuses"); }

  int incr(int by) { return n += by; }
  int get() const { return n; }
  int started_with() const { return start; }
  bool restarted() const { return manta::was_actor_restarted(); }
  int where() const { return manta::rank(); }
  // Runs for `ms`, marking the rank so the driver sees that it started; returns the count.
  int slow(int token, int ms) {
    g_slow_token = token;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return n;
  }
  int fail(std::string why) { throw std::runtime_error(why); }
  // Large values in and out (past the inline limit, so they travel as pulled objects).
  std::vector<double> scaled(std::vector<double> v) {
    for (double& x : v) x *= n;
    return v;
  }
  // Takes the reference itself and reads it here.
  int add_ref(manta::ObjectRef<int> r) { return n += *manta::get(r, kLimit); }
  int quit() { manta::exit_actor(); }

  int n = 0;
  int start = 0;
};

// Records (caller, caller's counter) for every call, in the order the calls ran.
struct Recorder {
  static Recorder* create() { return new Recorder; }
  void record(int caller, int counter) { log.emplace_back(caller, counter); }
  std::vector<std::pair<int, int>> entries() const { return log; }
  std::vector<std::pair<int, int>> log;
};

// Calls that wait for each other: shows how many run at once.
struct Gate {
  static Gate* create() { return new Gate; }
  // Enters, then waits until `n` calls have entered (or `timeout_ms` passes): true if they did.
  bool meet(int n, int timeout_ms) {
    std::unique_lock lock(mutex);
    ++arrived;
    ++inside;
    peak = std::max(peak, inside);
    cv.notify_all();
    const bool met =
        cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return arrived >= n; });
    --inside;
    return met;
  }
  int max_inside() {
    std::lock_guard lock(mutex);
    return peak;
  }
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0;
  int inside = 0;
  int peak = 0;
};

int square(int x) { return x * x; }
int late(int x, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return x;
}
int add(int a, int b) { return a + b; }
int where() { return manta::rank(); }
int broken(int) { throw std::logic_error("no input for you"); }

// Methods that submit tasks and call other actors, and wait for the results.
struct Coordinator {
  static Coordinator* create() { return new Coordinator; }
  // n tasks, spread over the ranks, summed here.
  int sum_of_squares(int n) {
    std::vector<manta::ObjectRef<int>> parts;
    for (int i = 1; i <= n; ++i)
      parts.push_back(manta::task(square).on_rank(i % manta::world_size()).remote(i));
    int s = 0;
    for (auto& p : manta::get(parts, kLimit)) s += *p;
    return s;
  }
  int bump(manta::ActorHandle<Counter> c, int by) {
    return *manta::get(c.task(&Counter::incr).remote(by), kLimit);
  }
  // Another coordinator does the work; this one waits for it.
  int delegate(manta::ActorHandle<Coordinator> other, int n) {
    return *manta::get(other.task(&Coordinator::sum_of_squares).remote(n), kLimit);
  }
};

// ---- tasks that use actor handles -----------------------------------------------------------

// Submits n calls without waiting, then waits for all of them.
int submit_calls(manta::ActorHandle<Recorder> h, int caller, int n) {
  std::vector<manta::ObjectRef<void>> refs;
  refs.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) refs.push_back(h.task(&Recorder::record).remote(caller, i));
  for (auto& r : refs) manta::get(r, kLimit);
  return n;
}

int incr_through(manta::ActorHandle<Counter> h, int by) {
  return *manta::get(h.task(&Counter::incr).remote(by), kLimit);
}

int sum_of_counters(std::vector<manta::ActorHandle<Counter>> hs) {
  int s = 0;
  for (auto& h : hs) s += *manta::get(h.task(&Counter::get).remote(), kLimit);
  return s;
}

int incr_named(std::string name, int by) {
  auto h = manta::get_actor<Counter>(name);
  if (!h) return -1;
  return *manta::get(h->task(&Counter::incr).remote(by), kLimit);
}

// A task that creates an actor (so its creator is not the driver) and hands back the handle.
manta::ActorHandle<Counter> make_counter(int start) {
  return manta::actor(Counter::create).on_rank(0).remote(start);
}

bool kill_from_here(manta::ActorHandle<Counter> h, bool no_restart) {
  h.kill(no_restart);
  return true;
}

// How many of `hs` answer a call made from this rank (the others fail with ActorDiedError).
int count_alive(std::vector<manta::ActorHandle<Counter>> hs) {
  std::vector<manta::ObjectRef<int>> refs;
  for (auto& h : hs) refs.push_back(h.task(&Counter::get).remote());
  int alive = 0;
  for (auto& r : refs) {
    try {
      manta::get(r, kLimit);
      ++alive;
    } catch (const manta::ActorDiedError&) {
    }
  }
  return alive;
}

// This process's virtual memory, from /proc (Linux), in MiB.
long vm_size_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7)) / 1024;
  return -1;
}

// "ok N" or "died: <cause>": what a call from this rank sees.
std::string call_and_report(manta::ActorHandle<Counter> h) {
  try {
    return "ok " + std::to_string(*manta::get(h.task(&Counter::get).remote(), kLimit));
  } catch (const manta::ActorDiedError& e) {
    return "died: " + e.cause();
  }
}

// Polls `done` (each poll a real round trip, no sleeps) until it holds or `limit` passes.
template <class F>
bool eventually(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}

// Waits until Counter::slow(token, ...) is running on `rank`.
bool slow_call_started(int rank, int token) {
  return eventually([&] { return value(manta::task(slow_token).on_rank(rank).remote()) == token; });
}

// The cause of the ActorDiedError that `ref` fails with ("" if it does not fail that way).
template <class T>
std::string death_of(const manta::ObjectRef<T>& ref) {
  try {
    manta::get(ref, kLimit);
  } catch (const manta::ActorDiedError& e) {
    return e.cause().empty() ? std::string("(no cause)") : e.cause();
  }
  return "";
}

}  // namespace

MANTA_REMOTE(Counter::create, Counter::create_sum, Counter::create_slowly, Counter::create_throws,
             &Counter::incr, &Counter::get, &Counter::started_with, &Counter::restarted,
             &Counter::where, &Counter::slow, &Counter::fail, &Counter::scaled, &Counter::add_ref,
             &Counter::quit, Recorder::create, &Recorder::record, &Recorder::entries, Gate::create,
             &Gate::meet, &Gate::max_inside, Coordinator::create, &Coordinator::sum_of_squares,
             &Coordinator::bump, &Coordinator::delegate, square, late, add, where, broken,
             slow_token, submit_calls, incr_through, sum_of_counters, incr_named, kill_from_here,
             call_and_report, make_counter, count_alive, vm_size_mib);

// ---- creation -------------------------------------------------------------------------------

TEST(Actors, CreationReturnsAtOnceAndEarlyCallsQueue) {
  const auto t0 = Clock::now();
  auto c = manta::actor(Counter::create_slowly).on_rank(last_rank()).remote(1000, 10);
  const auto took = Clock::now() - t0;
  EXPECT_LT(took, 500ms) << "creation waited for the factory";
  // Calls made while the factory still runs wait for it, then run in order.
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i) refs.push_back(c.task(&Counter::incr).remote(1));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(value(refs[i]), 11 + i) << "call " << i;
  EXPECT_EQ(value(c.task(&Counter::where).remote()), last_rank());
  EXPECT_FALSE(value(c.task(&Counter::restarted).remote()));
}

TEST(Actors, FactoryArgumentsMayBeObjectRefs) {
  auto from_put = manta::put(40);
  auto from_task = manta::task(add).on_rank(last_rank()).remote(1, 1);
  auto c = manta::actor(Counter::create_sum).on_rank(0).remote(from_put, from_task);
  EXPECT_EQ(value(c.task(&Counter::get).remote()), 42);
  auto d = manta::actor(Counter::create_sum).on_rank(last_rank()).remote(from_task, 5);
  EXPECT_EQ(value(d.task(&Counter::incr).remote(1)), 8);
}

TEST(Actors, FailedFactoryFailsEveryCall) {
  auto bad_input = manta::task(broken).remote(1);
  auto a = manta::actor(Counter::create_sum).on_rank(last_rank()).remote(bad_input, 1);
  const std::string cause_a = death_of(a.task(&Counter::get).remote());
  EXPECT_NE(cause_a.find("no input for you"), std::string::npos) << cause_a;

  auto b = manta::actor(Counter::create_throws).on_rank(last_rank()).remote(0);
  const auto early = b.task(&Counter::get).remote();
  const std::string cause_b = death_of(early);
  EXPECT_NE(cause_b.find("factory refuses"), std::string::npos) << cause_b;
  EXPECT_NE(death_of(b.task(&Counter::incr).remote(1)), "");
}

// ---- ordering and concurrency ---------------------------------------------------------------

TEST(Actors, CallsFromEachCallerRunInTheirOrder) {
  constexpr int kCallers = 3, kCalls = 10000;
  auto rec = manta::actor(Recorder::create).on_rank(last_rank()).remote();
  std::vector<manta::ObjectRef<int>> callers;
  for (int c = 0; c < kCallers; ++c) {
    const int share = kCalls / kCallers + (c < kCalls % kCallers ? 1 : 0);
    callers.push_back(
        manta::task(submit_calls).on_rank(c % manta::world_size()).remote(rec, c, share));
  }
  int submitted = 0;
  for (auto& r : callers) submitted += value(r);
  ASSERT_EQ(submitted, kCalls);

  const auto log = value(rec.task(&Recorder::entries).remote());
  ASSERT_EQ(log.size(), static_cast<std::size_t>(kCalls));
  std::map<int, int> next;  // caller -> the counter its next call must carry
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto [caller, counter] = log[i];
    ASSERT_GE(caller, 0);
    ASSERT_LT(caller, kCallers);
    ASSERT_EQ(counter, next[caller]) << "caller " << caller << " out of order at entry " << i;
    ++next[caller];
  }
  for (int c = 0; c < kCallers; ++c) {
    EXPECT_EQ(next[c], kCalls / kCallers + (c < kCalls % kCallers ? 1 : 0)) << "caller " << c;
  }
}

TEST(Actors, CallsWithRefArgumentsKeepTheirOrder) {
  // The first call waits for an argument that comes late; the calls after it wait their turn.
  auto c = manta::actor(Counter::create).on_rank(last_rank()).remote(0);
  auto slow_arg = manta::task(late).on_rank(0).remote(100, 300);
  auto first = c.task(&Counter::incr).remote(slow_arg);
  std::vector<manta::ObjectRef<int>> rest;
  for (int i = 0; i < 10; ++i) rest.push_back(c.task(&Counter::incr).remote(1));
  EXPECT_EQ(value(first), 100);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(value(rest[i]), 101 + i) << "call " << i;
  // A method may take the reference itself and read it inside.
  EXPECT_EQ(value(c.task(&Counter::add_ref).remote(manta::put(5))), 115);
}

TEST(Actors, LargeArgumentsAndResults) {
  auto c = manta::actor(Counter::create).on_rank(last_rank()).remote(3);
  std::vector<double> big(1 << 16);  // 512 KiB
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<double>(i);
  auto out = value(c.task(&Counter::scaled).remote(big));
  ASSERT_EQ(out.size(), big.size());
  for (std::size_t i = 0; i < big.size(); i += 997) ASSERT_EQ(out[i], 3.0 * i);
  auto stored = manta::put(big);
  auto out2 = value(c.task(&Counter::scaled).remote(stored));
  EXPECT_EQ(out2.back(), 3.0 * static_cast<double>(big.size() - 1));
}

TEST(Actors, MaxConcurrencyRunsCallsTogether) {
  auto gate = manta::actor(Gate::create).max_concurrency(3).on_rank(last_rank()).remote();
  std::vector<manta::ObjectRef<bool>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(gate.task(&Gate::meet).remote(3, 30000));
  for (auto& r : refs) EXPECT_TRUE(value(r)) << "three calls were never inside at once";
  EXPECT_EQ(value(gate.task(&Gate::max_inside).remote()), 3);
}

TEST(Actors, ConcurrencyOneRunsOneCallAtATime) {
  auto gate = manta::actor(Gate::create).on_rank(last_rank()).remote();
  // The first call waits 500 ms for a second one to enter; it must not.
  auto first = gate.task(&Gate::meet).remote(2, 500);
  auto second = gate.task(&Gate::meet).remote(2, 500);
  EXPECT_FALSE(value(first)) << "a second call ran while the first one did";
  EXPECT_TRUE(value(second));  // it entered after the first left: two had arrived
  EXPECT_EQ(value(gate.task(&Gate::max_inside).remote()), 1);
}

// ---- handles --------------------------------------------------------------------------------

TEST(Actors, HandlesAreCopyableAndTravelToTasksAndActors) {
  auto c = manta::actor(Counter::create).on_rank(last_rank()).remote(0);
  manta::ActorHandle<Counter> copy = c;
  EXPECT_EQ(copy, c);
  EXPECT_TRUE(copy.valid());

  // A task on every rank calls the actor through its own copy of the handle.
  std::vector<manta::ObjectRef<int>> refs;
  for (int r = 0; r < manta::world_size(); ++r)
    refs.push_back(manta::task(incr_through).on_rank(r).remote(copy, 1));
  for (auto& r : refs) EXPECT_GE(value(r), 1);
  EXPECT_EQ(value(c.task(&Counter::get).remote()), manta::world_size());

  // Another actor's method calls it.
  auto coord = manta::actor(Coordinator::create).on_rank(0).remote();
  EXPECT_EQ(value(coord.task(&Coordinator::bump).remote(c, 100)), manta::world_size() + 100);

  // Handles inside a container, read by a task on another rank.
  auto d = manta::actor(Counter::create).on_rank(0).remote(1000);
  std::vector<manta::ActorHandle<Counter>> both{c, d};
  EXPECT_EQ(value(manta::task(sum_of_counters).on_rank(last_rank()).remote(both)),
            manta::world_size() + 100 + 1000);

  // A handle made by a task on another rank comes back as its result.
  auto made = value(manta::task(make_counter).on_rank(last_rank()).remote(50));
  EXPECT_EQ(value(made.task(&Counter::incr).remote(1)), 51);
  EXPECT_EQ(value(made.task(&Counter::where).remote()), 0);

  // A default handle is empty and refuses calls.
  manta::ActorHandle<Counter> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW(empty.task(&Counter::get).remote(), std::invalid_argument);
}

// ---- named actors ---------------------------------------------------------------------------

TEST(Actors, NamedActorsAreFoundFromAnyRank) {
  auto c = manta::actor(Counter::create).name("named-counter").on_rank(last_rank()).remote(5);
  auto found = manta::get_actor<Counter>("named-counter");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, c);
  EXPECT_EQ(value(found->task(&Counter::incr).remote(1)), 6);
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_EQ(value(manta::task(incr_named).on_rank(r).remote(std::string("named-counter"), 1)),
              7 + r);
  }
  EXPECT_EQ(value(c.task(&Counter::get).remote()), 6 + manta::world_size());
  EXPECT_EQ(value(manta::task(incr_named).on_rank(last_rank()).remote(std::string("no-such"), 1)),
            -1);
}

TEST(Actors, MissingDuplicateAndWrongTypeNames) {
  EXPECT_FALSE(manta::get_actor<Counter>("never-created").has_value());
  auto c = manta::actor(Counter::create).name("dup").on_rank(last_rank()).remote(1);
  try {
    manta::actor(Counter::create).name("dup").on_rank(0).remote(2);
    FAIL() << "a second actor took the name 'dup'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("dup"), std::string::npos) << e.what();
  }
  // The first one keeps the name and its state.
  EXPECT_EQ(value(manta::get_actor<Counter>("dup")->task(&Counter::get).remote()), 1);
  EXPECT_THROW(manta::get_actor<Recorder>("dup"), std::invalid_argument);
  EXPECT_EQ(value(c.task(&Counter::get).remote()), 1);
}

TEST(Actors, NameOfAnActorWhoseFactoryFailsIsFreed) {
  auto c = manta::actor(Counter::create_throws).name("stillborn").on_rank(last_rank()).remote(0);
  EXPECT_NE(death_of(c.task(&Counter::get).remote()).find("factory refuses"), std::string::npos);
  ASSERT_TRUE(eventually([] { return !manta::get_actor<Counter>("stillborn").has_value(); }));
  auto again = manta::actor(Counter::create).name("stillborn").remote(3);
  EXPECT_EQ(value(again.task(&Counter::get).remote()), 3);
}

TEST(Actors, NameIsFreeAgainAfterKill) {
  auto c = manta::actor(Counter::create).name("reusable").on_rank(last_rank()).remote(1);
  EXPECT_EQ(value(c.task(&Counter::get).remote()), 1);
  c.kill();
  ASSERT_TRUE(eventually([] { return !manta::get_actor<Counter>("reusable").has_value(); }))
      << "the name stayed taken after the actor was killed";
  auto again = manta::actor(Counter::create).name("reusable").on_rank(0).remote(2);
  EXPECT_NE(again, c);
  auto found = manta::get_actor<Counter>("reusable");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, again);
  EXPECT_EQ(value(found->task(&Counter::get).remote()), 2);
}

// ---- kill, restart, exit --------------------------------------------------------------------

TEST(Actors, KillFailsQueuedAndLaterCalls) {
  const int host = last_rank();
  auto c = manta::actor(Counter::create).on_rank(host).remote(3);
  const int token = fresh_token();
  auto running = c.task(&Counter::slow).remote(token, 2000);
  std::vector<manta::ObjectRef<int>> queued;
  for (int i = 0; i < 20; ++i) queued.push_back(c.task(&Counter::incr).remote(1));
  ASSERT_TRUE(slow_call_started(host, token));
  c.kill();  // while `running` runs (2 s): it finishes, the queued calls fail

  EXPECT_EQ(value(running), 3);
  for (std::size_t i = 0; i < queued.size(); ++i) {
    EXPECT_NE(death_of(queued[i]), "")
        << "queued call " << i << " did not fail with ActorDiedError";
  }
  // Later calls from the killing rank fail at once, and calls from other ranks fail too.
  const std::string later = death_of(c.task(&Counter::get).remote());
  EXPECT_NE(later.find("killed"), std::string::npos) << later;
  for (int r = 0; r < manta::world_size(); ++r) {
    const std::string seen = value(manta::task(call_and_report).on_rank(r).remote(c));
    EXPECT_EQ(seen.rfind("died: ", 0), 0u) << "from rank " << r << ": " << seen;
  }
}

TEST(Actors, KillBeforeTheActorIsReady) {
  // (That a call made before this kill fails too is KillRightAfterCreationReachesTheHost.)
  auto c = manta::actor(Counter::create_slowly).on_rank(last_rank()).remote(300, 0);
  c.kill();
  EXPECT_NE(death_of(c.task(&Counter::incr).remote(1)), "");
}

TEST(Actors, RestartRebuildsFromTheFactory) {
  auto c = manta::actor(Counter::create).max_restarts(1).on_rank(last_rank()).remote(100);
  EXPECT_EQ(value(c.task(&Counter::incr).remote(5)), 105);
  EXPECT_FALSE(value(c.task(&Counter::restarted).remote()));

  // kill(false) takes its place among this rank's calls: the ones made before it run on the old
  // instance, the ones made after it on the instance the factory rebuilds.
  std::vector<manta::ObjectRef<int>> before, after;
  for (int i = 0; i < 5; ++i) before.push_back(c.task(&Counter::incr).remote(1));
  c.kill(/*no_restart=*/false);
  for (int i = 0; i < 5; ++i) after.push_back(c.task(&Counter::incr).remote(1));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(value(before[i]), 106 + i) << "call " << i << " before";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(value(after[i]), 101 + i) << "call " << i << " after";
  EXPECT_TRUE(value(c.task(&Counter::restarted).remote()));
  EXPECT_EQ(value(c.task(&Counter::started_with).remote()), 100);
  EXPECT_EQ(value(c.task(&Counter::where).remote()), last_rank());

  // No restarts left: kill(false) ends it.
  c.kill(/*no_restart=*/false);
  const std::string cause = death_of(c.task(&Counter::get).remote());
  EXPECT_NE(cause.find("no restarts left"), std::string::npos) << cause;
  EXPECT_NE(death_of(c.task(&Counter::incr).remote(1)), "");
}

TEST(Actors, RestartWaitsForTheRunningCall) {
  const int host = last_rank();
  auto c = manta::actor(Counter::create).max_restarts(1).on_rank(host).remote(1);
  const int token = fresh_token();
  auto running = c.task(&Counter::slow).remote(token, 300);
  ASSERT_TRUE(slow_call_started(host, token));
  c.kill(false);
  auto next = c.task(&Counter::incr).remote(1);
  EXPECT_EQ(value(running), 1);  // the old instance finished its call
  EXPECT_EQ(value(next), 2);     // on the new instance, built from create(1)
  EXPECT_TRUE(value(c.task(&Counter::restarted).remote()));
}

TEST(Actors, RestartFromAnotherRankAndKillWithRestartsLeft) {
  auto c = manta::actor(Counter::create).max_restarts(2).on_rank(0).remote(7);
  EXPECT_EQ(value(c.task(&Counter::incr).remote(3)), 10);
  // Another rank kills it: the driver's calls are ordered with its own only, so poll.
  manta::get(manta::task(kill_from_here).on_rank(last_rank()).remote(c, false), kLimit);
  ASSERT_TRUE(eventually([&] { return value(c.task(&Counter::restarted).remote()); }));
  EXPECT_EQ(value(c.task(&Counter::get).remote()), 7);
  // kill(true) ends it even with a restart left.
  c.kill(true);
  EXPECT_NE(death_of(c.task(&Counter::get).remote()), "");
}

TEST(Actors, ExitActorEndsItFromInside) {
  auto c = manta::actor(Counter::create).max_restarts(3).on_rank(last_rank()).remote(1);
  EXPECT_EQ(value(c.task(&Counter::incr).remote(1)), 2);
  auto quit = c.task(&Counter::quit).remote();
  std::vector<manta::ObjectRef<int>> after;
  for (int i = 0; i < 10; ++i) after.push_back(c.task(&Counter::incr).remote(1));
  const std::string cause = death_of(quit);
  EXPECT_NE(cause.find("exit_actor"), std::string::npos) << cause;
  for (std::size_t i = 0; i < after.size(); ++i)
    EXPECT_NE(death_of(after[i]), "") << "call " << i << " after exit_actor";
  EXPECT_NE(death_of(c.task(&Counter::get).remote()), "");
}

TEST(Actors, ExceptionInAMethodKeepsTheActor) {
  auto c = manta::actor(Counter::create).on_rank(last_rank()).remote(0);
  EXPECT_EQ(value(c.task(&Counter::incr).remote(5)), 5);
  try {
    manta::get(c.task(&Counter::fail).remote(std::string("bad call")), kLimit);
    FAIL() << "expected TaskError";
  } catch (const manta::TaskError& e) {
    EXPECT_EQ(e.cause(), "bad call");
    EXPECT_EQ(e.exception_type(), "std::runtime_error");
    EXPECT_EQ(e.rank(), last_rank());
  }
  EXPECT_EQ(value(c.task(&Counter::get).remote()), 5);
  EXPECT_EQ(value(c.task(&Counter::incr).remote(1)), 6);
}

// A call's own name (Ray's .SetName on an actor task) is what its error names.
TEST(Actors, ANamedCallIsNamedInItsError) {
  auto c = manta::actor(Counter::create).on_rank(last_rank()).remote(0);
  try {
    manta::get(c.task(&Counter::fail).name("checked_call").remote(std::string("why")), kLimit);
    FAIL() << "expected TaskError";
  } catch (const manta::TaskError& e) {
    EXPECT_EQ(e.task_name(), "checked_call");
    EXPECT_NE(std::string(e.what()).find("checked_call"), std::string::npos) << e.what();
  }
  try {
    manta::get(c.task(&Counter::fail).remote(std::string("why")), kLimit);
    FAIL() << "expected TaskError";
  } catch (const manta::TaskError& e) {
    EXPECT_NE(e.task_name().find("fail"), std::string::npos) << e.task_name();
  }
}

// ---- resources ------------------------------------------------------------------------------

TEST(Actors, ActorHoldsItsResourcesUntilKilled) {
  // The tests run with --manta-num-cpus=2: this actor takes both CPUs of the last rank.
  const int host = last_rank();
  auto c = manta::actor(Counter::create).resources({{"CPU", 2}}).on_rank(host).remote(0);
  ASSERT_EQ(value(c.task(&Counter::where).remote()), host);  // alive, so it holds the CPUs
  auto blocked = manta::task(where).on_rank(host).remote();
  auto w = manta::wait(std::vector{blocked}, 1, 500ms);
  EXPECT_TRUE(w.ready.empty()) << "a CPU task ran on a rank whose CPUs an actor holds";
  c.kill();
  EXPECT_EQ(value(blocked), host);
}

TEST(Actors, CreationWaitsForResourcesHeldByAnotherActor) {
  const int host = last_rank();
  auto first = manta::actor(Counter::create).resources({{"CPU", 2}}).on_rank(host).remote(1);
  ASSERT_EQ(value(first.task(&Counter::get).remote()), 1);
  auto second = manta::actor(Counter::create).resources({{"CPU", 2}}).on_rank(host).remote(2);
  auto call = second.task(&Counter::get).remote();
  auto w = manta::wait(std::vector{call}, 1, 500ms);
  EXPECT_TRUE(w.ready.empty()) << "two actors hold the same two CPUs";
  first.kill();
  EXPECT_EQ(value(call), 2);
  second.kill();
}

TEST(Actors, ActorNoRankCanHost) {
  auto unnamed = manta::actor(Counter::create).resources({{"GPU", 1}}).remote(0);
  const std::string cause = death_of(unnamed.task(&Counter::get).remote());
  EXPECT_NE(cause.find("no rank can host it"), std::string::npos) << cause;
  EXPECT_NE(cause.find("GPU"), std::string::npos) << cause;
  EXPECT_NE(death_of(unnamed.task(&Counter::incr).remote(1)), "");

  try {
    manta::actor(Counter::create).name("gpu-actor").resources({{"GPU", 1}}).remote(0);
    FAIL() << "a named actor that no rank can host was created";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("GPU"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(manta::get_actor<Counter>("gpu-actor").has_value());
}

// ---- nesting --------------------------------------------------------------------------------

TEST(Actors, MethodsSubmitTasksAndCallActors) {
  auto near = manta::actor(Coordinator::create).on_rank(0).remote();
  auto far = manta::actor(Coordinator::create).on_rank(last_rank()).remote();
  EXPECT_EQ(value(far.task(&Coordinator::sum_of_squares).remote(20)), 20 * 21 * 41 / 6);
  // An actor waits for another actor that itself waits for tasks.
  EXPECT_EQ(value(near.task(&Coordinator::delegate).remote(far, 30)), 30 * 31 * 61 / 6);
  EXPECT_EQ(value(far.task(&Coordinator::delegate).remote(near, 10)), 10 * 11 * 21 / 6);
  // Many at once. (Not both directions at once: with one call at a time each, near waiting for
  // far while far waits for near would deadlock, as it would in Ray.)
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < 10; ++i) refs.push_back(near.task(&Coordinator::delegate).remote(far, 12));
  for (auto& r : refs) EXPECT_EQ(value(r), 12 * 13 * 25 / 6);
  // Methods of two actors call a third one.
  auto counter = manta::actor(Counter::create).on_rank(last_rank() / 2).remote(0);
  EXPECT_EQ(value(near.task(&Coordinator::bump).remote(counter, 4)), 4);
  EXPECT_EQ(value(far.task(&Coordinator::bump).remote(counter, 4)), 8);
}

// ---- actor lifetimes and placement ------------------------------------------------------------

// A dead actor's executor threads end and their stacks are unmapped: creating and killing many
// actors does not grow the host's address space.
TEST(Actors, DeadActorsAreReclaimed) {
  const int host = last_rank();
  const long before = value(manta::task(vm_size_mib).on_rank(host).remote());
  // 25 rounds of 20 (earlier tests leave live actors on these ranks; 64 slots per rank).
  for (int round = 0; round < 25; ++round) {
    std::vector<manta::ActorHandle<Counter>> hs;
    std::vector<manta::ObjectRef<int>> refs;
    for (int i = 0; i < 20; ++i) {
      hs.push_back(manta::actor(Counter::create).on_rank(host).remote(i));
      refs.push_back(hs.back().task(&Counter::get).remote());
    }
    for (auto& r : refs) value(r);
    for (auto& h : hs) h.kill();
  }
  ASSERT_TRUE(eventually(
      [&] { return value(manta::task(vm_size_mib).on_rank(host).remote()) - before < 1024; },
      std::chrono::seconds(10)))
      << "500 dead actors hold more than 1 GiB of address space";
}

// kill() right after creation reaches the host before the actor exists there (its creation waits
// in the host's queue): the host remembers the kill, and the actor is dead for every rank.
TEST(Actors, KillRightAfterCreationReachesTheHost) {
  std::vector<manta::ActorHandle<Counter>> hs;
  for (int i = 0; i < 20; ++i) {
    hs.push_back(manta::actor(Counter::create).on_rank(last_rank()).remote(i));
    hs.back().kill();
  }
  // A call made before the kill must fail too, even when it reached the host before the kill.
  auto c = manta::actor(Counter::create_slowly).on_rank(last_rank()).remote(300, 0);
  auto early = c.task(&Counter::incr).remote(1);
  c.kill();
  EXPECT_NE(death_of(early), "") << "a call made before kill() ran";
  // From a rank that did not kill them (the driver's own calls fail locally, whatever the host).
  const int other = manta::world_size() > 1 ? 1 : 0;
  ASSERT_TRUE(eventually([&] {
    return value(manta::task(count_alive).on_rank(other).remote(hs)) == 0;
  })) << "actors killed right after creation still answer";
}

// Actors without on_rank are spread by the global scheduler over every rank's actor_slots: none
// waits for a slot on a full rank while other ranks have room.
// Right after many actors were created and killed on the last rank, load reports are stale; rank
// 0 counts the live actors it placed on each rank, so it still spreads the burst.
TEST(Actors, UnplacedActorsUseEveryRanksSlots) {
  // Churn on the last rank first, as DeadActorsAreReclaimed does.
  for (int round = 0; round < 10; ++round) {
    std::vector<manta::ActorHandle<Counter>> hs;
    std::vector<manta::ObjectRef<int>> refs;
    for (int i = 0; i < 40; ++i) {
      hs.push_back(manta::actor(Counter::create).on_rank(last_rank()).remote(i));
      refs.push_back(hs.back().task(&Counter::get).remote());
    }
    for (auto& r : refs) value(r);
    for (auto& h : hs) h.kill();
  }
  const int n = manta::world_size() == 1 ? 30 : 40 * manta::world_size();
  std::vector<manta::ActorHandle<Counter>> hs;
  std::vector<manta::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(manta::actor(Counter::create).remote(i));
    refs.push_back(hs.back().task(&Counter::where).remote());
  }
  auto w = manta::wait(refs, refs.size(), std::chrono::seconds(30));
  EXPECT_EQ(w.ready.size(), refs.size()) << "actors that a rank has room for never started";
  for (auto& h : hs) h.kill();
}
