// The tasks this rank owns (submitted here) once they are on their way: the specs of those that
// left the rank, kept for their results, retries and argument lifetimes; and what happens when a
// task ends: its return object becomes ready or failed, or it runs again (retry) through the
// resubmit callback. A task whose input failed fails with the same cause, so dependents fail
// down the chain with the first error. A task that failed because an input was lost (its copy
// gone) resolves its arguments again, within its max_retries: the owner of the input has
// heard of the loss and gives another copy or rebuilds it (lineage.h).
//
// Handles: task_done, task_results (results batched by the executing rank).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <manta/errors.h>

#include "engine/object_store.h"
#include "engine/rank_context.h"
#include "engine/task_spec.h"

namespace manta::engine {

class Dispatcher;
class ObjectTransfer;
class Ownership;
class ResultBatches;

class TaskManager {
 public:
  /// `resubmit` places a task again for a retry (the submitter's place). Results of tasks owned
  /// elsewhere leave through `results`.
  TaskManager(RankContext& ctx, Ownership& ownership, ObjectTransfer& transfer,
              ResultBatches& results, std::function<void(const TaskPtr&)> resubmit)
      : ctx_(ctx),
        ownership_(ownership),
        transfer_(transfer),
        results_(results),
        resubmit_(std::move(resubmit)) {}

  void register_handlers(Dispatcher& d);
  /// Where a task whose input was lost goes again: resolving its arguments, then placing it.
  void set_rerun(std::function<void(const TaskPtr&)> rerun) { rerun_ = std::move(rerun); }
  /// Told when a task that went out on a lease came back (its slot is free).
  void set_lease_done(std::function<void(std::uint64_t lease)> done) {
    lease_done_ = std::move(done);
  }

  /// A task this rank owns leaves it: kept until its result comes back.
  void keep(const TaskPtr& t);
  /// How many owned tasks are away (for tests and status).
  [[nodiscard]] std::size_t pending() const;
  /// Takes back a task kept while away (a leased rank refused it), or null.
  TaskPtr take_kept(const TaskId& id);

  /// An owned task ended here: records its result, or retries it.
  void finish_here(const TaskPtr& t, SharedBuffer bytes, std::uint64_t tag,
                   std::shared_ptr<const ErrorInfo> error, TokenList contained,
                   std::uint64_t reserved);
  /// Sets the task's return object here (ready with `bytes`, or failed with `error`).
  void complete(const TaskPtr& t, SharedBuffer bytes, std::uint64_t tag,
                std::shared_ptr<const ErrorInfo> error, TokenList contained = {},
                std::uint64_t reserved = 0);
  /// The task cannot run: its owner hears the error (here, or by a result message).
  void fail(const TaskPtr& t, ErrorInfo error);
  /// Runs the task again when its options allow a retry after `error`.
  bool retry(const TaskPtr& t, const ErrorInfo& error);

 private:
  /// A lost input: resolve the arguments again (false when the spec cannot).
  bool rerun_after_lost_input(const TaskPtr& t, const ErrorInfo& error);

  /// One result from another rank: a task_done body (alone, or one of a task_results).
  void apply_task_done(transport::WireReader& r);

  RankContext& ctx_;
  Ownership& ownership_;
  ObjectTransfer& transfer_;
  ResultBatches& results_;
  std::function<void(const TaskPtr&)> resubmit_;
  std::function<void(const TaskPtr&)> rerun_;
  std::function<void(std::uint64_t)> lease_done_;

  mutable std::mutex mutex_;
  std::unordered_map<TaskId, TaskPtr> away_;
};

}  // namespace manta::engine
