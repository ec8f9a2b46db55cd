// CartPole-v1 as gym (gymnasium) defines it, and a vector of them that reset themselves.
// TO BE IMPLEMENTED (header-only): the declarations below are the contract.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace rl {

/// The physical state, in doubles as gym computes it (observations are its float32 copy).
struct CartPoleState {
  double x = 0, x_dot = 0, theta = 0, theta_dot = 0;
};

class CartPole {
 public:
  static constexpr int kObsDim = 4;
  static constexpr int kActions = 2;
  static constexpr int kMaxSteps = 500;  // v1's time limit (truncation)
  using Obs = std::array<float, kObsDim>;
  struct Step {
    Obs obs;
    float reward = 0;
    bool terminated = false;  // pole past 12 degrees or cart past 2.4
    bool truncated = false;   // 500 steps reached without terminating
  };

  explicit CartPole(std::uint64_t seed);
  /// Starts an episode: each state variable uniform in [-0.05, 0.05].
  Obs reset();
  /// One step of 0.02 s (explicit Euler, gym's "euler" integrator); action 0 pushes left, 1 right.
  /// Throws std::invalid_argument for another action and std::logic_error after the episode ended
  /// (reset first).
  Step step(int action);
  [[nodiscard]] const CartPoleState& state() const;
  void set_state(const CartPoleState& s);  // for tests: a fixed state, episode running
  [[nodiscard]] int elapsed_steps() const;
};

/// M CartPoles stepped together. An env whose episode ends is reset at once: its observation is
/// the new episode's first, and its `done` is 1 for that step.
class VectorEnv {
 public:
  struct Episode {
    float ret = 0;
    int length = 0;
  };
  /// Env m is seeded with seed + m. Throws std::invalid_argument when envs < 1.
  VectorEnv(int envs, std::uint64_t seed);
  [[nodiscard]] int size() const;
  /// Current observations, [M * kObsDim].
  [[nodiscard]] std::span<const float> observations() const;
  /// Steps env m with actions[m]; writes rewards[m] and dones[m] (1 when its episode ended,
  /// terminated or truncated). Every span must hold size() entries (std::invalid_argument).
  void step(std::span<const std::int64_t> actions, std::span<float> rewards,
            std::span<float> dones);
  /// Episodes that ended since the last call, in the order they ended.
  std::vector<Episode> take_finished();
};

}  // namespace rl
