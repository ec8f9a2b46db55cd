// manta::checkpoint from the driver: what it saves and skips, that it waits for running calls and
// holds new ones until it is done, how it fails (a busy actor, a save that throws, a bad
// directory) without losing the actors, and misuse. Restarting from a checkpoint is tested whole
// in checkpoint_restart_test.sh.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <manta/manta.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::string scratch(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/manta-checkpoint-test-" +
         std::to_string(getpid()) + "-" + name;
}

bool has(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(),
                     [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

class Tally {
 public:
  static Tally* create() { return new Tally; }
  int add(int n) {
    total_ += n;
    return total_;
  }
  int slow_add(int n, int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return add(n);
  }
  int total() const { return total_; }
  template <class A>
  void serialize(A& a, unsigned) {
    a& total_;
  }

 private:
  int total_ = 0;
};

/// Not checkpointable: no save/load or serialize.
class Plain {
 public:
  static Plain* create() { return new Plain; }
  int ping() { return 1; }
};

/// Its save throws when told to.
class Fragile {
 public:
  static Fragile* create() { return new Fragile; }
  int arm() {
    armed_ = true;
    return 0;
  }
  template <class A>
  void save(A& a) const {
    if (armed_) throw std::runtime_error("the device holding the state went away");
    a << armed_;
  }
  template <class A>
  void load(A& a) {
    a >> armed_;
  }

 private:
  bool armed_ = false;
};

int checkpoint_inside_a_task() {
  manta::checkpoint(scratch("from-task"));
  return 0;
}

}  // namespace

MANTA_REMOTE(Tally::create, &Tally::add, &Tally::slow_add, &Tally::total, Plain::create,
             &Plain::ping, Fragile::create, &Fragile::arm, checkpoint_inside_a_task);

TEST(Checkpoint, SavesNamedCheckpointableActorsAndSaysWhatItSkipped) {
  std::vector<manta::ActorHandle<Tally>> named;
  for (int r = 0; r < manta::world_size(); ++r) {
    named.push_back(
        manta::actor(Tally::create).name("tally-" + std::to_string(r)).on_rank(r).remote());
    EXPECT_EQ(*manta::get(named.back().task(&Tally::add).remote(r + 1)), r + 1);
  }
  auto unnamed = manta::actor(Tally::create).remote();
  auto plain = manta::actor(Plain::create).name("plain").remote();
  EXPECT_EQ(*manta::get(plain.task(&Plain::ping).remote()), 1);
  EXPECT_EQ(*manta::get(unnamed.task(&Tally::add).remote(1)), 1);

  auto kept = manta::put(std::vector<int>{1, 2, 3});
  manta::keep_in_checkpoint("numbers", kept);
  manta::on_checkpoint<int>([] { return 42; });
  const std::string dir = scratch("saves");
  const manta::CheckpointInfo info = manta::checkpoint(dir);
  EXPECT_EQ(info.path, dir + "/checkpoint.h5");
  struct stat st {};
  ASSERT_EQ(::stat(info.path.c_str(), &st), 0);
  EXPECT_GT(static_cast<std::uint64_t>(st.st_size), info.bytes);
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_TRUE(has(info.actors, "tally-" + std::to_string(r))) << "rank " << r;
  }
  EXPECT_EQ(info.actors.size(), named.size());
  EXPECT_TRUE(has(info.skipped, "unnamed")) << ::testing::PrintToString(info.skipped);
  EXPECT_TRUE(has(info.skipped, "actor 'plain'")) << ::testing::PrintToString(info.skipped);
  EXPECT_TRUE(has(info.skipped, "Plain has no save/load or serialize"));
  EXPECT_EQ(info.objects, std::vector<std::string>{"numbers"});
  EXPECT_TRUE(info.driver_state);
  // The actors go on after it.
  for (int r = 0; r < manta::world_size(); ++r) {
    EXPECT_EQ(*manta::get(named[r].task(&Tally::add).remote(10)), r + 11);
  }
  manta::keep_in_checkpoint("numbers", manta::ObjectRef<std::vector<int>>{});  // stop keeping it
  manta::on_checkpoint<int>({});
  for (auto& a : named) a.kill();
  unnamed.kill();
  plain.kill();
}

TEST(Checkpoint, WaitsForRunningCallsAndHoldsNewOnesUntilDone) {
  auto t = manta::actor(Tally::create).name("held").on_rank(manta::world_size() - 1).remote();
  EXPECT_EQ(*manta::get(t.task(&Tally::add).remote(1)), 1);
  auto running = t.task(&Tally::slow_add).remote(2, 600);  // running while the checkpoint starts
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto start = std::chrono::steady_clock::now();
  manta::ObjectRef<int> during;
  std::thread caller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    during = t.task(&Tally::add).remote(4);  // comes while the actor is held
  });
  const manta::CheckpointInfo info = manta::checkpoint(scratch("waits"));
  caller.join();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 0.3) << "the checkpoint did not wait for the running call";
  EXPECT_TRUE(has(info.actors, "held"));
  EXPECT_EQ(*manta::get(running), 3);
  EXPECT_EQ(*manta::get(during), 7);  // ran after the checkpoint, in order
  t.kill();
}

TEST(Checkpoint, ABusyActorFailsItAfterTheTimeoutAndKeepsWorking) {
  // This binary runs with --manta-checkpoint-timeout=1.
  auto t = manta::actor(Tally::create).name("busy").on_rank(manta::world_size() - 1).remote();
  auto busy = t.task(&Tally::slow_add).remote(1, 2500);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  try {
    manta::checkpoint(scratch("busy"));
    ADD_FAILURE() << "expected CheckpointError";
  } catch (const manta::CheckpointError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("actor 'busy'"), std::string::npos) << what;
    EXPECT_NE(what.find("--manta-checkpoint-timeout"), std::string::npos) << what;
  }
  EXPECT_EQ(*manta::get(busy), 1);
  EXPECT_EQ(*manta::get(t.task(&Tally::add).remote(1)), 2);
  EXPECT_NO_THROW(manta::checkpoint(scratch("busy")));  // once it is idle, it works
  t.kill();
}

TEST(Checkpoint, ASaveThatThrowsFailsItAndKeepsThePreviousOne) {
  const std::string dir = scratch("fragile");
  auto f = manta::actor(Fragile::create).name("fragile").on_rank(manta::world_size() - 1).remote();
  auto t = manta::actor(Tally::create).name("steady").remote();
  manta::checkpoint(dir);
  struct stat before {};
  ASSERT_EQ(::stat((dir + "/checkpoint.h5").c_str(), &before), 0);
  manta::get(f.task(&Fragile::arm).remote());
  try {
    manta::checkpoint(dir);
    ADD_FAILURE() << "expected CheckpointError";
  } catch (const manta::CheckpointError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("saving actor 'fragile'"), std::string::npos) << what;
    EXPECT_NE(what.find("the device holding the state went away"), std::string::npos) << what;
  }
  struct stat after {};
  ASSERT_EQ(::stat((dir + "/checkpoint.h5").c_str(), &after), 0);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(*manta::get(t.task(&Tally::add).remote(5)), 5);  // everyone goes on
  f.kill();
  t.kill();
}

TEST(Checkpoint, AnUnwritableDirectoryFailsWithThePath) {
  auto t = manta::actor(Tally::create).name("unwritable").remote();
  try {
    manta::checkpoint("/proc/version/checkpoints");
    ADD_FAILURE() << "expected CheckpointError";
  } catch (const manta::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/version/checkpoints"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(*manta::get(t.task(&Tally::add).remote(2)), 2);
  t.kill();
}

// keep_in_checkpoint and on_checkpoint refuse, at compile time, values that name objects or
// actors of this job.
static_assert(manta::detail::holds_ids<manta::ObjectRef<int>>::value);
static_assert(manta::detail::holds_ids<std::vector<manta::ObjectRef<int>>>::value);
static_assert(manta::detail::holds_ids<std::map<std::string, manta::ActorHandle<Tally>>>::value);
static_assert(
    manta::detail::holds_ids<std::pair<int, std::optional<manta::ObjectRef<int>>>>::value);
static_assert(!manta::detail::holds_ids<std::map<std::string, std::vector<int>>>::value);
static_assert(!manta::detail::holds_ids<std::tuple<int, std::string>>::value);

TEST(Checkpoint, Misuse) {
  EXPECT_THROW(manta::checkpoint(""), std::invalid_argument);
  EXPECT_THROW(manta::keep_in_checkpoint("", manta::put(1)), std::invalid_argument);
  try {
    manta::get(manta::task(checkpoint_inside_a_task).remote());
    ADD_FAILURE() << "expected TaskError";
  } catch (const manta::TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("is for the driver"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(manta::restored());
  EXPECT_EQ(manta::restored_from(), "");
  EXPECT_FALSE(manta::restored_state<int>().has_value());
  try {
    manta::restored_object<int>("anything");
    ADD_FAILURE() << "expected std::out_of_range";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("not restored"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(manta::checkpoint_point());  // no signal came
}
