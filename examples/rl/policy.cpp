// The actor-critic agent's layers, their CleanRL initialisation, and the flat weight array.
#include "policy.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace rl {

namespace {

// CleanRL's layer_init: orthogonal weights with the given gain, zero biases.
torch::nn::Linear layer(int in, int out, double gain) {
  torch::nn::Linear linear(in, out);
  torch::NoGradGuard no_grad;
  torch::nn::init::orthogonal_(linear->weight, gain);
  torch::nn::init::constant_(linear->bias, 0.0);
  return linear;
}

torch::nn::Sequential mlp(int in, int hidden, int out, double last_gain) {
  const double hidden_gain = std::sqrt(2.0);
  return torch::nn::Sequential(layer(in, hidden, hidden_gain), torch::nn::Tanh(),
                               layer(hidden, hidden, hidden_gain), torch::nn::Tanh(),
                               layer(hidden, out, last_gain));
}

}  // namespace

AgentImpl::AgentImpl(int obs_dim, int actions, int hidden) {
  if (obs_dim <= 0 || actions <= 0 || hidden <= 0) {
    throw std::invalid_argument("agent needs positive sizes, got obs_dim " +
                                std::to_string(obs_dim) + ", actions " + std::to_string(actions) +
                                ", hidden " + std::to_string(hidden));
  }
  // A small last actor layer starts the policy near uniform; the critic's keeps unit scale.
  actor = register_module("actor", mlp(obs_dim, hidden, actions, 0.01));
  critic = register_module("critic", mlp(obs_dim, hidden, 1, 1.0));
}

torch::Tensor AgentImpl::logits(const torch::Tensor& obs) { return actor->forward(obs); }

torch::Tensor AgentImpl::value(const torch::Tensor& obs) {
  return critic->forward(obs).squeeze(-1);
}

std::int64_t parameter_count(Agent& agent) {
  std::int64_t n = 0;
  for (const auto& p : agent->parameters()) n += p.numel();
  return n;
}

std::vector<float> get_weights(Agent& agent) {
  std::vector<torch::Tensor> flat;
  for (const auto& p : agent->parameters()) flat.push_back(p.detach().reshape({-1}));
  // One concatenation on the device, then one copy to the host.
  const torch::Tensor host = torch::cat(flat).to(torch::kCPU, torch::kFloat).contiguous();
  const float* data = host.data_ptr<float>();
  return {data, data + host.numel()};
}

void set_weights(Agent& agent, std::span<const float> weights) {
  const std::int64_t want = parameter_count(agent);
  if (static_cast<std::int64_t>(weights.size()) != want) {
    throw std::invalid_argument("set_weights: the agent has " + std::to_string(want) +
                                " parameters, the array holds " + std::to_string(weights.size()));
  }
  if (want == 0) return;
  // from_blob only reads the caller's floats: the copy to the device (or clone on the host)
  // happens before any parameter is written.
  const torch::Tensor host = torch::from_blob(const_cast<float*>(weights.data()), {want},
                                              torch::TensorOptions().dtype(torch::kFloat));
  torch::NoGradGuard no_grad;
  const auto params = agent->parameters();
  const torch::Tensor source = host.to(params.front().device(), /*non_blocking=*/false,
                                       /*copy=*/true);
  std::int64_t at = 0;
  for (auto& p : params) {
    const std::int64_t n = p.numel();
    p.copy_(source.slice(0, at, at + n).view_as(p));
    at += n;
  }
}

}  // namespace rl
