// The runner's work without the runtime around it: step M CartPoles with the policy's actor
// network and record what a learner needs (the layout of trajectory.h). The runner actor wraps
// it, and the rollout benchmark runs it alone to measure what the runtime adds.
#pragma once

#include <manta/array.h>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "cartpole.h"
#include "policy.h"

namespace rl {

class RolloutWorker {
 public:
  /// `envs` CartPoles seeded from `seed`; actions are sampled from a generator seeded the same.
  RolloutWorker(int envs, std::uint64_t seed);

  /// Loads the learner's flat weights, steps every env `steps` times and returns the trajectory.
  /// Episodes carry over from one call to the next, as one long stream per env (CleanRL's
  /// next_obs/next_done). Throws std::invalid_argument for steps < 1 or weights of the wrong size.
  manta::Array<float> collect(std::span<const float> weights, int steps);

  [[nodiscard]] int envs() const { return envs_.size(); }
  [[nodiscard]] std::int64_t env_steps() const { return env_steps_; }

 private:
  VectorEnv envs_;
  Agent agent_;
  std::mt19937_64 rng_;
  std::vector<float> next_done_;  // 1 when the env's current observation began an episode
  std::vector<std::int64_t> actions_;
  std::vector<float> rewards_, dones_;
  std::int64_t env_steps_ = 0;
};

}  // namespace rl
