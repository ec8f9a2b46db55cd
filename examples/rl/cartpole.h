// CartPole-v1 as gym (gymnasium) defines it in classic_control/cartpole.py, wrapped in its
// 500-step TimeLimit: the same constants, the same explicit Euler step, the same termination
// (pole past 12 degrees, cart past 2.4) and a reward of 1 on every step, the terminating one
// included. The state is integrated in double as gym does in float64; observations are its float
// copy. VectorEnv steps M of them together and resets each one whose episode ends, as gym's
// vector environments do, keeping the returns and lengths of the episodes that ended.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
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

  // gym's constants, named as in cartpole.py.
  static constexpr double kGravity = 9.8;
  static constexpr double kMassCart = 1.0;
  static constexpr double kMassPole = 0.1;
  static constexpr double kTotalMass = kMassPole + kMassCart;
  static constexpr double kLength = 0.5;  // half the pole's length
  static constexpr double kPoleMassLength = kMassPole * kLength;
  static constexpr double kForceMag = 10.0;
  static constexpr double kTau = 0.02;  // seconds between state updates
  static constexpr double kThetaThreshold = 12 * 2 * std::numbers::pi / 360;
  static constexpr double kXThreshold = 2.4;
  static constexpr double kResetBound = 0.05;

  /// The episode does not start until reset() (or set_state()), as gym requires.
  explicit CartPole(std::uint64_t seed) : rng_(seed) {}

  /// Starts an episode: each state variable uniform in [-0.05, 0.05].
  Obs reset() {
    std::uniform_real_distribution<double> u(-kResetBound, kResetBound);
    // One draw per variable in gym's order (x, x_dot, theta, theta_dot).
    state_.x = u(rng_);
    state_.x_dot = u(rng_);
    state_.theta = u(rng_);
    state_.theta_dot = u(rng_);
    elapsed_ = 0;
    ended_ = false;
    return observation();
  }

  /// One step of 0.02 s (explicit Euler, gym's "euler" integrator); action 0 pushes left, 1 right.
  /// Throws std::invalid_argument for another action and std::logic_error after the episode ended
  /// (reset first).
  Step step(int action) {
    if (action != 0 && action != 1) {
      throw std::invalid_argument("CartPole::step: action " + std::to_string(action) +
                                  " is neither 0 (push left) nor 1 (push right)");
    }
    if (ended_) {
      throw std::logic_error(
          "CartPole::step: the episode has ended (or never began); call reset() first");
    }
    const double force = action == 1 ? kForceMag : -kForceMag;
    const double costheta = std::cos(state_.theta);
    const double sintheta = std::sin(state_.theta);
    const double temp =
        (force + kPoleMassLength * state_.theta_dot * state_.theta_dot * sintheta) / kTotalMass;
    const double thetaacc = (kGravity * sintheta - costheta * temp) /
                            (kLength * (4.0 / 3.0 - kMassPole * costheta * costheta / kTotalMass));
    const double xacc = temp - kPoleMassLength * thetaacc * costheta / kTotalMass;
    // Euler with the old values on every right-hand side, in gym's order.
    state_.x += kTau * state_.x_dot;
    state_.x_dot += kTau * xacc;
    state_.theta += kTau * state_.theta_dot;
    state_.theta_dot += kTau * thetaacc;
    ++elapsed_;

    Step s;
    s.obs = observation();
    s.reward = 1.0F;  // also on the terminating step, as gym gives it
    s.terminated = state_.x < -kXThreshold || state_.x > kXThreshold ||
                   state_.theta < -kThetaThreshold || state_.theta > kThetaThreshold;
    s.truncated = !s.terminated && elapsed_ >= kMaxSteps;
    ended_ = s.terminated || s.truncated;
    return s;
  }

  [[nodiscard]] const CartPoleState& state() const { return state_; }

  /// Replaces the physical state. A running episode goes on with its step count kept; after an
  /// episode ended (or before the first reset) a new one begins at step 0.
  void set_state(const CartPoleState& s) {
    state_ = s;
    if (ended_) {
      elapsed_ = 0;
      ended_ = false;
    }
  }

  [[nodiscard]] int elapsed_steps() const { return elapsed_; }

  /// The current observation (the state as floats).
  [[nodiscard]] Obs observation() const {
    return {static_cast<float>(state_.x), static_cast<float>(state_.x_dot),
            static_cast<float>(state_.theta), static_cast<float>(state_.theta_dot)};
  }

 private:
  std::mt19937_64 rng_;
  CartPoleState state_;
  int elapsed_ = 0;
  bool ended_ = true;
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
  VectorEnv(int envs, std::uint64_t seed) {
    if (envs < 1) {
      throw std::invalid_argument("VectorEnv: needs at least one environment, got " +
                                  std::to_string(envs));
    }
    const auto n = static_cast<std::size_t>(envs);
    envs_.reserve(n);
    obs_.resize(n * CartPole::kObsDim);
    running_return_.assign(n, 0.0);
    running_length_.assign(n, 0);
    for (std::size_t m = 0; m < n; ++m) {
      envs_.emplace_back(seed + m);
      write_obs(m, envs_[m].reset());
    }
  }

  [[nodiscard]] int size() const { return static_cast<int>(envs_.size()); }

  /// Current observations, [M * kObsDim].
  [[nodiscard]] std::span<const float> observations() const { return obs_; }

  /// Steps env m with actions[m]; writes rewards[m] and dones[m] (1 when its episode ended,
  /// terminated or truncated). Every span must hold size() entries (std::invalid_argument).
  void step(std::span<const std::int64_t> actions, std::span<float> rewards,
            std::span<float> dones) {
    check_size("actions", actions.size());
    check_size("rewards", rewards.size());
    check_size("dones", dones.size());
    // Checked before any env moves, so that a bad action leaves every env as it was.
    for (std::size_t m = 0; m < actions.size(); ++m) {
      if (actions[m] != 0 && actions[m] != 1) {
        throw std::invalid_argument("VectorEnv::step: action " + std::to_string(actions[m]) +
                                    " for env " + std::to_string(m) +
                                    " is neither 0 (push left) nor 1 (push right)");
      }
    }
    for (std::size_t m = 0; m < envs_.size(); ++m) {
      const CartPole::Step s = envs_[m].step(static_cast<int>(actions[m]));
      running_return_[m] += s.reward;
      ++running_length_[m];
      rewards[m] = s.reward;
      if (s.terminated || s.truncated) {
        finished_.push_back(Episode{static_cast<float>(running_return_[m]), running_length_[m]});
        running_return_[m] = 0;
        running_length_[m] = 0;
        dones[m] = 1.0F;
        write_obs(m, envs_[m].reset());
      } else {
        dones[m] = 0.0F;
        write_obs(m, s.obs);
      }
    }
  }

  /// Episodes that ended since the last call, in the order they ended.
  std::vector<Episode> take_finished() {
    // A copy, so that finished_ keeps its capacity and step() does not allocate again.
    std::vector<Episode> out(finished_);
    finished_.clear();
    return out;
  }

 private:
  void write_obs(std::size_t m, const CartPole::Obs& o) {
    for (int d = 0; d < CartPole::kObsDim; ++d) {
      obs_[m * CartPole::kObsDim + static_cast<std::size_t>(d)] = o[static_cast<std::size_t>(d)];
    }
  }

  void check_size(const char* what, std::size_t got) const {
    if (got != envs_.size()) {
      throw std::invalid_argument(std::string("VectorEnv::step: ") + what + " holds " +
                                  std::to_string(got) + " entries, expected one per env (" +
                                  std::to_string(envs_.size()) + ")");
    }
  }

  std::vector<CartPole> envs_;
  std::vector<float> obs_;
  std::vector<double> running_return_;
  std::vector<int> running_length_;
  std::vector<Episode> finished_;
};

}  // namespace rl
