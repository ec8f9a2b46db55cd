// The submitting side of a task: builds its spec from the API's submission, resolves its
// reference arguments (waiting for pending ones, asking their owners), then places it: here,
// on the rank `on_rank` names, to rank 0's global scheduler (forward), or to a rank with free
// resources (spillback). Actor creations and calls take the same path to their arguments, then
// go to rank 0 and to the actor routing.
//
// Past the forwarding threshold a rank sends tasks on leases: straight to ranks that rank 0
// lent it room on (lease_holder.h; rank 0's side: lease_granter.h). Tasks wait in the local
// queue for a free slot, and each result that comes back pulls the next one out.
//
// Handles: forward_task (rank 0), spill_hint, task_refused; lease messages through its parts.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <manta/detail/runtime_api.h>
#include <manta/options.h>

#include "engine/lease_granter.h"
#include "engine/lease_holder.h"
#include "engine/rank_context.h"
#include "engine/resources.h"
#include "engine/task_spec.h"

namespace manta::engine {

class Dispatcher;
class GlobalScheduler;
class Lineage;
class LocalScheduler;
class ObjectTransfer;
class TaskManager;
struct CallName;

class Submitter {
 public:
  struct Hooks {
    std::function<void(const TaskPtr&)> run_here;    // fetch arguments and queue it on this rank
    std::function<void(const TaskPtr&)> route_call;  // an actor call with its arguments resolved
    /// Checks and rewrites a spec aimed at a placement group's bundle (PlacementGroups::apply).
    std::function<void(TaskSpec&, const BundleTarget&, int on_rank, const CallName&)> in_group;
    /// Rank 0: a task of a placement group (PlacementGroups::place_task).
    std::function<void(const TaskPtr&)> place_in_group;
  };

  /// `totals`: what each rank offers. `global`: rank 0's global scheduler (null elsewhere).
  Submitter(RankContext& ctx, std::vector<ResourceSet> totals, TaskManager& tasks,
            ObjectTransfer& transfer, LocalScheduler& local, GlobalScheduler* global, Hooks hooks);

  void register_handlers(Dispatcher& d);
  /// Where the tasks this rank submits keep their lineage (null: none kept).
  void set_lineage(Lineage* lineage) noexcept { lineage_ = lineage; }

  /// manta::task(...).remote(...): the return object's token.
  std::shared_ptr<detail::RefToken> submit(detail::Submission&& s, const TaskOptions& options);
  /// A spec for `s` with `options`; large value arguments become objects in this rank's store.
  TaskPtr make_spec(detail::Submission&& s, const TaskOptions& options);
  /// Resolves the reference arguments, then places the task (or routes the creation or call).
  void resolve_arguments(const TaskPtr& t);
  /// Places a task whose arguments are resolved (also a retry's way back in).
  void place(const TaskPtr& t);
  /// A spec aimed at a placement group's bundle: checked and rewritten to its resources.
  void apply_group(TaskSpec& t, const BundleTarget& target, int on_rank, const CallName& call) {
    hooks_.in_group(t, target, on_rank, call);
  }
  /// Runs the task on `rank` (a placement decided elsewhere: rank 0's placement groups).
  void place_at(int rank, const TaskPtr& t);
  /// Rank 0, each tick: hands its own waiting tasks to idle ranks and tells busy ranks how many
  /// tasks others could start.
  void balance_waiting_work();
  /// Each tick: renews and gives back leases (every rank), ends expired ones and serves waiting
  /// requests (rank 0).
  void tick_leases();
  /// A task that went out on `lease` came back: the slot takes the next waiting task.
  void lease_slot_free(std::uint64_t lease);
  [[nodiscard]] LeaseHolderStats lease_stats() const { return leases_.stats(); }
  /// Rank 0's granter (null elsewhere).
  [[nodiscard]] const LeaseGranter* lease_granter() const noexcept { return granter_.get(); }

  [[nodiscard]] std::uint64_t submitted() const noexcept { return submitted_.load(); }
  [[nodiscard]] std::uint64_t forwarded() const noexcept { return forwarded_.load(); }
  [[nodiscard]] std::uint64_t handed_on() const noexcept { return handed_on_.load(); }
  /// Counts a call submitted through the actor routing.
  void count_submitted() noexcept { submitted_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void resolve_one(const TaskPtr& t, std::size_t index);
  void arguments_resolved(const TaskPtr& t);
  /// place() for a task with on_rank set.
  void place_on_rank(const TaskPtr& t);
  void schedule_globally(const TaskPtr& t);
  void send_task(int dest, const TaskPtr& t);
  void forward(const TaskPtr& t);
  /// Spillback: a task this busy rank cannot start now goes to a rank with free resources.
  void hand_on(const TaskPtr& t);
  /// Whether some other rank can start `request` now, as far as this rank knows.
  bool free_elsewhere(const ResourceSet& request);
  /// Whether a queued task may leave this rank for an idle one.
  [[nodiscard]] bool movable(const TaskSpec& t) const;
  void on_spill_hint(std::uint64_t hint);
  /// Whether a task past the threshold goes out on a lease rather than through rank 0.
  [[nodiscard]] bool leasable(const TaskSpec& t) const;
  /// Whether `queued` tasks here take long enough to run that some should go out on leases.
  [[nodiscard]] bool worth_a_lease(std::uint64_t queued) const;
  /// On rank 0: whether `t`, submitted by one of this rank's workers, stays here because a
  /// queue of `queued` drains soon (other ranks keep such waves by the same rule) or because
  /// no other rank has a free slot (`free_elsewhere` false).
  [[nodiscard]] bool keeps_nested_wave(const TaskSpec& t, std::uint64_t queued,
                                       bool free_elsewhere) const;
  /// Sends `t` on a free lease slot (true), or leaves it to the caller (false).
  bool send_on_lease(const TaskPtr& t);
  /// Tasks waiting here go out on the free lease slots.
  void fill_leases();
  void on_task_refused(const TaskId& id);
  /// Bytes of the task's reference arguments held on each rank (empty when it has none worth
  /// following), for locality-aware placement.
  std::vector<std::uint64_t> input_bytes_by_rank(const TaskSpec& t) const;
  /// A large value argument becomes an object here, so it moves only to where the task runs.
  void store_value_argument(TaskArg& a, const detail::ArgSlot& slot, const SharedBuffer& bytes);

  RankContext& ctx_;
  const std::vector<ResourceSet> totals_;
  TaskManager& tasks_;
  ObjectTransfer& transfer_;
  LocalScheduler& local_;
  GlobalScheduler* global_;
  Hooks hooks_;
  Lineage* lineage_ = nullptr;
  std::uint64_t forward_threshold_;
  std::shared_ptr<const ResourceSet> default_resources_;

  // Tasks other ranks could start now, from rank 0's last spill hint: how many this rank may
  // still hand on before it hears again.
  std::atomic<std::uint64_t> spill_credit_{0};

  LeaseHolder leases_;
  std::unique_ptr<LeaseGranter> granter_;  // rank 0 only

  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> forwarded_{0};
  std::atomic<std::uint64_t> handed_on_{0};
};

}  // namespace manta::engine
