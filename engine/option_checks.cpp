#include "engine/option_checks.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <stdexcept>

#include "engine/gpu_pool.h"
#include "engine/task_env.h"
#include "engine/text.h"

namespace manta::engine {
namespace {

[[noreturn]] void refuse(const CallName& call, const std::string& option,
                         const std::string& range) {
  throw std::invalid_argument(fmt::format("{}.{}: {}", call.to_string(), option, range));
}

void check_on_rank(int on_rank, int world_size, const CallName& call) {
  if (on_rank == -1 || (on_rank >= 0 && on_rank < world_size)) return;
  refuse(call, fmt::format("on_rank({})", on_rank),
         fmt::format("expected a rank from 0 to {} (the job has {} rank{}), or -1 to let the "
                     "scheduler choose",
                     world_size - 1, world_size, world_size == 1 ? "" : "s"));
}

void check_env(const EnvVars& env, const CallName& call) {
  for (const auto& [name, value] : env) {
    if (std::string why = invalid_env_name(name); !why.empty()) {
      refuse(call, fmt::format("env({{\"{}\", \"{}\"}})", name, value), why);
    }
  }
}

}  // namespace

std::string CallName::to_string() const {
  return function.empty() ? std::string(api) : fmt::format("{}({})", api, function);
}

void check_resources(const ResourceMap& resources, const CallName& call) {
  for (const auto& [name, amount] : resources) {
    if (name.empty()) {
      refuse(call, "resources", "a resource has an empty name; name it, e.g. {\"GPU\", 1}");
    }
    if (!std::isfinite(amount) || amount < 0) {
      refuse(call, fmt::format("resources({{\"{}\", {}}})", name, amount),
             "an amount must be a finite number of at least 0 (e.g. 0.5 or 2)");
    }
    if (name == "GPU") {
      if (std::string why = GpuPool::invalid_amount(amount); !why.empty()) {
        refuse(call, fmt::format("resources({{\"GPU\", {}}})", amount), why);
      }
    }
  }
}

void check_task_options(const TaskOptions& options, int world_size, const CallName& call) {
  check_resources(options.resources, call);
  check_on_rank(options.on_rank, world_size, call);
  if (options.max_retries < 0) {
    refuse(call, fmt::format("max_retries({})", options.max_retries),
           "expected a number of retries of at least 0 (there is no unlimited setting)");
  }
  // A negative number passed as bytes arrives as nearly 2^64.
  if (options.memory >= (std::uint64_t{1} << 62)) {
    refuse(call, fmt::format("memory({})", options.memory),
           "expected bytes below 4 EiB (was a negative number passed?)");
  }
  check_env(options.env, call);
}

void check_actor_options(const ActorOptions& options, int world_size, const CallName& call) {
  check_resources(options.resources, call);
  check_on_rank(options.on_rank, world_size, call);
  if (options.max_concurrency < 1 || options.max_concurrency > kMaxActorConcurrency) {
    refuse(call, fmt::format("max_concurrency({})", options.max_concurrency),
           fmt::format("expected 1 to {} calls at once (each runs on its own thread)",
                       kMaxActorConcurrency));
  }
  if (options.max_restarts < 0) {
    refuse(call, fmt::format("max_restarts({})", options.max_restarts),
           "expected a number of restarts of at least 0 (there is no unlimited setting)");
  }
  if (options.name.empty() && !options.name_space.empty()) {
    refuse(call, fmt::format("name(\"\", \"{}\")", options.name_space),
           "a namespace was given without a name; name the actor, or leave the namespace out");
  }
  check_env(options.env, call);
}

std::uint64_t node_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

std::string check_store_fits_node(std::uint64_t store_bytes, const std::string& given,
                                  int local_ranks, std::uint64_t node_bytes,
                                  const std::string& host) {
  if (node_bytes == 0 || local_ranks < 1) return {};  // the memory is unknown: nothing to check
  const auto ranks = static_cast<std::uint64_t>(local_ranks);
  // Compared as a quotient, so that a huge store cannot overflow the product.
  if (store_bytes <= node_bytes / ranks) return {};
  return fmt::format(
      "--manta-object-store-memory={}: {} rank{} on node {} would need {} for their object "
      "stores, but the node has {} of memory; each rank's share is {}: give each store less "
      "(leaving the setting out gives it 30 % of the share), or start fewer ranks per node",
      given, local_ranks, local_ranks == 1 ? "" : "s", host,
      store_bytes > ~std::uint64_t{0} / ranks ? "more than 16 EiB"
                                              : human_bytes(store_bytes * ranks),
      human_bytes(node_bytes), human_bytes(node_bytes / ranks));
}

}  // namespace manta::engine
