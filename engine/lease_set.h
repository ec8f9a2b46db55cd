// The submitter's side of leases (lease_table.h is rank 0's): the leases this rank holds, how
// many of each lease's slots its tasks use, which lease the next task goes out on, how many
// slots to ask rank 0 for, and which leases to renew or give back. Pure bookkeeping with time
// passed in; the submitter holds it under its own lock and sends the messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/lease_table.h"
#include "engine/resources.h"

namespace manta::engine {

class LeaseSet {
 public:
  /// `term`: a lease's length, as rank 0 grants it (for the renewal and expiry margins).
  explicit LeaseSet(LeaseClock::duration term) : term_(term) {}

  struct Use {
    std::uint64_t lease = 0;
    int rank = -1;
  };

  /// A grant from rank 0.
  void add(const Lease& lease);
  /// Rank 0 extended a lease.
  void renewed(std::uint64_t id, LeaseClock::time_point expires);
  /// Rank 0 ended a lease (its rank is gone, or it expired there): no new tasks go out on it.
  void ended(std::uint64_t id);

  /// A slot for a task shaped `shape`: on the lease with the most free slots, so tasks spread
  /// over the leased ranks. None when every fitting lease is full or about to expire (a task
  /// sent in a lease's last moments could arrive after it ended).
  std::optional<Use> take(const ResourceSet& shape, LeaseClock::time_point now);
  /// A task sent on `lease` finished (its result came back): its slot is free again.
  void done(std::uint64_t lease, LeaseClock::time_point now);
  /// The leased rank handed a task back unstarted (it is busier than rank 0 knew): the slot is
  /// free, and the lease carries one slot fewer from now on.
  void refused(std::uint64_t lease, LeaseClock::time_point now);

  /// Slots to ask rank 0 for when `backlog` tasks shaped `shape` wait here for one: what the
  /// backlog needs beyond the free slots, none while a request for that shape is out.
  [[nodiscard]] std::uint32_t to_ask(const ResourceSet& shape, std::uint64_t backlog,
                                     LeaseClock::time_point now, std::uint32_t max_ask) const;
  void asked(const ResourceSet& shape) { asking_.push_back(shape); }
  /// Rank 0 answered the request for `shape` (with or without grants).
  void answered(const ResourceSet& shape);
  [[nodiscard]] bool asking(const ResourceSet& shape) const;

  /// Leases to give back now, dropped here: nothing in flight on them for `idle`. Leases past
  /// their expiry with nothing in flight are dropped without a message (rank 0 ended them).
  std::vector<std::uint64_t> to_return(LeaseClock::time_point now, LeaseClock::duration idle);
  /// Leases to renew: in use, and within half a term of their end.
  [[nodiscard]] std::vector<std::uint64_t> to_renew(LeaseClock::time_point now) const;

  [[nodiscard]] std::size_t held() const noexcept { return leases_.size(); }
  [[nodiscard]] std::uint64_t in_flight() const noexcept { return in_flight_; }
  [[nodiscard]] std::uint64_t free_slots(const ResourceSet& shape,
                                         LeaseClock::time_point now) const;
  [[nodiscard]] bool holds(std::uint64_t id) const { return leases_.count(id) != 0; }

 private:
  struct Held {
    Lease lease;
    std::uint32_t used = 0;
    bool ended = false;                  // no new tasks; kept while tasks are in flight on it
    LeaseClock::time_point last_used{};  // when its last task came back (or it was granted)
  };
  [[nodiscard]] bool usable(const Held& h, LeaseClock::time_point now) const;
  void forget_if_finished(std::unordered_map<std::uint64_t, Held>::iterator it);

  LeaseClock::duration term_;
  std::unordered_map<std::uint64_t, Held> leases_;
  std::vector<ResourceSet> asking_;  // shapes with a request out at rank 0
  std::uint64_t in_flight_ = 0;
};

}  // namespace manta::engine
