// Built twice, with and without MANTA_TEST_EXTRA: launched together they are different programs,
// which init must refuse with a message naming the difference.
#include <cstdio>

#include <manta/manta.h>

int shared_fn(int x) { return x; }
MANTA_REMOTE(shared_fn);
#ifdef MANTA_TEST_EXTRA
double only_in_b(double x) { return x; }
MANTA_REMOTE(only_in_b);
#endif

int main(int argc, char** argv) {
  manta::init(argc, argv);
  std::printf("init succeeded unexpectedly\n");
  manta::shutdown();
  return 0;
}
