// Recursive Fibonacci with nested tasks: each task submits two tasks and waits for them.
// A worker blocked in get lends its CPU (or runs the awaited task itself), so this completes
// even with one worker per rank.   mpirun -n 2 ./manta_fib 20 --manta-num-cpus=1
#include <manta/manta.h>

#include <cstdio>
#include <cstdlib>

long fib(int n) {
  if (n < 2) return n;
  auto a = manta::task(fib).remote(n - 1);
  auto b = manta::task(fib).remote(n - 2);
  return *manta::get(a) + *manta::get(b);
}
MANTA_REMOTE(fib);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  const int n = argc > 1 ? std::atoi(argv[1]) : 20;
  const long v = *manta::get(manta::task(fib).remote(n));
  std::printf("fib(%d) = %ld on %d ranks\n", n, v, manta::world_size());
  manta::shutdown();
  return 0;
}
