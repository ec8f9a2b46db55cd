// Where a rank's worker and progress threads run, and the calls that pin them and its memory.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gpu/topology.h"

namespace manta::gpu {

enum class BindMode { none, cores };

/// "none" or "cores"; anything else throws std::invalid_argument naming --manta-bind.
BindMode parse_bind_mode(const std::string& text);

/// cores when the launcher bound the process (it asked for placement), none when it did not
/// (the user chose --bind-to none or launched bare).
BindMode default_bind_mode(const Topology& t);

/// The --manta-bind value: "" or "auto" gives default_bind_mode(t), else parse_bind_mode.
BindMode resolve_bind_mode(const std::string& option, const Topology& t);

struct ThreadPlan {
  std::vector<std::string> workers;  // cpuset list string per worker ("" each when unbound)
  std::string progress;              // cpuset for the progress thread ("" = leave it)
  std::string summary;               // one line for logs: "bound: 4 workers on PUs 0-3, ..."
};

/// The rank's cores are its launcher cpuset when bound, else its equal share of the node's
/// cores by local_rank (as cores_for_rank counts them). Workers take the first PU of distinct
/// cores, round-robin when there are more workers than cores. The progress thread:
///   with SMT, on the second PU of the rank's last core (a sibling, never a worker's PU);
///   without SMT, on the last core when workers <= cores - 1 (workers then skip that core),
///   else floating over the rank's cores; with a single one-PU core it shares that PU.
ThreadPlan plan_threads(const Topology& t, int local_rank, int local_size, int workers,
                        BindMode mode);

/// Pins the calling thread to `cpuset` (a list string; "" leaves it as it is) with hwloc on
/// this machine's topology, loaded once on first use. False with `*error` set on failure.
/// Thread-safe.
bool bind_current_thread(const std::string& cpuset, std::string* error);

/// Binds the pages of [addr, addr+len) to NUMA node `numa_node` (os index) before they are
/// first touched. A no-op for -1, an unknown node or when the OS refuses.
void bind_memory_to_numa(void* addr, std::size_t len, int numa_node);

}  // namespace manta::gpu
