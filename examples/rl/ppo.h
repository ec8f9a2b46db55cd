// Proximal Policy Optimisation (clipped objective) with generalised advantage estimation, as
// CleanRL's ppo.py computes them; and the learner that runs one update per iteration over the
// runners' trajectories, with a hook on the gradients for learners that average them.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "policy.h"
#include "trajectory.h"

namespace rl {

struct PpoConfig {
  double learning_rate = 2.5e-4;  // Adam, eps 1e-5
  bool anneal_lr = true;          // linearly to 0 over total_iterations
  int total_iterations = 0;       // for annealing; 0: no annealing
  double gamma = 0.99;
  double gae_lambda = 0.95;
  int epochs = 4;
  int minibatches = 4;
  double clip = 0.2;
  bool clip_value_loss = true;
  bool normalise_advantages = true;  // per minibatch
  double entropy_coef = 0.01;
  double value_coef = 0.5;
  double max_grad_norm = 0.5;
};

struct Gae {
  std::vector<float> advantages;  // [T*M]
  std::vector<float> returns;     // advantages + values
};

/// GAE over T steps of M envs, index t*M+m. dones[t*M+m] == 1 means the observation at (t, m)
/// began a new episode, so nothing flows back across it; last_values and last_dones describe
/// the observation after step T-1. Throws std::invalid_argument when a size disagrees.
Gae compute_gae(std::span<const float> rewards, std::span<const float> values,
                std::span<const float> dones, std::span<const float> last_values,
                std::span<const float> last_dones, int steps, int envs, double gamma,
                double lambda);

struct LossParts {
  torch::Tensor total;          // policy - entropy_coef * entropy + value_coef * value
  torch::Tensor policy;         // clipped surrogate, mean
  torch::Tensor value;          // 0.5 * (clipped) squared error, mean
  torch::Tensor entropy;        // mean
  torch::Tensor approx_kl;      // ((ratio - 1) - log ratio).mean(), no gradient
  torch::Tensor clip_fraction;  // share of |ratio - 1| > clip, no gradient
};

/// The PPO loss of one minibatch; advantages as given (normalise before calling if wanted).
LossParts ppo_loss(const torch::Tensor& new_logprob, const torch::Tensor& old_logprob,
                   const torch::Tensor& advantages, const torch::Tensor& new_value,
                   const torch::Tensor& old_value, const torch::Tensor& returns,
                   const torch::Tensor& entropy, const PpoConfig& config);

struct UpdateStats {
  double policy_loss = 0;  // of the last minibatch, as CleanRL logs them
  double value_loss = 0;
  double entropy = 0;
  double approx_kl = 0;
  double clip_fraction = 0;  // mean over all minibatches
  double explained_variance = 0;
  double learning_rate = 0;
  std::int64_t samples = 0;
};

/// Called after each backward pass with every gradient in one contiguous float tensor on the
/// learner's device, before clipping; it may change it in place (an allreduce across learners)
/// or replace it with another tensor of as many floats (a different count throws
/// std::invalid_argument).
using GradientHook = std::function<void(torch::Tensor& flat_gradients)>;

class PpoLearner {
 public:
  /// The agent is made with torch::manual_seed(seed) first, so learners with the same seed start
  /// from the same weights; minibatch order comes from a generator seeded with seed + 1.
  PpoLearner(const PpoConfig& config, int obs_dim, int actions, torch::Device device,
             std::uint64_t seed);
  /// One iteration: values of every observation (and the last ones) under the current weights,
  /// GAE, then epochs x minibatches steps of Adam over all samples of `batches`. The number of
  /// gradient steps is the same whatever the batch size (the hook relies on that); fewer samples
  /// than minibatches throws std::invalid_argument.
  UpdateStats update(const std::vector<TrajectoryView>& batches, const GradientHook& hook = {});
  /// The current weights, on the host (see get_weights).
  std::vector<float> weights();
  void set_weights(std::span<const float> w);
  /// Weights, Adam's state, the iteration count and the minibatch generator, as bytes;
  /// load_state of them restores the learner exactly. Damaged bytes, or a state of another
  /// shape of agent, throw std::runtime_error and leave the learner as it was.
  std::string save_state();
  void load_state(const std::string& bytes);
  [[nodiscard]] int iterations_done() const;
  [[nodiscard]] torch::Device device() const;
  Agent& agent();

 private:
  // Adam with the learning rate this iteration uses, over the agent's parameters.
  std::unique_ptr<torch::optim::Adam> make_optimiser();
  // One minibatch step: loss, backward, hook, clipping, Adam; the loss parts for the stats.
  LossParts step(const torch::Tensor& obs, const torch::Tensor& actions,
                 const torch::Tensor& old_logprob, torch::Tensor advantages,
                 const torch::Tensor& old_value, const torch::Tensor& returns,
                 const GradientHook& hook);

  PpoConfig config_;
  int obs_dim_;
  int actions_;
  torch::Device device_;
  Agent agent_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimiser_;
  torch::Generator generator_;
  int iterations_ = 0;
};

}  // namespace rl
