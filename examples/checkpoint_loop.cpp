// A long computation that outlives its batch job: stopped by the checkpoint signal, it resumes
// where it stopped when run again, on the same or another number of ranks.
//
// Four named actors ("part-0" .. "part-3") each sum one block of integers per iteration and keep
// their running totals; the driver keeps the iteration it is at. Between iterations the driver
// calls manta::checkpoint_point(): once the checkpoint signal has come (SIGUSR1 by default;
// slurm/checkpoint.sbatch forwards Slurm's --signal), Manta writes the actors' states and the
// driver's to DIR/checkpoint.h5 (--manta-checkpoint-dir=DIR) and the job ends with exit code 75
// (manta::kCheckpointExitCode). Started again with --manta-restore=DIR, the actors come back
// with their totals and the driver with its iteration. At the end the totals are checked
// against the closed form: the job exits 0 only when they agree, so a lost, repeated or
// misaligned iteration fails it.
//
//   manta_checkpoint_loop ITERATIONS [MS_PER_ITERATION] --manta-checkpoint-dir=DIR
//                         [--manta-restore=DIR]
#include <manta/manta.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kParts = 4;                // actors, each one block per iteration
constexpr std::int64_t kBlock = 100000;  // integers in a block

/// One share of the computation: the sum of its blocks so far and how many it has summed.
/// Checkpointable: save/load and a default constructor.
class Part {
 public:
  Part() = default;
  explicit Part(int index) : index_(index) {}
  static Part* create(int index) { return new Part(index); }

  /// Sums this part's block of `iteration`. The driver and the actor must agree on where they
  /// are (both come from the same checkpoint): a mismatch is an error, not a wrong total.
  std::int64_t step(int iteration, int pause_ms) {
    if (iteration != done_) {
      throw std::logic_error("part " + std::to_string(index_) + ": asked for iteration " +
                             std::to_string(iteration) + " after " + std::to_string(done_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));  // stands for real work
    const std::int64_t block = std::int64_t{iteration} * kParts + index_;
    for (std::int64_t i = block * kBlock; i < (block + 1) * kBlock; ++i) total_ += i % 1000;
    ++done_;
    return total_;
  }
  std::int64_t total() const { return total_; }
  int iterations() const { return done_; }

  template <class A>
  void save(A& a) const {
    a << index_ << done_ << total_;
  }
  template <class A>
  void load(A& a) {
    a >> index_ >> done_ >> total_;
  }

 private:
  int index_ = 0;
  int done_ = 0;
  std::int64_t total_ = 0;
};

/// The driver's state: the next iteration to run.
struct Progress {
  int iteration = 0;
  template <class A>
  void serialize(A& a, unsigned) {
    a& iteration;
  }
};

std::string part_name(int k) { return "part-" + std::to_string(k); }

}  // namespace

MANTA_REMOTE(Part::create, &Part::step, &Part::total, &Part::iterations);

int main(int argc, char** argv) {
  manta::init(argc, argv);  // takes the --manta-* settings out of argv
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s ITERATIONS [MS_PER_ITERATION] --manta-checkpoint-dir=DIR "
                 "[--manta-restore=DIR]\n",
                 argv[0]);
    manta::shutdown();
    return 2;
  }
  const int iterations = std::atoi(argv[1]);
  const int pause_ms = argc > 2 ? std::atoi(argv[2]) : 100;

  Progress p;
  std::vector<manta::ActorHandle<Part>> parts;
  if (manta::restored()) {
    p = manta::restored_state<Progress>().value();
    for (int k = 0; k < kParts; ++k) parts.push_back(manta::get_actor<Part>(part_name(k)).value());
    std::printf("resumed from iteration %d of %d on %d ranks (checkpoint in %s)\n", p.iteration,
                iterations, manta::world_size(), manta::restored_from().c_str());
  } else {
    for (int k = 0; k < kParts; ++k) {
      parts.push_back(manta::actor(Part::create).name(part_name(k)).remote(k));
    }
  }
  std::fflush(stdout);
  manta::on_checkpoint<Progress>([&] { return p; });

  bool warned = false;
  for (; p.iteration < iterations; ++p.iteration) {
    // With --manta-checkpoint-dir, this does not return once the signal came: the job ends here
    // with exit code 75, its state on disk. Without one there is nowhere to save it; go on.
    if (manta::checkpoint_point() && !warned) {
      std::printf("checkpoint signal at iteration %d, but no --manta-checkpoint-dir: going on\n",
                  p.iteration);
      warned = true;
    }
    std::vector<manta::ObjectRef<std::int64_t>> running;
    for (auto& part : parts)
      running.push_back(part.task(&Part::step).remote(p.iteration, pause_ms));
    for (auto& r : running) manta::get(r);
  }

  std::int64_t total = 0;
  bool aligned = true;
  for (auto& part : parts) {
    total += *manta::get(part.task(&Part::total).remote());
    aligned = aligned && *manta::get(part.task(&Part::iterations).remote()) == iterations;
  }
  // Every block of kBlock consecutive integers holds each residue mod 1000 kBlock / 1000 times.
  const std::int64_t expected = std::int64_t{iterations} * kParts * (kBlock / 1000) * 499500;
  std::printf("done: %d iterations on %d ranks, total %lld (expected %lld)%s\n", iterations,
              manta::world_size(), static_cast<long long>(total), static_cast<long long>(expected),
              aligned ? "" : "; the parts disagree on the count");
  manta::shutdown();
  return total == expected && aligned ? 0 : 1;
}
