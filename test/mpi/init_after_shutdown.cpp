// A second manta::init after shutdown, in the same process, is refused with a message that says
// why (shutdown ended the runtime on every rank), never a hang or a crash; and a second init
// while running says that instead. Through <manta/ray.h> the same holds for ray::Init.
#include <cstdio>
#include <stdexcept>
#include <string>

#include <manta/ray.h>

int where() { return manta::rank(); }
MANTA_REMOTE(where);

namespace {
template <class F>
std::string refusal(F&& start) {
  try {
    start();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "not refused";
}
}  // namespace

int main(int argc, char** argv) {
  manta::init(argc, argv);
  const std::string running = refusal([&] { manta::init(argc, argv); });
  int sum = 0;
  for (int r = 0; r < manta::world_size(); ++r)
    sum += *manta::get(manta::task(where).on_rank(r).remote());
  manta::shutdown();
  const bool still = ray::IsInitialized();
  const std::string after = refusal([&] { manta::init(argc, argv); });
  const std::string ray_after = refusal([] { ray::Init(); });
  // One line, so the test can match all of it.
  std::printf(
      "ranks answered: %d | running: %s | initialized after shutdown: %d | after: %s | "
      "ray::Init after: %s\n",
      sum, running.c_str(), static_cast<int>(still), after.c_str(), ray_after.c_str());
  return 0;
}
