#include "engine/task_manager.h"

#include <span>
#include <utility>

#include "engine/dispatcher.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/result_batches.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void TaskManager::register_handlers(Dispatcher& d) {
  d.on(MessageType::task_done, [this](int, WireReader& r, auto) { apply_task_done(r); });
  d.on(MessageType::task_results, [this](int source, WireReader& r, auto) {
    for (std::span<const std::byte> body : read_task_results(r)) {
      // Each result on its own: one that cannot be applied must not leave the others' gets
      // waiting forever.
      try {
        WireReader one(body);
        apply_task_done(one);
      } catch (const std::exception& e) {
        log().error("dropped a task result from rank {} that could not be applied: {}", source,
                    e.what());
      }
    }
  });
}

void TaskManager::keep(const TaskPtr& t) {
  std::lock_guard lock(mutex_);
  away_[t->id] = t;
}

std::size_t TaskManager::pending() const {
  std::lock_guard lock(mutex_);
  return away_.size();
}

TaskPtr TaskManager::take_kept(const TaskId& id) {
  std::lock_guard lock(mutex_);
  auto it = away_.find(id);
  if (it == away_.end()) return nullptr;
  TaskPtr t = std::move(it->second);
  away_.erase(it);
  return t;
}

void TaskManager::apply_task_done(WireReader& r) {
  const auto id = r.get<TaskId>();
  const auto kind = r.get<ResultKind>();
  TaskPtr t = take_kept(id);
  if (t && t->lease != 0 && lease_done_) {
    const std::uint64_t lease = std::exchange(t->lease, 0);  // a retry may take another
    lease_done_(lease);
  }
  if (kind == ResultKind::failed && t) {
    ErrorInfo e = read_error(r);
    if (retry(t, e)) return;
    const ObjectId oid = id.return_object();
    ownership_.apply_freed(
        oid, ctx_.store.set_failed(oid, std::make_shared<const ErrorInfo>(std::move(e))));
    return;
  }
  transfer_.apply_result(id.return_object(), kind, r);
}

void TaskManager::finish_here(const TaskPtr& t, SharedBuffer bytes, std::uint64_t tag,
                              std::shared_ptr<const ErrorInfo> error, TokenList contained,
                              std::uint64_t reserved) {
  if (t->from_wire) {
    // It left this rank (forwarded) and came back: drop the original kept for its reply.
    std::lock_guard lock(mutex_);
    away_.erase(t->id);
  }
  if (error && retry(t, *error)) {
    if (reserved) ctx_.store.unreserve(reserved);
    return;
  }
  complete(t, std::move(bytes), tag, std::move(error), std::move(contained), reserved);
}

void TaskManager::complete(const TaskPtr& t, SharedBuffer bytes, std::uint64_t tag,
                           std::shared_ptr<const ErrorInfo> error, TokenList contained,
                           std::uint64_t reserved) {
  const ObjectId id = t->return_object();
  if (error) {
    if (reserved) ctx_.store.unreserve(reserved);
    ownership_.apply_freed(id, ctx_.store.set_failed(id, std::move(error)));
  } else {
    ownership_.apply_freed(
        id, ctx_.store.set_ready(id, std::move(bytes), tag, std::move(contained), reserved));
  }
}

void TaskManager::fail(const TaskPtr& t, ErrorInfo error) {
  auto err = std::make_shared<const ErrorInfo>(std::move(error));
  if (t->id.submitter == ctx_.rank) {
    complete(t, nullptr, 0, err);
  } else {
    // Nothing says more results follow from here soon: the batches leave now.
    results_.add(
        t->id.submitter,
        [&](WireWriter& w) {
          w.put(t->id).put(ResultKind::failed);
          write_error(w, *err);
        },
        /*more_here=*/false);
  }
}

bool TaskManager::rerun_after_lost_input(const TaskPtr& t, const ErrorInfo& error) {
  if (!rerun_ || t->kind != TaskKind::task || t->attempt >= t->max_retries || ctx_.stopping) {
    return false;
  }
  bool refs = false;
  for (const TaskArg& a : t->args) {
    if (!a.ref.valid()) continue;
    if (!a.token) return false;  // a copy of the spec: the original is elsewhere
    refs = true;
  }
  if (!refs) return false;
  ++t->attempt;
  log().info("running {} again ({} of {}): an input was lost: {}", ctx_.function_name(*t),
             t->attempt, t->max_retries, error.message);
  for (TaskArg& a : t->args) {
    if (!a.ref.valid()) continue;
    a.is_ref = true;
    a.location = -1;
    a.buffer.reset();
    a.offset = 0;
    a.size = 0;
  }
  t->clear_input_error();
  rerun_(t);
  return true;
}

bool TaskManager::retry(const TaskPtr& t, const ErrorInfo& error) {
  if (error.kind == ErrorKind::object_lost) return rerun_after_lost_input(t, error);
  if (!t->retry_exceptions || error.kind != ErrorKind::task || t->attempt >= t->max_retries ||
      ctx_.stopping) {
    return false;
  }
  ++t->attempt;
  log().info("retrying {} ({} of {}) after: {}", ctx_.function_name(*t), t->attempt, t->max_retries,
             error.message);
  resubmit_(t);
  return true;
}

}  // namespace manta::engine
