// CartPole against its equations of motion, integrated here independently of the class; its
// termination, truncation, reset and errors; and VectorEnv's auto-reset and episode bookkeeping
// against single CartPoles stepped by hand.
#include "cartpole.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using rl::CartPole;
using rl::CartPoleState;
using rl::VectorEnv;

// The cart-pole's equations as published (Barto, Sutton and Anderson 1983, friction left out as
// gym does), with the constants written out here rather than taken from the class:
//   theta'' = (g sin(th) + cos(th) (-F - mp l th'^2 sin(th)) / (mc + mp))
//             / (l (4/3 - mp cos^2(th) / (mc + mp)))
//   x''     = (F + mp l (th'^2 sin(th) - theta'' cos(th))) / (mc + mp)
// and explicit Euler on the vector (x, x', th, th'): s_next = s + tau * f(s).
struct Ref {
  std::array<double, 4> s;  // x, x_dot, theta, theta_dot
};

std::array<double, 4> derivative(const std::array<double, 4>& s, int action) {
  const double g = 9.8, mc = 1.0, mp = 0.1, l = 0.5;
  const double f = action == 1 ? 10.0 : -10.0;
  const double th = s[2], w = s[3];
  const double th_acc =
      (g * std::sin(th) + std::cos(th) * (-f - mp * l * w * w * std::sin(th)) / (mc + mp)) /
      (l * (4.0 / 3.0 - mp * std::cos(th) * std::cos(th) / (mc + mp)));
  const double x_acc = (f + mp * l * (w * w * std::sin(th) - th_acc * std::cos(th))) / (mc + mp);
  return {s[1], x_acc, w, th_acc};
}

void ref_step(Ref& r, int action) {
  const auto d = derivative(r.s, action);
  for (int i = 0; i < 4; ++i) r.s[i] += 0.02 * d[i];
}

std::array<double, 4> as_array(const CartPoleState& s) {
  return {s.x, s.x_dot, s.theta, s.theta_dot};
}

CartPoleState make_state(double x, double x_dot, double theta, double theta_dot) {
  CartPoleState s;
  s.x = x;
  s.x_dot = x_dot;
  s.theta = theta;
  s.theta_dot = theta_dot;
  return s;
}

// Keeps the pole up and the cart near the middle for the whole 500 steps (checked by the tests
// that use it): push towards where the pole leans, corrected by the cart's drift.
int balance(const CartPoleState& s) {
  const double u = 1.0 * s.x + 1.5 * s.x_dot + 20 * s.theta + 3 * s.theta_dot;
  return u > 0 ? 1 : 0;
}

const double kThetaLimit = 12 * std::numbers::pi / 180;

TEST(CartPole, FirstStepFromRestMatchesClosedForm) {
  // At rest with the pole upright and F = +10: theta'' = -600/41, x'' = 400/41 exactly.
  CartPole env(1);
  env.set_state(CartPoleState{});
  const CartPole::Step s = env.step(1);
  EXPECT_DOUBLE_EQ(env.state().x, 0.0);
  EXPECT_NEAR(env.state().x_dot, 8.0 / 41.0, 1e-15);
  EXPECT_DOUBLE_EQ(env.state().theta, 0.0);
  EXPECT_NEAR(env.state().theta_dot, -12.0 / 41.0, 1e-15);
  EXPECT_EQ(s.obs[1], static_cast<float>(env.state().x_dot));
  EXPECT_EQ(s.obs[3], static_cast<float>(env.state().theta_dot));
  EXPECT_EQ(s.reward, 1.0F);
  EXPECT_FALSE(s.terminated);
  EXPECT_FALSE(s.truncated);
  // The second step moves x and theta by tau times the first step's velocities (Euler uses the
  // old values).
  env.step(0);
  EXPECT_NEAR(env.state().x, 0.02 * 8.0 / 41.0, 1e-15);
  EXPECT_NEAR(env.state().theta, -0.02 * 12.0 / 41.0, 1e-15);
}

TEST(CartPole, TrajectoriesMatchReferenceIntegration) {
  const std::vector<CartPoleState> starts = {
      make_state(0, 0, 0, 0), make_state(0.03, -0.02, 0.04, 0.01), make_state(-1.0, 0.5, -0.1, 0.3),
      make_state(1.5, -0.8, 0.15, -0.6)};
  for (std::size_t k = 0; k < starts.size(); ++k) {
    CartPole env(k);
    env.set_state(starts[k]);
    Ref ref{as_array(starts[k])};
    std::uint32_t lcg = 12345U + static_cast<std::uint32_t>(k);
    for (int t = 0; t < 60; ++t) {
      lcg = lcg * 1664525U + 1013904223U;
      const int action = static_cast<int>((lcg >> 16) & 1U);
      const CartPole::Step s = env.step(action);
      ref_step(ref, action);
      const auto got = as_array(env.state());
      for (int i = 0; i < 4; ++i) {
        ASSERT_NEAR(got[i], ref.s[i], 1e-12 * (1 + std::abs(ref.s[i])))
            << "start " << k << " step " << t + 1 << " variable " << i;
        ASSERT_EQ(s.obs[i], static_cast<float>(got[i]));
      }
      const bool out = std::abs(ref.s[0]) > 2.4 || std::abs(ref.s[2]) > kThetaLimit;
      ASSERT_EQ(s.terminated, out) << "start " << k << " step " << t + 1;
      if (s.terminated) break;
    }
  }
}

TEST(CartPole, TerminatesWhenThePoleFallsPast12Degrees) {
  for (const double sign : {1.0, -1.0}) {
    CartPole env(3);
    // theta moves by tau * theta_dot = 0.01 rad: from 0.2 past 0.2094 rad.
    env.set_state(make_state(0, 0, sign * 0.2, sign * 0.5));
    const CartPole::Step s = env.step(sign > 0 ? 1 : 0);
    EXPECT_GT(std::abs(env.state().theta), kThetaLimit);
    EXPECT_TRUE(s.terminated);
    EXPECT_FALSE(s.truncated);
    EXPECT_EQ(s.reward, 1.0F);  // the terminating step is rewarded too
  }
  // Just inside stays running: 0.2 + 0.02 * 0.4 = 0.208 < 0.2094.
  CartPole env(3);
  env.set_state(make_state(0, 0, 0.2, 0.4));
  EXPECT_FALSE(env.step(1).terminated);
}

TEST(CartPole, TerminatesWhenTheCartLeavesTheTrack) {
  for (const double sign : {1.0, -1.0}) {
    CartPole env(4);
    env.set_state(make_state(sign * 2.39, sign * 1.0, 0, 0));
    const CartPole::Step s = env.step(sign > 0 ? 1 : 0);
    EXPECT_NEAR(env.state().x, sign * 2.41, 1e-12);
    EXPECT_TRUE(s.terminated);
    EXPECT_FALSE(s.truncated);
    EXPECT_EQ(s.reward, 1.0F);
  }
  CartPole env(4);
  env.set_state(make_state(2.39, 0.0, 0, 0));  // x does not move this step
  EXPECT_FALSE(env.step(1).terminated);
}

TEST(CartPole, BalancedEpisodeIsTruncatedAtExactly500Steps) {
  CartPole env(5);
  env.set_state(make_state(0.02, -0.01, 0.03, 0.02));
  for (int t = 1; t <= 500; ++t) {
    const CartPole::Step s = env.step(balance(env.state()));
    ASSERT_FALSE(s.terminated) << "step " << t;
    ASSERT_EQ(s.truncated, t == 500) << "step " << t;
    ASSERT_EQ(env.elapsed_steps(), t);
  }
  EXPECT_THROW(env.step(0), std::logic_error);
}

TEST(CartPole, SetStateKeepsTheStepCountOfARunningEpisode) {
  CartPole env(6);
  env.reset();
  for (int t = 1; t <= 499; ++t) {
    env.set_state(CartPoleState{});
    const CartPole::Step s = env.step(t % 2);
    ASSERT_FALSE(s.terminated || s.truncated) << "step " << t;
  }
  EXPECT_EQ(env.elapsed_steps(), 499);
  // Terminating on step 500 is a termination, not a truncation.
  env.set_state(make_state(2.39, 1.0, 0, 0));
  const CartPole::Step last = env.step(1);
  EXPECT_TRUE(last.terminated);
  EXPECT_FALSE(last.truncated);
  // After the end, set_state begins a new episode at step 0.
  env.set_state(CartPoleState{});
  EXPECT_EQ(env.elapsed_steps(), 0);
  EXPECT_NO_THROW(env.step(0));
}

TEST(CartPole, ResetDrawsEachVariableUniformlyInPlusMinus005) {
  CartPole env(7);
  std::array<double, 4> lo{1, 1, 1, 1}, hi{-1, -1, -1, -1}, sum{};
  const int n = 4000;
  for (int k = 0; k < n; ++k) {
    const CartPole::Obs o = env.reset();
    EXPECT_EQ(env.elapsed_steps(), 0);
    const auto s = as_array(env.state());
    for (int i = 0; i < 4; ++i) {
      ASSERT_GE(s[i], -0.05);
      ASSERT_LE(s[i], 0.05);
      ASSERT_EQ(o[i], static_cast<float>(s[i]));
      lo[i] = std::min(lo[i], s[i]);
      hi[i] = std::max(hi[i], s[i]);
      sum[i] += s[i];
    }
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_LT(lo[i], -0.049) << i;  // the whole range is covered
    EXPECT_GT(hi[i], 0.049) << i;
    EXPECT_NEAR(sum[i] / n, 0.0, 0.003) << i;  // centred (sd of the mean is about 0.00046)
  }
}

TEST(CartPole, SameSeedSameEpisodesAndDifferentSeedDifferent) {
  CartPole a(42), b(42), c(43);
  for (int episode = 0; episode < 3; ++episode) {
    EXPECT_EQ(a.reset(), b.reset());
    for (int t = 0; t < 20; ++t) {
      const auto sa = a.step(t % 3 == 0);
      const auto sb = b.step(t % 3 == 0);
      ASSERT_EQ(sa.obs, sb.obs);
      if (sa.terminated) break;
    }
  }
  CartPole a2(42);
  EXPECT_NE(a2.reset(), c.reset());
}

TEST(CartPole, StepBeforeResetOrAfterTheEndThrowsLogicError) {
  CartPole env(8);
  EXPECT_THROW(env.step(0), std::logic_error);
  env.set_state(make_state(2.39, 1.0, 0, 0));
  ASSERT_TRUE(env.step(1).terminated);
  try {
    env.step(1);
    FAIL() << "stepping after termination must throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("reset"), std::string::npos) << e.what();
  }
  env.reset();
  EXPECT_NO_THROW(env.step(1));
}

TEST(CartPole, ActionOtherThan0Or1ThrowsInvalidArgumentNamingIt) {
  CartPole env(9);
  env.reset();
  for (const int bad : {2, -1, 7}) {
    try {
      env.step(bad);
      FAIL() << "action " << bad << " must throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("action " + std::to_string(bad)), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(env.elapsed_steps(), 0);  // a refused action does not step
}

TEST(VectorEnv, MatchesCartPolesSteppedAndResetByHand) {
  const int m_envs = 5;
  const std::uint64_t seed = 100;
  VectorEnv venv(m_envs, seed);
  ASSERT_EQ(venv.size(), m_envs);
  ASSERT_EQ(venv.observations().size(), static_cast<std::size_t>(m_envs * CartPole::kObsDim));

  std::vector<CartPole> ref;
  std::vector<int> ref_len(m_envs, 0);
  for (int m = 0; m < m_envs; ++m) {
    ref.emplace_back(seed + static_cast<std::uint64_t>(m));
    const CartPole::Obs o = ref.back().reset();
    for (int d = 0; d < CartPole::kObsDim; ++d) {
      ASSERT_EQ(venv.observations()[m * CartPole::kObsDim + d], o[d]);
    }
  }

  std::vector<std::int64_t> actions(m_envs);
  std::vector<float> rewards(m_envs, -7), dones(m_envs, -7);
  std::vector<VectorEnv::Episode> expected, got;
  std::int64_t steps = 0;
  int truncations = 0;
  for (int t = 0; t < 3000; ++t) {
    for (int m = 0; m < m_envs; ++m) {
      // Env 0 balances (so its episodes reach the time limit); the others act by a fixed
      // pattern and fall.
      actions[m] = m == 0 ? balance(ref[0].state()) : (t / (m + 1)) % 2;
    }
    venv.step(actions, rewards, dones);
    steps += m_envs;
    for (int m = 0; m < m_envs; ++m) {
      const CartPole::Step s = ref[m].step(static_cast<int>(actions[m]));
      ++ref_len[m];
      CartPole::Obs next = s.obs;
      const bool ended = s.terminated || s.truncated;
      if (ended) {
        expected.push_back({static_cast<float>(ref_len[m]), ref_len[m]});
        truncations += s.truncated ? 1 : 0;
        ref_len[m] = 0;
        next = ref[m].reset();
      }
      ASSERT_EQ(rewards[m], 1.0F);
      ASSERT_EQ(dones[m], ended ? 1.0F : 0.0F) << "t " << t << " env " << m;
      for (int d = 0; d < CartPole::kObsDim; ++d) {
        ASSERT_EQ(venv.observations()[m * CartPole::kObsDim + d], next[d])
            << "t " << t << " env " << m;
      }
    }
    if (t % 700 == 0) {
      const auto f = venv.take_finished();
      got.insert(got.end(), f.begin(), f.end());
    }
  }
  const auto f = venv.take_finished();
  got.insert(got.end(), f.begin(), f.end());
  EXPECT_TRUE(venv.take_finished().empty());  // taken means cleared

  EXPECT_GE(truncations, 5);  // env 0 ran 3000 steps in 500-step episodes
  ASSERT_EQ(got.size(), expected.size());
  std::int64_t finished_steps = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].length, expected[k].length) << k;
    EXPECT_EQ(got[k].ret, expected[k].ret) << k;  // a reward of 1 per step
    finished_steps += got[k].length;
  }
  std::int64_t running = 0;
  for (const int len : ref_len) running += len;
  EXPECT_EQ(finished_steps, steps - running);
  EXPECT_GT(got.size(), 50U);
}

TEST(VectorEnv, EnvsAreSeededWithSeedPlusIndex) {
  VectorEnv a(3, 10), b(2, 11);
  // a's env 1 and b's env 0 share seed 11.
  for (int d = 0; d < CartPole::kObsDim; ++d) {
    EXPECT_EQ(a.observations()[CartPole::kObsDim + d], b.observations()[d]);
  }
}

TEST(VectorEnv, SizesAndActionsAreChecked) {
  EXPECT_THROW(VectorEnv(0, 1), std::invalid_argument);
  EXPECT_THROW(VectorEnv(-3, 1), std::invalid_argument);

  VectorEnv venv(3, 1);
  const std::vector<float> before(venv.observations().begin(), venv.observations().end());
  std::vector<std::int64_t> actions(3, 0), short_actions(2, 0);
  std::vector<float> rewards(3), dones(3), long_buf(4);
  auto expect_message = [&](auto&& call, const std::string& word) {
    try {
      call();
      FAIL() << "expected std::invalid_argument mentioning " << word;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_message([&] { venv.step(short_actions, rewards, dones); }, "actions");
  expect_message([&] { venv.step(actions, long_buf, dones); }, "rewards");
  expect_message([&] { venv.step(actions, rewards, long_buf); }, "dones");
  actions[2] = 2;
  expect_message([&] { venv.step(actions, rewards, dones); }, "action 2");
  // Nothing moved: no env was stepped by a refused call.
  const std::vector<float> after(venv.observations().begin(), venv.observations().end());
  EXPECT_EQ(before, after);
  actions[2] = 1;
  EXPECT_NO_THROW(venv.step(actions, rewards, dones));
  EXPECT_NE(before, std::vector<float>(venv.observations().begin(), venv.observations().end()));
}

}  // namespace
