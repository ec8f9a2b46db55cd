// A rank's side of leases as a submitter: the leases rank 0 lent it (a LeaseSet under a lock),
// the requests, renewals and returns it sends, and the grants it takes in. The submitter asks
// it for a slot before it sends a task to another rank, and tells it when the task came back.
//
// Handles: lease_grant, lease_renewed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "engine/lease_set.h"
#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;

/// Counters for the status report, the benchmark and tests.
struct LeaseHolderStats {
  std::uint64_t requests = 0;   // lease_request messages sent
  std::uint64_t granted = 0;    // leases received
  std::uint64_t returned = 0;   // leases given back
  std::uint64_t sent = 0;       // tasks sent on leases
  std::uint64_t refused = 0;    // tasks a leased rank handed back
  std::uint64_t held = 0;       // leases held now
  std::uint64_t in_flight = 0;  // tasks out on leases now
};

class LeaseHolder {
 public:
  /// `term`: a lease's length; `idle`: how long a lease may carry nothing before it goes back.
  LeaseHolder(RankContext& ctx, LeaseClock::duration term, LeaseClock::duration idle);

  /// `on_room`: new slots arrived (a grant): the submitter sends waiting tasks out on them.
  void register_handlers(Dispatcher& d, std::function<void()> on_room);

  /// A slot for a task shaped `shape` on a leased rank, or none free.
  std::optional<LeaseSet::Use> take(const ResourceSet& shape);
  /// A task sent on `lease` came back (result or failure): its slot is free.
  void done(std::uint64_t lease);
  /// The leased rank handed a task back: that lease carries one slot fewer.
  void refused(std::uint64_t lease);
  /// Free slots for tasks shaped `shape`.
  [[nodiscard]] std::uint64_t free_slots(const ResourceSet& shape) const;

  /// `backlog` tasks shaped `shape` wait on this rank: asks rank 0 for room, unless a request
  /// for that shape is out or waits there (then rank 0 sends room when it has some).
  void want(const ResourceSet& shape, std::uint64_t backlog);
  /// Each tick: renews leases still in use, gives back idle ones, and forgets requests that
  /// went unanswered for a whole term (so they can be made again).
  void tick();

  [[nodiscard]] LeaseHolderStats stats() const;

 private:
  void on_grant(transport::WireReader& r);

  RankContext& ctx_;
  const LeaseClock::duration term_;
  const LeaseClock::duration idle_;
  std::function<void()> on_room_;
  mutable std::mutex mutex_;
  LeaseSet set_;
  struct Asked {
    ResourceSet shape;
    LeaseClock::time_point when{};
  };
  std::map<std::string, Asked> asked_;  // requests out or waiting at rank 0, by shape
  LeaseHolderStats stats_;
};

}  // namespace manta::engine
