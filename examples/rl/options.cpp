#include "options.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace rl {
namespace {

template <class T>
T number(std::string_view option, std::string_view text, T low, T high) {
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < low || v > high) {
    std::ostringstream range;
    range << low << " to " << high;  // 0 to 500, not 0.000000 to 500.000000
    throw std::invalid_argument(std::string(option) + " takes a number from " + range.str() +
                                ", not '" + std::string(text) + "'");
  }
  return v;
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  using Setter = std::function<void(std::string_view, std::string_view)>;
  const auto integer = [](int& field, int low, int high) -> Setter {
    return [&field, low, high](std::string_view n, std::string_view v) {
      field = number<int>(n, v, low, high);
    };
  };
  const std::map<std::string_view, Setter> options = {
      {"--runners", integer(o.runners, 1, 100000)},
      {"--envs", integer(o.envs, 1, 100000)},
      {"--steps", integer(o.steps, 1, 100000)},
      {"--learners", integer(o.learners, 1, 4096)},
      {"--epochs", integer(o.epochs, 1, 1000)},
      {"--minibatches", integer(o.minibatches, 1, 100000)},
      {"--iterations", integer(o.iterations, 1, 100000000)},
      {"--kill-runner-at", integer(o.kill_runner_at, 0, 100000000)},
      {"--max-restarts", integer(o.max_restarts, 0, 1000)},
      {"--learning-rate",
       [&](std::string_view n, std::string_view v) {
         o.learning_rate = number<double>(n, v, 1e-9, 1.0);
       }},
      {"--seed",
       [&](std::string_view n, std::string_view v) {
         o.seed = number<std::uint64_t>(n, v, 0, ~std::uint64_t{0});
       }},
      {"--target",
       [&](std::string_view n, std::string_view v) { o.target = number<double>(n, v, 0, 500); }},
      {"--max-env-steps",
       [&](std::string_view n, std::string_view v) {
         o.max_env_steps = number<std::int64_t>(n, v, 1, std::int64_t{1} << 50);
       }},
      {"--runner-resource",
       [&](std::string_view n, std::string_view v) {
         if (v.empty()) throw std::invalid_argument(std::string(n) + " takes a resource name");
         o.runner_resource = v;
       }},
      {"--out",
       [&](std::string_view n, std::string_view v) {
         if (v.empty()) throw std::invalid_argument(std::string(n) + " takes a path prefix");
         o.out = v;
       }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      continue;
    }
    std::string_view value;
    const std::size_t eq = arg.find('=');
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const auto it = options.find(arg);
    if (it == options.end()) {
      throw std::invalid_argument("unknown option '" + std::string(argv[i]) + "' (see --help)");
    }
    if (eq == std::string_view::npos) {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    it->second(arg, value);
  }
  // The curve is written at the end: a place it cannot go is said now, not after the training.
  const std::filesystem::path dir = std::filesystem::path(o.out).parent_path();
  const std::string where = dir.empty() ? "." : dir.string();
  std::error_code ec;
  std::string why;
  if (!std::filesystem::is_directory(where, ec)) {
    why = std::filesystem::exists(where, ec) ? "not a directory" : "no such directory";
  } else if (::access(where.c_str(), W_OK) != 0) {
    why = std::strerror(errno);
  }
  if (!why.empty()) {
    throw std::invalid_argument("--out " + o.out +
                                ": the learning curve files cannot be written in " + where + " (" +
                                why + "); give a writable directory");
  }
  return o;
}

std::string usage(const char* program) {
  return std::string("usage: mpirun -n RANKS ") + program + R"( [options] [--manta-...]

PPO on CartPole-v1: runner actors step environments on CPU ranks, learner actors train on GPU
ranks (CPU ranks when the job has no GPU). Exits 0 once the mean return over the last 100
episodes reaches the target, 1 when the env-step budget runs out first, 75 after a checkpoint
(--manta-checkpoint-dir and the checkpoint signal); --manta-restore=DIR resumes.

  --runners N          runner actors, one CPU each (default: ranks minus CPU learners)
  --envs M             CartPoles per runner (default 4)
  --steps T            steps per env per iteration (default 32)
  --learners K         learner actors, one GPU each, gradients allreduced (default 1)
  --epochs E           PPO epochs per iteration (default 4)
  --minibatches B      minibatches per epoch (default 4)
  --learning-rate LR   Adam's, annealed to 0 over the budget (default 2.5e-4)
  --seed S             (default 1)
  --target R           mean return that ends training (default 475)
  --max-env-steps N    the budget (default 500000)
  --iterations N       stop after N iterations and exit 0 (short runs)
  --kill-runner-at I   kill runner 0 before iteration I; it restarts (a fault drill)
  --max-restarts N     restarts of each runner (default 3)
  --runner-resource R  runners also hold 1 of resource R (keep them off learner ranks)
  --out PREFIX         learning curve files PREFIX.csv and PREFIX.png (default ppo_cartpole)
)";
}

}  // namespace rl
