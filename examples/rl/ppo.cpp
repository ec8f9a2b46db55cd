// PPO as CleanRL's ppo.py computes it: GAE over the runners' trajectories, the clipped surrogate
// and value losses, and the learner's epochs of shuffled minibatches with Adam, an optional hook
// on the flat gradients (an allreduce across learners), and its state as bytes.
#include "ppo.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>

namespace rl {

namespace {

std::string str(std::size_t n) { return std::to_string(n); }

void check_size(const char* what, std::size_t got, std::size_t want) {
  if (got != want) {
    throw std::invalid_argument(std::string("compute_gae: ") + what + " holds " + str(got) +
                                " floats, expected " + str(want));
  }
}

// A read-only host tensor over a trajectory's floats; whoever uses it copies it before the
// trajectory goes away (cat and .to(device) do).
torch::Tensor host_view(std::span<const float> data, std::vector<std::int64_t> shape) {
  return torch::from_blob(const_cast<float*>(data.data()), shape,
                          torch::TensorOptions().dtype(torch::kFloat));
}

// Population variance, as numpy's var in CleanRL's explained variance.
double variance(const std::vector<double>& x) {
  if (x.empty()) return 0;
  double mean = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double sum = 0;
  for (double v : x) sum += (v - mean) * (v - mean);
  return sum / static_cast<double>(x.size());
}

// The saved state is framed by a tag and a checksum of what follows, so that damage anywhere is
// found before LibTorch reads it (its archive does not check the tensors' bytes).
constexpr char kStateTag[8] = {'M', 'P', 'P', 'O', 'S', 'T', '0', '1'};
constexpr std::size_t kFrame = sizeof(kStateTag) + sizeof(std::uint64_t);

std::uint64_t fnv1a(const char* data, std::size_t n) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

std::int64_t read_count(torch::serialize::InputArchive& archive, const char* key) {
  torch::Tensor t;
  archive.read(key, t);
  return t.item<std::int64_t>();
}

}  // namespace

Gae compute_gae(std::span<const float> rewards, std::span<const float> values,
                std::span<const float> dones, std::span<const float> last_values,
                std::span<const float> last_dones, int steps, int envs, double gamma,
                double lambda) {
  if (steps < 0 || envs < 0) {
    throw std::invalid_argument("compute_gae: negative shape, " + std::to_string(steps) +
                                " steps x " + std::to_string(envs) + " envs");
  }
  const auto t_count = static_cast<std::size_t>(steps);
  const auto m_count = static_cast<std::size_t>(envs);
  check_size("rewards", rewards.size(), t_count * m_count);
  check_size("values", values.size(), t_count * m_count);
  check_size("dones", dones.size(), t_count * m_count);
  check_size("last_values", last_values.size(), m_count);
  check_size("last_dones", last_dones.size(), m_count);

  Gae gae;
  gae.advantages.assign(t_count * m_count, 0.0f);
  gae.returns.assign(t_count * m_count, 0.0f);
  for (std::size_t m = 0; m < m_count; ++m) {
    double last_gae_lambda = 0;
    for (std::size_t t = t_count; t-- > 0;) {
      const bool last = t + 1 == t_count;
      const double next_nonterminal = 1.0 - (last ? last_dones[m] : dones[(t + 1) * m_count + m]);
      const double next_value = last ? last_values[m] : values[(t + 1) * m_count + m];
      const std::size_t i = t * m_count + m;
      const double delta = rewards[i] + gamma * next_value * next_nonterminal - values[i];
      last_gae_lambda = delta + gamma * lambda * next_nonterminal * last_gae_lambda;
      gae.advantages[i] = static_cast<float>(last_gae_lambda);
      gae.returns[i] = static_cast<float>(last_gae_lambda + values[i]);
    }
  }
  return gae;
}

LossParts ppo_loss(const torch::Tensor& new_logprob, const torch::Tensor& old_logprob,
                   const torch::Tensor& advantages, const torch::Tensor& new_value,
                   const torch::Tensor& old_value, const torch::Tensor& returns,
                   const torch::Tensor& entropy, const PpoConfig& config) {
  const std::int64_t n = new_logprob.numel();
  for (const auto* t : {&old_logprob, &advantages, &new_value, &old_value, &returns, &entropy}) {
    if (t->numel() != n) {
      throw std::invalid_argument("ppo_loss: inputs disagree in size (" + std::to_string(n) +
                                  " log-probabilities, another holds " +
                                  std::to_string(t->numel()) + ")");
    }
  }
  LossParts parts;
  const torch::Tensor logratio = new_logprob.reshape({-1}) - old_logprob.reshape({-1});
  const torch::Tensor ratio = logratio.exp();
  {
    torch::NoGradGuard no_grad;
    parts.approx_kl = ((ratio - 1.0) - logratio).mean();
    parts.clip_fraction = ((ratio - 1.0).abs() > config.clip).to(torch::kFloat).mean();
  }
  const torch::Tensor adv = advantages.reshape({-1});
  const torch::Tensor pg_unclipped = -adv * ratio;
  const torch::Tensor pg_clipped = -adv * torch::clamp(ratio, 1.0 - config.clip, 1.0 + config.clip);
  parts.policy = torch::max(pg_unclipped, pg_clipped).mean();

  const torch::Tensor v = new_value.reshape({-1});
  const torch::Tensor ret = returns.reshape({-1});
  if (config.clip_value_loss) {
    const torch::Tensor old_v = old_value.reshape({-1});
    const torch::Tensor unclipped = (v - ret).pow(2);
    const torch::Tensor v_clipped = old_v + torch::clamp(v - old_v, -config.clip, config.clip);
    const torch::Tensor clipped = (v_clipped - ret).pow(2);
    parts.value = 0.5 * torch::max(unclipped, clipped).mean();
  } else {
    parts.value = 0.5 * (v - ret).pow(2).mean();
  }
  parts.entropy = entropy.mean();
  parts.total =
      parts.policy - config.entropy_coef * parts.entropy + config.value_coef * parts.value;
  return parts;
}

PpoLearner::PpoLearner(const PpoConfig& config, int obs_dim, int actions, torch::Device device,
                       std::uint64_t seed)
    : config_(config), obs_dim_(obs_dim), actions_(actions), device_(device) {
  if (config.epochs < 1 || config.minibatches < 1) {
    throw std::invalid_argument("PPO needs at least one epoch and one minibatch, got " +
                                std::to_string(config.epochs) + " epochs of " +
                                std::to_string(config.minibatches) + " minibatches");
  }
  // Made on the host from the seeded global generator, so the weights are the same whatever the
  // device, then moved.
  torch::manual_seed(seed);
  agent_ = Agent(obs_dim, actions);
  agent_->to(device_);
  optimiser_ = make_optimiser();
  generator_ = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
}

std::unique_ptr<torch::optim::Adam> PpoLearner::make_optimiser() {
  return std::make_unique<torch::optim::Adam>(
      agent_->parameters(), torch::optim::AdamOptions(config_.learning_rate).eps(1e-5));
}

LossParts PpoLearner::step(const torch::Tensor& obs, const torch::Tensor& actions,
                           const torch::Tensor& old_logprob, torch::Tensor advantages,
                           const torch::Tensor& old_value, const torch::Tensor& returns,
                           const GradientHook& hook) {
  // Categorical(logits): log-probability of the taken actions and the entropy.
  const torch::Tensor logp_all = torch::log_softmax(agent_->logits(obs), -1);
  const torch::Tensor new_logprob = logp_all.gather(1, actions.unsqueeze(1)).squeeze(1);
  const torch::Tensor entropy = -(logp_all.exp() * logp_all).sum(-1);
  const torch::Tensor new_value = agent_->value(obs);
  // One sample has no spread to normalise by; its advantage is then used as it is.
  if (config_.normalise_advantages && advantages.numel() > 1) {
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8);
  }
  LossParts parts = ppo_loss(new_logprob, old_logprob, advantages, new_value, old_value, returns,
                             entropy, config_);
  optimiser_->zero_grad();
  parts.total.backward();

  const auto params = agent_->parameters();
  if (hook) {
    std::vector<torch::Tensor> grads;
    std::int64_t total = 0;
    for (const auto& p : params) {
      grads.push_back(p.grad().defined() ? p.grad().reshape({-1})
                                         : torch::zeros({p.numel()}, p.options()));
      total += p.numel();
    }
    torch::Tensor flat = torch::cat(grads).to(torch::kFloat).contiguous();
    hook(flat);
    if (!flat.defined() || flat.numel() != total) {
      throw std::invalid_argument("gradient hook left " +
                                  std::to_string(flat.defined() ? flat.numel() : 0) +
                                  " gradients, the agent has " + std::to_string(total));
    }
    flat = flat.to(device_, torch::kFloat);
    torch::NoGradGuard no_grad;
    std::int64_t at = 0;
    for (auto p : params) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      p.mutable_grad().copy_(flat.slice(0, at, at + p.numel()).view_as(p));
      at += p.numel();
    }
  }
  torch::nn::utils::clip_grad_norm_(params, config_.max_grad_norm);
  optimiser_->step();
  return parts;
}

UpdateStats PpoLearner::update(const std::vector<TrajectoryView>& batches,
                               const GradientHook& hook) {
  if (batches.empty()) throw std::invalid_argument("PPO update: no trajectory batches");
  std::int64_t n = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    const TrajectoryView& batch = batches[b];
    if (batch.obs_dim() != static_cast<std::size_t>(obs_dim_)) {
      throw std::invalid_argument("PPO update: batch " + str(b) + " has observations of " +
                                  str(batch.obs_dim()) + " floats, the agent takes " +
                                  std::to_string(obs_dim_));
    }
    for (float a : batch.actions()) {
      if (!(a >= 0) || a >= static_cast<float>(actions_) || std::floor(a) != a) {
        throw std::invalid_argument("PPO update: batch " + str(b) + " holds action " +
                                    std::to_string(a) + ", not one of the agent's " +
                                    std::to_string(actions_));
      }
    }
    n += static_cast<std::int64_t>(batch.samples());
  }
  if (n < config_.minibatches) {
    throw std::invalid_argument("PPO update: " + std::to_string(n) + " samples cannot fill " +
                                std::to_string(config_.minibatches) + " minibatches");
  }

  // Every observation and every bootstrap observation valued in one forward pass.
  std::vector<torch::Tensor> obs_parts, action_parts, logprob_parts;
  for (const auto& batch : batches) {
    const auto s = static_cast<std::int64_t>(batch.samples());
    obs_parts.push_back(host_view(batch.obs(), {s, obs_dim_}));
    action_parts.push_back(host_view(batch.actions(), {s}));
    logprob_parts.push_back(host_view(batch.logprobs(), {s}));
  }
  for (const auto& batch : batches) {
    obs_parts.push_back(
        host_view(batch.last_obs(), {static_cast<std::int64_t>(batch.envs()), obs_dim_}));
  }
  const torch::Tensor all_obs = torch::cat(obs_parts).to(device_);
  torch::Tensor values_host;
  {
    torch::NoGradGuard no_grad;
    values_host = agent_->value(all_obs).to(torch::kCPU, torch::kFloat).contiguous();
  }
  const float* values = values_host.data_ptr<float>();

  // GAE per batch, each with its own steps and envs; the samples then follow one another.
  std::vector<float> advantages, returns;
  advantages.reserve(static_cast<std::size_t>(n));
  returns.reserve(static_cast<std::size_t>(n));
  std::size_t at = 0;
  auto at_last = static_cast<std::size_t>(n);
  for (const auto& batch : batches) {
    const std::size_t s = batch.samples();
    const Gae gae = compute_gae(batch.rewards(), {values + at, s}, batch.dones(),
                                {values + at_last, batch.envs()}, batch.last_dones(),
                                static_cast<int>(batch.steps()), static_cast<int>(batch.envs()),
                                config_.gamma, config_.gae_lambda);
    advantages.insert(advantages.end(), gae.advantages.begin(), gae.advantages.end());
    returns.insert(returns.end(), gae.returns.begin(), gae.returns.end());
    at += s;
    at_last += batch.envs();
  }

  std::vector<double> residual(static_cast<std::size_t>(n)), ret(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
    ret[i] = returns[i];
    residual[i] = static_cast<double>(returns[i]) - values[i];
  }
  const double var_returns = variance(ret);

  const torch::Tensor b_obs = all_obs.slice(0, 0, n);
  const torch::Tensor b_actions = torch::cat(action_parts).to(device_, torch::kLong);
  const torch::Tensor b_logprobs = torch::cat(logprob_parts).to(device_);
  const torch::Tensor b_values = values_host.slice(0, 0, n).to(device_);
  const torch::Tensor b_advantages = torch::tensor(advantages).to(device_);
  const torch::Tensor b_returns = torch::tensor(returns).to(device_);

  double frac = 1.0;
  if (config_.anneal_lr && config_.total_iterations > 0) {
    frac = std::max(0.0, 1.0 - static_cast<double>(iterations_) / config_.total_iterations);
  }
  const double lr = frac * config_.learning_rate;
  for (auto& group : optimiser_->param_groups()) group.options().set_lr(lr);

  UpdateStats stats;
  LossParts last;
  // Summed on the device: one read at the end instead of a wait per minibatch.
  torch::Tensor clip_sum = torch::zeros({}, torch::TensorOptions().device(device_));
  const std::int64_t mb_count = config_.minibatches;
  for (int epoch = 0; epoch < config_.epochs; ++epoch) {
    const torch::Tensor perm =
        torch::randperm(n, generator_, torch::TensorOptions().dtype(torch::kLong)).to(device_);
    // Near-equal minibatches: the first n % count take one sample more.
    std::int64_t start = 0;
    for (std::int64_t k = 0; k < mb_count; ++k) {
      const std::int64_t size = n / mb_count + (k < n % mb_count ? 1 : 0);
      const torch::Tensor idx = perm.slice(0, start, start + size);
      start += size;
      last = step(b_obs.index_select(0, idx), b_actions.index_select(0, idx),
                  b_logprobs.index_select(0, idx), b_advantages.index_select(0, idx),
                  b_values.index_select(0, idx), b_returns.index_select(0, idx), hook);
      clip_sum += last.clip_fraction;
    }
  }
  ++iterations_;

  stats.policy_loss = last.policy.item<double>();
  stats.value_loss = last.value.item<double>();
  stats.entropy = last.entropy.item<double>();
  stats.approx_kl = last.approx_kl.item<double>();
  stats.clip_fraction = clip_sum.item<double>() / static_cast<double>(config_.epochs * mb_count);
  // CleanRL reports NaN when the returns do not vary; 0 keeps the logs and plots numeric.
  stats.explained_variance = var_returns == 0 ? 0.0 : 1.0 - variance(residual) / var_returns;
  stats.learning_rate = lr;
  stats.samples = n;
  return stats;
}

std::vector<float> PpoLearner::weights() { return get_weights(agent_); }

void PpoLearner::set_weights(std::span<const float> w) { rl::set_weights(agent_, w); }

std::string PpoLearner::save_state() {
  torch::serialize::OutputArchive archive;
  archive.write("obs_dim", torch::tensor(static_cast<std::int64_t>(obs_dim_)));
  archive.write("actions", torch::tensor(static_cast<std::int64_t>(actions_)));
  archive.write("iterations", torch::tensor(static_cast<std::int64_t>(iterations_)));
  archive.write("weights", torch::tensor(weights()));
  archive.write("generator", generator_.get_state());
  torch::serialize::OutputArchive adam;
  optimiser_->save(adam);
  archive.write("adam", adam);
  std::ostringstream out;
  archive.save_to(out);
  const std::string payload = out.str();

  std::string bytes(kFrame, '\0');
  std::memcpy(bytes.data(), kStateTag, sizeof(kStateTag));
  const std::uint64_t sum = fnv1a(payload.data(), payload.size());
  std::memcpy(bytes.data() + sizeof(kStateTag), &sum, sizeof(sum));
  return bytes + payload;
}

void PpoLearner::load_state(const std::string& bytes) {
  if (bytes.size() < kFrame || std::memcmp(bytes.data(), kStateTag, sizeof(kStateTag)) != 0) {
    throw std::runtime_error("PPO learner state: " + str(bytes.size()) +
                             " bytes that do not begin as a saved learner state");
  }
  std::uint64_t sum = 0;
  std::memcpy(&sum, bytes.data() + sizeof(kStateTag), sizeof(sum));
  if (fnv1a(bytes.data() + kFrame, bytes.size() - kFrame) != sum) {
    throw std::runtime_error("PPO learner state is damaged: its checksum does not match (" +
                             str(bytes.size()) + " bytes)");
  }
  // Everything is read and checked before the learner changes, so a bad state leaves it whole.
  try {
    std::istringstream in(bytes.substr(kFrame));
    torch::serialize::InputArchive archive;
    archive.load_from(in, device_);
    const std::int64_t obs_dim = read_count(archive, "obs_dim");
    const std::int64_t actions = read_count(archive, "actions");
    if (obs_dim != obs_dim_ || actions != actions_) {
      throw std::runtime_error("PPO learner state is of an agent with " + std::to_string(obs_dim) +
                               " observations and " + std::to_string(actions) +
                               " actions; this learner has " + std::to_string(obs_dim_) + " and " +
                               std::to_string(actions_));
    }
    const std::int64_t iterations = read_count(archive, "iterations");
    torch::Tensor weights;
    archive.read("weights", weights);
    weights = weights.to(torch::kCPU, torch::kFloat).contiguous();
    if (weights.numel() != parameter_count(agent_)) {
      throw std::runtime_error("PPO learner state holds " + std::to_string(weights.numel()) +
                               " weights, the agent has " +
                               std::to_string(parameter_count(agent_)));
    }
    torch::Tensor generator_state;
    archive.read("generator", generator_state);
    torch::Generator generator = generator_.clone();
    generator.set_state(generator_state.to(torch::kCPU));
    torch::serialize::InputArchive adam;
    archive.read("adam", adam);
    auto optimiser = make_optimiser();
    optimiser->load(adam);

    rl::set_weights(agent_, {weights.data_ptr<float>(), static_cast<std::size_t>(weights.numel())});
    optimiser_ = std::move(optimiser);
    generator_ = generator;
    iterations_ = static_cast<int>(iterations);
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string("PPO learner state cannot be read: ") +
                             e.what_without_backtrace());
  }
}

int PpoLearner::iterations_done() const { return iterations_; }

torch::Device PpoLearner::device() const { return device_; }

Agent& PpoLearner::agent() { return agent_; }

}  // namespace rl
