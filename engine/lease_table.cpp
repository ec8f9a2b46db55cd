#include "engine/lease_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

namespace manta::engine {
namespace {
// A rank a request could lease, as the request sees it.
struct Candidate {
  double load;
  std::uint32_t free;
  std::uint32_t idle;  // tasks of this shape it could start now, by its load and what is lent
  std::size_t order;
  int rank;
};

// Tasks of a shape asking `want_cpu` CPUs a rank could start now: its CPUs less its load and
// what is lent there already, at least one (and no more than its free slots).
std::uint32_t idle_slots(std::uint32_t free, double cpus, double load, double lent_cpus,
                         double want_cpu) {
  if (want_cpu <= 0) return free;
  const double idle_cpus = cpus * (1 - load) - lent_cpus;
  if (idle_cpus <= want_cpu) return std::min<std::uint32_t>(free, 1);
  return std::min<std::uint32_t>(free, static_cast<std::uint32_t>(idle_cpus / want_cpu));
}

ResourceSet scaled(const ResourceSet& shape, double n) {
  ResourceSet out;
  for (const auto& [name, amount] : shape.items()) out.set(name, amount * n);
  return out;
}

/// How many tasks shaped `shape` fit in `room` (capped: a shape that asks for nothing fits
/// any number of times).
std::uint64_t fits(const ResourceSet& room, const ResourceSet& shape, std::uint64_t cap) {
  std::uint64_t n = cap;
  for (const auto& [name, amount] : shape.items()) {
    if (amount <= 0) continue;
    const double left = room.get(name) / amount;
    n = std::min<std::uint64_t>(n, left <= 0 ? 0 : static_cast<std::uint64_t>(left + 1e-9));
  }
  return n;
}

}  // namespace

LeaseTable::LeaseTable(std::vector<ResourceSet> totals, LeaseSettings settings)
    : totals_(std::move(totals)), settings_(settings) {
  lendable_.reserve(totals_.size());
  for (const ResourceSet& t : totals_) lendable_.push_back(scaled(t, settings_.oversubscribe));
  lent_.resize(totals_.size());
  lost_.assign(totals_.size(), false);
}

std::uint32_t LeaseTable::free_slots(int rank, const ResourceSet& shape) const {
  if (rank < 0 || static_cast<std::size_t>(rank) >= totals_.size()) return 0;
  const auto k = static_cast<std::size_t>(rank);
  if (lost_[k] || !shape.fits_in(totals_[k])) return 0;  // gone, or too small for the task
  // A shape that asks for nothing still gets a bound: a few leases' worth per rank.
  std::uint64_t n = 4ull * settings_.max_slots;
  for (const auto& [name, amount] : shape.items()) {
    if (amount <= 0) continue;
    const double left = (lendable_[k].get(name) - lent_[k].get(name)) / amount;
    n = std::min<std::uint64_t>(n, left <= 0 ? 0 : static_cast<std::uint64_t>(left + 1e-9));
  }
  return static_cast<std::uint32_t>(n);
}

std::uint64_t LeaseTable::capacity(const ResourceSet& shape) const {
  // Depends only on what ranks offer (and which are gone): computed once per shape.
  const std::string key = shape.to_string();
  if (auto it = capacity_.find(key); it != capacity_.end()) return it->second;
  std::uint64_t n = 0;
  for (std::size_t k = 0; k < totals_.size(); ++k) {
    if (!lost_[k] && shape.fits_in(totals_[k]))
      n += fits(lendable_[k], shape, 4ull * settings_.max_slots);
  }
  capacity_.emplace(key, n);
  return n;
}

std::size_t LeaseTable::contenders(int also) const {
  // Holders with leases, plus waiting holders (and `also`) without any.
  std::size_t n = held_slots_.size();
  std::vector<int> extra;
  auto count = [&](int h) {
    if (h < 0 || held_slots_.count(h) || std::find(extra.begin(), extra.end(), h) != extra.end()) {
      return;
    }
    extra.push_back(h);
  };
  count(also);
  for (const Waiting& w : waiting_) count(w.holder);
  return std::max<std::size_t>(1, n + extra.size());
}

bool LeaseTable::others_wait(int holder) const {
  return std::any_of(waiting_.begin(), waiting_.end(),
                     [&](const Waiting& w) { return w.holder != holder; });
}

std::uint64_t LeaseTable::slots_held_by(int holder) const {
  auto it = held_slots_.find(holder);
  return it == held_slots_.end() ? 0 : it->second;
}

std::uint64_t LeaseTable::share_left(int holder, const ResourceSet& shape) const {
  const std::uint64_t fair = std::max<std::uint64_t>(1, capacity(shape) / contenders(holder));
  const std::uint64_t held = slots_held_by(holder);
  return held >= fair ? 0 : fair - held;
}

std::vector<Lease> LeaseTable::grant(int holder, const ResourceSet& shape, std::uint32_t wanted,
                                     const std::vector<double>& busy, LeaseClock::time_point now) {
  std::vector<Lease> out;
  if (wanted == 0) return out;
  std::vector<Candidate> candidates;
  const std::size_t n = totals_.size();
  const std::size_t start = n ? rotate_++ % n : 0;
  // Past a few hundred ranks a request looks at a window of ranks, not all of them, so a
  // decision costs the same at 10,000 ranks as at 500 (the window rotates; a request it cannot
  // fill looks further).
  const std::size_t window =
      std::max<std::size_t>(kSampleRanks, 2 * static_cast<std::size_t>(wanted));
  std::uint64_t found = 0;
  const double want_cpu = shape.get("CPU");
  // With little free anywhere, a request stops after a few windows rather than looking at
  // every rank; the rotation takes the next look further.
  std::size_t looked = 0;
  // Ranks where leases ended since the last look come first: in a full job that is where
  // the room is, wherever the window happens to be.
  std::vector<bool> seen;
  if (!freed_.empty()) seen.assign(n, false);
  const std::size_t hinted = freed_.size();
  for (std::size_t i = 0; i < n + hinted; ++i) {
    const bool hint = i < hinted;
    const std::size_t j = i - (hint ? 0 : hinted);  // position in the window
    if (!hint && j >= window && (found >= wanted || j >= 4 * window)) break;
    const int r = hint ? freed_[i] : static_cast<int>((start + j) % n);
    if (!seen.empty()) {
      if (seen[static_cast<std::size_t>(r)]) continue;
      seen[static_cast<std::size_t>(r)] = true;
    }
    if (!hint) ++looked;
    ++examined_;
    // Its own rank runs its tasks without a lease; rank 0, which takes in the job's control
    // traffic, is kept off the path of bulk work unless it is the only other rank.
    if (r == holder || (r == 0 && n > 2 && !settings_.lend_rank0)) continue;
    const std::uint32_t free = free_slots(r, shape);
    if (free == 0) continue;
    const double load = busy.size() == n ? busy[static_cast<std::size_t>(r)] : 0;
    const std::uint32_t idle =
        idle_slots(free, totals_[static_cast<std::size_t>(r)].get("CPU"), load,
                   lent_[static_cast<std::size_t>(r)].get("CPU"), want_cpu);
    candidates.push_back({load, free, idle, i, r});
    found += free;
  }
  if (n > kSampleRanks) rotate_ += looked;  // the next request starts where this one stopped
  // Least loaded first, then the most room; the rotation breaks the remaining ties.
  auto better = [](const Candidate& a, const Candidate& b) {
    if (a.load != b.load) return a.load < b.load;
    if (a.free != b.free) return a.free > b.free;
    return a.order < b.order;
  };
  // Every rank could give a single slot: sort no more than the request could use.
  const std::size_t need = std::min<std::size_t>(candidates.size(), wanted);
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(need),
                    candidates.end(), better);
  candidates.resize(need);
  // One lease per rank in each pass, so a request spreads over ranks before it stacks leases
  // (of at most max_slots each) on one. The first pass gives each rank what it could start
  // now (at least one): seven long tasks land on seven idle ranks, not stacked on a few.
  std::uint32_t left = wanted;
  for (bool progress = true, first = true; left > 0 && progress; first = false) {
    progress = false;
    for (Candidate& c : candidates) {
      if (left == 0) break;
      const std::uint32_t slots = std::min({left, first ? c.idle : c.free, settings_.max_slots});
      if (slots == 0) continue;
      out.push_back(lend(holder, c.rank, shape, slots, now));
      c.free -= slots;
      c.idle -= std::min(c.idle, slots);
      left -= slots;
      progress = true;
    }
  }
  return out;
}

Lease LeaseTable::lend(int holder, int rank, const ResourceSet& shape, std::uint32_t slots,
                       LeaseClock::time_point now) {
  Lease l;
  l.id = next_id_++;
  l.holder = holder;
  l.rank = rank;
  l.shape = shape;
  l.slots = slots;
  l.expires = now + settings_.term;
  lent_[static_cast<std::size_t>(rank)].add(scaled(shape, slots));
  held_slots_[holder] += slots;
  ++granted_;
  leases_.emplace(l.id, l);
  return l;
}

std::vector<Lease> LeaseTable::request(int holder, const ResourceSet& shape, std::uint32_t wanted,
                                       const std::vector<double>& busy,
                                       LeaseClock::time_point now) {
  // A new request replaces the holder's waiting one for the same shape.
  if (std::erase_if(waiting_,
                    [&](const Waiting& w) { return w.holder == holder && w.shape == shape; })) {
    room_changed_ = true;  // the others' fair shares grew
  }
  std::uint32_t limit = wanted;
  if (others_wait(holder)) {
    limit = static_cast<std::uint32_t>(std::min<std::uint64_t>(limit, share_left(holder, shape)));
  }
  std::vector<Lease> out = grant(holder, shape, limit, busy, now);
  std::uint32_t got = 0;
  for (const Lease& l : out) got += l.slots;
  if (got < wanted) waiting_.push_back({holder, shape, wanted - got});
  return out;
}

void LeaseTable::end(const Lease& l) {
  room_changed_ = true;
  if (freed_.size() < 4 * kSampleRanks) freed_.push_back(l.rank);
  auto& lent = lent_[static_cast<std::size_t>(l.rank)];
  lent.subtract(scaled(l.shape, l.slots));
  auto it = held_slots_.find(l.holder);
  if (it != held_slots_.end()) {
    it->second -= std::min<std::uint64_t>(it->second, l.slots);
    if (it->second == 0) held_slots_.erase(it);
  }
  leases_.erase(l.id);
}

bool LeaseTable::give_back(int holder, std::uint64_t id) {
  auto it = leases_.find(id);
  if (it == leases_.end() || it->second.holder != holder) return false;
  const Lease l = it->second;
  end(l);
  return true;
}

std::vector<Lease> LeaseTable::renew(int holder, const std::vector<std::uint64_t>& ids,
                                     LeaseClock::time_point now) {
  std::vector<Lease> out;
  const bool contested = others_wait(holder);
  std::uint64_t fair = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t kept = 0;
  for (std::uint64_t id : ids) {
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.holder != holder) continue;
    Lease& l = it->second;
    if (contested) {
      if (fair == std::numeric_limits<std::uint64_t>::max()) {
        fair = std::max<std::uint64_t>(1, capacity(l.shape) / contenders(holder));
      }
      // Past its share the lease runs out; the first one is always kept so no holder starves.
      if (kept > 0 && kept + l.slots > fair) continue;
    }
    kept += l.slots;
    l.expires = now + settings_.term;
    out.push_back(l);
  }
  return out;
}

std::vector<Lease> LeaseTable::expire(LeaseClock::time_point now) {
  std::vector<Lease> out;
  for (const auto& [id, l] : leases_) {
    if (l.expires <= now) out.push_back(l);
  }
  for (const Lease& l : out) end(l);
  return out;
}

std::vector<Lease> LeaseTable::grant_waiting(const std::vector<double>& busy,
                                             LeaseClock::time_point now) {
  std::vector<Lease> out;
  if (!room_changed_ || waiting_.empty()) {
    if (waiting_.empty()) freed_.clear();
    return out;
  }
  room_changed_ = false;
  // Each waiting request in turn gets what room and its share allow (the share counts every
  // holder still waiting); the ones not fully served keep their place. A shape that ran out
  // for one request is not looked for again in this pass.
  std::vector<const ResourceSet*> ran_out;
  for (Waiting& w : waiting_) {
    if (std::any_of(ran_out.begin(), ran_out.end(),
                    [&](const ResourceSet* r) { return *r == w.shape; }))
      continue;
    std::uint32_t limit = w.wanted;
    if (others_wait(w.holder)) {
      limit =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(limit, share_left(w.holder, w.shape)));
    }
    std::uint32_t got = 0;
    for (Lease& l : grant(w.holder, w.shape, limit, busy, now)) {
      got += l.slots;
      w.wanted -= std::min(w.wanted, l.slots);
      out.push_back(std::move(l));
    }
    if (got < limit) ran_out.push_back(&w.shape);
  }
  std::erase_if(waiting_, [](const Waiting& w) { return w.wanted == 0; });
  freed_.clear();  // looked at by every request above
  return out;
}

std::vector<Lease> LeaseTable::rank_lost(int rank) {
  std::vector<Lease> out;
  for (const auto& [id, l] : leases_) {
    if (l.rank == rank || l.holder == rank) out.push_back(l);
  }
  for (const Lease& l : out) end(l);
  std::erase_if(waiting_, [&](const Waiting& w) { return w.holder == rank; });
  room_changed_ = true;
  if (rank >= 0 && static_cast<std::size_t>(rank) < lendable_.size()) {
    lost_[static_cast<std::size_t>(rank)] = true;
    capacity_.clear();
  }
  return out;
}

}  // namespace manta::engine
