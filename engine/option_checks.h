// Checks of what users ask for: task and actor options, resource amounts, and the object store's
// size against the node's memory. A value out of range fails where it was written (.remote(),
// init) with a message naming the option, the value and the valid range, instead of being
// misread later (a negative CPU amount would add capacity, on_rank(-5) would run anywhere).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <manta/actor.h>
#include <manta/options.h>

namespace manta::engine {

/// Most threads one actor may run calls on (max_concurrency): each gets its own thread.
constexpr int kMaxActorConcurrency = 4096;

/// What is submitted, e.g. "manta::task" and "add" for "manta::task(add)". Views only: the
/// name is spelled out only when a check fails, so a valid submission allocates nothing here.
struct CallName {
  CallName(const char* whole) : api(whole) {}         // NOLINT: a plain string names the whole call
  CallName(const std::string& whole) : api(whole) {}  // NOLINT
  CallName(std::string_view api_name, std::string_view function_name)
      : api(api_name), function(function_name) {}
  [[nodiscard]] std::string to_string() const;
  std::string_view api;
  std::string_view function;  // empty: `api` is the whole name
};

/// Throw std::invalid_argument naming the call, the option, the value and the valid range.
void check_resources(const ResourceMap& resources, const CallName& call);
void check_task_options(const TaskOptions& options, int world_size, const CallName& call);
void check_actor_options(const ActorOptions& options, int world_size, const CallName& call);

/// Physical memory of this node (0 if unknown).
std::uint64_t node_memory_bytes();

/// Empty if `local_ranks` stores of `store_bytes` each fit in `node_bytes` of memory; else why
/// not and what to do. `given` is the setting as the user wrote it.
std::string check_store_fits_node(std::uint64_t store_bytes, const std::string& given,
                                  int local_ranks, std::uint64_t node_bytes,
                                  const std::string& host);

}  // namespace manta::engine
