#include "engine/bundle_resources.h"

#include <algorithm>

namespace manta::engine {
namespace {

/// Names that are not a bundle's: the rank's actor slots.
bool stays(const std::string& name) { return name == "actor_slots"; }

}  // namespace

std::string bundle_resource(const std::string& base, const PlacementGroupId& group, int index) {
  return group_resource(base, group) + "_" + std::to_string(index);
}

std::string group_resource(const std::string& base, const PlacementGroupId& group) {
  return base + "_" + group.to_string();
}

std::string base_resource(const std::string& name) {
  // "<base>_pg<creator>.<seq>" or "<base>_pg<creator>.<seq>_<index>" (PlacementGroupId).
  const auto at = name.rfind("_pg");
  if (at == std::string::npos || at == 0) return name;
  const std::string tail = name.substr(at + 3);
  const auto dot = tail.find('.');
  if (dot == std::string::npos || dot == 0) return name;
  const auto digits = [](const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string rest = tail.substr(dot + 1);
  if (const auto under = rest.find('_'); under != std::string::npos) {
    if (!digits(rest.substr(under + 1))) return name;
    rest.resize(under);
  }
  return digits(tail.substr(0, dot)) && digits(rest) ? name.substr(0, at) : name;
}

ResourceSet bundle_offer(const PlacementGroupId& group,
                         const std::vector<std::pair<int, ResourceSet>>& bundles) {
  ResourceSet offer;
  for (const auto& [index, bundle] : bundles) {
    for (const auto& [name, amount] : bundle.items()) {
      if (stays(name)) continue;
      offer.set(bundle_resource(name, group, index), amount);
      const std::string wide = group_resource(name, group);
      offer.set(wide, offer.get(wide) + amount);
    }
  }
  return offer;
}

std::map<std::string, std::string> offer_bases(
    const PlacementGroupId& group, const std::vector<std::pair<int, ResourceSet>>& bundles) {
  std::map<std::string, std::string> bases;
  for (const auto& [index, bundle] : bundles) {
    for (const auto& [name, amount] : bundle.items()) {
      if (stays(name)) continue;
      bases[bundle_resource(name, group, index)] = "";
      bases[group_resource(name, group)] = name;
    }
  }
  return bases;
}

ResourceSet request_in_bundle(const ResourceSet& request, const PlacementGroupId& group,
                              int index) {
  ResourceSet out;
  for (const auto& [name, amount] : request.items()) {
    if (stays(name)) {
      out.set(name, amount);
      continue;
    }
    out.set(group_resource(name, group), amount);
    if (index >= 0) out.set(bundle_resource(name, group, index), amount);
  }
  return out;
}

bool fits_bundle(const ResourceSet& request, const std::vector<ResourceSet>& bundles, int index) {
  ResourceSet own;  // what the bundle must hold (actor slots are the rank's)
  for (const auto& [name, amount] : request.items()) {
    if (!stays(name)) own.set(name, amount);
  }
  if (index >= 0) {
    return static_cast<std::size_t>(index) < bundles.size() &&
           own.fits_in(bundles[static_cast<std::size_t>(index)]);
  }
  for (const auto& b : bundles) {
    if (own.fits_in(b)) return true;
  }
  return false;
}

}  // namespace manta::engine
