#include "engine/placement_group_table.h"

#include <algorithm>

#include "engine/bundle_placement.h"

namespace manta::engine {

PlacementGroupTable::PlacementGroupTable(std::vector<ResourceSet> totals)
    : totals_(std::move(totals)), held_(totals_.size()) {}

const PlacementGroupTable::Group& PlacementGroupTable::create(Group g) {
  const PlacementGroupId id = g.id;
  if (removed_early_.erase({id.creator, id.seq}) > 0) {
    g.state = State::failed;
    g.error = id.to_string() + " was removed before it was reserved";
  } else if (std::string why = never_fits(g.bundles, g.strategy, totals_); !why.empty()) {
    g.state = State::failed;
    g.error = "placement group " + id.to_string() + " can never be reserved: " + why;
  } else {
    g.state = State::waiting;
    waiting_.push_back(id);
  }
  order_.push_back(id);
  return groups_[id] = std::move(g);
}

std::vector<const PlacementGroupTable::Group*> PlacementGroupTable::place_waiting() {
  std::vector<const Group*> placed;
  while (!waiting_.empty()) {
    Group& g = groups_.at(waiting_.front());
    auto ranks = place_bundles(g.bundles, g.strategy, reservable());
    if (!ranks) break;  // the oldest waits; the younger ones wait behind it
    waiting_.pop_front();
    g.ranks = std::move(*ranks);
    g.acks_left = std::set<int>(g.ranks.begin(), g.ranks.end());
    g.state = State::committing;
    take(g);
    placed.push_back(&g);
  }
  return placed;
}

bool PlacementGroupTable::committed(const PlacementGroupId& id, int rank) {
  auto it = groups_.find(id);
  if (it == groups_.end() || it->second.state != State::committing) return false;
  it->second.acks_left.erase(rank);
  if (!it->second.acks_left.empty()) return false;
  it->second.state = State::ready;
  return true;
}

std::optional<PlacementGroupTable::State> PlacementGroupTable::remove(const PlacementGroupId& id) {
  auto it = groups_.find(id);
  if (it == groups_.end()) {
    removed_early_.insert({id.creator, id.seq});
    return std::nullopt;
  }
  Group& g = it->second;
  const State was = g.state;
  switch (was) {
    case State::waiting:
      std::erase(waiting_, id);
      g.state = State::failed;
      g.error = id.to_string() + " was removed before it was reserved";
      return was;
    case State::committing:
    case State::ready:
      give_back(g);
      g.state = State::removed;
      g.acks_left.clear();
      return was;
    case State::failed:
    case State::removed:
      break;
  }
  return std::nullopt;
}

void PlacementGroupTable::actor_started(int rank, const ResourceSet& r) {
  if (rank >= 0 && static_cast<std::size_t>(rank) < held_.size()) held_[rank].add(r);
}

void PlacementGroupTable::actor_ended(int rank, const ResourceSet& r) {
  if (rank >= 0 && static_cast<std::size_t>(rank) < held_.size()) held_[rank].subtract(r);
}

const PlacementGroupTable::Group* PlacementGroupTable::find(const PlacementGroupId& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : &it->second;
}

std::vector<ResourceSet> PlacementGroupTable::reservable() const {
  std::vector<ResourceSet> out = totals_;
  for (std::size_t r = 0; r < out.size(); ++r) out[r].subtract(held_[r]);
  return out;
}

std::vector<PlacementGroupTable::Group> PlacementGroupTable::groups() const {
  std::vector<Group> out;
  out.reserve(order_.size());
  for (const auto& id : order_) out.push_back(groups_.at(id));
  return out;
}

void PlacementGroupTable::take(const Group& g) {
  for (std::size_t b = 0; b < g.bundles.size(); ++b) {
    held_[static_cast<std::size_t>(g.ranks[b])].add(g.bundles[b]);
  }
}

void PlacementGroupTable::give_back(const Group& g) {
  for (std::size_t b = 0; b < g.bundles.size(); ++b) {
    held_[static_cast<std::size_t>(g.ranks[b])].subtract(g.bundles[b]);
  }
}

const char* to_string(PlacementGroupTable::State s) noexcept {
  switch (s) {
    case PlacementGroupTable::State::waiting:
      return "waiting";
    case PlacementGroupTable::State::committing:
      return "committing";
    case PlacementGroupTable::State::ready:
      return "ready";
    case PlacementGroupTable::State::failed:
      return "failed";
    case PlacementGroupTable::State::removed:
      return "removed";
  }
  return "unknown";
}

}  // namespace manta::engine
