#include "engine/bundle_placement.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace manta::engine {
namespace {

/// One number for "how much": CPUs first, then everything else, for ordering only.
double size_of(const ResourceSet& r) {
  double other = 0;
  for (const auto& [name, amount] : r.items()) {
    if (name != "CPU") other += amount;
  }
  return r.get("CPU") * 1e6 + other;
}

/// Bundle indices, largest first (ties keep their order): big bundles are the hard ones.
std::vector<std::size_t> largest_first(const std::vector<ResourceSet>& bundles) {
  std::vector<std::size_t> order(bundles.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return size_of(bundles[a]) > size_of(bundles[b]);
  });
  return order;
}

ResourceSet sum_of(const std::vector<ResourceSet>& bundles) {
  ResourceSet sum;
  for (const auto& b : bundles) sum.add(b);
  return sum;
}

std::optional<std::vector<int>> strict_pack(const std::vector<ResourceSet>& bundles,
                                            const std::vector<ResourceSet>& room) {
  const ResourceSet sum = sum_of(bundles);
  int best = -1;
  for (std::size_t r = 0; r < room.size(); ++r) {
    // The tightest rank that holds them: roomy ranks stay free for larger groups.
    if (sum.fits_in(room[r]) &&
        (best < 0 || size_of(room[r]) < size_of(room[static_cast<std::size_t>(best)]))) {
      best = static_cast<int>(r);
    }
  }
  if (best < 0) return std::nullopt;
  return std::vector<int>(bundles.size(), best);
}

/// Kuhn's augmenting paths: can bundle `b` get a rank, moving earlier bundles if need be.
bool augment(std::size_t b, const std::vector<std::vector<int>>& fits, std::vector<int>& owner,
             std::vector<bool>& seen) {
  for (int r : fits[b]) {
    auto k = static_cast<std::size_t>(r);
    if (seen[k]) continue;
    seen[k] = true;
    if (owner[k] < 0 || augment(static_cast<std::size_t>(owner[k]), fits, owner, seen)) {
      owner[k] = static_cast<int>(b);
      return true;
    }
  }
  return false;
}

std::optional<std::vector<int>> strict_spread(const std::vector<ResourceSet>& bundles,
                                              const std::vector<ResourceSet>& room) {
  if (bundles.size() > room.size()) return std::nullopt;
  // Each bundle's candidate ranks, roomiest first, so a plain run spreads over big ranks.
  std::vector<std::size_t> by_room(room.size());
  std::iota(by_room.begin(), by_room.end(), std::size_t{0});
  std::stable_sort(by_room.begin(), by_room.end(), [&](std::size_t a, std::size_t b) {
    return size_of(room[a]) > size_of(room[b]);
  });
  std::vector<std::vector<int>> fits(bundles.size());
  for (std::size_t b = 0; b < bundles.size(); ++b) {
    for (std::size_t r : by_room) {
      if (bundles[b].fits_in(room[r])) fits[b].push_back(static_cast<int>(r));
    }
  }
  std::vector<int> owner(room.size(), -1);
  for (std::size_t b : largest_first(bundles)) {
    std::vector<bool> seen(room.size(), false);
    if (!augment(b, fits, owner, seen)) return std::nullopt;
  }
  std::vector<int> ranks(bundles.size(), -1);
  for (std::size_t r = 0; r < owner.size(); ++r) {
    if (owner[r] >= 0) ranks[static_cast<std::size_t>(owner[r])] = static_cast<int>(r);
  }
  return ranks;
}

/// pack and spread: bundles one at a time, largest first, with a preference between ranks.
/// `better(a, b)`: rank a is preferred over rank b for the next bundle.
template <class Better>
std::optional<std::vector<int>> greedy(const std::vector<ResourceSet>& bundles,
                                       std::vector<ResourceSet> room,
                                       std::vector<int>& count,  // bundles of the group per rank
                                       Better better) {
  std::vector<int> ranks(bundles.size(), -1);
  for (std::size_t b : largest_first(bundles)) {
    int pick = -1;
    for (std::size_t r = 0; r < room.size(); ++r) {
      if (!bundles[b].fits_in(room[r])) continue;
      if (pick < 0 || better(r, static_cast<std::size_t>(pick), room)) pick = static_cast<int>(r);
    }
    if (pick < 0) return std::nullopt;
    room[static_cast<std::size_t>(pick)].subtract(bundles[b]);
    ++count[static_cast<std::size_t>(pick)];
    ranks[b] = pick;
  }
  return ranks;
}

}  // namespace

std::optional<std::vector<int>> place_bundles(const std::vector<ResourceSet>& bundles,
                                              PlacementStrategy strategy,
                                              const std::vector<ResourceSet>& reservable) {
  if (bundles.empty() || reservable.empty()) return std::nullopt;
  std::vector<int> count(reservable.size(), 0);
  switch (strategy) {
    case PlacementStrategy::strict_pack:
      return strict_pack(bundles, reservable);
    case PlacementStrategy::strict_spread:
      return strict_spread(bundles, reservable);
    case PlacementStrategy::pack:
      if (auto one = strict_pack(bundles, reservable)) return one;
      return greedy(bundles, reservable, count,
                    [&](std::size_t a, std::size_t b, const std::vector<ResourceSet>& room) {
                      if ((count[a] > 0) != (count[b] > 0)) return count[a] > 0;
                      return size_of(room[a]) > size_of(room[b]);
                    });
    case PlacementStrategy::spread:
      return greedy(bundles, reservable, count,
                    [&](std::size_t a, std::size_t b, const std::vector<ResourceSet>& room) {
                      if (count[a] != count[b]) return count[a] < count[b];
                      return size_of(room[a]) > size_of(room[b]);
                    });
  }
  return std::nullopt;
}

std::string never_fits(const std::vector<ResourceSet>& bundles, PlacementStrategy strategy,
                       const std::vector<ResourceSet>& totals) {
  if (bundles.empty()) return "a placement group needs at least one bundle";
  if (place_bundles(bundles, strategy, totals)) return {};
  std::size_t largest = 0;
  for (std::size_t r = 1; r < totals.size(); ++r) {
    if (size_of(totals[r]) > size_of(totals[largest])) largest = r;
  }
  const std::string biggest =
      totals.empty() ? "{}"
                     : fmt::format("rank {} offers {}", largest, totals[largest].to_string());
  for (std::size_t b = 0; b < bundles.size(); ++b) {
    const bool somewhere = std::any_of(totals.begin(), totals.end(),
                                       [&](const ResourceSet& t) { return bundles[b].fits_in(t); });
    if (!somewhere) {
      return fmt::format(
          "bundle {} asks for {} and no rank offers that (the largest: {}); ask for less, or "
          "start ranks with more (--manta-num-cpus, --manta-resources)",
          b, bundles[b].to_string(), biggest);
    }
  }
  if (strategy == PlacementStrategy::strict_spread) {
    if (bundles.size() > totals.size()) {
      return fmt::format(
          "strict_spread puts each of its {} bundles on its own rank but the job has {} rank{}; "
          "use fewer bundles, spread (best effort), or more ranks",
          bundles.size(), totals.size(), totals.size() == 1 ? "" : "s");
    }
    return fmt::format(
        "strict_spread needs {} distinct ranks that each hold one of its bundles and this job "
        "has no such ranks; use spread (best effort) or smaller bundles",
        bundles.size());
  }
  if (strategy == PlacementStrategy::strict_pack) {
    return fmt::format(
        "strict_pack puts all bundles on one rank and together they ask for {}, more than any "
        "rank offers (the largest: {}); use pack (best effort) or smaller bundles",
        sum_of(bundles).to_string(), biggest);
  }
  return fmt::format("the bundles together ask for {}, more than the job's ranks offer",
                     sum_of(bundles).to_string());
}

}  // namespace manta::engine
