// Placement groups: resources reserved together, all or nothing, over one or more ranks, before
// the tasks and actors that use them exist.
//   auto pg = manta::placement_group({{{"CPU", 2}}, {{"CPU", 2}}},
//   manta::PlacementStrategy::spread); pg.wait(10);                                          //
//   true once every bundle is reserved auto a = manta::actor(Learner::create).placement_group(pg,
//   0).remote(); manta::remove_placement_group(pg);                    // frees the bundles, kills
//   `a`
// See docs/placement_groups.md.
#pragma once

#include <boost/serialization/map.hpp>
#include <boost/serialization/split_member.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <manta/object_ref.h>
#include <manta/options.h>

namespace manta {

/// Where the bundles of a group go. A bundle always lives on one rank.
enum class PlacementStrategy : std::uint8_t {
  pack,          // as few ranks as possible (best effort: spreads when one rank is too small)
  spread,        // over distinct ranks as far as possible (best effort: shares when too few)
  strict_pack,   // all bundles on one rank, or the group waits
  strict_spread  // each bundle on its own rank, or the group waits
};

/// "pack", "spread", "strict_pack" or "strict_spread".
inline const char* to_string(PlacementStrategy s) noexcept {
  switch (s) {
    case PlacementStrategy::pack:
      return "pack";
    case PlacementStrategy::spread:
      return "spread";
    case PlacementStrategy::strict_pack:
      return "strict_pack";
    case PlacementStrategy::strict_spread:
      return "strict_spread";
  }
  return "unknown";
}

/// A placement group as its holders know it: its id, what it asked for, and the reference that
/// becomes true once it is reserved. Copyable; serializable, so it can be passed to tasks.
class PlacementGroup {
 public:
  PlacementGroup() = default;
  /// Made by manta::placement_group.
  PlacementGroup(PlacementGroupId id, std::vector<ResourceMap> bundles, PlacementStrategy strategy,
                 std::string name, ObjectRef<bool> ready)
      : id_(id),
        bundles_(std::make_shared<const std::vector<ResourceMap>>(std::move(bundles))),
        strategy_(strategy),
        name_(std::move(name)),
        ready_(std::move(ready)) {}

  [[nodiscard]] PlacementGroupId id() const noexcept { return id_; }
  [[nodiscard]] bool valid() const noexcept { return id_.valid(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] PlacementStrategy strategy() const noexcept { return strategy_; }
  [[nodiscard]] std::size_t bundle_count() const noexcept {
    return bundles_ ? bundles_->size() : 0;
  }
  [[nodiscard]] const std::vector<ResourceMap>& bundles() const noexcept {
    static const std::vector<ResourceMap> none;
    return bundles_ ? *bundles_ : none;
  }

  /// True once every bundle is reserved. manta::get on it throws UnschedulableError when the
  /// group failed: it can never fit, or it was removed before it was reserved.
  [[nodiscard]] ObjectRef<bool> ready() const { return ready_; }
  /// Waits up to `timeout_seconds` for the group: true when it is ready, false on timeout.
  /// Throws, as get(ready()) does, when it failed.
  bool wait(double timeout_seconds) const;
  /// The rank of each bundle. Waits for the group to be ready; throws when it failed.
  [[nodiscard]] std::vector<int> bundle_ranks() const;

  /// What .placement_group(pg, bundle_index) records in the options.
  /// Throws std::invalid_argument for an empty (default-constructed) group.
  [[nodiscard]] BundleTarget target(int bundle_index) const {
    if (!valid()) {
      throw std::invalid_argument(
          ".placement_group: an empty PlacementGroup; pass one manta::placement_group returned");
    }
    return {id_, bundles_, bundle_index};
  }

  template <class Archive>
  void save(Archive& ar, unsigned) const {
    const std::uint8_t strategy = static_cast<std::uint8_t>(strategy_);
    ar << id_.creator << id_.seq << strategy << name_ << bundles() << ready_;
  }
  template <class Archive>
  void load(Archive& ar, unsigned) {
    std::uint8_t strategy = 0;
    std::vector<ResourceMap> bundles;
    ar >> id_.creator >> id_.seq >> strategy >> name_ >> bundles >> ready_;
    strategy_ = static_cast<PlacementStrategy>(strategy);
    bundles_ = std::make_shared<const std::vector<ResourceMap>>(std::move(bundles));
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

 private:
  PlacementGroupId id_;
  std::shared_ptr<const std::vector<ResourceMap>> bundles_;
  PlacementStrategy strategy_ = PlacementStrategy::pack;
  std::string name_;
  ObjectRef<bool> ready_;
};

/// Reserves `bundles` (each a set of resources on one rank) with `strategy`. Returns at once;
/// the reservation happens in the background: wait on ready() or wait(). A group that no rank
/// layout of this job could ever hold fails at once (its ready() throws); one that fits in
/// principle waits until enough is free, after the groups created before it.
PlacementGroup placement_group(std::vector<ResourceMap> bundles,
                               PlacementStrategy strategy = PlacementStrategy::pack,
                               std::string name = {});

/// Frees the group's bundles and ends what runs in them: its actors die (their calls fail with
/// ActorDiedError), its queued tasks fail; a task already running finishes, and its resources go
/// back to the rank. A group not reserved yet is cancelled. Removing twice does nothing.
void remove_placement_group(const PlacementGroup& pg);

}  // namespace manta
