// Rank 0's table of placement groups: each group's state, where its bundles are, and what each
// rank can still reserve. It decides; the placement-group part (placement_groups.h) sends.
//
// A group's life: waiting (in creation order) -> committing (bundles chosen and reserved in the
// table, the hosts applying them) -> ready (every host confirmed) -> removed. A group that no
// layout of the job's ranks could ever hold is failed at creation; a waiting group removed
// before it was placed is failed too. Waiting groups are placed strictly in creation order: the
// oldest goes first and the others wait behind it, so a large group is not starved by a stream
// of small ones. It cannot wait forever for a reason that does not pass: it fits the empty
// cluster (checked at creation, and totals never shrink), so it is placed once the groups and
// actors ahead of it are gone.
//
// "Reservable" on a rank is its total minus the bundles committed there minus the resources of
// the actors outside groups that rank 0 placed there (the control store reports them as they
// start and end). Tasks are not subtracted: they end by themselves, and a bundle committed
// where tasks still run takes their resources as they finish.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <manta/placement_group.h>

#include "engine/resources.h"

namespace manta::engine {

struct PlacementGroupIdHash {
  std::size_t operator()(const PlacementGroupId& id) const noexcept {
    return std::hash<std::uint64_t>()(id.seq * 1000003u + static_cast<std::uint64_t>(id.creator));
  }
};

class PlacementGroupTable {
 public:
  enum class State : std::uint8_t { waiting, committing, ready, failed, removed };

  struct Group {
    PlacementGroupId id;
    std::string name;
    PlacementStrategy strategy = PlacementStrategy::pack;
    std::vector<ResourceSet> bundles;
    int creator = -1;
    State state = State::waiting;
    std::vector<int> ranks;   // each bundle's rank, once placed
    std::set<int> acks_left;  // hosts that have not confirmed yet (committing)
    std::string error;        // why it failed
  };

  explicit PlacementGroupTable(std::vector<ResourceSet> totals);

  /// A new group: failed at once when it could never fit (or was removed before it came),
  /// else waiting. Returns the group as recorded.
  const Group& create(Group g);
  /// Places waiting groups, oldest first, while the oldest fits now. Returns those placed
  /// (committing, with their ranks).
  std::vector<const Group*> place_waiting();
  /// Host `rank` applied its bundles of the group. True when that made the group ready.
  bool committed(const PlacementGroupId& id, int rank);
  /// Removes the group and frees its bundles. Returns the state it was in, or nothing when it
  /// was removed or failed already (or is not known yet: then its creation fails when it comes).
  std::optional<State> remove(const PlacementGroupId& id);

  /// An actor outside any group holds `r` on `rank` for its life / no longer.
  void actor_started(int rank, const ResourceSet& r);
  void actor_ended(int rank, const ResourceSet& r);

  [[nodiscard]] const Group* find(const PlacementGroupId& id) const;
  /// What each rank can still reserve.
  [[nodiscard]] std::vector<ResourceSet> reservable() const;
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.size(); }
  /// Every group, oldest first.
  [[nodiscard]] std::vector<Group> groups() const;

 private:
  void take(const Group& g);  // the group's bundles leave the reservable resources
  void give_back(const Group& g);

  std::vector<ResourceSet> totals_;
  std::vector<ResourceSet> held_;  // committed bundles and actors, per rank
  std::unordered_map<PlacementGroupId, Group, PlacementGroupIdHash> groups_;
  std::vector<PlacementGroupId> order_;                             // creation order, for groups()
  std::deque<PlacementGroupId> waiting_;                            // oldest first
  std::set<std::pair<std::int32_t, std::uint64_t>> removed_early_;  // removals that beat creation
};

const char* to_string(PlacementGroupTable::State s) noexcept;

}  // namespace manta::engine
