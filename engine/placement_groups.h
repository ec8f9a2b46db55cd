// Placement groups (docs/placement_groups.md). Every rank plays up to four roles:
// - creator: makes the group's id and its ready object (which it owns, as a task's return),
//   sends pg_create to rank 0, and sets the object when rank 0 answers with pg_state;
// - submitter: checks a task or actor aimed at a bundle and rewrites its request to the bundle's
//   resource names (bundle_resources.h); such work always goes through rank 0;
// - rank 0: keeps the table (placement_group_table.h), commits bundles on their hosts, holds
//   tasks and actor creations whose group is not ready yet, and sends each to its bundle's rank;
// - host: on pg_commit takes the bundles' resources out of its free pool and offers them under
//   the bundle names, then confirms (pg_committed), so a task sent after the group is ready finds
//   them; on pg_release kills the group's actors, fails its queued tasks and gives the resources
//   back (those running tasks hold come back when they end).
//
// Handles: pg_create, pg_committed, pg_remove, pg_lookup (rank 0); pg_commit, pg_release (host);
// pg_state (creator and askers).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/detail/runtime_api.h>
#include <manta/memory.h>
#include <manta/placement_group.h>

#include "engine/placement_group_table.h"
#include "engine/rank_context.h"
#include "engine/resources.h"
#include "engine/scheduling_policy.h"
#include "engine/task_spec.h"

namespace manta::engine {

class Dispatcher;
class LocalScheduler;
class Ownership;
class Timeline;
struct CallName;

class PlacementGroups {
 public:
  struct Hooks {
    // Rank 0.
    std::function<void(int rank, const TaskPtr&)> send_task;  // run it on `rank` (set on_rank)
    std::function<void(const TaskPtr&, ErrorInfo)> fail_task;
    std::function<void(const TaskPtr&)> place_actor;  // a held creation: its group is ready
    std::function<void(const TaskPtr&, std::shared_ptr<const ErrorInfo>)> fail_actor;
    std::function<std::vector<RankLoad>()> loads;  // the global scheduler's view
    // Host.
    std::function<std::vector<ActorId>(const PlacementGroupId&)> actors_in;
    std::function<void(const ActorId&, std::shared_ptr<const ErrorInfo>)> kill_actor;
    /// A task or creation of a group gone from this rank, taken from (or refused by) the queue.
    std::function<void(const TaskPtr&, std::shared_ptr<const ErrorInfo>)> fail_queued;
  };

  /// `totals`: what each rank offers (rank 0 keeps the table over them).
  PlacementGroups(RankContext& ctx, Ownership& ownership, LocalScheduler& local,
                  std::vector<ResourceSet> totals, Timeline* timeline, Hooks hooks);

  void register_handlers(Dispatcher& d);

  // Creator and any holder.
  /// manta::placement_group: the new group's id and its ready object's first reference.
  std::pair<PlacementGroupId, std::shared_ptr<detail::RefToken>> create(
      const std::vector<ResourceMap>& bundles, PlacementStrategy strategy, std::string name);
  void remove(const PlacementGroupId& id);
  /// Each bundle's rank; waits for the group to be placed. Throws UnschedulableError when it
  /// failed or was removed.
  std::vector<int> ranks(const PlacementGroupId& id);

  // Submitter.
  /// A task or actor creation aimed at `target`: checks the bundle index, that the request fits
  /// the bundle(s) and agrees with `on_rank`, then rewrites the spec (resources, group, index;
  /// on_rank is left to rank 0). Throws std::invalid_argument or UnschedulableError.
  void apply(TaskSpec& t, const BundleTarget& target, int on_rank, const CallName& call);

  // Rank 0.
  /// A task of a group: sent to its bundle's rank, held until the group is ready, or failed.
  void place_task(const TaskPtr& t);
  /// Where a creation of a group goes: `rank`; or `held` (kept here until the group is ready,
  /// then given back through Hooks::place_actor); or the error that kills it.
  struct ActorRoute {
    std::optional<int> rank;
    bool held = false;
    std::shared_ptr<const ErrorInfo> error;
  };
  ActorRoute route_actor(const TaskPtr& creation);
  /// An actor outside any group started on / left `rank` holding `r` (the control store).
  void actor_started(int rank, const ResourceSet& r);
  void actor_ended(int rank, const ResourceSet& r);

  /// Rank 0, for the memory summary: the live groups, then the most recently removed or failed.
  [[nodiscard]] std::vector<PlacementGroupSummary> summary() const;

 private:
  struct Known {     // what this rank learnt of a group (creator, askers)
    ObjectId ready;  // the ready object, on the creator
    bool resolved = false;
    bool asked = false;
    std::vector<int> ranks;
    std::shared_ptr<const ErrorInfo> error;
  };
  struct Hosted {  // a group's bundles on this host
    std::vector<std::pair<int, ResourceSet>> bundles;
  };

  // Rank 0 handlers and steps; those named *_locked run with mutex_ held.
  void on_create(int source, transport::WireReader& r);
  void on_committed(int source, const PlacementGroupId& id);
  void on_remove(const PlacementGroupId& id);
  void on_lookup(int source, const PlacementGroupId& id);
  void place_waiting_locked();
  void send_state_locked(int dest, const PlacementGroupTable::Group& g);
  /// Tasks and creations held for a group that is now ready or failed.
  void release_held(const PlacementGroupId& id);
  int pick_rank(const PlacementGroupTable::Group& g, const TaskSpec& t);
  std::shared_ptr<const ErrorInfo> group_error(const PlacementGroupTable::Group* g,
                                               const PlacementGroupId& id, const TaskSpec* t,
                                               ErrorKind kind) const;
  // Host.
  void on_commit(transport::WireReader& r);
  void on_release(const PlacementGroupId& id);
  // Creator and askers.
  void on_state(transport::WireReader& r);

  RankContext& ctx_;
  Ownership& ownership_;
  LocalScheduler& local_;
  Timeline* timeline_;
  Hooks hooks_;

  mutable std::mutex mutex_;
  std::optional<PlacementGroupTable> table_;  // rank 0
  std::unordered_map<PlacementGroupId, std::vector<TaskPtr>, PlacementGroupIdHash> held_;
  std::unordered_map<PlacementGroupId, std::vector<int>, PlacementGroupIdHash> askers_;
  std::unordered_map<PlacementGroupId, std::int64_t, PlacementGroupIdHash> created_us_;
  std::uint64_t turn_ = 0;  // rotates -1 tasks between equally free ranks

  std::unordered_map<PlacementGroupId, Hosted, PlacementGroupIdHash> hosted_;

  std::condition_variable known_cv_;
  std::unordered_map<PlacementGroupId, Known, PlacementGroupIdHash> known_;
};

}  // namespace manta::engine
