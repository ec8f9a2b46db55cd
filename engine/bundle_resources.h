// The names under which a host offers a placement group's bundles, and a task's request
// rewritten to them. Bundle i of group G offers each of its resources R twice: as
// "R_pgG_i" (that bundle only) and, summed over G's bundles on the rank, as "R_pgG" (any bundle
// of G there). A task in bundle i asks for both names, so the group-wide amount stays exact; a
// task in any bundle (-1) asks for the group-wide name only. actor_slots stay as they are: an
// actor slot belongs to the rank, not to a bundle.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <manta/options.h>

#include "engine/resources.h"

namespace manta::engine {

std::string bundle_resource(const std::string& base, const PlacementGroupId& group, int index);
std::string group_resource(const std::string& base, const PlacementGroupId& group);
/// The resource a name stands for: "GPU" for "GPU_pg0.3" and "GPU_pg0.3_1", the name itself
/// for a name no placement group made.
std::string base_resource(const std::string& name);

/// What a rank offers for its bundles of `group` (index, resources).
ResourceSet bundle_offer(const PlacementGroupId& group,
                         const std::vector<std::pair<int, ResourceSet>>& bundles);
/// For each name of such an offer, the resource it stands for when the group is gone: the
/// group-wide names map to their base name, the per-bundle names to "" (counted already).
std::map<std::string, std::string> offer_bases(
    const PlacementGroupId& group, const std::vector<std::pair<int, ResourceSet>>& bundles);

/// `request` rewritten to bundle `index` of `group` (-1: any bundle).
ResourceSet request_in_bundle(const ResourceSet& request, const PlacementGroupId& group, int index);

/// Whether `request` (before rewriting) can ever run in bundle `index` (-1: in some bundle).
bool fits_bundle(const ResourceSet& request, const std::vector<ResourceSet>& bundles, int index);

}  // namespace manta::engine
