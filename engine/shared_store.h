// The node-shared object store's set-up (docs/objects.md): which ranks share a node, the segment
// directory checked against the stores that will live in it, segments that killed jobs left
// removed, and this rank's large blocks moved into shared segments (or not, and why).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/config.h"

namespace manta::engine {

/// A node index per rank: ranks on one host share a node, or, with `node_size` > 0, every
/// `node_size` consecutive ranks of a host do (a multi-node layout tried on one machine).
std::vector<int> node_map(const std::vector<std::string>& hosts, int node_size);

struct SharedStoreStart {
  bool enabled = false;
  std::string warning;               // auto mode fell back to private memory: why
  std::string error;                 // require mode cannot be met: init fails with this
  std::vector<std::string> removed;  // segments of ended jobs removed from the directory
};

/// Turns on shared segments for this rank's large blocks when `config` asks for them and the
/// directory holds `host_ranks` stores of `capacity` bytes. `clean`: this rank removes the
/// segments of processes on this host that have ended (one rank per host does).
SharedStoreStart start_shared_store(const Config& config, const std::string& job_id, int rank,
                                    int host_ranks, std::uint64_t capacity, bool clean);

/// Removes this rank's segment names; blocks in use stay mapped until freed.
void stop_shared_store();

/// Blocks this large and up live in shared segments (smaller ones stay private, and ranks of a
/// node copy them).
inline constexpr std::uint64_t kSharedMinBytes = std::uint64_t{4} << 20;

/// The prefix every Manta segment name starts with (for `manta clean` and the tests).
inline constexpr const char* kSegmentPrefix = "manta-shm.";

}  // namespace manta::engine
