// One runner's rollout as a single flat array of floats, so that it travels and is read in place
// (a manta::Array<float> is stored and fetched without copies or decoding). The layout:
//
//   header       kHeader floats: steps T, envs M, observation size D, finished episodes E
//   obs          T*M*D   observation at step t of env m at ((t*M)+m)*D
//   actions      T*M     the action taken (0 or 1 for CartPole, stored as a float)
//   logprobs     T*M     its log-probability under the policy that chose it
//   rewards      T*M     the reward the step earned
//   dones        T*M     1 when obs at (t, m) began a new episode (the step before ended one)
//   last_obs     M*D     the observation after the last step, to bootstrap the value
//   last_dones   M       1 when last_obs began a new episode
//   ep_returns   E       returns of the episodes that ended during the rollout
//   ep_lengths   E       their lengths in steps
//
// Index t*M+m everywhere, as CleanRL lays out its buffers ("dones" in its convention).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace rl {

class TrajectoryView {
 public:
  static constexpr std::size_t kHeader = 4;

  /// Floats a trajectory of this shape occupies.
  static std::size_t size_for(std::size_t steps, std::size_t envs, std::size_t obs_dim,
                              std::size_t episodes) {
    const std::size_t n = steps * envs;
    return kHeader + n * obs_dim + 4 * n + envs * obs_dim + envs + 2 * episodes;
  }

  /// Reads the header of `data` and checks that the sizes agree; a damaged or foreign array
  /// throws std::invalid_argument naming what disagrees.
  explicit TrajectoryView(std::span<const float> data) : data_(data) {
    if (data.size() < kHeader) {
      throw std::invalid_argument("trajectory of " + std::to_string(data.size()) +
                                  " floats has no header (needs " + std::to_string(kHeader) + ")");
    }
    steps_ = count(0, "steps");
    envs_ = count(1, "envs");
    obs_dim_ = count(2, "observation size");
    episodes_ = count(3, "episodes");
    const std::size_t want = size_for(steps_, envs_, obs_dim_, episodes_);
    if (want != data.size()) {
      throw std::invalid_argument("trajectory header says " + std::to_string(steps_) + " steps x " +
                                  std::to_string(envs_) + " envs x " + std::to_string(obs_dim_) +
                                  " + " + std::to_string(episodes_) + " episodes (" +
                                  std::to_string(want) + " floats), the array holds " +
                                  std::to_string(data.size()));
    }
  }

  [[nodiscard]] std::size_t steps() const { return steps_; }
  [[nodiscard]] std::size_t envs() const { return envs_; }
  [[nodiscard]] std::size_t obs_dim() const { return obs_dim_; }
  [[nodiscard]] std::size_t samples() const { return steps_ * envs_; }
  [[nodiscard]] std::size_t episodes() const { return episodes_; }

  [[nodiscard]] std::span<const float> obs() const { return part(0, samples() * obs_dim_); }
  [[nodiscard]] std::span<const float> actions() const { return part(1, samples()); }
  [[nodiscard]] std::span<const float> logprobs() const { return part(2, samples()); }
  [[nodiscard]] std::span<const float> rewards() const { return part(3, samples()); }
  [[nodiscard]] std::span<const float> dones() const { return part(4, samples()); }
  [[nodiscard]] std::span<const float> last_obs() const { return part(5, envs_ * obs_dim_); }
  [[nodiscard]] std::span<const float> last_dones() const { return part(6, envs_); }
  [[nodiscard]] std::span<const float> episode_returns() const { return part(7, episodes_); }
  [[nodiscard]] std::span<const float> episode_lengths() const { return part(8, episodes_); }

 private:
  std::size_t count(std::size_t at, const char* what) const {
    const float v = data_[at];
    if (!(v >= 0) || v > 1e9f || static_cast<float>(static_cast<std::size_t>(v)) != v) {
      throw std::invalid_argument(std::string("trajectory header: ") + what + " is " +
                                  std::to_string(v) + ", not a count");
    }
    return static_cast<std::size_t>(v);
  }
  // Part k of the layout above, after the parts before it.
  std::span<const float> part(int k, std::size_t n) const {
    const std::size_t s = samples();
    const std::size_t sizes[] = {s * obs_dim_, s, s, s, s, envs_ * obs_dim_, envs_, episodes_};
    std::size_t at = kHeader;
    for (int i = 0; i < k; ++i) at += sizes[i];
    return data_.subspan(at, n);
  }

  std::span<const float> data_;
  std::size_t steps_ = 0, envs_ = 0, obs_dim_ = 0, episodes_ = 0;
};

}  // namespace rl
