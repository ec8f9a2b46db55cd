#include "engine/scheduling_policy.h"

#include <algorithm>
#include <limits>

namespace manta::engine {

int heaviest_input_rank(const std::vector<std::uint64_t>& input_bytes) {
  int best = -1;
  for (std::size_t r = 0; r < input_bytes.size(); ++r) {
    if (input_bytes[r] >= kLocalityMinBytes &&
        (best < 0 || input_bytes[r] > input_bytes[static_cast<std::size_t>(best)])) {
      best = static_cast<int>(r);
    }
  }
  return best;
}

LocalDecision decide_locally(const ResourceSet& request, const ResourceSet& local_total,
                             std::uint64_t local_queued, std::uint64_t forward_threshold,
                             int local_rank, const std::vector<std::uint64_t>& input_bytes,
                             SpillbackView spill) {
  if (!request.fits_in(local_total)) return LocalDecision::forward;
  const int heaviest = heaviest_input_rank(input_bytes);
  if (heaviest >= 0 && heaviest != local_rank &&
      (local_rank < 0 || static_cast<std::size_t>(local_rank) >= input_bytes.size() ||
       input_bytes[static_cast<std::size_t>(heaviest)] >
           input_bytes[static_cast<std::size_t>(local_rank)])) {
    return LocalDecision::forward;  // the global scheduler can send it to its data
  }
  if (spill.starts_now) return LocalDecision::run_here;  // the hot path: nothing is sent
  if (spill.free_elsewhere) return LocalDecision::spill_back;
  if (local_queued >= forward_threshold) return LocalDecision::forward;
  return LocalDecision::run_here;
}

namespace {

// Free resources next to a queue are not free: waiting and assigned tasks take them first.
ResourceSet free_after_queue(const ResourceSet& request, const RankLoad& l) {
  ResourceSet free_now = l.available;
  const std::uint64_t ahead = l.queued + l.assigned;
  for (std::uint64_t i = 0; i < ahead && request.fits_in(free_now); ++i) free_now.subtract(request);
  return free_now;
}

double load_per_cpu(const RankLoad& l) {
  const double cpus = std::max(1.0, l.total.get("CPU"));
  const double busy = std::max(0.0, l.total.get("CPU") - l.available.get("CPU"));
  return (static_cast<double>(l.queued + l.assigned) + busy) / cpus;
}

}  // namespace

std::uint64_t free_slots(const ResourceSet& request, const RankLoad& rank, std::uint64_t cap) {
  if (!request.fits_in(rank.total)) return 0;
  ResourceSet free_now = free_after_queue(request, rank);
  std::uint64_t n = 0;
  while (n < cap && request.fits_in(free_now)) {
    if (request.items().empty()) return cap;  // asks for nothing: never runs out
    free_now.subtract(request);
    ++n;
  }
  return n;
}

std::optional<int> pick_free_rank(const ResourceSet& request, const std::vector<RankLoad>& ranks,
                                  int exclude, std::uint64_t hint) {
  const auto n = static_cast<std::uint64_t>(ranks.size());
  std::optional<int> best;
  double best_load = std::numeric_limits<double>::max();
  for (std::uint64_t k = 0; k < n; ++k) {
    const auto r = static_cast<std::size_t>((hint + k) % n);
    if (static_cast<int>(r) == exclude || free_slots(request, ranks[r], 1) == 0) continue;
    if (const double load = load_per_cpu(ranks[r]); load < best_load) {
      best_load = load;
      best = static_cast<int>(r);
    }
  }
  return best;
}

std::vector<std::uint64_t> free_slots_elsewhere(const ResourceSet& request,
                                                const std::vector<RankLoad>& ranks) {
  std::vector<std::uint64_t> own(ranks.size());
  std::uint64_t all = 0;
  for (std::size_t r = 0; r < ranks.size(); ++r) all += own[r] = free_slots(request, ranks[r]);
  for (auto& n : own) n = all - n;
  return own;
}

std::optional<int> pick_rank(const ResourceSet& request, const std::vector<RankLoad>& ranks,
                             std::uint64_t hint, const std::vector<std::uint64_t>& input_bytes) {
  const int n = static_cast<int>(ranks.size());
  int best_free = -1, best_any = -1;
  double best_free_load = std::numeric_limits<double>::max();
  double best_any_load = std::numeric_limits<double>::max();
  std::vector<double> loads(ranks.size(), 0.0);
  std::vector<bool> free_there(ranks.size(), false);
  for (int k = 0; k < n; ++k) {
    const int r =
        static_cast<int>((hint + static_cast<std::uint64_t>(k)) % static_cast<std::uint64_t>(n));
    const RankLoad& l = ranks[r];
    if (!request.fits_in(l.total)) continue;
    const double load = load_per_cpu(l);
    const ResourceSet free_now = free_after_queue(request, l);
    if (request.fits_in(free_now) && load < best_free_load) {
      best_free_load = load;
      best_free = r;
    }
    if (load < best_any_load) {
      best_any_load = load;
      best_any = r;
    }
    loads[static_cast<std::size_t>(r)] = load;
    free_there[static_cast<std::size_t>(r)] = request.fits_in(free_now);
  }
  if (const int data = heaviest_input_rank(input_bytes);
      data >= 0 && data < n && request.fits_in(ranks[static_cast<std::size_t>(data)].total)) {
    const auto d = static_cast<std::size_t>(data);
    const double best = best_free >= 0 ? best_free_load : best_any_load;
    // Following the data beats moving it unless the data's rank is well behind: its load
    // counts tasks assigned since its last report, which may well have finished already.
    if (free_there[d] || loads[d] <= best + kLocalityMaxExtraLoad) return data;
  }
  if (best_free >= 0) return best_free;
  if (best_any >= 0) return best_any;
  return std::nullopt;
}

bool feasible_anywhere(const ResourceSet& request, const std::vector<ResourceSet>& totals) {
  return std::any_of(totals.begin(), totals.end(),
                     [&](const ResourceSet& t) { return request.fits_in(t); });
}

}  // namespace manta::engine
