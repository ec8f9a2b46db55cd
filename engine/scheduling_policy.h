// The scheduling decisions, as pure functions of what a rank knows, so they can be unit tested.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/resources.h"

namespace manta::engine {

/// What the global scheduler knows of one rank.
struct RankLoad {
  ResourceSet total;           // what the rank offers in all
  ResourceSet available;       // free, as last reported
  std::uint64_t queued = 0;    // tasks waiting there for a worker, as last reported
  std::uint64_t assigned = 0;  // tasks sent there since its last report
};

enum class LocalDecision { run_here, forward };

/// Inputs smaller than this on every rank are moved rather than followed.
inline constexpr std::uint64_t kLocalityMinBytes = std::uint64_t{1} << 20;
/// How many more queued tasks per CPU the rank holding a task's inputs may have than the least
/// loaded rank and still get the task.
inline constexpr double kLocalityMaxExtraLoad = 4.0;

/// The rank holding most of a task's input bytes (at least kLocalityMinBytes), or -1.
/// `input_bytes[r]`: bytes of the task's arguments held by rank r (spilled ones weighted less
/// by the caller, since reading them back costs a disk read).
int heaviest_input_rank(const std::vector<std::uint64_t>& input_bytes);

/// Bottom-up: run where submitted while this rank could ever run the task, its queue is short
/// and no other rank holds more of its input bytes; otherwise hand it to the global scheduler.
LocalDecision decide_locally(const ResourceSet& request, const ResourceSet& local_total,
                             std::uint64_t local_queued, std::uint64_t forward_threshold,
                             int local_rank = -1,
                             const std::vector<std::uint64_t>& input_bytes = {});

/// The rank the global scheduler sends a task to: among ranks whose totals fit, those where the
/// request is free once the tasks already waiting or assigned there took theirs, least loaded
/// per CPU first; if none is free, the least loaded that fits (the task waits there). `hint`
/// breaks ties (rotate it so equal ranks share work).
/// Locality: the rank holding most of the input bytes wins when the request is free there, or
/// its load is at most kLocalityMaxExtraLoad tasks per CPU above the best rank's.
/// nullopt: no rank can ever run it.
std::optional<int> pick_rank(const ResourceSet& request, const std::vector<RankLoad>& ranks,
                             std::uint64_t hint = 0,
                             const std::vector<std::uint64_t>& input_bytes = {});

/// True when some rank's totals fit the request.
bool feasible_anywhere(const ResourceSet& request, const std::vector<ResourceSet>& totals);

}  // namespace manta::engine
