// A driver that throws after starting work on every rank: the job must end with the message and
// a non-zero exit code, never hang.
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <manta/manta.h>

int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
MANTA_REMOTE(nap);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  for (int r = 0; r < manta::world_size(); ++r) manta::task(nap).on_rank(r).remote(100);
  std::printf("driver about to fail\n");
  std::fflush(stdout);
  throw std::runtime_error("driver gave up on purpose");
}
