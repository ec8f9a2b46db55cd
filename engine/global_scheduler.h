// Rank 0's global scheduler: its view of every rank's load (from load_report messages and the
// placements it made since), and the decisions made from it: where a forwarded task runs, which
// rank hosts a new actor (or that it waits for a free actor slot), and which busy ranks should
// hand waiting tasks to idle ones (spill hints). It decides; the submitter and the control store
// send. The placement rules themselves are in scheduling_policy.h.
//
// Handles: load_report.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/resources.h"
#include "engine/scheduling_policy.h"

namespace manta::engine {

class Dispatcher;

class GlobalScheduler {
 public:
  /// Rank 0's own queue and free resources, read fresh at each decision.
  using LocalLoad = std::function<void(RankLoad& rank0)>;

  /// `totals`: what each rank offers; `max_actors`: --manta-max-actors, for messages.
  GlobalScheduler(std::vector<ResourceSet> totals, int max_actors, LocalLoad local);

  void register_handlers(Dispatcher& d);

  /// The rank a forwarded task runs on, or none when no rank offers what it asks for.
  /// `input_bytes`: bytes of its inputs held by each rank (locality). `what`: for the debug log.
  std::optional<int> place_task(const ResourceSet& request,
                                const std::vector<std::uint64_t>& input_bytes,
                                std::string_view what = {});
  /// Whether a rank other than 0 can start `request` now.
  bool free_elsewhere(const ResourceSet& request);

  /// What each tick's balancing should do: spill hints to send (only changed ones), and how
  /// many of rank 0's own waiting tasks other ranks could start.
  struct Balance {
    std::vector<std::pair<int, std::uint64_t>> hints;
    std::uint64_t free_for_rank0 = 0;
  };
  Balance balance(const ResourceSet& typical_request);

  /// Where a new actor goes: `host`, or `waits_for` (why it waits for a free actor slot), or
  /// neither (no rank can ever host it). A chosen host counts the actor at once.
  struct ActorPlacement {
    std::optional<int> host;
    std::string waits_for;
  };
  ActorPlacement place_actor(const ResourceSet& request, int on_rank);
  /// An actor placed on `host` ended: its slot is free.
  void actor_ended(int host);

  /// A rank's load report: its queue, free resources and how many placements it had received.
  void report(int rank, std::uint64_t queued, std::uint64_t received, ResourceSet available);

  [[nodiscard]] std::vector<RankLoad> loads() const;
  /// Tasks waiting or on their way per CPU, by rank: the load leases are granted by.
  [[nodiscard]] std::vector<double> busy_per_cpu();
  [[nodiscard]] std::uint64_t actors_on(int rank) const;
  [[nodiscard]] const std::vector<ResourceSet>& totals() const noexcept { return totals_; }

 private:
  void refresh_rank0();  // with mutex_ held
  std::optional<int> pick_actor_host(const ResourceSet& request, std::vector<RankLoad>& view);

  const std::vector<ResourceSet> totals_;
  const int max_actors_;
  LocalLoad local_;

  mutable std::mutex mutex_;
  std::vector<RankLoad> loads_;
  std::vector<double> cpus_;  // each rank's CPUs (at least 1), looked up once: busy_per_cpu
  std::vector<std::uint64_t> sent_to_;          // placements sent to each rank, ever
  std::vector<std::uint64_t> actors_on_;        // live actors placed on each rank
  std::vector<std::uint64_t> spill_hint_sent_;  // last spill hint sent to each rank
  std::uint64_t hint_ = 0;                      // rotates ties between equal ranks
  // free_elsewhere's last answer: rank 0 asks it for each task it would queue, and the other
  // ranks' view changes only with a report or a placement (others_changed_), not per task.
  std::uint64_t others_changed_ = 0;
  struct FreeElsewhere {
    std::uint64_t version = ~std::uint64_t{0};
    ResourceSet request;
    bool free = false;
  } free_elsewhere_;
};

}  // namespace manta::engine
