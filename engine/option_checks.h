// Checks of what users ask for: task and actor options, resource amounts, and the object store's
// size against the node's memory. A value out of range fails where it was written (.remote(),
// init) with a message naming the option, the value and the valid range, instead of being
// misread later (a negative CPU amount would add capacity, on_rank(-5) would run anywhere).
#pragma once

#include <cstdint>
#include <string>

#include <manta/actor.h>
#include <manta/options.h>

namespace manta::engine {

/// Most threads one actor may run calls on (max_concurrency): each gets its own thread.
constexpr int kMaxActorConcurrency = 4096;

/// Throw std::invalid_argument. `call` names what is submitted, e.g. "manta::task(add)".
void check_resources(const ResourceMap& resources, const std::string& call);
void check_task_options(const TaskOptions& options, int world_size, const std::string& call);
void check_actor_options(const ActorOptions& options, int world_size, const std::string& call);

/// Physical memory of this node (0 if unknown).
std::uint64_t node_memory_bytes();

/// Empty if `local_ranks` stores of `store_bytes` each fit in `node_bytes` of memory; else why
/// not and what to do. `given` is the setting as the user wrote it.
std::string check_store_fits_node(std::uint64_t store_bytes, const std::string& given,
                                  int local_ranks, std::uint64_t node_bytes,
                                  const std::string& host);

}  // namespace manta::engine
