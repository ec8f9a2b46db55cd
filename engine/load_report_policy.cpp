#include "engine/load_report_policy.h"

#include <algorithm>
#include <cmath>

namespace manta::engine {

namespace {

// Resources (CPU, GPU, custom) with some amount free: a task of that kind could start.
bool same_free_kinds(const ResourceSet& a, const ResourceSet& b) {
  const auto& x = a.items();
  const auto& y = b.items();
  return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                    [](const auto& p, const auto& q) { return p.first == q.first; });
}

}  // namespace

LoadReportPolicy::LoadReportPolicy(const LoadReportSettings& s) : s_(s), spacing_(s.tick) {
  last_.available = s_.total;
  if (s_.budget > 0 && s_.ranks > 1) {
    const std::chrono::duration<double> share(static_cast<double>(s_.ranks - 1) / s_.budget);
    spacing_ = std::max(spacing_, std::chrono::duration_cast<ReportClock::duration>(share));
  }
}

bool LoadReportPolicy::significant(const LoadSnapshot& last, const LoadSnapshot& load) const {
  if (!same_free_kinds(last.available, load.available)) return true;
  const std::uint64_t t = s_.forward_threshold;
  if ((last.queued == 0) != (load.queued == 0) || (last.queued >= t) != (load.queued >= t)) {
    return true;
  }
  // Rank 0 counts the tasks it placed here since the last report as waiting here.
  const double believed =
      static_cast<double>(last.queued) +
      static_cast<double>(load.placed > last.placed ? load.placed - last.placed : 0);
  const double queued = static_cast<double>(load.queued);
  const double off = std::abs(believed - queued);
  return off >= std::max(1.0, s_.cpus) && off >= 0.25 * std::max(believed, queued);
}

bool LoadReportPolicy::due(const LoadSnapshot& load, ReportClock::time_point now) const {
  if (last_ == load) return false;
  if (!started_) return true;
  const auto age = now - last_at_;
  if (age < spacing_) return false;
  return age >= max_staleness() || significant(last_, load);
}

void LoadReportPolicy::sent(const LoadSnapshot& load, ReportClock::time_point now) {
  last_ = load;
  last_at_ = now;
  started_ = true;
}

bool LoadReportPolicy::report(const LoadSnapshot& load, ReportClock::time_point now) {
  if (!due(load, now)) return false;
  sent(load, now);
  return true;
}

}  // namespace manta::engine
