// A long computation that stops cleanly when the batch system says its time is nearly up, and
// resumes where it stopped when run again. Each iteration sums a block of integers in tasks spread
// over the ranks; between iterations the driver polls manta::checkpoint_requested() (set by the
// checkpoint signal, SIGUSR1 by default) and, once it is set, saves the iteration and the running
// total to a state file and exits 0. slurm/checkpoint.sbatch resubmits the job until it is done.
//
//   manta_checkpoint_loop STATE_FILE [ITERATIONS] [MS_PER_ITERATION]
#include <manta/manta.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::int64_t kBlock = 100000;

std::int64_t block_sum(std::int64_t block, int pause_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));  // stands for real work
  std::int64_t s = 0;
  for (std::int64_t i = block * kBlock; i < (block + 1) * kBlock; ++i) s += i % 1000;
  return s;
}

}  // namespace

MANTA_REMOTE(block_sum);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s STATE_FILE [ITERATIONS] [MS_PER_ITERATION]\n", argv[0]);
    return 2;
  }
  const std::string state = argv[1];
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 100;
  const int pause_ms = argc > 3 ? std::atoi(argv[3]) : 100;
  const int width = manta::world_size();

  int start = 0;
  std::int64_t total = 0;
  if (std::ifstream in(state); in >> start >> total) {
    std::printf("resumed from iteration %d (total so far %lld)\n", start,
                static_cast<long long>(total));
  }
  for (int it = start; it < iterations; ++it) {
    if (manta::checkpoint_requested()) {
      std::ofstream(state) << it << " " << total << "\n";
      std::printf("checkpoint requested at iteration %d of %d: state saved to %s\n", it, iterations,
                  state.c_str());
      manta::shutdown();
      return 0;
    }
    std::vector<manta::ObjectRef<std::int64_t>> parts;
    for (int k = 0; k < width; ++k) {
      parts.push_back(manta::task(block_sum).remote(std::int64_t{it} * width + k, pause_ms));
    }
    for (auto& p : parts) total += *manta::get(p);
  }
  // Every block of 100000 consecutive integers holds each residue mod 1000 a hundred times.
  const std::int64_t expected = std::int64_t{iterations} * width * 100 * 499500;
  std::printf("done: %d iterations on %d ranks, total %lld (expected %lld)\n", iterations, width,
              static_cast<long long>(total), static_cast<long long>(expected));
  std::remove(state.c_str());
  manta::shutdown();
  return total == expected ? 0 : 1;
}
