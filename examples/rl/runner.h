// The runner actor: a RolloutWorker on a CPU rank. Each call reads the learner's weights (one
// stored object, which every runner reads through its own rank's copy) and returns its
// trajectory as one zero-copy array.
#pragma once

#include <manta/manta.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <memory>

#include "rollout.h"

namespace rl {

class Runner {
 public:
  /// Runner `index` holding `envs` CartPoles. Rebuilt after a kill(false) with the same
  /// arguments: its environments start new episodes, training goes on.
  static Runner* create(int index, int envs, std::uint64_t seed) {
    auto* r = new Runner(index, envs, seed);
    if (manta::was_actor_restarted()) {
      std::printf("runner %d restarted on rank %d: its %d environments start new episodes\n", index,
                  manta::rank(), envs);
      std::fflush(stdout);
    }
    return r;
  }

  manta::Array<float> collect(const manta::Array<float>& weights, int steps) {
    // LibTorch's thread count (OpenMP's) belongs to the calling thread, and calls may run on any
    // of the rank's actor threads: each thread is set to one, once (setting it is not free).
    thread_local const bool one_thread = [] {
      torch::set_num_threads(1);
      return true;
    }();
    (void)one_thread;
    return worker_.collect({weights.data(), weights.size()}, steps);
  }

  int rank() const { return manta::rank(); }

 private:
  Runner(int index, int envs, std::uint64_t seed)
      : worker_(envs, seed + static_cast<std::uint64_t>(index) * 1000003ULL) {}

  RolloutWorker worker_;
};

}  // namespace rl
