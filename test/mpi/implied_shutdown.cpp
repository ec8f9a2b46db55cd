// The driver returns from main without calling manta::shutdown: every rank must still stop and
// the job exit 0.
#include <cstdio>

#include <manta/manta.h>

int where() { return manta::rank(); }
MANTA_REMOTE(where);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  int sum = 0;
  for (int r = 0; r < manta::world_size(); ++r)
    sum += *manta::get(manta::task(where).on_rank(r).remote());
  std::printf("ranks answered: %d\n", sum);
  return 0;  // no manta::shutdown()
}
