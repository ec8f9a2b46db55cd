// A parameter server: one actor holds a model's weights; four worker tasks, spread over the ranks,
// each pull the weights, compute a gradient on their own shard of the data and push it back, for
// 100 rounds. The rounds are synchronous (the server applies the mean gradient of a round once all
// workers have pushed it), so the result does not depend on timing and has a closed form.
//   mpirun -n 4 ./manta_parameter_server
#include <manta/manta.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <vector>

namespace {

constexpr int kWorkers = 4;
constexpr int kRounds = 100;
constexpr double kRate = 0.04;
const std::vector<double> kTruth = {1.0, -2.0, 0.5, 3.0};  // the weights the data were made from
constexpr int kDim = 4;

// Worker k's shard: 4 rows x (k+1)/2 * H, H the 4x4 Hadamard matrix, and labels y = x . truth.
// Its loss is the mean squared error 1/(2*4) |X w - y|^2; as H^T H = 4 I, its gradient is
// (k+1)^2 / 4 * (w - truth), which is what makes the final weights easy to predict.
struct Shard {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
};

Shard make_shard(int k) {
  const double h[kDim][kDim] = {{1, 1, 1, 1}, {1, -1, 1, -1}, {1, 1, -1, -1}, {1, -1, -1, 1}};
  Shard s;
  for (const auto& row : h) {
    std::vector<double> x(kDim);
    double y = 0;
    for (int j = 0; j < kDim; ++j) {
      x[j] = (k + 1) / 2.0 * row[j];
      y += x[j] * kTruth[j];
    }
    s.x.push_back(x);
    s.y.push_back(y);
  }
  return s;
}

// Gradient of the shard's mean squared error at w: 1/n X^T (X w - y).
std::vector<double> gradient(const Shard& s, const std::vector<double>& w) {
  std::vector<double> g(kDim, 0.0);
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    double residual = -s.y[i];
    for (int j = 0; j < kDim; ++j) residual += s.x[i][j] * w[j];
    for (int j = 0; j < kDim; ++j) g[j] += s.x[i][j] * residual / static_cast<double>(s.x.size());
  }
  return g;
}

// The actor. It runs with max_concurrency(kWorkers + 1): a worker's pull waits inside the actor
// until its round is ready, so the actor must take further calls (the other workers' pushes)
// meanwhile. Calls then run on several threads at once, hence the mutex.
class ParameterServer {
 public:
  static ParameterServer* create(int workers, double rate) {
    return new ParameterServer(workers, rate);
  }

  // The weights at the start of `round`: waits until every worker has pushed round - 1.
  std::vector<double> pull(int round) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return round_ >= round; });
    return weights_;
  }

  // A worker's gradient for `round`; the last one of the round applies their mean.
  void push(int round, std::vector<double> g) {
    std::lock_guard lock(mutex_);
    if (round != round_) throw std::logic_error("a gradient for the wrong round");
    for (int j = 0; j < kDim; ++j) sum_[j] += g[j];
    if (++pushed_ < workers_) return;
    for (int j = 0; j < kDim; ++j) weights_[j] -= rate_ * sum_[j] / workers_;
    std::fill(sum_.begin(), sum_.end(), 0.0);
    pushed_ = 0;
    ++round_;
    ready_.notify_all();
  }

 private:
  ParameterServer(int workers, double rate) : workers_(workers), rate_(rate) {}

  const int workers_;
  const double rate_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<double> weights_ = std::vector<double>(kDim, 0.0);  // start at zero
  std::vector<double> sum_ = std::vector<double>(kDim, 0.0);
  int pushed_ = 0;
  int round_ = 0;
};

// A worker task: it gets the server's handle as an argument, like any other value.
int worker(manta::ActorHandle<ParameterServer> server, int k) {
  const Shard shard = make_shard(k);
  for (int round = 0; round < kRounds; ++round) {
    auto w = manta::get(server.task(&ParameterServer::pull).remote(round));
    // No need to wait for the push: calls from one rank start in the order it made them, so the
    // next pull comes after it.
    server.task(&ParameterServer::push).remote(round, gradient(shard, *w));
  }
  return manta::rank();
}

}  // namespace

MANTA_REMOTE(ParameterServer::create, &ParameterServer::pull, &ParameterServer::push, worker);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  const int last = manta::world_size() - 1;
  auto server = manta::actor(ParameterServer::create)
                    .max_concurrency(kWorkers + 1)
                    .on_rank(last)
                    .remote(kWorkers, kRate);

  std::vector<manta::ObjectRef<int>> workers;
  for (int k = 0; k < kWorkers; ++k)
    workers.push_back(manta::task(worker).on_rank(k % manta::world_size()).remote(server, k));
  std::printf("workers ran on ranks");
  for (auto& rank : manta::get(workers)) std::printf(" %d", *rank);
  std::printf(", the server on rank %d\n", last);

  // The mean gradient is mean_k((k+1)^2) / 4 * (w - truth), so each round multiplies the error
  // w - truth by (1 - rate * c), c = mean_k((k+1)^2) / 4; from w = 0 that leaves, after R rounds,
  // w = truth * (1 - (1 - rate * c)^R).
  double c = 0;
  for (int k = 0; k < kWorkers; ++k) c += (k + 1) * (k + 1) / 4.0 / kWorkers;
  const double left = std::pow(1 - kRate * c, kRounds);
  const auto w = *manta::get(server.task(&ParameterServer::pull).remote(kRounds));
  double worst = 0;
  for (int j = 0; j < kDim; ++j) {
    const double expected = kTruth[j] * (1 - left);
    worst = std::max(worst, std::abs(w[j] - expected));
    std::printf("w[%d] = %.12f  expected %.12f  (truth %.1f)\n", j, w[j], expected, kTruth[j]);
  }
  const bool ok = worst < 1e-12;
  std::printf("%d rounds of %d workers: weights %s the closed form (largest difference %.1e)\n",
              kRounds, kWorkers, ok ? "match" : "DO NOT match", worst);
  manta::shutdown();
  return ok ? 0 : 1;
}
