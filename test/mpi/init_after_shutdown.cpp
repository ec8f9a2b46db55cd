// manta::init again after manta::shutdown, in the same MPI job: every rank serves the new
// runtime, with the settings of the driver's new init; what an earlier runtime made is refused
// with a message (and dropping it frees nothing of the new one); a second init while running is
// refused. Through <manta/ray.h>, ray::Init after ray::Shutdown starts a third runtime. A bad
// setting in the second init ends the job with the message a bad first one gives.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <manta/ray.h>

int where() { return manta::rank(); }
std::string namespace_here() { return manta::get_namespace(); }
int twice(int x) { return 2 * x; }
struct Keeper {
  static Keeper* create() { return new Keeper{}; }
  int get() const { return 7; }
};
MANTA_REMOTE(where, namespace_here, twice, Keeper::create, &Keeper::get);

namespace {

template <class F>
std::string message_of(F&& call) {
  try {
    call();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// One task on every rank: the sum of the ranks that answered.
int ranks_answered() {
  int sum = 0;
  for (int r = 0; r < manta::world_size(); ++r)
    sum += *manta::get(manta::task(where).on_rank(r).remote());
  return sum;
}

std::string namespace_on_last_rank() {
  return *manta::get(manta::task(namespace_here).on_rank(manta::world_size() - 1).remote());
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> command_line(argv, argv + argc);  // init strips its flags
  manta::init(argc, argv);
  const std::string running = message_of([&] { manta::init(argc, argv); });
  const int first = ranks_answered();
  std::vector<manta::ObjectRef<int>> stale;
  for (int i = 0; i < 50; ++i) stale.push_back(manta::task(twice).remote(i));
  manta::get(stale);
  auto stale_actor = manta::actor(Keeper::create).on_rank(manta::world_size() - 1).remote();
  const int kept = *manta::get(stale_actor.task(&Keeper::get).remote());
  manta::shutdown();
  const bool still = manta::is_initialized();

  // The second runtime takes the settings of this init, on every rank. With the argument
  // "bad-setting", one that every rank refuses: the job ends as a bad first init would.
  std::vector<std::string> args = command_line;
  const bool bad = args.size() > 1 && args[1] == "bad-setting";
  args.push_back(bad ? "--manta-num-cpus=-3" : "--manta-namespace=second");
  std::vector<char*> pointers;
  for (auto& a : args) pointers.push_back(a.data());
  pointers.push_back(nullptr);
  int argc2 = static_cast<int>(args.size());
  char** argv2 = pointers.data();
  manta::init(argc2, argv2);
  const int second = ranks_answered();
  const std::string ns_driver = manta::get_namespace();
  const std::string ns_last = namespace_on_last_rank();
  // Objects of the new runtime, as many as the old one made: dropping the old refs (whose
  // numbers the new ones would reuse, were runtimes not told apart) must free none of them.
  std::vector<manta::ObjectRef<int>> fresh;
  for (int i = 0; i < 50; ++i) fresh.push_back(manta::task(twice).remote(i + 100));
  const std::string stale_get = message_of([&] { manta::get(stale.front()); });
  const std::string stale_arg = message_of([&] { manta::task(twice).remote(stale.back()); });
  const std::string stale_call = message_of([&] { stale_actor.task(&Keeper::get).remote(); });
  stale.clear();
  int fresh_ok = 1;
  for (int i = 0; i < 50; ++i) fresh_ok &= *manta::get(fresh[i]) == 2 * (i + 100);
  manta::shutdown();

  // A third, through Ray's names: Init reads the command line again (default namespace).
  ray::Init();
  const int third = ranks_answered();
  const std::string ns_third = ray::GetNamespace();
  ray::Shutdown();
  const std::string after_all = message_of([] { manta::get_namespace(); });

  // One line, so that the test can match all of it.
  std::printf(
      "first runtime: ranks answered %d, actor answered %d | init while running: %s | "
      "initialized after shutdown: %d | second runtime: ranks answered %d, namespace %s on rank "
      "0 and %s on the last rank | stale get: %s | stale argument: %s | stale actor call: %s | "
      "new objects kept: %d | third runtime (ray::Init): ranks answered %d, namespace %s | "
      "after the last shutdown: %s\n",
      first, kept, running.c_str(), static_cast<int>(still), second, ns_driver.c_str(),
      ns_last.c_str(), stale_get.c_str(), stale_arg.c_str(), stale_call.c_str(), fresh_ok, third,
      ns_third.c_str(), after_all.c_str());
  return 0;  // the other ranks end with this process
}
