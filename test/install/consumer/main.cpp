// Uses an installed Manta through its public header only: one task anywhere, one pinned per rank.
#include <manta/manta.h>

#include <cstddef>
#include <cstdio>
#include <vector>

int square(int x) { return x * x; }
MANTA_REMOTE(square);

int main(int argc, char** argv) {
  manta::init(argc, argv);  // returns on the driver (rank 0) only

  auto seven = manta::task(square).remote(7);

  const int ranks = manta::world_size();
  std::vector<manta::ObjectRef<int>> per_rank;
  for (int r = 0; r < ranks; ++r) {
    per_rank.push_back(manta::task(square).on_rank(r).remote(r + 1));
  }

  int failures = 0;
  const int v = *manta::get(seven);
  if (v != 49) {
    std::fprintf(stderr, "consumer: square(7) returned %d, expected 49\n", v);
    ++failures;
  }
  for (int r = 0; r < ranks; ++r) {
    const int got = *manta::get(per_rank[static_cast<std::size_t>(r)]);
    const int want = (r + 1) * (r + 1);
    if (got != want) {
      std::fprintf(stderr, "consumer: square(%d) on rank %d returned %d, expected %d\n", r + 1, r,
                   got, want);
      ++failures;
    }
  }

  if (failures != 0) {
    std::fprintf(stderr, "consumer: %d wrong value(s)\n", failures);
    manta::shutdown();
    return 1;
  }
  std::printf("consumer ok: %d ranks=%d\n", v, ranks);
  std::fflush(stdout);
  manta::shutdown();
  return 0;
}
