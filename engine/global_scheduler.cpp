#include "engine/global_scheduler.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/dispatcher.h"
#include "engine/log.h"
#include "engine/messages.h"

namespace manta::engine {

GlobalScheduler::GlobalScheduler(std::vector<ResourceSet> totals, int max_actors, LocalLoad local)
    : totals_(std::move(totals)), max_actors_(max_actors), local_(std::move(local)) {
  loads_.resize(totals_.size());
  sent_to_.assign(totals_.size(), 0);
  actors_on_.assign(totals_.size(), 0);
  spill_hint_sent_.assign(totals_.size(), 0);
  for (std::size_t r = 0; r < totals_.size(); ++r) {
    loads_[r].total = loads_[r].available = totals_[r];
    cpus_.push_back(std::max(1.0, totals_[r].get("CPU")));
  }
}

void GlobalScheduler::register_handlers(Dispatcher& d) {
  d.on(MessageType::load_report, [this](int source, transport::WireReader& r, auto) {
    const auto queued = r.get<std::uint64_t>();
    const auto received = r.get<std::uint64_t>();
    report(source, queued, received, read_resources(r));
  });
}

void GlobalScheduler::refresh_rank0() {
  if (local_) local_(loads_[0]);
  loads_[0].assigned = 0;
}

void GlobalScheduler::report(int rank, std::uint64_t queued, std::uint64_t received,
                             ResourceSet available) {
  std::lock_guard lock(mutex_);
  if (rank < 0 || static_cast<std::size_t>(rank) >= loads_.size()) return;
  if (rank != 0) ++others_changed_;
  loads_[rank].queued = queued;
  loads_[rank].available = std::move(available);
  // Placements sent but not yet seen by that rank when it reported are still on their way.
  loads_[rank].assigned = sent_to_[rank] > received ? sent_to_[rank] - received : 0;
}

std::optional<int> GlobalScheduler::place_task(const ResourceSet& request,
                                               const std::vector<std::uint64_t>& input_bytes,
                                               std::string_view what) {
  std::lock_guard lock(mutex_);
  refresh_rank0();
  const std::optional<int> target = pick_rank(request, loads_, hint_++, input_bytes);
  if (target && *target != 0) {
    ++loads_[*target].assigned;
    ++sent_to_[*target];
    ++others_changed_;
  }
  if (log().should_log(spdlog::level::debug)) {
    std::string view;
    for (std::size_t r = 0; r < loads_.size(); ++r) {
      view += fmt::format(" r{}:q{}+a{} free {}", r, loads_[r].queued, loads_[r].assigned,
                          loads_[r].available.get("CPU"));
    }
    log().debug("global scheduler: {} -> rank {};{}", what, target.value_or(-1), view);
  }
  return target;
}

bool GlobalScheduler::free_elsewhere(const ResourceSet& request) {
  std::lock_guard lock(mutex_);
  // Rank 0's own load is left out, so its refresh is not needed here.
  FreeElsewhere& c = free_elsewhere_;
  if (c.version != others_changed_ || !(c.request == request)) {
    c.free = pick_free_rank(request, loads_, /*exclude=*/0).has_value();
    c.version = others_changed_;
    c.request = request;
  }
  return c.free;
}

GlobalScheduler::Balance GlobalScheduler::balance(const ResourceSet& typical_request) {
  Balance out;
  std::lock_guard lock(mutex_);
  refresh_rank0();
  // Nothing waits anywhere and no hint is out: nothing to do (the common, idle tick).
  bool any = false;
  for (std::size_t r = 0; r < loads_.size() && !any; ++r) {
    any = loads_[r].queued > 0 || spill_hint_sent_[r] > 0;
  }
  if (!any) return out;
  const std::vector<std::uint64_t> elsewhere = free_slots_elsewhere(typical_request, loads_);
  out.free_for_rank0 = loads_[0].queued > 0 ? elsewhere[0] : 0;
  for (std::size_t r = 1; r < loads_.size(); ++r) {
    // Only ranks with waiting work hear of free slots, and only when the number changes.
    const std::uint64_t hint = loads_[r].queued > 0 ? elsewhere[r] : 0;
    if (hint != spill_hint_sent_[r]) {
      spill_hint_sent_[r] = hint;
      out.hints.emplace_back(static_cast<int>(r), hint);
    }
  }
  return out;
}

std::optional<int> GlobalScheduler::pick_actor_host(const ResourceSet& request,
                                                    std::vector<RankLoad>& view) {
  auto has_slot = [&](std::size_t k) { return view[k].available.get("actor_slots") >= 1; };
  std::optional<int> pick = pick_rank(request, view, hint_++);
  if (pick && !has_slot(static_cast<std::size_t>(*pick))) {
    // The least loaded rank is full of actors: only ranks with a free slot may host it (where it
    // may still wait for other resources, such as CPUs, to free up).
    std::vector<RankLoad> with_slots = view;
    for (std::size_t k = 0; k < with_slots.size(); ++k) {
      if (!has_slot(k)) with_slots[k].total.set("actor_slots", 0);
    }
    pick = pick_rank(request, with_slots, hint_);
  }
  return pick;
}

GlobalScheduler::ActorPlacement GlobalScheduler::place_actor(const ResourceSet& request,
                                                             int on_rank) {
  ActorPlacement out;
  std::lock_guard lock(mutex_);
  refresh_rank0();
  // The actor table knows exactly how many actors live on each rank: use that for the slots
  // instead of load reports, which lag behind a burst of creations and kills.
  std::vector<RankLoad> view = loads_;
  for (std::size_t k = 0; k < view.size(); ++k) {
    const double slots = view[k].total.get("actor_slots") - static_cast<double>(actors_on_[k]);
    view[k].available.set("actor_slots", std::max(0.0, slots));
    view[k].queued = 0;  // queued tasks take no actor slots
    view[k].assigned = 0;
  }
  const int ranks = static_cast<int>(loads_.size());
  if (on_rank >= 0) {
    if (on_rank < ranks && request.fits_in(loads_[on_rank].total)) {
      if (view[on_rank].available.get("actor_slots") >= 1) {
        out.host = on_rank;
      } else {
        out.waits_for = fmt::format("rank {} hosts its {} actors (--manta-max-actors)", on_rank,
                                    actors_on_[on_rank]);
      }
    }
  } else if (feasible_anywhere(request, totals_)) {
    out.host = pick_actor_host(request, view);
    if (!out.host) {
      // Every rank that could host it is full: a creation sent on would wait in a queue there,
      // unseen. It waits at rank 0, said so, until an actor ends.
      std::uint64_t live = 0;
      for (auto n : actors_on_) live += n;
      out.waits_for = fmt::format(
          "every rank that could host it is full ({} actors live on {} ranks, "
          "--manta-max-actors={} per rank)",
          live, ranks, max_actors_);
    }
  }
  if (out.host) {
    if (*out.host != 0) {
      ++loads_[*out.host].assigned;
      ++sent_to_[*out.host];
      ++others_changed_;
    }
    ++actors_on_[*out.host];
  }
  return out;
}

void GlobalScheduler::actor_ended(int host) {
  std::lock_guard lock(mutex_);
  if (host >= 0 && static_cast<std::size_t>(host) < actors_on_.size() && actors_on_[host] > 0) {
    --actors_on_[host];
  }
}

std::vector<RankLoad> GlobalScheduler::loads() const {
  std::lock_guard lock(mutex_);
  return loads_;
}

std::vector<double> GlobalScheduler::busy_per_cpu() {
  std::lock_guard lock(mutex_);
  refresh_rank0();
  std::vector<double> out(loads_.size());
  for (std::size_t r = 0; r < loads_.size(); ++r) {
    out[r] = static_cast<double>(loads_[r].queued + loads_[r].assigned) / cpus_[r];
  }
  return out;
}

std::uint64_t GlobalScheduler::actors_on(int rank) const {
  std::lock_guard lock(mutex_);
  return actors_on_.at(static_cast<std::size_t>(rank));
}

}  // namespace manta::engine
