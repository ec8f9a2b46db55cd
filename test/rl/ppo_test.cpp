// PPO's pieces (examples/rl/ppo.h, policy.h): GAE and the clipped loss against values worked out
// by hand, the agent's shapes and initialisation, its flat weights, and the learner's update,
// gradient hook, determinism, saved state and a small learning check.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy.h"
#include "ppo.h"
#include "trajectory.h"

namespace {

class PpoTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::set_num_threads(1); }
};

bool contains(const std::exception& e, const std::string& text) {
  return std::string(e.what()).find(text) != std::string::npos;
}

// The parts of one trajectory, written into the flat layout of trajectory.h.
struct Parts {
  int steps = 0, envs = 0, obs_dim = 0;
  std::vector<float> obs, actions, logprobs, rewards, dones, last_obs, last_dones;
};

std::vector<float> flatten(const Parts& p) {
  std::vector<float> out = {static_cast<float>(p.steps), static_cast<float>(p.envs),
                            static_cast<float>(p.obs_dim), 0.0f};
  for (const auto* part :
       {&p.obs, &p.actions, &p.logprobs, &p.rewards, &p.dones, &p.last_obs, &p.last_dones}) {
    out.insert(out.end(), part->begin(), part->end());
  }
  EXPECT_EQ(out.size(), rl::TrajectoryView::size_for(p.steps, p.envs, p.obs_dim, 0));
  return out;
}

// A CartPole-shaped batch with random observations, alternating actions, log-probabilities near
// the initial policy's (about log 1/2), reward 1 per step and an episode ending mid-way.
std::vector<float> synthetic(int steps, int envs, unsigned seed, int obs_dim = 4) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  Parts p;
  p.steps = steps;
  p.envs = envs;
  p.obs_dim = obs_dim;
  const int n = steps * envs;
  for (int i = 0; i < n * obs_dim; ++i) p.obs.push_back(normal(rng));
  for (int i = 0; i < n; ++i) {
    p.actions.push_back(static_cast<float>(i % 2));
    p.logprobs.push_back(std::log(0.5f) + 0.05f * normal(rng));
    p.rewards.push_back(1.0f);
    p.dones.push_back(i / envs == steps / 2 && i % envs == 0 ? 1.0f : 0.0f);
  }
  for (int i = 0; i < envs * obs_dim; ++i) p.last_obs.push_back(normal(rng));
  p.last_dones.assign(static_cast<std::size_t>(envs), 0.0f);
  return flatten(p);
}

rl::PpoConfig small_config() {
  rl::PpoConfig config;
  config.epochs = 2;
  config.minibatches = 4;
  config.learning_rate = 1e-3;
  return config;
}

// ---------------------------------------------------------------------------------------------
// GAE

TEST_F(PpoTest, GaeMatchesHandComputedEpisodes) {
  // T = 3 steps of M = 2 envs, gamma 0.9, lambda 0.8 (gamma * lambda = 0.72); index t*2+m.
  // env 0: rewards 1, 1, 1; values 0.5, 0.4, 0.3; its obs at t=2 began a new episode (step 1
  //        ended one); last value 0.2, last obs continues.
  //   t=2: delta = 1 + 0.9*0.2 - 0.3 = 0.88;            adv = 0.88;               ret 1.18
  //   t=1: next obs is a new episode: delta = 1 - 0.4 = 0.6; adv = 0.6;           ret 1.0
  //   t=0: delta = 1 + 0.9*0.4 - 0.5 = 0.86;            adv = 0.86 + 0.72*0.6 = 1.292; ret 1.792
  // env 1: rewards 0, 2, -1; values 1.0, 0.0, 0.5; its obs at t=1 began a new episode; the last
  //        obs began one too (last value 2.0 must not count).
  //   t=2: delta = -1 - 0.5 = -1.5;                     adv = -1.5;               ret -1.0
  //   t=1: delta = 2 + 0.9*0.5 - 0 = 2.45;              adv = 2.45 - 0.72*1.5 = 1.37; ret 1.37
  //   t=0: next obs is a new episode: delta = 0 - 1 = -1; adv = -1;               ret 0.0
  const std::vector<float> rewards = {1, 0, 1, 2, 1, -1};
  const std::vector<float> values = {0.5f, 1.0f, 0.4f, 0.0f, 0.3f, 0.5f};
  // dones at t=0 cannot matter (nothing flows back from before the rollout): set one to show it.
  const std::vector<float> dones = {1, 0, 0, 1, 1, 0};
  const std::vector<float> last_values = {0.2f, 2.0f};
  const std::vector<float> last_dones = {0, 1};
  const rl::Gae gae =
      rl::compute_gae(rewards, values, dones, last_values, last_dones, 3, 2, 0.9, 0.8);
  const std::vector<float> advantages = {1.292f, -1.0f, 0.6f, 1.37f, 0.88f, -1.5f};
  const std::vector<float> returns = {1.792f, 0.0f, 1.0f, 1.37f, 1.18f, -1.0f};
  ASSERT_EQ(gae.advantages.size(), 6u);
  ASSERT_EQ(gae.returns.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(gae.advantages[i], advantages[i], 1e-6) << "advantage " << i;
    EXPECT_NEAR(gae.returns[i], returns[i], 1e-6) << "return " << i;
  }
}

TEST_F(PpoTest, GaeWithUnitLambdaIsTheDiscountedReturnLessTheValue) {
  // One env, 3 steps, gamma 0.5, lambda 1, bootstrapped from last value 8:
  // G2 = 1 + 0.5*8 = 5, G1 = 2 + 0.5*5 = 4.5, G0 = 4 + 0.5*4.5 = 6.25; advantages G - v.
  const std::vector<float> rewards = {4, 2, 1};
  const std::vector<float> values = {3, 1, 2};
  const std::vector<float> dones = {0, 0, 0};
  const std::vector<float> last_values = {8};
  const std::vector<float> last_dones = {0};
  const rl::Gae gae =
      rl::compute_gae(rewards, values, dones, last_values, last_dones, 3, 1, 0.5, 1.0);
  EXPECT_NEAR(gae.returns[0], 6.25f, 1e-6);
  EXPECT_NEAR(gae.returns[1], 4.5f, 1e-6);
  EXPECT_NEAR(gae.returns[2], 5.0f, 1e-6);
  EXPECT_NEAR(gae.advantages[0], 3.25f, 1e-6);
  EXPECT_NEAR(gae.advantages[1], 3.5f, 1e-6);
  EXPECT_NEAR(gae.advantages[2], 3.0f, 1e-6);
}

TEST_F(PpoTest, GaeRejectsSizesThatDisagree) {
  const std::vector<float> six(6, 0.0f), two(2, 0.0f), five(5, 0.0f);
  EXPECT_THROW(rl::compute_gae(five, six, six, two, two, 3, 2, 0.99, 0.95), std::invalid_argument);
  EXPECT_THROW(rl::compute_gae(six, six, six, six, two, 3, 2, 0.99, 0.95), std::invalid_argument);
  try {
    rl::compute_gae(six, six, five, two, two, 3, 2, 0.99, 0.95);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e, "dones")) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// The loss

struct LossBatch {
  torch::Tensor new_logprob, old_logprob, advantages, new_value, old_value, returns, entropy;
};

// Four samples, clip 0.2, old log-probabilities 0 so that the ratios are exp(new_logprob):
//   ratio 1.1, adv +2: inside the range, -2.2 either way                     -> -2.2
//   ratio 1.5, adv +1: clipped to 1.2: max(-1.5, -1.2)                        -> -1.2
//   ratio 0.5, adv -1: clipped to 0.8: max(0.5, 0.8)                          ->  0.8
//   ratio 0.5, adv +1: outside the range, but the unclipped term is larger: max(-0.5, -0.8) -> -0.5
// Values (new v, old v, return), clip 0.2:
//   1.0, 0.9, 2: change 0.1 within the clip: (1-2)^2 = 1 both ways           -> 1
//   1.5, 1.0, 2: unclipped 0.25, clipped to 1.2: 0.64                        -> 0.64
//   0.0, 1.0, 0.5: unclipped 0.25, clipped to 0.8: 0.09                      -> 0.25
//   3.0, 2.0, 0: unclipped 9, clipped to 2.2: 4.84                           -> 9
LossBatch hand_batch() {
  LossBatch b;
  b.new_logprob = torch::log(torch::tensor({1.1f, 1.5f, 0.5f, 0.5f})).requires_grad_(true);
  b.old_logprob = torch::zeros({4});
  b.advantages = torch::tensor({2.0f, 1.0f, -1.0f, 1.0f});
  b.new_value = torch::tensor({1.0f, 1.5f, 0.0f, 3.0f}).requires_grad_(true);
  b.old_value = torch::tensor({0.9f, 1.0f, 1.0f, 2.0f});
  b.returns = torch::tensor({2.0f, 2.0f, 0.5f, 0.0f});
  b.entropy = torch::tensor({0.6f, 0.5f, 0.7f, 0.2f});
  return b;
}

TEST_F(PpoTest, ClippedLossMatchesHandComputedBatch) {
  LossBatch b = hand_batch();
  rl::PpoConfig config;  // clip 0.2, entropy 0.01, value 0.5, value clipping on
  const rl::LossParts parts = rl::ppo_loss(b.new_logprob, b.old_logprob, b.advantages, b.new_value,
                                           b.old_value, b.returns, b.entropy, config);
  // Policy: (-2.2 - 1.2 + 0.8 - 0.5) / 4 = -0.775.
  EXPECT_NEAR(parts.policy.item<double>(), -0.775, 1e-6);
  // Value: 0.5 * (1 + 0.64 + 0.25 + 9) / 4 = 1.36125.
  EXPECT_NEAR(parts.value.item<double>(), 1.36125, 1e-6);
  EXPECT_NEAR(parts.entropy.item<double>(), 0.5, 1e-6);
  // Total: -0.775 - 0.01*0.5 + 0.5*1.36125 = -0.099375.
  EXPECT_NEAR(parts.total.item<double>(), -0.099375, 1e-6);
  // Three of four ratios are more than 0.2 from 1.
  EXPECT_NEAR(parts.clip_fraction.item<double>(), 0.75, 1e-6);
  // approx_kl: (r - 1) - ln r = 0.1 - 0.0953101798, 0.5 - 0.4054651081, -0.5 + 0.6931471806
  // twice; their mean is 0.4855190733 / 4.
  EXPECT_NEAR(parts.approx_kl.item<double>(), 0.1213797683, 1e-6);
  EXPECT_FALSE(parts.approx_kl.requires_grad());
  EXPECT_FALSE(parts.clip_fraction.requires_grad());

  // Only unclipped samples pass a policy gradient: d/d logprob of -adv*ratio/4 is -adv*ratio/4,
  // -0.55 and -0.125 for the first and last, 0 for the two clipped ones.
  parts.policy.backward();
  const torch::Tensor g = b.new_logprob.grad();
  EXPECT_NEAR(g[0].item<double>(), -0.55, 1e-6);
  EXPECT_NEAR(g[1].item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(g[2].item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(g[3].item<double>(), -0.125, 1e-6);
}

TEST_F(PpoTest, UnclippedValueLossMatchesHandComputedBatch) {
  LossBatch b = hand_batch();
  rl::PpoConfig config;
  config.clip_value_loss = false;
  config.entropy_coef = 0.1;
  config.value_coef = 1.0;
  const rl::LossParts parts = rl::ppo_loss(b.new_logprob, b.old_logprob, b.advantages, b.new_value,
                                           b.old_value, b.returns, b.entropy, config);
  // 0.5 * (1 + 0.25 + 0.25 + 9) / 4 = 1.3125; total -0.775 - 0.1*0.5 + 1.3125 = 0.4875.
  EXPECT_NEAR(parts.value.item<double>(), 1.3125, 1e-6);
  EXPECT_NEAR(parts.total.item<double>(), 0.4875, 1e-6);
  // The value gradient is (v - R)/4 per sample: -0.25, -0.125, -0.125, 0.75.
  parts.value.backward();
  const torch::Tensor g = b.new_value.grad();
  EXPECT_NEAR(g[0].item<double>(), -0.25, 1e-6);
  EXPECT_NEAR(g[1].item<double>(), -0.125, 1e-6);
  EXPECT_NEAR(g[2].item<double>(), -0.125, 1e-6);
  EXPECT_NEAR(g[3].item<double>(), 0.75, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// The agent

TEST_F(PpoTest, AgentShapesAndInitialisation) {
  torch::manual_seed(3);
  rl::Agent agent(4, 2);
  const torch::Tensor obs = torch::randn({5, 4});
  EXPECT_EQ(agent->logits(obs).sizes(), (std::vector<std::int64_t>{5, 2}));
  EXPECT_EQ(agent->value(obs).sizes(), (std::vector<std::int64_t>{5}));
  const std::int64_t actor = 4 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2;
  const std::int64_t critic = 4 * 64 + 64 + 64 * 64 + 64 + 64 + 1;
  EXPECT_EQ(rl::parameter_count(agent), actor + critic);

  torch::NoGradGuard no_grad;
  auto linear = [](torch::nn::Sequential& s, int i) {
    return s->ptr(static_cast<std::size_t>(i))->as<torch::nn::Linear>();
  };
  // Orthogonal with gain sqrt(2): the 64x4 first layer has orthogonal columns of norm sqrt(2),
  // the 64x64 one is sqrt(2) times a rotation.
  for (auto* net : {&agent->actor, &agent->critic}) {
    const torch::Tensor w0 = linear(*net, 0)->weight;
    EXPECT_TRUE(torch::allclose(w0.t().mm(w0), 2 * torch::eye(4), 1e-4, 1e-4));
    const torch::Tensor w1 = linear(*net, 2)->weight;
    EXPECT_TRUE(torch::allclose(w1.mm(w1.t()), 2 * torch::eye(64), 1e-4, 1e-4));
    for (int i : {0, 2, 4}) EXPECT_EQ(linear(*net, i)->bias.abs().max().item<float>(), 0.0f);
  }
  // The actor's last layer has rows of norm 0.01 (a near-uniform policy); the critic's, norm 1.
  const torch::Tensor actor_last = linear(agent->actor, 4)->weight;
  EXPECT_TRUE(torch::allclose(actor_last.mm(actor_last.t()), 1e-4 * torch::eye(2), 1e-7, 1e-6));
  EXPECT_LE(actor_last.abs().max().item<float>(), 0.0100001f);
  EXPECT_GT(actor_last.abs().max().item<float>(), 0.0f);
  const torch::Tensor critic_last = linear(agent->critic, 4)->weight;
  EXPECT_NEAR(critic_last.norm().item<double>(), 1.0, 1e-5);
  const torch::Tensor probs = torch::softmax(agent->logits(obs), -1);
  EXPECT_LT((probs - 0.5).abs().max().item<float>(), 0.05f);
}

TEST_F(PpoTest, WeightsRoundTripAndSizeError) {
  torch::manual_seed(1);
  rl::Agent agent(4, 2);
  std::vector<float> w = rl::get_weights(agent);
  ASSERT_EQ(static_cast<std::int64_t>(w.size()), rl::parameter_count(agent));
  // The first floats are the actor's first weight matrix, row by row.
  const torch::Tensor first = agent->actor->ptr(0)->as<torch::nn::Linear>()->weight;
  EXPECT_EQ(w[0], first[0][0].item<float>());
  EXPECT_EQ(w[1], first[0][1].item<float>());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.001f * static_cast<float>(i % 997) - 0.3f;
  rl::set_weights(agent, w);
  EXPECT_EQ(rl::get_weights(agent), w);
  const torch::Tensor last = agent->critic->ptr(4)->as<torch::nn::Linear>()->bias;
  EXPECT_EQ(last.item<float>(), w.back());

  std::vector<float> short_w(w.begin(), w.end() - 1);
  try {
    rl::set_weights(agent, short_w);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e, std::to_string(w.size()))) << e.what();
    EXPECT_TRUE(contains(e, std::to_string(short_w.size()))) << e.what();
  }
  EXPECT_EQ(rl::get_weights(agent), w);
}

// ---------------------------------------------------------------------------------------------
// The learner

TEST_F(PpoTest, UpdateGivesFiniteStatsAndChangesWeights) {
  rl::PpoLearner learner(small_config(), 4, 2, torch::kCPU, 7);
  const std::vector<float> data = synthetic(8, 2, 1);
  const std::vector<float> before = learner.weights();
  const rl::UpdateStats stats = learner.update({rl::TrajectoryView(data)});
  EXPECT_EQ(stats.samples, 16);
  for (double v : {stats.policy_loss, stats.value_loss, stats.entropy, stats.approx_kl,
                   stats.clip_fraction, stats.explained_variance}) {
    EXPECT_TRUE(std::isfinite(v)) << v;
  }
  EXPECT_GT(stats.value_loss, 0);
  EXPECT_NEAR(stats.entropy, std::log(2.0), 0.05);  // near-uniform over two actions
  EXPECT_GE(stats.clip_fraction, 0);
  EXPECT_LE(stats.clip_fraction, 1);
  EXPECT_LE(stats.explained_variance, 1);
  EXPECT_DOUBLE_EQ(stats.learning_rate, 1e-3);  // no annealing without total_iterations
  EXPECT_EQ(learner.iterations_done(), 1);
  EXPECT_NE(learner.weights(), before);
  EXPECT_EQ(learner.device(), torch::Device(torch::kCPU));
}

TEST_F(PpoTest, HookSeesEveryStepsFlatGradients) {
  rl::PpoConfig config = small_config();
  config.epochs = 3;
  config.minibatches = 5;
  rl::PpoLearner learner(config, 4, 2, torch::kCPU, 7);
  const std::int64_t count = rl::parameter_count(learner.agent());
  int calls = 0;
  const std::vector<float> data = synthetic(6, 3, 2);  // 18 samples: minibatches of 4 and 3
  learner.update({rl::TrajectoryView(data)}, [&](torch::Tensor& g) {
    ++calls;
    EXPECT_EQ(g.numel(), count);
    EXPECT_EQ(g.dim(), 1);
    EXPECT_EQ(g.scalar_type(), torch::kFloat);
    EXPECT_TRUE(g.is_contiguous());
    EXPECT_GT(g.abs().sum().item<float>(), 0.0f);
  });
  EXPECT_EQ(calls, 3 * 5);
}

TEST_F(PpoTest, HookThatZeroesGradientsLeavesWeights) {
  rl::PpoLearner learner(small_config(), 4, 2, torch::kCPU, 7);
  const std::vector<float> before = learner.weights();
  const std::vector<float> data = synthetic(8, 2, 3);
  learner.update({rl::TrajectoryView(data)}, [](torch::Tensor& g) { g.zero_(); });
  EXPECT_EQ(learner.weights(), before);
}

TEST_F(PpoTest, HookThatScalesGradientsChangesTheStep) {
  // Adam is invariant to a constant scale of every gradient, but not to halving only some
  // steps' gradients; the hook's changes must reach the optimiser.
  const std::vector<float> data = synthetic(8, 2, 4);
  rl::PpoLearner plain(small_config(), 4, 2, torch::kCPU, 7);
  rl::PpoLearner hooked(small_config(), 4, 2, torch::kCPU, 7);
  plain.update({rl::TrajectoryView(data)});
  int call = 0;
  hooked.update({rl::TrajectoryView(data)}, [&](torch::Tensor& g) {
    if (call++ % 2 == 1) g.mul_(0.1);
  });
  EXPECT_NE(plain.weights(), hooked.weights());
}

TEST_F(PpoTest, SameSeedAndDataGiveIdenticalWeights) {
  const std::vector<float> a = synthetic(8, 2, 5), b = synthetic(4, 3, 6);
  rl::PpoLearner one(small_config(), 4, 2, torch::kCPU, 11);
  rl::PpoLearner two(small_config(), 4, 2, torch::kCPU, 11);
  rl::PpoLearner other(small_config(), 4, 2, torch::kCPU, 12);
  EXPECT_EQ(one.weights(), two.weights());
  EXPECT_NE(one.weights(), other.weights());
  for (int i = 0; i < 2; ++i) {
    // Batches of different envs and steps go in one update.
    const rl::UpdateStats s1 = one.update({rl::TrajectoryView(a), rl::TrajectoryView(b)});
    const rl::UpdateStats s2 = two.update({rl::TrajectoryView(a), rl::TrajectoryView(b)});
    EXPECT_EQ(s1.samples, 16 + 12);
    EXPECT_EQ(s1.policy_loss, s2.policy_loss);
  }
  EXPECT_EQ(one.weights(), two.weights());
}

TEST_F(PpoTest, LearningRateAnnealsLinearly) {
  rl::PpoConfig config = small_config();
  config.total_iterations = 4;
  rl::PpoLearner learner(config, 4, 2, torch::kCPU, 7);
  const std::vector<float> data = synthetic(8, 2, 1);
  EXPECT_DOUBLE_EQ(learner.update({rl::TrajectoryView(data)}).learning_rate, 1e-3);
  EXPECT_DOUBLE_EQ(learner.update({rl::TrajectoryView(data)}).learning_rate, 0.75e-3);
  EXPECT_DOUBLE_EQ(learner.update({rl::TrajectoryView(data)}).learning_rate, 0.5e-3);
}

TEST_F(PpoTest, SavedStateRestoresTheLearnerExactly) {
  const std::vector<float> data = synthetic(8, 2, 8);
  rl::PpoConfig config = small_config();
  config.total_iterations = 10;
  rl::PpoLearner one(config, 4, 2, torch::kCPU, 21);
  one.update({rl::TrajectoryView(data)});  // Adam moments, the generator and the count move on
  const std::string state = one.save_state();

  rl::PpoLearner two(config, 4, 2, torch::kCPU, 99);
  two.load_state(state);
  EXPECT_EQ(two.iterations_done(), 1);
  EXPECT_EQ(two.weights(), one.weights());
  const rl::UpdateStats s1 = one.update({rl::TrajectoryView(data)});
  const rl::UpdateStats s2 = two.update({rl::TrajectoryView(data)});
  EXPECT_EQ(s1.policy_loss, s2.policy_loss);
  EXPECT_EQ(s1.learning_rate, s2.learning_rate);
  EXPECT_EQ(one.weights(), two.weights());

  // Without Adam's moments or the generator's state the next update would differ: a learner
  // given only the weights does not follow.
  rl::PpoLearner three(config, 4, 2, torch::kCPU, 99);
  rl::PpoLearner reference(config, 4, 2, torch::kCPU, 21);
  reference.load_state(state);
  three.set_weights(reference.weights());
  three.update({rl::TrajectoryView(data)});
  reference.update({rl::TrajectoryView(data)});
  EXPECT_NE(three.weights(), reference.weights());
}

TEST_F(PpoTest, DamagedStateThrowsAndLeavesTheLearner) {
  rl::PpoLearner learner(small_config(), 4, 2, torch::kCPU, 5);
  const std::vector<float> data = synthetic(8, 2, 9);
  learner.update({rl::TrajectoryView(data)});
  const std::string state = learner.save_state();
  const std::vector<float> weights = learner.weights();

  std::string flipped = state;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  const std::vector<std::string> damaged = {
      "",      "not a state", state.substr(0, state.size() / 2), state.substr(0, 16),
      flipped, state + "x"};
  rl::PpoLearner target(small_config(), 4, 2, torch::kCPU, 6);
  const std::vector<float> target_weights = target.weights();
  for (const auto& bytes : damaged) {
    try {
      target.load_state(bytes);
      ADD_FAILURE() << "no exception for " << bytes.size() << " bytes";
    } catch (const std::runtime_error& e) {
      EXPECT_TRUE(contains(e, "PPO learner state")) << e.what();
    }
  }
  EXPECT_EQ(target.weights(), target_weights);
  EXPECT_EQ(target.iterations_done(), 0);

  // A state of another agent's shape is refused too.
  rl::PpoLearner wide(small_config(), 6, 2, torch::kCPU, 5);
  try {
    wide.load_state(state);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(contains(e, "4 observations")) << e.what();
  }
  target.load_state(state);
  EXPECT_EQ(target.weights(), weights);
}

TEST_F(PpoTest, UpdateRejectsBadInput) {
  rl::PpoLearner learner(small_config(), 4, 2, torch::kCPU, 5);
  try {
    learner.update({});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e, "no trajectory")) << e.what();
  }
  const std::vector<float> tiny = synthetic(1, 3, 1);  // 3 samples, 4 minibatches
  try {
    learner.update({rl::TrajectoryView(tiny)});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e, "3 samples")) << e.what();
  }
  const std::vector<float> wide = synthetic(4, 2, 1, 5);
  const std::vector<float> good = synthetic(4, 2, 1);
  try {
    learner.update({rl::TrajectoryView(good), rl::TrajectoryView(wide)});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e, "batch 1")) << e.what();
    EXPECT_TRUE(contains(e, "5 floats")) << e.what();
  }
  std::vector<float> bad_action = synthetic(4, 2, 1);
  bad_action[rl::TrajectoryView::kHeader + 8 * 4 + 3] = 2.0f;  // the fourth action
  EXPECT_THROW(learner.update({rl::TrajectoryView(bad_action)}), std::invalid_argument);
  EXPECT_EQ(learner.iterations_done(), 0);
}

TEST_F(PpoTest, PolicyMovesTowardTheRewardedAction) {
  // A one-step bandit: every observation is the same, every episode ends after one step, action
  // 1 earns 1 and action 0 earns 0. Both actions are sampled equally, with the log-probabilities
  // of the current policy.
  rl::PpoConfig config = small_config();
  config.learning_rate = 3e-3;
  rl::PpoLearner learner(config, 4, 2, torch::kCPU, 13);
  const torch::Tensor state = torch::tensor({0.1f, -0.2f, 0.3f, 0.05f}).reshape({1, 4});
  auto prob_of_one = [&] {
    torch::NoGradGuard no_grad;
    return torch::softmax(learner.agent()->logits(state), -1)[0][1].item<double>();
  };
  const double start = prob_of_one();
  EXPECT_NEAR(start, 0.5, 0.05);
  const int envs = 32;
  for (int iteration = 0; iteration < 5; ++iteration) {
    torch::Tensor logp;
    {
      torch::NoGradGuard no_grad;
      logp = torch::log_softmax(learner.agent()->logits(state), -1)[0];
    }
    Parts p;
    p.steps = 1;
    p.envs = envs;
    p.obs_dim = 4;
    for (int m = 0; m < envs; ++m) {
      const int action = m % 2;
      for (int d = 0; d < 4; ++d) p.obs.push_back(state[0][d].item<float>());
      p.actions.push_back(static_cast<float>(action));
      p.logprobs.push_back(logp[action].item<float>());
      p.rewards.push_back(static_cast<float>(action));
      p.dones.push_back(1.0f);
      for (int d = 0; d < 4; ++d) p.last_obs.push_back(state[0][d].item<float>());
      p.last_dones.push_back(1.0f);
    }
    const std::vector<float> data = flatten(p);
    learner.update({rl::TrajectoryView(data)});
  }
  EXPECT_GT(prob_of_one(), start + 0.1) << "from " << start;
}

}  // namespace
