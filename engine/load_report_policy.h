// When a rank sends rank 0 a load report. Every rank used to report each tick its load changed,
// so rank 0 took in up to (ranks - 1) / tick reports a second: 500 k/s at 10,000 ranks, more than
// it can handle besides its real work. Two rules bound that intake and keep the view useful:
//
// - Spacing. A rank reports at most once per spacing = max(tick, (ranks - 1) / budget), so all
//   ranks together send rank 0 at most `budget` reports a second however many there are.
// - Significance. A report goes only when rank 0's view of the rank is wrong in a way its
//   decisions notice: a resource went from none free to some free or back, the queue crossed
//   zero or the forwarding threshold, or the queue differs from what rank 0 believes (the last
//   report plus the tasks it placed here since) by a CPU's worth and a quarter. Any other change
//   is reported once the last report is max_staleness old, so the view never lags for long.
#pragma once

#include <chrono>
#include <cstdint>

#include "engine/resources.h"

namespace manta::engine {

using ReportClock = std::chrono::steady_clock;

struct LoadReportSettings {
  int ranks = 1;                                               // in the job, rank 0 included
  ReportClock::duration tick = std::chrono::milliseconds(20);  // --manta-report-interval-ms
  double budget = 50000;                // reports a second into rank 0 from all ranks; 0: no cap
  std::uint64_t forward_threshold = 4;  // queued tasks past which tasks leave the rank
  double cpus = 1;                      // the rank's CPUs: the smallest queue change that matters
  // What rank 0 assumes before the first report: nothing waiting, `total` free. A rank that
  // starts idle has nothing to say, so 10,000 ranks starting do not flood rank 0.
  ResourceSet total;
};

/// What a load report carries.
struct LoadSnapshot {
  std::uint64_t queued = 0;  // tasks waiting for a worker
  std::uint64_t placed = 0;  // placements by rank 0 received, ever
  ResourceSet available;     // free now
  friend bool operator==(const LoadSnapshot&, const LoadSnapshot&) = default;
};

class LoadReportPolicy {
 public:
  /// How many spacings old a report may get before any change is reported.
  static constexpr int kStaleSpacings = 5;

  explicit LoadReportPolicy(const LoadReportSettings& s);

  /// The least time between two reports of one rank.
  [[nodiscard]] ReportClock::duration spacing() const noexcept { return spacing_; }
  /// How old the last report may get while the load differs from it.
  [[nodiscard]] ReportClock::duration max_staleness() const noexcept {
    return kStaleSpacings * spacing_;
  }

  /// Whether `load` should be reported at `now`. A load other than the idle one rank 0 assumes
  /// at the start is reported at the first call.
  [[nodiscard]] bool due(const LoadSnapshot& load, ReportClock::time_point now) const;
  /// The report of `load` was sent at `now`.
  void sent(const LoadSnapshot& load, ReportClock::time_point now);
  /// due, and when it is, sent: the one call a tick needs.
  bool report(const LoadSnapshot& load, ReportClock::time_point now);

  /// Whether rank 0's view after `last` differs from `load` enough to change its decisions.
  [[nodiscard]] bool significant(const LoadSnapshot& last, const LoadSnapshot& load) const;

 private:
  LoadReportSettings s_;
  ReportClock::duration spacing_;
  LoadSnapshot last_;
  bool started_ = false;  // a report went: last_at_ holds when
  ReportClock::time_point last_at_{};
};

}  // namespace manta::engine
