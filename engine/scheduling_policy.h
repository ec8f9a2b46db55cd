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

/// run_here: queue it here. forward: to the global scheduler (this rank cannot run it, its queue
/// is long, or its data is elsewhere). spill_back: this rank cannot start it now but another
/// rank has the resources free, so it goes there instead of waiting here.
enum class LocalDecision { run_here, forward, spill_back };

/// What a rank knows when it places a task that might have to wait.
struct SpillbackView {
  bool starts_now = false;      // the request fits what is free here once the queue took its share
  bool free_elsewhere = false;  // some other rank has it free (rank 0's view, or its hint)
};

/// How many times a task may be handed on because its rank was busy: enough to get past a
/// stale load view once, never a bounce between ranks forever.
inline constexpr int kMaxHandOns = 2;

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
/// A task that would wait here while another rank has its resources free is spilled back.
LocalDecision decide_locally(const ResourceSet& request, const ResourceSet& local_total,
                             std::uint64_t local_queued, std::uint64_t forward_threshold,
                             int local_rank = -1,
                             const std::vector<std::uint64_t>& input_bytes = {},
                             SpillbackView spill = {});

/// How many more tasks asking for `request` start on a rank now, once the tasks waiting or
/// assigned there took theirs (at most `cap`).
std::uint64_t free_slots(const ResourceSet& request, const RankLoad& rank,
                         std::uint64_t cap = 1024);

/// A rank other than `exclude` where `request` starts now, least loaded first (`hint` breaks
/// ties), or nullopt when every other rank is busy or too small.
std::optional<int> pick_free_rank(const ResourceSet& request, const std::vector<RankLoad>& ranks,
                                  int exclude, std::uint64_t hint = 0);

/// For each rank, how many tasks asking for `request` other ranks could start now: what a busy
/// rank may hand on.
std::vector<std::uint64_t> free_slots_elsewhere(const ResourceSet& request,
                                                const std::vector<RankLoad>& ranks);

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
