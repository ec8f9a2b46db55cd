// The PPO program's command line (after manta::init has taken the --manta-* settings).
#pragma once

#include <cstdint>
#include <string>

namespace rl {

struct Options {
  int runners = 0;  // 0: one per CPU the learners leave (ranks minus CPU learners, at least 1)
  int envs = 4;     // CartPoles per runner
  int steps = 32;   // steps per env per iteration
  int learners = 1;
  int epochs = 4;
  int minibatches = 4;
  double learning_rate = 2.5e-4;
  std::uint64_t seed = 1;
  double target = 475;  // mean return over the last 100 episodes that ends training
  std::int64_t max_env_steps = 500000;
  int iterations = 0;           // stop after this many (0: train to the target or the budget)
  int kill_runner_at = -1;      // a fault drill: kill runner 0 (it restarts) before this iteration
  int max_restarts = 3;         // of each runner
  std::string runner_resource;  // runners also hold 1 of this resource (heterogeneous jobs)
  std::string out = "ppo_cartpole";  // OUT.csv and OUT.png
  bool help = false;
};

/// Parses argv[1..]; throws std::invalid_argument naming the bad option and what it takes.
Options parse_options(int argc, char** argv);
/// The usage text.
std::string usage(const char* program);

}  // namespace rl
