// A driver that ends while a task on the last rank still runs (it sleeps for a minute): with a
// short --manta-shutdown-timeout the job aborts, and its job directory says why.
#include <manta/manta.h>

#include <chrono>
#include <cstdio>
#include <thread>

int sleep_long() {
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}
MANTA_REMOTE(sleep_long);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  auto r = manta::task(sleep_long).on_rank(manta::world_size() - 1).remote();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it start
  std::printf("driver done, a task still running\n");
  std::fflush(stdout);
  manta::shutdown();
}
