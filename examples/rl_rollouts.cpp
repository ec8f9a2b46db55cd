// Rollouts on CPU ranks, training on a GPU rank, in one MPI world: the shape of an RL job.
// A learner actor asks for a GPU, so it lands on a rank that offers one; rollout actors ask for
// the `rollout` resource, which only the CPU ranks offer. Each iteration the rollouts play a toy
// bandit with the current policy (an ObjectRef that every rollout reads) and the learner moves the
// policy toward the better arm. The policy's final value has a closed form, checked at the end.
//
//   mpirun -n 1 ./manta_rl_rollouts --manta-resources=GPU=1 : -n 2 ./manta_rl_rollouts
//   --manta-resources=rollout=2 (slurm/rl_heterogeneous.sbatch does the same with srun in a
//   heterogeneous job)
#include <manta/manta.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr int kSteps = 1000;  // bandit pulls per rollout per iteration
constexpr double kRate = 0.5;

struct Batch {
  int rank = 0;
  double reward_arm0 = 0;  // mean reward seen on each arm
  double reward_arm1 = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& rank& reward_arm0& reward_arm1;
  }
};

// Arm 1 pays 1, arm 0 pays 0: deterministic rewards keep the result exact.
struct Rollout {
  static Rollout* create(int seed) { return new Rollout{seed}; }
  Batch run(double p_arm1) {
    Batch b;
    b.rank = manta::rank();
    int pulls1 = 0;
    for (int i = 0; i < kSteps; ++i) {
      // A low-discrepancy sequence instead of random numbers: the same on every run.
      const double u = std::fmod((i + seed) * 0.6180339887498949, 1.0);
      pulls1 += u < p_arm1 ? 1 : 0;
    }
    b.reward_arm1 = pulls1 > 0 ? 1.0 : 0.0;
    b.reward_arm0 = 0.0;
    return b;
  }
  int seed;
};

struct Learner {
  static Learner* create(double p0) { return new Learner{p0}; }
  // One policy-gradient-like step: move probability toward the arm with the higher reward.
  double update(const std::vector<Batch>& batches) {
    double advantage = 0;
    for (const auto& b : batches) advantage += b.reward_arm1 - b.reward_arm0;
    advantage /= static_cast<double>(batches.size());
    p = p + kRate * advantage * (1 - p);
    return p;
  }
  int where() { return manta::rank(); }
  double p;
};

}  // namespace

MANTA_REMOTE(Rollout::create, &Rollout::run, Learner::create, &Learner::update, &Learner::where);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 5;
  const int rollouts = argc > 2 ? std::atoi(argv[2]) : 2;

  auto learner = manta::actor(Learner::create).resources({{"GPU", 1}}).remote(0.5);
  std::vector<manta::ActorHandle<Rollout>> workers;
  for (int i = 0; i < rollouts; ++i) {
    workers.push_back(manta::actor(Rollout::create).resources({{"rollout", 1}}).remote(i));
  }
  double p = 0.5, expected = 0.5;
  std::set<int> rollout_ranks;
  for (int it = 0; it < iterations; ++it) {
    std::vector<manta::ObjectRef<Batch>> batches;
    for (auto& w : workers) batches.push_back(w.task(&Rollout::run).remote(p));
    std::vector<Batch> got;
    for (auto& b : batches) {
      got.push_back(*manta::get(b));
      rollout_ranks.insert(got.back().rank);
    }
    p = *manta::get(learner.task(&Learner::update).remote(got));
    expected = expected + kRate * (1 - expected);
    std::printf("iteration %d: p(better arm) = %.4f\n", it + 1, p);
  }
  const int learner_rank = *manta::get(learner.task(&Learner::where).remote());
  const bool apart = rollout_ranks.count(learner_rank) == 0;
  const bool exact = std::abs(p - expected) < 1e-12;
  std::printf(
      "rl: %d iterations, learner on rank %d (GPU), %d rollout actors on %zu rollout "
      "rank(s), apart: %s, policy %s\n",
      iterations, learner_rank, rollouts, rollout_ranks.size(), apart ? "yes" : "no",
      exact ? "as expected" : "WRONG");
  manta::shutdown();
  return apart && exact ? 0 : 1;
}
