// A job whose result depends on every step it took: named actors hold state (vectors of a few
// MiB, one a map of strings), the driver folds what they return, and a kept object feeds every
// step. Run whole, or stopped after a checkpoint and resumed from it (on any number of ranks),
// it must print the same digest.
//
//   checkpoint_job STEPS [MIB_PER_ACTOR]                 the whole run (or resumed with
//                                                        --manta-restore=DIR)
//   checkpoint_job STEPS MIB kill K DIR                  checkpoint in DIR after K steps, then
//                                                        SIGKILL itself
//   checkpoint_job STEPS MIB pause MS                    sleep MS per step, calling
//                                                        manta::checkpoint_point() between steps
#include <manta/manta.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

std::uint64_t fnv(const void* data, std::size_t size, std::uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/// State of a few MiB: each step adds the kept weights, scaled by the step, to every element.
class Accumulator {
 public:
  Accumulator() = default;
  explicit Accumulator(std::size_t n, int seed) : data_(n) {
    for (std::size_t i = 0; i < n; ++i) data_[i] = static_cast<std::int64_t>(i % 1000) * seed;
  }
  static Accumulator* create(std::uint64_t n, int seed) { return new Accumulator(n, seed); }

  std::int64_t add(int step, const std::vector<std::int64_t>& weights) {
    for (std::size_t i = 0; i < data_.size(); ++i) {
      data_[i] += weights[i % weights.size()] * (step % 7 + 1);
    }
    ++steps_;
    return data_[static_cast<std::size_t>(step) % data_.size()];
  }
  std::uint64_t digest() const {
    return fnv(&steps_, sizeof steps_, fnv(data_.data(), data_.size() * sizeof(std::int64_t)));
  }

  template <class A>
  void save(A& a) const {
    a << data_ << steps_;
  }
  template <class A>
  void load(A& a) {
    a >> data_ >> steps_;
  }

 private:
  std::vector<std::int64_t> data_;
  std::int64_t steps_ = 0;
};

/// State held in a map of strings, saved through Boost's serialize.
class WordCounter {
 public:
  static WordCounter* create() { return new WordCounter; }
  std::int64_t add(int step) {
    counts_["w" + std::to_string(step * step % 101)] += step;
    return static_cast<std::int64_t>(counts_.size());
  }
  std::uint64_t digest() const {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (const auto& [word, n] : counts_) h = fnv(&n, sizeof n, fnv(word.data(), word.size(), h));
    return h;
  }
  template <class A>
  void serialize(A& a, unsigned) {
    a& counts_;
  }

 private:
  std::map<std::string, std::int64_t> counts_;
};

/// The driver's own state: where it is and what it folded so far.
struct Progress {
  int step = 0;
  std::uint64_t folded = 0;
  template <class A>
  void serialize(A& a, unsigned) {
    a& step& folded;
  }
};

constexpr int kAccumulators = 4;

}  // namespace

MANTA_REMOTE(Accumulator::create, &Accumulator::add, &Accumulator::digest, WordCounter::create,
             &WordCounter::add, &WordCounter::digest);

int main(int argc, char** argv) {
  manta::init(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s STEPS [MIB] [kill K DIR | pause MS]\n", argv[0]);
    return 2;
  }
  const int steps = std::atoi(argv[1]);
  const double mib = argc > 2 ? std::atof(argv[2]) : 4;
  const std::string mode = argc > 3 ? argv[3] : "";
  const int kill_at = mode == "kill" ? std::atoi(argv[4]) : -1;
  const std::string dir = mode == "kill" ? argv[5] : "";
  const int pause_ms = mode == "pause" ? std::atoi(argv[4]) : 0;

  Progress p;
  std::vector<manta::ActorHandle<Accumulator>> accs;
  manta::ActorHandle<WordCounter> words;
  manta::ObjectRef<std::vector<std::int64_t>> weights;
  if (manta::restored()) {
    p = manta::restored_state<Progress>().value();
    for (int k = 0; k < kAccumulators; ++k) {
      accs.push_back(manta::get_actor<Accumulator>("acc-" + std::to_string(k)).value());
    }
    words = manta::get_actor<WordCounter>("words").value();
    weights = manta::restored_object<std::vector<std::int64_t>>("weights");
    std::printf("resumed at step %d from %s on %d ranks\n", p.step, manta::restored_from().c_str(),
                manta::world_size());
  } else {
    const auto n = static_cast<std::uint64_t>(mib * (1 << 20) / sizeof(std::int64_t));
    for (int k = 0; k < kAccumulators; ++k) {
      accs.push_back(manta::actor(Accumulator::create)
                         .name("acc-" + std::to_string(k))
                         .resources({{"CPU", 0.25}})
                         .remote(n, k + 1));
    }
    words = manta::actor(WordCounter::create).name("words").remote();
    std::vector<std::int64_t> w(1024);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<std::int64_t>(i * 7 % 13);
    weights = manta::put(std::move(w));
    manta::keep_in_checkpoint("weights", weights);
  }
  manta::on_checkpoint<Progress>([&] { return p; });

  for (; p.step < steps; ++p.step) {
    manta::checkpoint_point();  // ends the job here when the checkpoint signal came
    if (p.step == kill_at) {
      const manta::CheckpointInfo info = manta::checkpoint(dir);
      std::printf("checkpointed at step %d: %zu actors, %llu bytes in %.3f s\n", p.step,
                  info.actors.size(), static_cast<unsigned long long>(info.bytes), info.seconds);
      std::fflush(stdout);
      std::raise(SIGKILL);  // the job dies as a node failure would end it
    }
    std::vector<manta::ObjectRef<std::int64_t>> parts;
    for (auto& a : accs) parts.push_back(a.task(&Accumulator::add).remote(p.step, weights));
    parts.push_back(words.task(&WordCounter::add).remote(p.step));
    for (auto& r : parts) p.folded = p.folded * 31 + static_cast<std::uint64_t>(*manta::get(r));
    if (pause_ms > 0) {
      std::printf("step %d\n", p.step);
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    }
  }
  std::uint64_t digest = p.folded;
  for (auto& a : accs) digest = digest * 31 + *manta::get(a.task(&Accumulator::digest).remote());
  digest = digest * 31 + *manta::get(words.task(&WordCounter::digest).remote());
  std::printf("done: %d steps, digest %016llx\n", steps, static_cast<unsigned long long>(digest));
  manta::shutdown();
  return 0;
}
