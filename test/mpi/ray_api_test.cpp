// Every name of <manta/ray.h>, checked against what Ray's C++ documentation says it does. The
// program starts as a Ray program does, with ray::Init (its own main below), on 1, 2, 4 and 8
// ranks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <manta/ray.h>

namespace {

int Plus(int a, int b) { return a + b; }
int Twice(int a) { return 2 * a; }
std::string Greet(std::string who) { return "hello " + who; }
int Sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int Fails(int) { throw std::runtime_error("bad input in Fails"); }
int NotRegistered(int a) { return a; }
void Nothing() {}
std::string EnvOf(std::string name) {
  const char* v = manta::getenv(name.c_str());
  return v ? v : "<unset>";
}
std::string JobEnvHere(std::string name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "<unset>";
}
double Area(double r) { return 3 * r * r; }
double Area(double w, double h) { return w * h; }

class Counter {
 public:
  explicit Counter(int start) : count_(start) {}
  static Counter* FactoryCreate(int start) { return new Counter(start); }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int Get() { return count_; }
  bool Restarted() { return ray::WasCurrentActorRestarted(); }
  int Exit() { ray::ExitActor(); }
  std::string Env(std::string name) { return EnvOf(name); }

 private:
  int count_;
};

int AddThroughHandle(ray::ActorHandle<Counter> counter, int x) {
  return *counter.Task(&Counter::Add).Remote(x).Get();
}

RAY_REMOTE(Plus, Twice, Greet, Sleepy, Fails, Nothing, EnvOf, JobEnvHere, AddThroughHandle);
RAY_REMOTE(RAY_FUNC(Area, double), RAY_FUNC(Area, double, double));
RAY_REMOTE(Counter::FactoryCreate, &Counter::Add, &Counter::Get, &Counter::Restarted,
           &Counter::Exit, &Counter::Env);

constexpr const char* kNamespace = "ray_test_ns";

TEST(RayInit, IsInitializedAndSecondInitDoesNothing) {
  EXPECT_TRUE(ray::IsInitialized());
  ray::Init();  // already running: no effect
  EXPECT_TRUE(ray::IsInitialized());
  EXPECT_EQ(ray::GetNamespace(), kNamespace);
}

TEST(RayInit, ConfigThatCannotApplyIsRefusedWithTheReason) {
  ray::RayConfig remote;
  remote.address = "10.0.0.1:6379";
  try {
    ray::Init(remote);
    FAIL() << "expected RayException";
  } catch (const ray::internal::RayException& e) {
    EXPECT_NE(std::string(e.what()).find("mpirun"), std::string::npos) << e.what();
  }
  ray::RayConfig detached;
  detached.default_actor_lifetime = ray::ActorLifetime::DETACHED;
  EXPECT_THROW(ray::Init(detached), ray::internal::RayException);
}

TEST(RayInit, RuntimeEnvOfTheConfigReachesEveryRank) {
  for (int r = 0; r < manta::world_size(); ++r) {
    auto ref = manta::task(JobEnvHere).on_rank(r).remote(std::string("RAY_TEST_JOB_VAR"));
    EXPECT_EQ(*manta::get(ref), "from the config") << "rank " << r;
  }
}

TEST(RayObjects, PutAndGetReturnACopyTheCallerMayChange) {
  ray::ObjectRef<std::vector<int>> ref = ray::Put(std::vector<int>{1, 2, 3});
  std::shared_ptr<std::vector<int>> first = ref.Get();
  first->push_back(4);  // Ray's Get gives each caller its own value
  std::shared_ptr<std::vector<int>> second = ray::Get(ref);
  EXPECT_EQ(*second, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(ref.ID().empty());
}

TEST(RayObjects, GetOfAListGivesSharedPointersOfT) {
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 10; ++i) refs.push_back(ray::Task(Twice).Remote(i));
  std::vector<std::shared_ptr<int>> values = ray::Get(refs);
  ASSERT_EQ(values.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(*values[i], 2 * i);
}

TEST(RayObjects, GetWithATimeoutThrowsRayTimeoutException) {
  auto slow = ray::Task(Sleepy).Remote(2000);
  EXPECT_THROW(slow.Get(20), ray::internal::RayTimeoutException);
  EXPECT_EQ(*slow.Get(-1), 2000);  // negative: no limit
}

TEST(RayObjects, WaitReturnsReadyAndUnreadyInOrder) {
  std::vector<ray::ObjectRef<int>> refs{ray::Task(Sleepy).Remote(0), ray::Task(Sleepy).Remote(3000),
                                        ray::Task(Sleepy).Remote(0)};
  ray::WaitResult<int> some = ray::Wait(refs, 2, 2000);
  ASSERT_EQ(some.ready.size(), 2u);
  EXPECT_EQ(some.ready[0].ID(), refs[0].ID());
  EXPECT_EQ(some.ready[1].ID(), refs[2].ID());
  ASSERT_EQ(some.unready.size(), 1u);
  EXPECT_EQ(some.unready[0].ID(), refs[1].ID());
  ray::WaitResult<int> none = ray::Wait(std::vector{refs[1]}, 1, 0);
  EXPECT_TRUE(none.ready.empty());
  EXPECT_THROW(ray::Wait(refs, 4, 0), ray::internal::RayException);
  EXPECT_THROW(ray::Wait(refs, -1, 0), ray::internal::RayException);
  EXPECT_EQ(ray::Wait(refs, 3, -1).ready.size(), 3u);
}

TEST(RayTasks, RemoteTakesValuesAndObjectRefs) {
  auto three = ray::Task(Plus).Remote(1, 2);
  EXPECT_EQ(*three.Get(), 3);
  auto five = ray::Task(Plus).Remote(three, 2);  // a ref where the function takes an int
  EXPECT_EQ(*five.Get(), 5);
  auto put = ray::Put(10);
  EXPECT_EQ(*ray::Task(Plus).Remote(put, five).Get(), 15);
  EXPECT_EQ(*ray::Task(Greet).Remote(std::string("ray")).Get(), "hello ray");
  ray::Task(Nothing).Remote().Get();
}

TEST(RayTasks, OverloadsAreNamedWithRayFunc) {
  EXPECT_DOUBLE_EQ(*ray::Task(RAY_FUNC(Area, double)).Remote(2.0).Get(), 12.0);
  EXPECT_DOUBLE_EQ(*ray::Task(RAY_FUNC(Area, double, double)).Remote(2.0, 5.0).Get(), 10.0);
}

TEST(RayTasks, OptionsChainBeforeRemote) {
  auto ref = ray::Task(Twice)
                 .SetName("twice_named")
                 .SetMaxRetries(0)
                 .SetResources({{"CPU", 1}})
                 .SetResource("CPU", 1)
                 .Remote(21);
  EXPECT_EQ(*ref.Get(), 42);
}

TEST(RayTasks, AnImpossibleRequestFailsAtOnce) {
  // An MPI job does not grow: Ray would wait for a node that never comes.
  EXPECT_THROW(ray::Task(Twice).SetResource("CPU", 100000).Remote(1).Get(),
               ray::internal::RayException);
}

TEST(RayTasks, TheTasksExceptionArrivesAsRayTaskException) {
  try {
    ray::Task(Fails).Remote(1).Get();
    FAIL() << "expected RayTaskException";
  } catch (const ray::internal::RayTaskException& e) {
    EXPECT_NE(std::string(e.what()).find("bad input in Fails"), std::string::npos) << e.what();
  }
}

TEST(RayTasks, AnUnregisteredFunctionFailsWhereTheCallIsWritten) {
  EXPECT_THROW(ray::Task(NotRegistered), ray::internal::RayFunctionNotFound);
}

TEST(RayTasks, RuntimeEnvSetsVariablesForThatTaskOnly) {
  ray::RuntimeEnv env;
  env.Set("env_vars", std::map<std::string, std::string>{{"RAY_TASK_VAR", "task value"}});
  EXPECT_TRUE(env.Contains("env_vars"));
  EXPECT_EQ((env.Get<std::map<std::string, std::string>>("env_vars").at("RAY_TASK_VAR")),
            "task value");
  auto with = ray::Task(EnvOf).SetRuntimeEnv(env).Remote(std::string("RAY_TASK_VAR"));
  EXPECT_EQ(*with.Get(), "task value");
  auto without = ray::Task(EnvOf).Remote(std::string("RAY_TASK_VAR"));
  EXPECT_EQ(*without.Get(), "<unset>");
}

TEST(RayTasks, RuntimeEnvFieldsOtherThanEnvVarsAreRefused) {
  ray::RuntimeEnv env;
  EXPECT_THROW(env.Set("pip", std::string("numpy")), ray::internal::RayRuntimeEnvException);
  EXPECT_TRUE(env.Empty());
  EXPECT_FALSE(env.Remove("env_vars"));
}

TEST(RayActors, CreateCallAndGetState) {
  ray::ActorHandle<Counter> counter = ray::Actor(Counter::FactoryCreate).Remote(10);
  EXPECT_EQ(*counter.Task(&Counter::Add).Remote(5).Get(), 15);
  auto r = counter.Task(&Counter::Add).Remote(1);
  EXPECT_EQ(*ray::Get(r), 16);
  EXPECT_EQ(*counter.Task(&Counter::Get).SetName("read_counter").Remote().Get(), 16);
  EXPECT_FALSE(counter.ID().empty());
}

TEST(RayActors, ACallTakesItsOwnResources) {
  ray::ActorHandle<Counter> counter = ray::Actor(Counter::FactoryCreate).Remote(0);
  EXPECT_EQ(*counter.Task(&Counter::Add).SetResources({{"CPU", 1}}).Remote(2).Get(), 2);
  EXPECT_EQ(*counter.Task(&Counter::Add).SetResource("CPU", 2).Remote(3).Get(), 5);
  // The ranks have 2 CPUs each and no GPU: the call fails at once instead of waiting.
  EXPECT_THROW(counter.Task(&Counter::Add).SetResource("GPU", 1).Remote(1).Get(),
               ray::internal::RayException);
  EXPECT_THROW(counter.Task(&Counter::Add).SetResource("CPU", 3).Remote(1).Get(),
               ray::internal::RayException);
  EXPECT_EQ(*counter.Task(&Counter::Get).Remote().Get(), 5);
}

TEST(RayActors, AHandlePassesToATask) {
  auto counter = ray::Actor(Counter::FactoryCreate).Remote(0);
  EXPECT_EQ(*ray::Task(AddThroughHandle).Remote(counter, 7).Get(), 7);
  EXPECT_EQ(*counter.Task(&Counter::Get).Remote().Get(), 7);
}

TEST(RayActors, NamedActorsAreFoundInTheirNamespace) {
  auto mine = ray::Actor(Counter::FactoryCreate).SetName("ray_counter").Remote(1);
  auto other = ray::Actor(Counter::FactoryCreate).SetName("ray_counter", "other_ns").Remote(2);
  boost::optional<ray::ActorHandle<Counter>> found = ray::GetActor<Counter>("ray_counter");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found->Task(&Counter::Get).Remote().Get(), 1);
  auto found_other = ray::GetActor<Counter>("ray_counter", "other_ns");
  ASSERT_TRUE(found_other);
  EXPECT_EQ(*found_other->Task(&Counter::Get).Remote().Get(), 2);
  EXPECT_TRUE(ray::GetActor<Counter>("ray_counter", kNamespace));
  EXPECT_FALSE(ray::GetActor<Counter>("no_such_counter"));
  EXPECT_FALSE(ray::GetActor<Counter>("ray_counter", "third_ns"));
  mine.Kill();
  other.Kill();
}

TEST(RayActors, KillMakesLaterCallsThrowRayActorException) {
  auto counter = ray::Actor(Counter::FactoryCreate).Remote(0);
  EXPECT_EQ(*counter.Task(&Counter::Add).Remote(1).Get(), 1);
  counter.Kill();
  EXPECT_THROW(counter.Task(&Counter::Add).Remote(1).Get(), ray::internal::RayActorException);
}

TEST(RayActors, KillWithoutNoRestartRestartsAndTheActorKnows) {
  auto counter = ray::Actor(Counter::FactoryCreate).SetMaxRestarts(1).Remote(3);
  EXPECT_FALSE(*counter.Task(&Counter::Restarted).Remote().Get());
  counter.Kill(false);
  EXPECT_TRUE(*counter.Task(&Counter::Restarted).Remote().Get());
  EXPECT_EQ(*counter.Task(&Counter::Get).Remote().Get(), 3);  // rebuilt from its factory
}

TEST(RayActors, ExitActorEndsTheActor) {
  auto counter = ray::Actor(Counter::FactoryCreate).SetMaxConcurrency(2).Remote(0);
  EXPECT_THROW(counter.Task(&Counter::Exit).Remote().Get(), ray::internal::RayActorException);
  EXPECT_THROW(counter.Task(&Counter::Get).Remote().Get(), ray::internal::RayActorException);
}

TEST(RayActors, RuntimeEnvAppliesToEveryCall) {
  ray::RuntimeEnv env;
  env.Set("env_vars", std::map<std::string, std::string>{{"RAY_ACTOR_VAR", "actor value"}});
  auto counter = ray::Actor(Counter::FactoryCreate).SetRuntimeEnv(env).Remote(0);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(*counter.Task(&Counter::Env).Remote(std::string("RAY_ACTOR_VAR")).Get(),
              "actor value");
}

TEST(RayPlacementGroups, CreateWaitUseAndRemove) {
  ray::PlacementGroupCreationOptions options{
      "ray_pg", {{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::SPREAD};
  ray::PlacementGroup pg = ray::CreatePlacementGroup(options);
  ASSERT_TRUE(pg.Wait(30));
  EXPECT_EQ(pg.GetState(), ray::PlacementGroupState::CREATED);
  EXPECT_EQ(pg.GetName(), "ray_pg");
  EXPECT_EQ(pg.GetStrategy(), ray::PlacementStrategy::SPREAD);
  ASSERT_EQ(pg.GetBundles().size(), 2u);
  EXPECT_DOUBLE_EQ(pg.GetBundles()[1].at("CPU"), 1.0);
  EXPECT_EQ(ray::GetPlacementGroup("ray_pg").GetID(), pg.GetID());
  EXPECT_EQ(ray::GetPlacementGroupById(pg.GetID()).GetName(), "ray_pg");
  bool listed = false;
  for (const auto& g : ray::GetAllPlacementGroups()) listed = listed || g.GetID() == pg.GetID();
  EXPECT_TRUE(listed);

  EXPECT_EQ(*ray::Task(Plus).SetPlacementGroup(pg, 0).Remote(2, 2).Get(), 4);
  auto actor = ray::Actor(Counter::FactoryCreate).SetPlacementGroup(pg, 1).Remote(5);
  EXPECT_EQ(*actor.Task(&Counter::Get).Remote().Get(), 5);

  ray::RemovePlacementGroup(pg.GetID());
  EXPECT_EQ(pg.GetState(), ray::PlacementGroupState::REMOVED);
  // The actor's rank learns of the removal by message: a call made at once may still run.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool died = false;
  while (!died && std::chrono::steady_clock::now() < deadline) {
    try {
      actor.Task(&Counter::Get).Remote().Get();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } catch (const ray::internal::RayActorException&) {
      died = true;
    }
  }
  EXPECT_TRUE(died) << "an actor of a removed placement group still answers";
  EXPECT_THROW(ray::GetPlacementGroup("ray_pg"), ray::internal::RayException);
  ray::RemovePlacementGroup(pg.GetID());  // twice: nothing happens
}

TEST(RayPlacementGroups, BadRequestsAreExplained) {
  EXPECT_THROW(ray::CreatePlacementGroup({"empty", {}, ray::PlacementStrategy::PACK}),
               ray::internal::RayException);
  EXPECT_THROW(ray::GetPlacementGroupById("pg-that-does-not-exist"), ray::internal::RayException);
  ray::PlacementGroup huge =
      ray::CreatePlacementGroup({"huge", {{{"CPU", 100000}}}, ray::PlacementStrategy::PACK});
  EXPECT_THROW(huge.Wait(10), ray::internal::RayException);
  EXPECT_EQ(huge.GetState(), ray::PlacementGroupState::REMOVED);
}

}  // namespace

int main(int argc, char** argv) {
  ray::RayConfig config;
  config.ray_namespace = kNamespace;
  ray::RuntimeEnv env;
  env.Set("env_vars", std::map<std::string, std::string>{{"RAY_TEST_JOB_VAR", "from the config"}});
  config.runtime_env = env;
  ray::Init(config, argc, argv);  // the other ranks serve tasks in here, then exit
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  ray::Shutdown();
  return rc;
}
