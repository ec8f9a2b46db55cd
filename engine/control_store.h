// Rank 0's control store: the actor table (where each actor lives, or why it died) and the
// actor names. Creations come here to be placed (through the global scheduler) and recorded;
// callers ask here where an actor lives; kills and deaths come through here, so that a kill
// that beats its creation still wins and a dead actor's name is free again. A name is unique
// within its namespace: the same name in two namespaces names two actors. Creations that find
// every rank full of actors wait here, in order, for a free actor slot.
//
// Handles: create_actor, actor_lookup, actor_kill, actor_died, name_lookup.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/ids.h>

#include "engine/placement_groups.h"
#include "engine/rank_context.h"
#include "engine/task_spec.h"

namespace manta::engine {

class Dispatcher;
class GlobalScheduler;

class ControlStore {
 public:
  /// `host_here`: queue a creation placed on rank 0 itself.
  ControlStore(RankContext& ctx, GlobalScheduler& global,
               std::function<void(const TaskPtr&)> host_here)
      : ctx_(ctx), global_(global), host_here_(std::move(host_here)) {}

  void register_handlers(Dispatcher& d);

  /// Placement groups (placement_groups.h): where a creation in a group goes, and the actors
  /// outside groups that hold resources on a rank, which groups cannot reserve.
  struct GroupHooks {
    std::function<PlacementGroups::ActorRoute(const TaskPtr&)> route;
    std::function<void(int rank, const ResourceSet&)> started;
    std::function<void(int rank, const ResourceSet&)> ended;
  };
  void set_group_hooks(GroupHooks hooks) { groups_ = std::move(hooks); }

  /// Places a creation and records it, or keeps it waiting for an actor slot (false).
  bool place_actor(const TaskPtr& creation, std::shared_ptr<const ErrorInfo> input_error,
                   bool first_try);

  /// Calls `placed` (on this thread or later on the progress thread, without the store's lock)
  /// once the actor has a rank, with its rank or the reason it is dead.
  void when_placed(const ActorId& id,
                   std::function<void(int host, std::shared_ptr<const ErrorInfo> death)> placed);

  /// The actor that holds `name` in `name_space`, if any (for tests and lookups).
  [[nodiscard]] std::optional<ActorId> named(const std::string& name,
                                             const std::string& name_space) const;
  /// Creations waiting for an actor slot.
  [[nodiscard]] std::size_t waiting() const;

 private:
  struct Record {
    int host = -1;
    bool placed = false;
    std::shared_ptr<const ErrorInfo> death;
    std::string name;
    std::string name_space;
    std::uint64_t class_tag = 0;
    std::vector<int> waiting;                 // ranks that asked before it was placed
    std::optional<bool> kill_pending;         // kill asked before it was placed (no_restart)
    std::shared_ptr<const ResourceSet> held;  // an actor outside groups: what it holds
    std::vector<std::function<void(int, std::shared_ptr<const ErrorInfo>)>> watchers;
  };
  /// With mutex_ held: the watchers of a record that was just placed, to call after unlocking.
  std::vector<std::function<void()>> take_watchers(Record& rec);

  /// With mutex_ held: the creation waits for a free actor slot (said once per burst).
  void keep_waiting(const TaskPtr& t, Record& rec, const std::string& waits_for, bool first_try);
  /// After placing: queue it here or have its host build it, and pass on a kill that came first.
  void start_placed(const TaskPtr& t, int host, std::optional<bool> kill);
  /// After an actor ended: creations waiting for a slot try again, in order.
  void place_waiting();
  void on_lookup(int source, const ActorId& id);
  void on_kill(const ActorId& id, bool no_restart);
  void on_died(const ActorId& id, std::shared_ptr<const ErrorInfo> cause);
  void on_name_lookup(int source, std::uint64_t request, const std::string& name_space,
                      const std::string& name);
  /// With mutex_ held.
  void reply_location(int dest, const ActorId& id);
  /// With mutex_ held: frees the actor's name if it still holds it.
  void free_name(const ActorId& id, const Record& rec);
  void send_host_kill(int host, const ActorId& id, bool no_restart);

  RankContext& ctx_;
  GlobalScheduler& global_;
  std::function<void(const TaskPtr&)> host_here_;
  GroupHooks groups_;

  mutable std::mutex mutex_;
  std::unordered_map<ActorId, Record> table_;
  // By (namespace, name): a pair, so no separator has to be kept out of either.
  std::map<std::pair<std::string, std::string>, ActorId> names_;
  std::deque<TaskPtr> waiting_;  // creations waiting for a free actor slot, oldest first
};

}  // namespace manta::engine
