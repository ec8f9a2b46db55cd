// A first look at Manta: a small dynamic task graph spread over every rank.
//   mpirun -n 4 ./manta_demo
#include <manta/manta.h>

#include <cstdio>
#include <numeric>
#include <vector>

std::vector<double> make_block(int rank, int n) { return std::vector<double>(n, rank + 1.0); }
double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
double add(double a, double b) { return a + b; }
int where() { return manta::rank(); }
MANTA_REMOTE(make_block, sum, add, where);

int main(int argc, char** argv) {
  manta::init(argc, argv);  // ranks other than 0 serve tasks from here on
  const int n = manta::world_size();
  std::printf("manta demo: %d ranks\n", n);

  // One block per rank, summed where it was made; partial sums combined in a tree.
  std::vector<manta::ObjectRef<double>> partial;
  for (int r = 0; r < n; ++r) {
    auto block = manta::task(make_block).on_rank(r).remote(r, 1 << 20);
    partial.push_back(manta::task(sum).on_rank(r).remote(block));
  }
  while (partial.size() > 1) {
    std::vector<manta::ObjectRef<double>> next;
    for (std::size_t i = 0; i + 1 < partial.size(); i += 2) {
      next.push_back(manta::task(add).remote(partial[i], partial[i + 1]));
    }
    if (partial.size() % 2) next.push_back(partial.back());
    partial = std::move(next);
  }
  const double total = *manta::get(partial[0]);
  const double expected = (1 << 20) * (n * (n + 1) / 2.0);
  std::printf("sum over %d blocks: %.0f (expected %.0f)\n", n, total, expected);

  std::vector<manta::ObjectRef<int>> ranks;
  for (int r = 0; r < n; ++r) ranks.push_back(manta::task(where).on_rank(r).remote());
  for (int r = 0; r < n; ++r)
    std::printf("task pinned to rank %d ran on rank %d\n", r, *manta::get(ranks[r]));

  manta::shutdown();
  return total == expected ? 0 : 1;
}
