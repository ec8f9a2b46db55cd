// The executing side: a task placed on this rank fetches its reference arguments (pulling those
// held elsewhere, restoring those on disk), waits in the local scheduler's queue for its
// resources, runs on a worker, and reports its result to its owner. Actor creations start an
// actor in the actor host; actor calls go to their actor in order.
//
// Handles: submit_task, host_actor, actor_call, host_kill.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include <manta/detail/runtime_api.h>

#include "engine/rank_context.h"
#include "engine/task_spec.h"

namespace manta::engine {

class ActorHost;
class Dispatcher;
class LocalScheduler;
class ObjectAccess;
class ObjectTransfer;
class ResultBatches;
class TaskManager;
class Timeline;

class Executor {
 public:
  /// Results for owners on other ranks leave through `results`.
  Executor(RankContext& ctx, TaskManager& tasks, ObjectTransfer& transfer, ObjectAccess& objects,
           ResultBatches& results)
      : ctx_(ctx), tasks_(tasks), transfer_(transfer), objects_(objects), results_(results) {}

  /// The queue and the actor host, which call back into this executor (run_task, finish_task).
  void attach(LocalScheduler* local, ActorHost* actors, Timeline* timeline) {
    local_ = local;
    actors_ = actors;
    timeline_ = timeline;
  }

  void register_handlers(Dispatcher& d);

  /// Fetches the task's arguments, then queues it here.
  void prepare_and_enqueue(const TaskPtr& t);
  /// An actor call whose host is this rank: fetches its arguments, then hands it to its actor.
  void deliver_call(const TaskPtr& call);
  /// A worker runs the task (creations start their actor).
  void run_task(const TaskPtr& t);
  /// The task or call ended here: its result goes to its owner.
  void finish_task(const TaskPtr& t, detail::CallResult&& result,
                   std::shared_ptr<const ErrorInfo> error);

  [[nodiscard]] std::uint64_t executed() const noexcept { return executed_.load(); }
  /// Placements rank 0 sent here, ever (load reports tell rank 0 how many arrived).
  [[nodiscard]] std::uint64_t placed_by_rank0() const noexcept {
    return placed_by_rank0_.load(std::memory_order_relaxed);
  }
  /// Leased tasks handed back to their submitters because this rank was too busy.
  [[nodiscard]] std::uint64_t refused() const noexcept { return refused_.load(); }

 private:
  /// Pulls reference arguments that are elsewhere, then calls `then` (on any thread).
  /// `defer`: large arguments already here stay in the store until the task runs.
  void fetch_arguments(const TaskPtr& t, std::function<void(const TaskPtr&)> then,
                       bool defer = false);
  /// Brings a spilled argument back into memory, then takes its bytes.
  void restore_argument(const TaskPtr& t, std::size_t index, std::function<void()> done);
  /// Takes the bytes of arguments left in this rank's store until the task runs (so queued
  /// tasks pin nothing); restores spilled ones. Returns the error of one that is lost.
  std::shared_ptr<const ErrorInfo> materialize_arguments(const TaskPtr& t);
  /// Calls the task's function; the error it raised, if any.
  std::shared_ptr<const ErrorInfo> invoke(const TaskPtr& t, detail::CallResult& result);
  /// Sends a result computed here to the owner on another rank, in that owner's batch.
  void report(const TaskPtr& t, detail::CallResult&& result, std::shared_ptr<const ErrorInfo> error,
              std::uint64_t reserved);
  void start_actor(const TaskPtr& creation);
  /// Whether a task sent on a lease would wait here too long (the submitter places it again).
  [[nodiscard]] bool refuses_leased(const TaskSpec& t) const;

  RankContext& ctx_;
  TaskManager& tasks_;
  ObjectTransfer& transfer_;
  ObjectAccess& objects_;
  ResultBatches& results_;
  LocalScheduler* local_ = nullptr;
  ActorHost* actors_ = nullptr;
  Timeline* timeline_ = nullptr;

  std::atomic<std::uint64_t> executed_{0};
  std::atomic<std::uint64_t> placed_by_rank0_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace manta::engine
