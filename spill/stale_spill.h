// Spill directories that jobs which ended without cleaning up (a rank killed, a node lost) left
// under a spill root. Each rank of a job records itself in its job's directory (owner-*); a
// directory all of whose owners ran on this host and have ended is garbage. Directories of jobs
// that still run, or whose owners ran on another host, are left alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace manta::spill {

struct StaleSpill {
  std::string path;
  std::uint64_t bytes = 0;
  bool removed = false;  // false: kept, and `why` says why
  std::string why;       // e.g. "its job's processes 12, 13 on host h have ended"
};

/// Looks at every `manta-*` directory under `root` (not below). With `remove`, deletes those
/// whose owners have all ended. Lists every directory looked at, removed or kept. Never throws.
std::vector<StaleSpill> find_stale_spill_directories(const std::string& root, bool remove);

}  // namespace manta::spill
