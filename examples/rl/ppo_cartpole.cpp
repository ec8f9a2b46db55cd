// PPO that solves CartPole-v1, the shape of a large RL job: runner actors step environments on
// CPU ranks with the current policy, learner actors train on GPU ranks, and every iteration the
// learner's weights are stored once and read by every runner through its rank's copy.
//
//   mpirun -n 4 build/examples/rl/manta_ppo_cartpole          # trains to mean return 475
//   ... --manta-checkpoint-dir=DIR   (checkpoint on the signal, exit 75)
//   ... --manta-restore=DIR          (resume from it)
//
// See --help for the options and docs/rl.md for the design.
#include <manta/manta.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "learner.h"
#include "learning_curve.h"
#include "options.h"
#include "runner.h"

MANTA_REMOTE(rl::Runner::create, &rl::Runner::collect, &rl::Runner::rank, rl::Learner::create,
             &rl::Learner::update, &rl::Learner::weights, &rl::Learner::sync_weights,
             &rl::Learner::where, &rl::Learner::iterations_done);

namespace {

using Clock = std::chrono::steady_clock;
using manta::ActorHandle;
using rl::Learner;
using rl::Runner;

/// What the driver keeps across a checkpoint: where training is, and its history.
struct DriverState {
  int iteration = 0;
  std::int64_t env_steps = 0;
  std::int64_t episodes = 0;
  double seconds = 0;  // training time before this run of the job
  int learners = 0;
  bool on_gpu = false;
  rl::RecentReturns recent{100};
  rl::LearningCurve curve;
  template <class A>
  void serialize(A& a, unsigned) {
    a& iteration& env_steps& episodes& seconds& learners& on_gpu& recent& curve;
  }
};

std::string learner_name(int k) { return "ppo-learner-" + std::to_string(k); }

/// Room for K learners: a placement group of {GPU: 1} bundles, one per rank; CPU bundles, with a
/// line saying so, when the job has no GPUs to give.
struct LearnerBundles {
  manta::PlacementGroup pg;
  manta::ResourceMap unit;
  bool on_gpu = true;
};

LearnerBundles reserve_learner_bundles(int learners) {
  const auto strict_spread = manta::PlacementStrategy::strict_spread;
  LearnerBundles b{{}, {{"GPU", 1}}, true};
  b.pg = manta::placement_group(std::vector<manta::ResourceMap>(learners, b.unit), strict_spread);
  try {
    if (!b.pg.wait(120)) {
      throw std::runtime_error("no " + std::to_string(learners) +
                               " GPUs on distinct ranks came free in 120 s");
    }
  } catch (const manta::UnschedulableError&) {
    std::printf("learners: this job has no %d GPU(s) on distinct ranks; learning on CPU bundles\n",
                learners);
    b.unit = {{"CPU", 1}};
    b.on_gpu = false;
    b.pg = manta::placement_group(std::vector<manta::ResourceMap>(learners, b.unit), strict_spread);
    if (!b.pg.wait(120)) {
      throw std::runtime_error("the learners' " + std::to_string(learners) +
                               " CPU bundles were not reserved in 120 s: use fewer --learners");
    }
  }
  return b;
}

/// R runners spread over the ranks, one CPU each (and the runner resource when asked).
std::vector<ActorHandle<Runner>> make_runners(const rl::Options& o, int count) {
  manta::ResourceMap unit = {{"CPU", 1}};
  if (!o.runner_resource.empty()) unit[o.runner_resource] = 1;
  const manta::PlacementGroup pg = manta::placement_group(
      std::vector<manta::ResourceMap>(count, unit), manta::PlacementStrategy::spread);
  if (!pg.wait(120)) {
    throw std::runtime_error(std::to_string(count) +
                             " runner bundles of one CPU were not reserved in 120 s: this job "
                             "has fewer free CPUs; use fewer --runners or more ranks");
  }
  std::vector<ActorHandle<Runner>> runners;
  for (int r = 0; r < count; ++r) {
    runners.push_back(manta::actor(Runner::create)
                          .resources(unit)
                          .placement_group(pg, r)
                          .max_restarts(o.max_restarts)
                          .remote(r, o.envs, o.seed));
  }
  return runners;
}

/// The learners' reports of one iteration, merged, with the checks a broken run would fail.
struct Iteration {
  rl::LearnerReport first;  // learner 0's losses (all learners hold the same weights)
  std::vector<float> returns;
  std::int64_t samples = 0;
  double learner_seconds = 0;
};

Iteration run_iteration(const rl::Options& o, std::vector<ActorHandle<Runner>>& runners,
                        std::vector<ActorHandle<Learner>>& learners) {
  // One stored object per iteration: every runner reads it through its own rank's copy.
  const auto weights = learners[0].task(&Learner::weights).remote();
  std::vector<std::vector<manta::ObjectRef<manta::Array<float>>>> shares(learners.size());
  for (std::size_t r = 0; r < runners.size(); ++r) {
    shares[r % learners.size()].push_back(
        runners[r].task(&Runner::collect).remote(weights, o.steps));
  }
  std::vector<manta::ObjectRef<rl::LearnerReport>> reports;
  for (std::size_t k = 0; k < learners.size(); ++k) {
    reports.push_back(learners[k].task(&Learner::update).remote(shares[k]));
  }
  Iteration it;
  for (std::size_t k = 0; k < reports.size(); ++k) {
    const auto report = manta::get(reports[k]);
    if (k == 0) it.first = *report;
    it.returns.insert(it.returns.end(), report->episode_returns.begin(),
                      report->episode_returns.end());
    it.samples += report->samples;
    it.learner_seconds = std::max(it.learner_seconds, report->seconds);
  }
  const std::int64_t expected = static_cast<std::int64_t>(runners.size()) * o.envs * o.steps;
  if (it.samples != expected) {
    throw std::runtime_error("the learners trained on " + std::to_string(it.samples) +
                             " samples, the runners were asked for " + std::to_string(expected));
  }
  for (const double v : {it.first.policy_loss, it.first.value_loss, it.first.entropy}) {
    if (!std::isfinite(v)) throw std::runtime_error("a loss is not finite: training diverged");
  }
  return it;
}

/// Learners and runners made (or found again after a restart), ready to train.
struct Setup {
  std::vector<ActorHandle<Learner>> learners;
  std::vector<ActorHandle<Runner>> runners;
};

/// --runners, or one runner per CPU the learners leave (each rank offers at least one).
int runner_count(const rl::Options& o, const DriverState& st) {
  const int cpu_learners = st.on_gpu ? 0 : st.learners;
  return o.runners > 0 ? o.runners : std::max(1, manta::world_size() - cpu_learners);
}

Setup set_up(const rl::Options& o, DriverState& st) {
  Setup s;
  if (manta::restored()) {
    st = manta::restored_state<DriverState>().value();
    if (st.learners != o.learners) {
      throw std::invalid_argument("the checkpoint in " + manta::restored_from() + " holds " +
                                  std::to_string(st.learners) + " learners: run with --learners " +
                                  std::to_string(st.learners));
    }
    for (int k = 0; k < st.learners; ++k) {
      s.learners.push_back(manta::get_actor<Learner>(learner_name(k)).value());
    }
    std::printf("resumed from %s at iteration %d: %lld env steps, mean return %.1f\n",
                manta::restored_from().c_str(), st.iteration, static_cast<long long>(st.env_steps),
                st.recent.mean());
  } else {
    st.learners = o.learners;
    const LearnerBundles bundles = reserve_learner_bundles(o.learners);
    st.on_gpu = bundles.on_gpu;
    rl::LearnerSettings settings;
    settings.seed = o.seed;
    settings.ppo.learning_rate = o.learning_rate;
    settings.ppo.epochs = o.epochs;
    settings.ppo.minibatches = o.minibatches;
    // The learning rate falls to 0 over the budget, as CleanRL anneals it.
    const std::int64_t batch = std::int64_t{runner_count(o, st)} * o.envs * o.steps;
    settings.ppo.total_iterations = static_cast<int>((o.max_env_steps + batch - 1) / batch);
    for (int k = 0; k < o.learners; ++k) {
      s.learners.push_back(manta::actor(Learner::create)
                               .name(learner_name(k))
                               .resources(bundles.unit)
                               .placement_group(bundles.pg, k)
                               .remote(settings));
    }
  }
  s.runners = make_runners(o, runner_count(o, st));
  if (s.learners.size() > 1) {
    manta::collective::create_group(rl::kLearnerGroup, s.learners);
    std::vector<manta::ObjectRef<void>> synced;
    for (auto& l : s.learners) synced.push_back(l.task(&Learner::sync_weights).remote());
    for (auto& r : synced) manta::get(r);
  }
  std::string where;
  for (auto& l : s.learners) where += " [" + *manta::get(l.task(&Learner::where).remote()) + "]";
  std::string ranks;
  for (auto& r : s.runners)
    ranks += " " + std::to_string(*manta::get(r.task(&Runner::rank).remote()));
  std::printf(
      "PPO on CartPole-v1: %zu runners x %d envs x %d steps = %lld samples per iteration; "
      "runners on ranks%s; learners%s\n",
      s.runners.size(), o.envs, o.steps,
      static_cast<long long>(s.runners.size()) * o.envs * o.steps, ranks.c_str(), where.c_str());
  std::fflush(stdout);
  return s;
}

void print_progress(const DriverState& st, const Iteration& it, double iteration_seconds) {
  std::printf(
      "iter %5d | env steps %8lld | %7.0f steps/s | mean return %6.1f (%zu ep) | loss pi %+.4f "
      "v %.3f ent %.3f kl %.4f | lr %.2e\n",
      st.iteration, static_cast<long long>(st.env_steps),
      static_cast<double>(it.samples) / iteration_seconds, st.recent.mean(), st.recent.count(),
      it.first.policy_loss, it.first.value_loss, it.first.entropy, it.first.approx_kl,
      it.first.learning_rate);
  std::fflush(stdout);
}

/// Learners that allreduce their gradients take the same steps: their weights must be equal.
void check_learners_agree(std::vector<ActorHandle<Learner>>& learners) {
  if (learners.size() < 2) return;
  const auto first = manta::get(learners[0].task(&Learner::weights).remote());
  for (std::size_t k = 1; k < learners.size(); ++k) {
    const auto other = manta::get(learners[k].task(&Learner::weights).remote());
    if (!(*other == *first)) {
      throw std::runtime_error("learner " + std::to_string(k) +
                               " holds other weights than learner 0: the allreduce failed");
    }
  }
  std::printf("the %zu learners hold the same %zu weights\n", learners.size(), first->size());
}

int train(const rl::Options& o) {
  DriverState st;
  Setup s = set_up(o, st);
  const std::int64_t batch = static_cast<std::int64_t>(s.runners.size()) * o.envs * o.steps;
  const auto start = Clock::now();
  const double before = st.seconds;
  const auto elapsed = [&] {
    return before + std::chrono::duration<double>(Clock::now() - start).count();
  };
  manta::on_checkpoint<DriverState>([&] {
    DriverState saved = st;
    saved.seconds = elapsed();
    return saved;
  });

  bool solved = false;
  while (!solved && st.env_steps < o.max_env_steps &&
         (o.iterations == 0 || st.iteration < o.iterations)) {
    // At the checkpoint signal this writes the job's state and ends it (exit code 75).
    manta::checkpoint_point();
    if (st.iteration == o.kill_runner_at) {
      std::printf("fault drill: killing runner 0 before iteration %d\n", st.iteration);
      s.runners[0].kill(false);
    }
    const auto began = Clock::now();
    const Iteration it = run_iteration(o, s.runners, s.learners);
    ++st.iteration;
    st.env_steps += batch;
    st.episodes += static_cast<std::int64_t>(it.returns.size());
    for (const float r : it.returns) st.recent.add(r);
    st.curve.add({st.iteration, st.env_steps, elapsed(), st.recent.mean(), st.episodes});
    print_progress(st, it, std::chrono::duration<double>(Clock::now() - began).count());
    solved = st.recent.count() >= st.recent.capacity() && st.recent.mean() >= o.target;
  }

  const double seconds = elapsed();
  check_learners_agree(s.learners);
  st.curve.write_csv(o.out + ".csv");
  st.curve.write_png(o.out + ".png", "PPO on CartPole-v1 (seed " + std::to_string(o.seed) + ")",
                     o.target);
  std::printf("learning curve: %s.csv, %s.png\n", o.out.c_str(), o.out.c_str());
  if (solved) {
    std::printf(
        "solved: mean return %.1f >= %.0f over the last 100 episodes after %lld env "
        "steps, %.1f s, %d iterations (seed %llu)\n",
        st.recent.mean(), o.target, static_cast<long long>(st.env_steps), seconds, st.iteration,
        static_cast<unsigned long long>(o.seed));
    return 0;
  }
  if (o.iterations > 0 && st.iteration >= o.iterations) {
    std::printf("stopped after %d iterations as asked: %lld env steps, %.1f s, mean return %.1f\n",
                st.iteration, static_cast<long long>(st.env_steps), seconds, st.recent.mean());
    return 0;
  }
  std::printf("not solved: mean return %.1f < %.0f after the budget of %lld env steps (%.1f s)\n",
              st.recent.mean(), o.target, static_cast<long long>(o.max_env_steps), seconds);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  manta::init(argc, argv);
  rl::Options o;
  try {
    o = rl::parse_options(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    manta::shutdown();
    return 2;
  }
  if (o.help) {
    std::printf("%s", rl::usage(argv[0]).c_str());
    manta::shutdown();
    return 0;
  }
  int code = 0;
  try {
    code = train(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ppo_cartpole: %s\n", e.what());
    code = 1;
  }
  manta::shutdown();
  return code;
}
