#include <manta/manta.h>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

int add(int a, int b) { return a + b; }
double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
MANTA_REMOTE(add, sum);  // register by name, once, at namespace scope

int main(int argc, char** argv) {
  manta::init(argc, argv);  // returns on rank 0 only; other ranks serve tasks
  manta::ObjectRef<int> a = manta::task(add).remote(1, 2);
  auto b = manta::task(add).remote(a, 10);  // ObjectRef arguments are resolved first
  auto big = manta::put(std::vector<double>(1 << 20, 1.0));
  auto s = manta::task(sum).resources({{"CPU", 1}}).on_rank(manta::world_size() - 1).remote(big);
  auto [ready, unready] =
      manta::wait(std::vector{a, b}, /*num_returns=*/1, std::chrono::milliseconds(100));
  std::printf("%zu ready, b=%d, sum=%.0f\n", ready.size(), *manta::get(b), *manta::get(s));
  manta::shutdown();
}
