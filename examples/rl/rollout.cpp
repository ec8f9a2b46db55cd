#include "rollout.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "trajectory.h"

namespace rl {

RolloutWorker::RolloutWorker(int envs, std::uint64_t seed)
    : envs_(envs, seed),
      agent_(CartPole::kObsDim, CartPole::kActions),
      rng_(seed ^ 0x9e3779b97f4a7c15ULL),
      next_done_(static_cast<std::size_t>(envs), 0.0f),
      actions_(static_cast<std::size_t>(envs)),
      rewards_(static_cast<std::size_t>(envs)),
      dones_(static_cast<std::size_t>(envs)) {
  agent_->eval();
}

manta::Array<float> RolloutWorker::collect(std::span<const float> weights, int steps) {
  if (steps < 1) {
    throw std::invalid_argument("a rollout needs at least 1 step, got " + std::to_string(steps));
  }
  set_weights(agent_, weights);
  torch::NoGradGuard no_grad;
  const auto m = static_cast<std::size_t>(envs_.size());
  const auto t_steps = static_cast<std::size_t>(steps);
  constexpr std::size_t d = CartPole::kObsDim;
  const std::size_t n = t_steps * m;

  // Episodes end at unknown steps, so they are gathered first and the array sized after.
  std::vector<float> obs(n * d), actions(n), logprobs(n), rewards(n), dones(n);
  std::vector<VectorEnv::Episode> finished;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (std::size_t t = 0; t < t_steps; ++t) {
    const std::span<const float> now = envs_.observations();
    std::copy(now.begin(), now.end(), obs.begin() + static_cast<std::ptrdiff_t>(t * m * d));
    std::copy(next_done_.begin(), next_done_.end(),
              dones.begin() + static_cast<std::ptrdiff_t>(t * m));
    // from_blob does not copy: the observations stay where the envs wrote them.
    const torch::Tensor x =
        torch::from_blob(const_cast<float*>(now.data()),
                         {static_cast<std::int64_t>(m), static_cast<std::int64_t>(d)});
    const torch::Tensor logp = torch::log_softmax(agent_->logits(x), 1).contiguous();
    const float* lp = logp.data_ptr<float>();
    for (std::size_t e = 0; e < m; ++e) {
      // Sample from the categorical distribution by its cumulative probabilities.
      const float u = uniform(rng_);
      int a = 0;
      float cumulative = std::exp(lp[e * CartPole::kActions]);
      while (a + 1 < CartPole::kActions && u >= cumulative) {
        ++a;
        cumulative += std::exp(lp[e * CartPole::kActions + static_cast<std::size_t>(a)]);
      }
      actions_[e] = a;
      actions[t * m + e] = static_cast<float>(a);
      logprobs[t * m + e] = lp[e * CartPole::kActions + static_cast<std::size_t>(a)];
    }
    envs_.step(actions_, rewards_, dones_);
    std::copy(rewards_.begin(), rewards_.end(),
              rewards.begin() + static_cast<std::ptrdiff_t>(t * m));
    next_done_ = dones_;
    for (VectorEnv::Episode& e : envs_.take_finished()) finished.push_back(e);
  }
  env_steps_ += static_cast<std::int64_t>(n);

  const std::size_t e_count = finished.size();
  auto out = manta::Array<float>::uninitialized(TrajectoryView::size_for(t_steps, m, d, e_count));
  float* w = out.mutable_data();
  const float header[TrajectoryView::kHeader] = {static_cast<float>(t_steps), static_cast<float>(m),
                                                 static_cast<float>(d),
                                                 static_cast<float>(e_count)};
  w = std::copy(std::begin(header), std::end(header), w);
  for (const std::vector<float>* part : {&obs, &actions, &logprobs, &rewards, &dones}) {
    w = std::copy(part->begin(), part->end(), w);
  }
  const std::span<const float> last = envs_.observations();
  w = std::copy(last.begin(), last.end(), w);
  w = std::copy(next_done_.begin(), next_done_.end(), w);
  for (const VectorEnv::Episode& e : finished) *w++ = e.ret;
  for (const VectorEnv::Episode& e : finished) *w++ = static_cast<float>(e.length);
  return out;
}

}  // namespace rl
