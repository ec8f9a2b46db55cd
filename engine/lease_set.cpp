#include "engine/lease_set.h"

#include <algorithm>

namespace manta::engine {

void LeaseSet::add(const Lease& lease) {
  Held h;
  h.lease = lease;
  // Granted counts as used: a lease is not idle before it had a chance to carry work.
  h.last_used = lease.expires - term_;
  leases_[lease.id] = std::move(h);
}

void LeaseSet::renewed(std::uint64_t id, LeaseClock::time_point expires) {
  auto it = leases_.find(id);
  if (it != leases_.end() && !it->second.ended) it->second.lease.expires = expires;
}

void LeaseSet::ended(std::uint64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  it->second.ended = true;
  forget_if_finished(it);
}

bool LeaseSet::usable(const Held& h, LeaseClock::time_point now) const {
  // The last tenth of a term is kept clear: a task sent then could land after the lease ended.
  return !h.ended && h.used < h.lease.slots && now + term_ / 10 < h.lease.expires;
}

std::optional<LeaseSet::Use> LeaseSet::take(const ResourceSet& shape, LeaseClock::time_point now) {
  Held* best = nullptr;
  for (auto& [id, h] : leases_) {
    if (!(h.lease.shape == shape) || !usable(h, now)) continue;
    if (!best || h.lease.slots - h.used > best->lease.slots - best->used) best = &h;
  }
  if (!best) return std::nullopt;
  ++best->used;
  ++in_flight_;
  return Use{best->lease.id, best->lease.rank};
}

void LeaseSet::forget_if_finished(std::unordered_map<std::uint64_t, Held>::iterator it) {
  if (it->second.used == 0 && it->second.ended) leases_.erase(it);
}

void LeaseSet::done(std::uint64_t lease, LeaseClock::time_point now) {
  auto it = leases_.find(lease);
  if (it == leases_.end() || it->second.used == 0) return;
  --it->second.used;
  --in_flight_;
  it->second.last_used = now;
  forget_if_finished(it);
}

void LeaseSet::refused(std::uint64_t lease, LeaseClock::time_point now) {
  auto it = leases_.find(lease);
  if (it == leases_.end()) return;
  if (it->second.lease.slots > 0) --it->second.lease.slots;
  done(lease, now);
}

bool LeaseSet::asking(const ResourceSet& shape) const {
  return std::find(asking_.begin(), asking_.end(), shape) != asking_.end();
}

void LeaseSet::answered(const ResourceSet& shape) {
  auto it = std::find(asking_.begin(), asking_.end(), shape);
  if (it != asking_.end()) asking_.erase(it);
}

std::uint64_t LeaseSet::free_slots(const ResourceSet& shape, LeaseClock::time_point now) const {
  std::uint64_t n = 0;
  for (const auto& [id, h] : leases_) {
    if (h.lease.shape == shape && usable(h, now)) n += h.lease.slots - h.used;
  }
  return n;
}

std::uint32_t LeaseSet::to_ask(const ResourceSet& shape, std::uint64_t backlog,
                               LeaseClock::time_point now, std::uint32_t max_ask) const {
  if (backlog == 0 || asking(shape)) return 0;
  const std::uint64_t free = free_slots(shape, now);
  if (free >= backlog) return 0;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(backlog - free, max_ask));
}

std::vector<std::uint64_t> LeaseSet::to_return(LeaseClock::time_point now,
                                               LeaseClock::duration idle) {
  std::vector<std::uint64_t> out;
  for (auto it = leases_.begin(); it != leases_.end();) {
    Held& h = it->second;
    if (h.used > 0) {
      ++it;
      continue;
    }
    if (h.ended || now >= h.lease.expires) {
      it = leases_.erase(it);  // rank 0 has ended it, or does so on its own at expiry
    } else if (now - h.last_used >= idle || h.lease.slots == 0) {
      out.push_back(h.lease.id);
      it = leases_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<std::uint64_t> LeaseSet::to_renew(LeaseClock::time_point now) const {
  std::vector<std::uint64_t> out;
  for (const auto& [id, h] : leases_) {
    if (h.ended || now >= h.lease.expires) continue;
    if (h.used > 0 && h.lease.expires - now <= term_ / 2) out.push_back(id);
  }
  return out;
}

}  // namespace manta::engine
