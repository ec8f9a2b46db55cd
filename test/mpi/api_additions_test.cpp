// Environment variables, actor namespaces and resources of one actor call, across ranks. The job
// runs with --manta-num-cpus=1 and --manta-env=MANTA_JOB_VAR=job value (test/mpi/CMakeLists.txt):
// every rank's process has the variable. Per-task and per-actor variables are seen by
// manta::getenv only, while the task or call runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <manta/manta.h>

namespace {

constexpr auto kLimit = std::chrono::seconds(60);

template <class T>
T value(const manta::ObjectRef<T>& ref) {
  return *manta::get(ref, kLimit);
}

std::string or_unset(const char* v) { return v ? std::string(v) : std::string("<unset>"); }

// What a task sees: the rank it ran on, then std::getenv and manta::getenv of `name`.
struct Seen {
  int rank = -1;
  std::string process;
  std::string overlay;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& rank& process& overlay;
  }
};

Seen look(std::string name) {
  return {manta::rank(), or_unset(std::getenv(name.c_str())),
          or_unset(manta::getenv(name.c_str()))};
}

struct EnvActor {
  static EnvActor* create() { return new EnvActor{or_unset(manta::getenv("ACTOR_VAR"))}; }
  std::string in_factory() const { return factory_saw; }
  std::string in_call() const { return or_unset(manta::getenv("ACTOR_VAR")); }
  std::string process() const { return or_unset(std::getenv("ACTOR_VAR")); }
  std::string factory_saw;
};

struct Tagged {
  static Tagged* create(int tag) { return new Tagged{tag}; }
  int get() const { return tag; }
  int tag;
};

struct Other {
  static Other* create() { return new Other{}; }
  int get() const { return 0; }
};

// How many of its calls ran at once, at most: each call stays `ms` milliseconds.
struct Overlap {
  static Overlap* create() { return new Overlap{}; }
  int step(int ms) {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    --running;
    return most.load();
  }
  int reset() { return most.exchange(0); }
  std::atomic<int> running{0};
  std::atomic<int> most{0};
};

// On another rank: the tag of the actor named `name` in `ns` (-1: none).
int tag_of(std::string name, std::string ns) {
  auto h = manta::get_actor<Tagged>(name, ns);
  return h ? *manta::get(h->task(&Tagged::get).remote(), kLimit) : -1;
}

std::string namespace_here() { return manta::get_namespace(); }

}  // namespace

MANTA_REMOTE(look, tag_of, namespace_here, EnvActor::create, &EnvActor::in_factory,
             &EnvActor::in_call, &EnvActor::process, Tagged::create, &Tagged::get, Other::create,
             &Other::get, Overlap::create, &Overlap::step, &Overlap::reset);

namespace {

TEST(JobEnv, EveryRankHasTheJobVariable) {
  EXPECT_EQ(or_unset(std::getenv("MANTA_JOB_VAR")), "job value") << "the driver's rank";
  std::vector<manta::ObjectRef<Seen>> refs;
  for (int r = 0; r < manta::world_size(); ++r) {
    refs.push_back(manta::task(look).on_rank(r).remote(std::string("MANTA_JOB_VAR")));
  }
  for (int r = 0; r < manta::world_size(); ++r) {
    const Seen s = value(refs[r]);
    EXPECT_EQ(s.rank, r);
    EXPECT_EQ(s.process, "job value") << "rank " << r;
    EXPECT_EQ(s.overlay, "job value") << "manta::getenv falls back to the process, rank " << r;
  }
}

TEST(TaskEnv, SeenByItsTaskOnlyAndNotLeakingIntoTheNext) {
  for (int r = 0; r < manta::world_size(); ++r) {
    // One CPU per rank (the test's settings): the tasks on a rank take turns on its worker.
    for (int round = 0; round < 3; ++round) {
      // Not "v" + std::to_string(round): a -Wrestrict false positive of GCC 12 at -O3.
      const std::string v = std::string("v").append(std::to_string(round));
      const Seen with = value(
          manta::task(look).on_rank(r).env({{"TASK_VAR", v}}).remote(std::string("TASK_VAR")));
      EXPECT_EQ(with.rank, r);
      EXPECT_EQ(with.overlay, v) << "rank " << r;
      EXPECT_EQ(with.process, "<unset>") << "not set in the process: other threads share it";
      const Seen after = value(manta::task(look).on_rank(r).remote(std::string("TASK_VAR")));
      EXPECT_EQ(after.overlay, "<unset>") << "leaked into the next task on rank " << r;
    }
  }
  EXPECT_EQ(manta::getenv("TASK_VAR"), nullptr) << "the driver has no overlay";
}

TEST(TaskEnv, OverridesAJobVariableForTheTaskOnly) {
  const int r = manta::world_size() - 1;
  const Seen s = value(manta::task(look)
                           .on_rank(r)
                           .env({{"MANTA_JOB_VAR", "task value"}})
                           .remote(std::string("MANTA_JOB_VAR")));
  EXPECT_EQ(s.overlay, "task value");
  EXPECT_EQ(s.process, "job value");
}

TEST(TaskEnv, ABadVariableNameIsRefusedAtSubmission) {
  try {
    (void)manta::task(look).env({{"NOT-A-NAME", "x"}}).remote(std::string("X"));
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'NOT-A-NAME' is not a variable name"), std::string::npos)
        << e.what();
  }
}

TEST(ActorEnv, SeenInTheFactoryAndEveryCall) {
  const int r = manta::world_size() - 1;
  auto a = manta::actor(EnvActor::create).on_rank(r).env({{"ACTOR_VAR", "a1"}}).remote();
  auto plain = manta::actor(EnvActor::create).on_rank(r).remote();
  EXPECT_EQ(value(a.task(&EnvActor::in_factory).remote()), "a1");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(value(a.task(&EnvActor::in_call).remote()), "a1") << "call " << i;
    EXPECT_EQ(value(plain.task(&EnvActor::in_call).remote()), "<unset>") << "call " << i;
  }
  EXPECT_EQ(value(a.task(&EnvActor::process).remote()), "<unset>");
  EXPECT_EQ(value(plain.task(&EnvActor::in_factory).remote()), "<unset>");
  a.kill();
  plain.kill();
}

TEST(Namespaces, TheJobsNamespaceIsDefault) {
  EXPECT_EQ(manta::get_namespace(), "default");
  const int r = manta::world_size() - 1;
  EXPECT_EQ(value(manta::task(namespace_here).on_rank(r).remote()), "default");
}

TEST(Namespaces, TheSameNameInTwoNamespacesIsTwoActors) {
  const int r = manta::world_size() - 1;
  auto a = manta::actor(Tagged::create).name("svc", "ns_a").on_rank(r).remote(1);
  auto b = manta::actor(Tagged::create).name("svc", "ns_b").remote(2);
  auto d = manta::actor(Tagged::create).name("svc").remote(3);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(value(manta::get_actor<Tagged>("svc", "ns_a")->task(&Tagged::get).remote()), 1);
  EXPECT_EQ(value(manta::get_actor<Tagged>("svc", "ns_b")->task(&Tagged::get).remote()), 2);
  EXPECT_EQ(value(manta::get_actor<Tagged>("svc")->task(&Tagged::get).remote()), 3);
  EXPECT_EQ(value(manta::get_actor<Tagged>("svc", "default")->task(&Tagged::get).remote()), 3);
  EXPECT_FALSE(manta::get_actor<Tagged>("svc", "ns_c").has_value());
  // Looked up from every rank: the namespace travels with the lookup.
  for (int rank = 0; rank < manta::world_size(); ++rank) {
    EXPECT_EQ(
        value(manta::task(tag_of).on_rank(rank).remote(std::string("svc"), std::string("ns_b"))), 2)
        << "rank " << rank;
  }
  try {
    (void)manta::actor(Tagged::create).name("svc", "ns_a").remote(4);
    FAIL() << "a second 'svc' in ns_a";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("namespace 'ns_a'"), std::string::npos) << e.what();
  }
  try {
    (void)manta::get_actor<Other>("svc", "ns_b");
    FAIL() << "not an Other";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ns_b"), std::string::npos) << e.what();
  }
  a.kill();
  b.kill();
  d.kill();
}

TEST(Namespaces, AnEmptyNamespaceOrANamespaceWithoutANameIsRefused) {
  EXPECT_THROW((void)manta::actor(Tagged::create).name("svc", ""), std::invalid_argument);
  EXPECT_THROW((void)manta::actor(Tagged::create).name("", "ns_a"), std::invalid_argument);
  EXPECT_THROW((void)manta::get_actor<Tagged>("svc", ""), std::invalid_argument);
  EXPECT_THROW((void)manta::get_actor<Tagged>("", "ns_a"), std::invalid_argument);
}

}  // namespace

namespace {

manta::ActorHandle<Overlap> overlap_on_last_rank() {
  return manta::actor(Overlap::create).max_concurrency(4).on_rank(manta::world_size() - 1).remote();
}

int most_at_once(const std::vector<manta::ObjectRef<int>>& calls) {
  int most = 0;
  for (const auto& c : calls) most = std::max(most, value(c));
  return most;
}

TEST(ActorCallResources, CallsAskingForTheRanksOnlyCpuRunOneAtATime) {
  auto a = overlap_on_last_rank();
  // Without resources, the actor's four threads overlap its calls: the check below can fail.
  std::vector<manta::ObjectRef<int>> free_calls;
  for (int i = 0; i < 4; ++i) free_calls.push_back(a.task(&Overlap::step).remote(200));
  EXPECT_GT(most_at_once(free_calls), 1);
  value(a.task(&Overlap::reset).remote());
  std::vector<manta::ObjectRef<int>> calls;
  for (int i = 0; i < 4; ++i) {
    calls.push_back(a.task(&Overlap::step).resources({{"CPU", 1}}).remote(100));
  }
  EXPECT_EQ(most_at_once(calls), 1) << "calls each holding the rank's one CPU overlapped";
}

TEST(ActorCallResources, ARequestTheRankNeverOffersFailsAtOnce) {
  auto a = overlap_on_last_rank();
  const auto start = std::chrono::steady_clock::now();
  try {
    value(a.task(&Overlap::step).resources({{"CPU", 2}}).remote(0));
    FAIL() << "a call asking for 2 CPUs of a 1-CPU rank ran";
  } catch (const manta::UnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find("can never offer it (2 CPU asked but this rank offers 1)"),
              std::string::npos)
        << e.what();
  }
  try {
    value(a.task(&Overlap::step).resources({{"GPU", 1}}).remote(0));
    FAIL() << "a call asking for a GPU ran on a rank without one";
  } catch (const manta::UnschedulableError& e) {
    EXPECT_NE(std::string(e.what()).find("1 GPU asked but this rank offers 0"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  // The actor lives on: calls that fit still run.
  EXPECT_EQ(value(a.task(&Overlap::step).resources({{"CPU", 1}}).remote(0)), 1);
}

TEST(ActorCallResources, BadAmountsAreRefusedWhereTheCallIsWritten) {
  auto a = overlap_on_last_rank();
  EXPECT_THROW(a.task(&Overlap::step).resources({{"CPU", -1}}).remote(0), std::invalid_argument);
  EXPECT_THROW(a.task(&Overlap::step).resources({{"", 1}}).remote(0), std::invalid_argument);
  EXPECT_THROW(a.task(&Overlap::step).resources({{"GPU", 1.5}}).remote(0), std::invalid_argument);
}

TEST(ActorCallResources, ACallWaitingForResourcesFailsWhenItsActorIsKilled) {
  auto a = overlap_on_last_rank();
  auto holder = a.task(&Overlap::step).resources({{"CPU", 1}}).remote(1500);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the first call holds the CPU
  auto waiter = a.task(&Overlap::step).resources({{"CPU", 1}}).remote(0);
  a.kill();
  EXPECT_THROW(value(waiter), manta::ActorDiedError);
}

}  // namespace
