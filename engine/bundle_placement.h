// Where the bundles of a placement group go: a pure function of the bundles, the strategy and
// what each rank can still reserve, so that each strategy is tested on its own
// (test/engine/bundle_placement_test.cpp). All or nothing: a rank for every bundle, or none.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <manta/placement_group.h>

#include "engine/resources.h"

namespace manta::engine {

/// The rank of each bundle, or nothing when `reservable` (what each rank can still reserve)
/// cannot hold them all under `strategy`:
/// - pack: every bundle on one rank when one can hold them all; otherwise each bundle, largest
///   first, on a rank the group already uses if one has room, else on the rank with most room.
/// - spread: each bundle, largest first, on a rank the group does not use yet if one has room
///   (the one with most room), else on the used rank with the fewest of its bundles.
/// - strict_pack: all on one rank (the one with the least room that holds them), or nothing.
/// - strict_spread: each on a distinct rank (a bipartite matching of bundles to ranks), or
///   nothing.
std::optional<std::vector<int>> place_bundles(const std::vector<ResourceSet>& bundles,
                                              PlacementStrategy strategy,
                                              const std::vector<ResourceSet>& reservable);

/// Why the group could never be placed, even with every rank empty (`totals`), or an empty
/// string when it could: names the bundle, what it asks for and the largest rank.
std::string never_fits(const std::vector<ResourceSet>& bundles, PlacementStrategy strategy,
                       const std::vector<ResourceSet>& totals);

}  // namespace manta::engine
