// The learner actor: a PpoLearner on the device its GPU grant names (the CPU when there is none,
// or when LibTorch was built without CUDA). With several learners, each trains on its share of
// the runners' trajectories and their gradients are averaged by an allreduce in the collective
// group kLearnerGroup before every optimiser step, so all of them keep the same weights.
// Checkpointable: save/load write the PPO settings and the learner's whole state.
#pragma once

#include <manta/manta.h>
#include <torch/torch.h>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cartpole.h"
#include "ppo.h"

namespace rl {

inline constexpr const char* kLearnerGroup = "ppo-learners";

/// What a learner is made with; kept in checkpoints so that a restored learner is the same.
struct LearnerSettings {
  PpoConfig ppo;
  std::uint64_t seed = 1;
  template <class A>
  void serialize(A& a, unsigned) {
    a& ppo.learning_rate& ppo.anneal_lr& ppo.total_iterations& ppo.gamma& ppo.gae_lambda& ppo
        .epochs& ppo.minibatches& ppo.clip& ppo.clip_value_loss& ppo.normalise_advantages& ppo
        .entropy_coef& ppo.value_coef& ppo.max_grad_norm& seed;
  }
};

/// One learner's report of an iteration.
struct LearnerReport {
  double policy_loss = 0, value_loss = 0, entropy = 0, approx_kl = 0, clip_fraction = 0;
  double explained_variance = 0, learning_rate = 0;
  std::int64_t samples = 0;
  double seconds = 0;                  // spent in the update
  std::vector<float> episode_returns;  // episodes that ended in this learner's trajectories
  std::vector<float> episode_lengths;
  template <class A>
  void serialize(A& a, unsigned) {
    a& policy_loss& value_loss& entropy& approx_kl& clip_fraction& explained_variance&
        learning_rate& samples& seconds& episode_returns& episode_lengths;
  }
};

class Learner {
 public:
  Learner() = default;  // for a restart from a checkpoint: load() fills it
  static Learner* create(const LearnerSettings& s) {
    auto* l = new Learner;
    l->settings_ = s;
    return l;
  }

  /// One PPO update on the trajectories of `batches` (this learner's share).
  LearnerReport update(const std::vector<manta::ObjectRef<manta::Array<float>>>& batches) {
    PpoLearner& learner = ready();
    const auto start = std::chrono::steady_clock::now();
    const std::vector<std::shared_ptr<const manta::Array<float>>> arrays = manta::get(batches);
    std::vector<TrajectoryView> views;
    LearnerReport r;
    for (const auto& a : arrays) {
      views.emplace_back(std::span<const float>(a->data(), a->size()));
      const TrajectoryView& v = views.back();
      r.episode_returns.insert(r.episode_returns.end(), v.episode_returns().begin(),
                               v.episode_returns().end());
      r.episode_lengths.insert(r.episode_lengths.end(), v.episode_lengths().begin(),
                               v.episode_lengths().end());
    }
    GradientHook average;
    if (manta::collective::group_exists(kLearnerGroup)) {
      const int k = manta::collective::size(kLearnerGroup);
      average = [k](torch::Tensor& g) {
        manta::collective::allreduce(
            kLearnerGroup,
            std::span<float>(g.data_ptr<float>(), static_cast<std::size_t>(g.numel())));
        g.div_(k);
      };
    }
    const UpdateStats s = learner.update(views, average);
    r.policy_loss = s.policy_loss;
    r.value_loss = s.value_loss;
    r.entropy = s.entropy;
    r.approx_kl = s.approx_kl;
    r.clip_fraction = s.clip_fraction;
    r.explained_variance = s.explained_variance;
    r.learning_rate = s.learning_rate;
    r.samples = s.samples;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  /// The weights every runner reads this iteration.
  manta::Array<float> weights() {
    const std::vector<float> w = ready().weights();
    return manta::Array<float>(std::span<const float>(w));
  }

  /// Makes every learner of the group hold member 0's weights (their first weights agree by
  /// seed already; on a GPU the initialisation may not be bit-identical across devices).
  void sync_weights() {
    PpoLearner& learner = ready();
    if (!manta::collective::group_exists(kLearnerGroup)) return;
    std::vector<float> w = learner.weights();
    manta::collective::broadcast(kLearnerGroup, w, 0);
    learner.set_weights(w);
  }

  /// "rank 2, cuda:0" or "rank 0, cpu".
  std::string where() {
    return "rank " + std::to_string(manta::rank()) + ", " + ready().device().str();
  }

  int iterations_done() { return ready().iterations_done(); }

  template <class A>
  void save(A& a) const {
    std::string state = learner_ ? learner_->save_state() : pending_state_;
    a << settings_ << state;
  }
  template <class A>
  void load(A& a) {
    a >> settings_ >> pending_state_;
    learner_.reset();  // built on the next call, on the device granted then
  }

 private:
  // The device is chosen inside a call, where the actor's GPU grant is known.
  PpoLearner& ready() {
    if (!learner_) {
      learner_ = std::make_unique<PpoLearner>(settings_.ppo, CartPole::kObsDim, CartPole::kActions,
                                              pick_device(), settings_.seed);
      if (!pending_state_.empty()) {
        learner_->load_state(pending_state_);
        pending_state_.clear();
      }
    }
    return *learner_;
  }

  static torch::Device pick_device() {
    const std::vector<int> gpus = manta::gpu_ids();
    if (gpus.empty()) return torch::kCPU;
    if (!torch::cuda::is_available()) {
      std::printf(
          "learner on rank %d: granted GPU %d, but this LibTorch has no CUDA; learning on the "
          "CPU (build against a CUDA LibTorch through CMAKE_PREFIX_PATH)\n",
          manta::rank(), gpus.front());
      std::fflush(stdout);
      return torch::kCPU;
    }
    return {torch::kCUDA, static_cast<torch::DeviceIndex>(gpus.front())};
  }

  LearnerSettings settings_;
  std::unique_ptr<PpoLearner> learner_;
  std::string pending_state_;  // loaded from a checkpoint, applied when the learner is built
};

}  // namespace rl
