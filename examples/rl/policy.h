// The agent: separate actor and critic MLPs (64-64, tanh), initialised as CleanRL's PPO does
// (orthogonal weights, gain sqrt(2); the actor's last layer 0.01, the critic's 1; biases 0), and
// its weights as one flat float array, the form in which they travel between ranks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <vector>

namespace rl {

struct AgentImpl : torch::nn::Module {
  /// Draws the initial weights from LibTorch's global generator (torch::manual_seed).
  AgentImpl(int obs_dim, int actions, int hidden = 64);
  /// Action logits, [N, actions], for observations [N, obs_dim].
  torch::Tensor logits(const torch::Tensor& obs);
  /// State values, [N].
  torch::Tensor value(const torch::Tensor& obs);
  torch::nn::Sequential actor{nullptr};
  torch::nn::Sequential critic{nullptr};
};
TORCH_MODULE(Agent);

/// Floats in all the agent's parameters.
std::int64_t parameter_count(Agent& agent);
/// All parameters, flat, in parameters() order, copied to the host.
std::vector<float> get_weights(Agent& agent);
/// Sets every parameter from a flat host array in parameters() order (the agent may be on a
/// device). Throws std::invalid_argument naming both sizes when the sizes differ.
void set_weights(Agent& agent, std::span<const float> weights);

}  // namespace rl
