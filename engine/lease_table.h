// Rank 0's record of the capacity it lends: leases. A submitter whose own queue is long asks
// rank 0 once for room on other ranks; rank 0 grants leases (a rank, the shape of one task, how
// many such tasks may be in flight at once, until when), and the submitter then sends tasks
// straight to the leased ranks until it gives the leases back or their term ends. Rank 0 sees
// one request per lease instead of one message per task.
//
// This is the decision side only, as plain data and pure steps (no locks, no messages, time
// passed in), so the protocol's rules are unit tested and the control-plane simulator runs them
// at thousands of ranks. docs/leases.md describes the protocol.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/resources.h"

namespace manta::engine {

using LeaseClock = std::chrono::steady_clock;

/// One grant: `holder` may keep up to `slots` tasks shaped `shape` running or queued on `rank`
/// until `expires`.
struct Lease {
  std::uint64_t id = 0;
  int holder = -1;
  int rank = -1;
  ResourceSet shape;
  std::uint32_t slots = 0;
  LeaseClock::time_point expires{};
};

struct LeaseSettings {
  /// The most slots one lease carries: a holder that wants more gets several leases, spread
  /// over ranks.
  std::uint32_t max_slots = 64;
  /// How far a rank is lent beyond what it offers: tasks queued behind the running ones keep
  /// its workers busy while results travel back and new tasks come.
  double oversubscribe = 2.0;
  /// How long a lease lasts unless renewed; a holder that goes silent loses its leases then.
  LeaseClock::duration term = std::chrono::seconds(2);
  /// Whether rank 0 is lent when other ranks could be: it takes in the job's control traffic,
  /// so by default bulk work stays off it (with two ranks it is the only other one).
  bool lend_rank0 = false;
};

class LeaseTable {
 public:
  /// Past this many ranks, a request looks at a rotating window of ranks rather than all.
  static constexpr std::size_t kSampleRanks = 256;

  /// `totals`: what each rank offers.
  LeaseTable(std::vector<ResourceSet> totals, LeaseSettings settings);

  /// `holder` asks for `wanted` more slots for tasks shaped `shape`. Grants what is free now,
  /// least loaded ranks first (`busy`: tasks queued or on their way per CPU, by rank, from the
  /// global scheduler's view; may be empty), never on the
  /// holder's own rank, and no more than the holder's fair share while other holders wait. What
  /// it cannot grant now waits (one request per holder and shape; a new one replaces it) and is
  /// served by grant_waiting() as leases end.
  std::vector<Lease> request(int holder, const ResourceSet& shape, std::uint32_t wanted,
                             const std::vector<double>& busy, LeaseClock::time_point now);

  /// The holder gives a lease back: its slots are free. False when no such lease is held by it
  /// (already expired, or never granted).
  bool give_back(int holder, std::uint64_t id);

  /// Extends the holder's leases named in `ids` by one term, except where others wait for room
  /// and the holder holds more than its fair share: those end at their expiry, which is how
  /// room moves from a heavy holder to a newcomer. Returns the leases extended, with their new
  /// expiry.
  std::vector<Lease> renew(int holder, const std::vector<std::uint64_t>& ids,
                           LeaseClock::time_point now);

  /// Leases whose term ended take their slots back (a silent holder, or one refused renewal).
  std::vector<Lease> expire(LeaseClock::time_point now);

  /// Serves waiting requests in turn, one holder after another, as far as room allows.
  std::vector<Lease> grant_waiting(const std::vector<double>& busy, LeaseClock::time_point now);

  /// A rank is gone: the leases on it and those it held end, its waiting request is dropped.
  std::vector<Lease> rank_lost(int rank);

  /// Slots lent on `rank` for tasks shaped `shape`, what is left there, and totals for reports.
  [[nodiscard]] std::uint32_t free_slots(int rank, const ResourceSet& shape) const;
  [[nodiscard]] std::size_t active() const noexcept { return leases_.size(); }
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.size(); }
  [[nodiscard]] std::uint64_t slots_held_by(int holder) const;
  [[nodiscard]] std::uint64_t granted() const noexcept { return granted_; }
  /// Ranks looked at by all requests so far (a request's cost).
  [[nodiscard]] std::uint64_t ranks_examined() const noexcept { return examined_; }
  [[nodiscard]] const LeaseSettings& settings() const noexcept { return settings_; }

 private:
  struct Waiting {
    int holder = -1;
    ResourceSet shape;
    std::uint32_t wanted = 0;
  };

  /// Grants up to `wanted` slots to `holder`, least loaded ranks first.
  std::vector<Lease> grant(int holder, const ResourceSet& shape, std::uint32_t wanted,
                           const std::vector<double>& busy, LeaseClock::time_point now);
  /// Records a lease of `slots` on `rank` for `holder`.
  Lease lend(int holder, int rank, const ResourceSet& shape, std::uint32_t slots,
             LeaseClock::time_point now);
  /// Slots of `shape` the whole job could lend at once (its fair-share base).
  [[nodiscard]] std::uint64_t capacity(const ResourceSet& shape) const;
  /// Slots `holder` may still take while others wait: its fair share minus what it holds.
  [[nodiscard]] std::uint64_t share_left(int holder, const ResourceSet& shape) const;
  /// Holders with leases or a waiting request, `also` counted too.
  [[nodiscard]] std::size_t contenders(int also) const;
  [[nodiscard]] bool others_wait(int holder) const;
  void end(const Lease& l);

  const std::vector<ResourceSet> totals_;
  std::vector<ResourceSet> lendable_;  // totals × oversubscribe
  std::vector<ResourceSet> lent_;      // sum of shape × slots of the leases on each rank
  std::vector<bool> lost_;             // ranks gone: nothing is lent there any more
  const LeaseSettings settings_;
  std::unordered_map<std::uint64_t, Lease> leases_;
  std::unordered_map<int, std::uint64_t> held_slots_;  // holder -> slots of its leases
  std::deque<Waiting> waiting_;
  mutable std::unordered_map<std::string, std::uint64_t> capacity_;  // by shape
  std::uint64_t next_id_ = 1;
  std::uint64_t granted_ = 0;
  std::uint64_t examined_ = 0;
  std::uint64_t rotate_ = 0;  // spreads ties between equally loaded ranks
  // Room came back (a lease ended, a waiter left) since waiting requests were last looked at:
  // until then another look would find nothing, and at 10,000 ranks a look is not free.
  bool room_changed_ = true;
  std::vector<int> freed_;  // ranks where leases ended since then (bounded)
};

}  // namespace manta::engine
