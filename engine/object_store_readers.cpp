// The owner's choice of the copy a reader reads: a copy on the reader's own node first (read in
// place, without a transfer); else one read per node from another node, the node's other
// readers waiting for that copy; and large objects one reader per copy at a time, so a
// broadcast fans out over the copies as they finish.
#include <algorithm>
#include <climits>

#include "engine/object_store.h"

namespace manta::engine {
namespace {
// Objects this large get one reader per copy at a time, and one transfer per node.
constexpr std::uint64_t kSpreadSize = std::uint64_t{1} << 20;
}  // namespace

int ObjectStore::node_of(int rank) const {
  // Unknown nodes (not set, or a rank out of range) make every rank a node of its own.
  if (rank >= 0 && static_cast<std::size_t>(rank) < nodes_.size())
    return nodes_[static_cast<std::size_t>(rank)];
  return -1 - rank;
}

std::optional<ObjectStore::Assignment> ObjectStore::pick(Entry& e, int requester) const {
  const int node = node_of(requester);
  Location* near = nullptr;
  for (auto& l : e.locations) {
    if (l.rank != requester && node_of(l.rank) == node && (!near || l.readers < near->readers))
      near = &l;
  }
  if (near) {
    ++near->readers;  // no limit: a neighbour's read in place moves no bytes
    return Assignment{requester, near->rank, e.size, e.tag};
  }
  const bool large = e.size >= kSpreadSize;
  const bool per_node = large && !nodes_.empty();  // nodes known (always, once running)
  if (per_node &&
      std::find(e.incoming_nodes.begin(), e.incoming_nodes.end(), node) != e.incoming_nodes.end()) {
    return std::nullopt;  // a copy is on its way to this node: read that one
  }
  Location* best = nullptr;
  int busy = 0;
  for (auto& l : e.locations) {
    busy += l.readers;
    if (l.rank == requester) continue;
    // Fewest readers; on a tie prefer a later copy, which takes load off the first location.
    if (!best || l.readers <= best->readers) best = &l;
  }
  if (!best) return std::nullopt;
  const int limit = large ? 1 : INT_MAX;
  if (best->readers >= limit && busy > 0) return std::nullopt;
  ++best->readers;
  if (per_node && node_of(best->rank) != node) e.incoming_nodes.push_back(node);
  return Assignment{requester, best->rank, e.size, e.tag};
}

std::optional<ObjectStore::Assignment> ObjectStore::assign_reader(const ObjectId& id, int requester,
                                                                  bool may_queue) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  Entry& e = it->second;
  if (auto a = pick(e, requester)) return a;
  if (may_queue) {
    e.queued_readers.push_back(requester);
    return std::nullopt;
  }
  // No queueing: read the least busy location anyway.
  Location* best = nullptr;
  for (auto& l : e.locations) {
    if (l.rank != requester && (!best || l.readers < best->readers)) best = &l;
  }
  if (!best) return std::nullopt;
  ++best->readers;
  if (!nodes_.empty() && e.size >= kSpreadSize && node_of(best->rank) != node_of(requester))
    e.incoming_nodes.push_back(node_of(requester));
  return Assignment{requester, best->rank, e.size, e.tag};
}

int ObjectStore::any_location(const ObjectId& id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return -1;
  const Entry& e = it->second;
  if ((e.state == State::ready && e.bytes && e.view_of < 0) || e.state == State::spilled)
    return rank_;
  const Location* best = nullptr;
  for (const auto& l : e.locations) {
    if (!best || l.readers <= best->readers) best = &l;
  }
  return best ? best->rank : e.location;
}

std::vector<ObjectStore::Assignment> ObjectStore::reader_done(const ObjectId& id, int reader,
                                                              int from, int copy_at, bool* known,
                                                              Freed* freed) {
  std::vector<Assignment> out;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  *known = it != entries_.end();
  if (!*known) return out;
  Entry& e = it->second;
  for (auto& l : e.locations) {
    if (l.rank == from && l.readers > 0) --l.readers;
  }
  if (from >= 0 && reader >= 0 && node_of(from) != node_of(reader)) {
    // That node's read from another node is over: its readers go to the copy, or try again.
    auto at = std::find(e.incoming_nodes.begin(), e.incoming_nodes.end(), node_of(reader));
    if (at != e.incoming_nodes.end()) e.incoming_nodes.erase(at);
  }
  if (copy_at >= 0) add_location(e, copy_at);
  // Every queued reader that can start now does (those of other nodes may be behind others).
  for (std::size_t i = 0; i < e.queued_readers.size();) {
    auto a = pick(e, e.queued_readers[i]);
    if (!a) {
      ++i;
      continue;
    }
    out.push_back(*a);
    e.queued_readers.erase(e.queued_readers.begin() + static_cast<std::ptrdiff_t>(i));
  }
  Freed f = free_if_unreferenced(it);
  if (freed) freed->merge(std::move(f));
  return out;
}

}  // namespace manta::engine
