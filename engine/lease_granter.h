// Rank 0's side of leases: answers lease requests from the submitters' ranks with leases from
// its LeaseTable (least loaded ranks first, by the global scheduler's view), extends and takes
// back leases, and on each tick ends the expired ones and serves requests that waited for room.
// One message in per lease request, renewal batch or return: never one per task.
//
// Handles: lease_request, lease_renew, lease_return.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "engine/lease_table.h"
#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;
class GlobalScheduler;

/// Counters for the status report, the benchmark and tests.
struct LeaseGranterStats {
  std::uint64_t requests = 0;  // lease_request messages taken in
  std::uint64_t granted = 0;   // leases granted
  std::uint64_t renewed = 0;   // leases extended
  std::uint64_t returned = 0;  // leases given back
  std::uint64_t expired = 0;   // leases that ran out
  std::uint64_t active = 0;    // leases held now
  std::uint64_t waiting = 0;   // requests waiting for room now
};

class LeaseGranter {
 public:
  LeaseGranter(RankContext& ctx, std::vector<ResourceSet> totals, LeaseSettings settings,
               GlobalScheduler& global);

  void register_handlers(Dispatcher& d);
  /// Each tick: ends expired leases, then grants waiting requests the room that freed up.
  void tick();
  [[nodiscard]] LeaseGranterStats stats() const;
  /// The clock terms are measured with (the control-plane simulator runs on its own time).
  void set_clock(std::function<LeaseClock::time_point()> clock) { clock_ = std::move(clock); }

 private:
  void on_request(int holder, const ResourceSet& shape, std::uint32_t wanted);
  /// One lease_grant per holder and shape; `answer`: it answers that holder's request.
  void send(const std::vector<Lease>& leases, LeaseClock::time_point now, int answer_to = -1,
            const ResourceSet* answer_shape = nullptr);

  RankContext& ctx_;
  GlobalScheduler& global_;
  mutable std::mutex mutex_;
  LeaseTable table_;
  LeaseGranterStats stats_;
  std::function<LeaseClock::time_point()> clock_ = [] { return LeaseClock::now(); };
};

}  // namespace manta::engine
