// What the PPO example's runtime costs (examples/rl): rollout throughput of runner actors on 1, 2
// and 4 ranks against the same runner code in one process without Manta, the time to deliver
// the learner's weights to every runner against MPI_Bcast of the same bytes, and the learner's
// training rate on the CPU (and on a GPU when LibTorch has CUDA and one is visible).
//
//   mpirun -n 4 --oversubscribe build/bench/manta_rl_bench [--quick] [--json FILE]
// (bench/run_rl_bench.sh adds the learning runs: the full training over three seeds.)
#include <manta/manta.h>
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "mpi_baselines.h"
#include "ppo.h"
#include "report.h"
#include "rollout.h"
#include "runner.h"
#include "trajectory.h"

namespace {

using Clock = std::chrono::steady_clock;
// The rollout's shape: per runner, as the example's defaults (--envs M, --steps T change them).
int kEnvs = 4;
int kSteps = 32;
// Rates are the best of this many runs: 4 ranks on 2 cores share them unevenly run to run.
constexpr int kRounds = 5;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<float> initial_weights() {
  torch::manual_seed(1);
  rl::Agent agent(rl::CartPole::kObsDim, rl::CartPole::kActions);
  return rl::get_weights(agent);
}

/// Reads the weights a runner would load: every float, so the whole object has arrived.
struct WeightReader {
  static WeightReader* create() { return new WeightReader; }
  double read(const manta::Array<float>& w) {
    return std::accumulate(w.data(), w.data() + w.size(), 0.0);
  }
};

// The runner code alone, on this rank, before the runtime starts: env steps per second.
double rollout_rate_without_manta(const std::vector<float>& weights, int iterations) {
  torch::set_num_threads(1);
  rl::RolloutWorker worker(kEnvs, 7);
  worker.collect(weights, kSteps);  // warm up
  const auto t0 = Clock::now();
  std::size_t floats = 0;
  for (int i = 0; i < iterations; ++i) floats += worker.collect(weights, kSteps).size();
  if (floats == 0) std::abort();
  return static_cast<double>(iterations) * kEnvs * kSteps / seconds_since(t0);
}

// MPI_Bcast of the weights from rank 0, until every rank has them (a barrier after). Median s.
double mpi_bcast_seconds(std::size_t floats, int iterations) {
  std::vector<float> buf(floats, 1.0f);
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = Clock::now();
    MPI_Bcast(buf.data(), static_cast<int>(floats), MPI_FLOAT, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    times.push_back(seconds_since(t0));
  }
  manta::bench::quiet_barrier();
  return median(times);
}

// R runners, runner i on rank (i + 1) % world (so one runner is off the driver's rank): the
// weights put once per iteration, every trajectory fetched by the driver, as a learner would.
double rollout_rate_with_manta(int runners, const std::vector<float>& weights, int iterations) {
  std::vector<manta::ActorHandle<rl::Runner>> rs;
  for (int i = 0; i < runners; ++i) {
    rs.push_back(manta::actor(rl::Runner::create)
                     .on_rank((i + 1) % manta::world_size())
                     .remote(i, kEnvs, std::uint64_t{7}));
  }
  const auto round = [&] {
    const auto w = manta::put(manta::Array<float>(std::span<const float>(weights)));
    std::vector<manta::ObjectRef<manta::Array<float>>> out;
    for (auto& r : rs) out.push_back(r.task(&rl::Runner::collect).remote(w, kSteps));
    for (const auto& t : manta::get(out)) rl::TrajectoryView view({t->data(), t->size()});
  };
  round();  // the runners are made and warm
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) round();
  const double rate =
      static_cast<double>(iterations) * runners * kEnvs * kSteps / seconds_since(t0);
  for (auto& r : rs) r.kill();
  return rate;
}

// A fresh put of the weights per iteration, read by one reader on every rank. Median s.
double weight_delivery_seconds(const std::vector<float>& weights, int iterations) {
  std::vector<manta::ActorHandle<WeightReader>> readers;
  for (int r = 0; r < manta::world_size(); ++r) {
    readers.push_back(manta::actor(WeightReader::create).on_rank(r).remote());
  }
  std::vector<double> times;
  for (int i = 0; i <= iterations; ++i) {
    const auto t0 = Clock::now();
    const auto w = manta::put(manta::Array<float>(std::span<const float>(weights)));
    std::vector<manta::ObjectRef<double>> sums;
    for (auto& r : readers) sums.push_back(r.task(&WeightReader::read).remote(w));
    manta::get(sums);
    if (i > 0) times.push_back(seconds_since(t0));  // the first makes the readers
  }
  for (auto& r : readers) r.kill();
  return median(times);
}

// Samples per second one PpoLearner trains on (4 epochs x 4 minibatches) on `device`.
double learner_rate(torch::Device device, int iterations) {
  rl::RolloutWorker worker(kEnvs * 4, 11);
  const std::vector<float> w = initial_weights();
  const manta::Array<float> t = worker.collect(w, kSteps * 4);
  const std::vector<rl::TrajectoryView> batch = {rl::TrajectoryView({t.data(), t.size()})};
  rl::PpoLearner learner(rl::PpoConfig{}, rl::CartPole::kObsDim, rl::CartPole::kActions, device, 1);
  learner.update(batch);  // warm up
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) learner.update(batch);
  return static_cast<double>(iterations) * static_cast<double>(batch[0].samples()) /
         seconds_since(t0);
}

}  // namespace

MANTA_REMOTE(rl::Runner::create, &rl::Runner::collect, &rl::Runner::rank, WeightReader::create,
             &WeightReader::read);

int main(int argc, char** argv) {
  const manta::bench::Setup s = manta::bench::start(argc, argv);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--envs") kEnvs = std::max(1, std::atoi(argv[i + 1]));
    if (std::string(argv[i]) == "--steps") kSteps = std::max(1, std::atoi(argv[i + 1]));
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::vector<float> weights = initial_weights();
  const int iters = s.quick ? 20 : 300;

  // Baselines first, with nothing else running.
  double alone = 0;
  for (int round = 0; round < kRounds && rank == 0; ++round) {
    alone = std::max(alone, rollout_rate_without_manta(weights, iters));
  }
  manta::bench::quiet_barrier();
  const double bcast = mpi_bcast_seconds(weights.size(), s.quick ? 50 : 1000);

  manta::init(argc, argv);
  if (manta::rank() == 0) {
    std::vector<manta::bench::Row> rows;
    // This machine's speed drifts between runs: the best of kRounds of each, alternated.
    double in_driver = 0, with1 = 0;
    for (int round = 0; round < kRounds; ++round) {
      in_driver = std::max(in_driver, rollout_rate_without_manta(weights, iters));
      with1 = std::max(with1, rollout_rate_with_manta(1, weights, iters));
    }
    rows.push_back({"rollout, runner code in the driver (runtime idle)", in_driver, "steps/s", 0,
                    "", "", true});
    const double overhead = 1 - with1 / alone;
    rows.push_back({fmt::format("rollout {}x{}, runner code alone (no Manta)", kEnvs, kSteps),
                    alone, "steps/s", 0, "", "", true});
    rows.push_back({"rollout, 1 runner rank", with1, "steps/s", 0, "", "", true});
    rows.push_back({"rollout overhead at 1 runner rank", 100 * overhead, "%", 0, "", "<= 10",
                    overhead <= 0.10});
    for (int r : {2, 4}) {
      if (r > manta::world_size()) continue;
      rows.push_back({fmt::format("rollout, {} runner ranks", r),
                      rollout_rate_with_manta(r, weights, iters), "steps/s", 0, "", "", true});
    }
    const double deliver = weight_delivery_seconds(weights, s.quick ? 50 : 500);
    rows.push_back({fmt::format("weights ({} KiB) to {} ranks", weights.size() * 4 / 1024,
                                manta::world_size()),
                    1e6 * deliver, "us", 1e6 * bcast, "MPI_Bcast", "", true});
    rows.push_back({"learner, CPU", learner_rate(torch::kCPU, s.quick ? 3 : 20), "samples/s", 0, "",
                    "", true});
    if (torch::cuda::is_available()) {
      rows.push_back({"learner, GPU",
                      learner_rate(torch::Device(torch::kCUDA, 0), s.quick ? 3 : 20), "samples/s",
                      0, "", "", true});
    }
    manta::bench::print_report("PPO on CartPole: rollouts, weights and the learner", s.world,
                               s.quick, 0, rows, s.json_path);
  }
  manta::shutdown();
  MPI_Finalize();
  return 0;
}
