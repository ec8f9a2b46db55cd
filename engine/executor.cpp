#include "engine/executor.h"

#include <chrono>

#include "engine/actor_host.h"
#include "engine/crash_report.h"
#include "engine/dispatcher.h"
#include "engine/function_table.h"
#include "engine/gpu_grant.h"
#include "engine/local_scheduler.h"
#include "engine/messages.h"
#include "engine/object_access.h"
#include "engine/object_transfer.h"
#include "engine/result_batches.h"
#include "engine/scheduling_policy.h"
#include "engine/spill_manager.h"
#include "engine/task_env.h"
#include "engine/task_manager.h"
#include "engine/timeline.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void Executor::register_handlers(Dispatcher& d) {
  d.on(MessageType::submit_task, [this](int source, WireReader&, auto message) {
    TaskMessage m(message);
    TaskPtr t = read_task(m.reader, m.bytes);
    if (ctx_.stopping) return;
    if (source == 0) placed_by_rank0_.fetch_add(1, std::memory_order_relaxed);  // cumulative
    if (t->lease != 0 && refuses_leased(*t)) {
      // Spillback: its submitter sends it to its next choice instead of it waiting here.
      refused_.fetch_add(1, std::memory_order_relaxed);
      ctx_.outbox.send(t->id.submitter,
                       [&](WireWriter& w) { w.put(MessageType::task_refused).put(t->id); });
      return;
    }
    prepare_and_enqueue(t);
  });
  d.on(MessageType::host_actor, [this](int, WireReader&, auto message) {
    TaskMessage m(message);
    if (ctx_.stopping) return;
    placed_by_rank0_.fetch_add(1, std::memory_order_relaxed);
    // The creation waits in the local queue until its resources are free; run_task then starts
    // the actor, which keeps holding them.
    prepare_and_enqueue(read_task(m.reader, m.bytes));
  });
  d.on(MessageType::actor_call, [this](int, WireReader&, auto message) {
    TaskMessage m(message);
    if (ctx_.stopping) return;
    std::shared_ptr<const ErrorInfo> input_error;
    if (m.reader.get<std::uint8_t>()) {
      input_error = std::make_shared<const ErrorInfo>(read_error(m.reader));
    }
    TaskPtr t = read_task(m.reader, m.bytes);
    if (input_error) t->set_input_error(std::move(input_error));
    deliver_call(t);
  });
  d.on(MessageType::host_kill, [this](int, WireReader& r, auto) {
    const auto id = r.get<ActorId>();
    actors_->kill(id, r.get<std::uint8_t>() != 0);
  });
}

bool Executor::refuses_leased(const TaskSpec& t) const {
  if (t.hand_ons >= kMaxHandOns || !local_) return false;  // it has been passed on enough
  // Rank 0 lends no more than lease_depth tasks per CPU here, so a queue that long means this
  // rank's own work fills it: a leased task would wait behind all of it.
  const double depth = ctx_.config.lease_depth * std::max(1.0, local_->total().get("CPU"));
  return static_cast<double>(local_->queued()) >= depth;
}

void Executor::prepare_and_enqueue(const TaskPtr& t) {
  fetch_arguments(
      t,
      [this](const TaskPtr& task) {
        // A creation with a lost argument still goes to its actor, which then dies of it.
        if (auto e = task->input_error(); e && task->kind != TaskKind::actor_creation) {
          finish_task(task, {}, e);
        } else {
          local_->enqueue(task);
        }
      },
      /*defer=*/t->kind == TaskKind::task);
}

void Executor::deliver_call(const TaskPtr& call) {
  fetch_arguments(call, [this](const TaskPtr& c) { actors_->deliver(c); });
}

void Executor::fetch_arguments(const TaskPtr& t, std::function<void(const TaskPtr&)> then,
                               bool defer) {
  std::vector<std::size_t> to_pull, to_restore;
  for (std::size_t i = 0; i < t->args.size(); ++i) {
    TaskArg& a = t->args[i];
    if (!a.is_ref) continue;
    // Here already: made here, or a copy an earlier get or task fetched.
    ObjectStore::View v = ctx_.store.view(a.ref);
    const bool here = v.exists && (v.state == ObjectStore::State::ready ||
                                   v.state == ObjectStore::State::spilled);
    if (here && defer && v.size > ctx_.config.inline_limit) {
      // Taken when the task runs: a queued task pins nothing, so its input may spill meanwhile.
      a.location = ctx_.rank;
      a.size = v.size;
      continue;
    }
    if (here && v.state == ObjectStore::State::ready) {
      a.take(std::move(v.bytes), v.tag);
      continue;
    }
    (here ? to_restore : to_pull).push_back(i);
  }
  if (to_pull.empty() && to_restore.empty()) {
    then(t);
    return;
  }
  t->unresolved.store(static_cast<int>(to_pull.size() + to_restore.size()) + 1);
  auto done = std::make_shared<std::function<void(const TaskPtr&)>>(std::move(then));
  for (std::size_t i : to_restore) {
    restore_argument(t, i, [t, done] {
      if (t->unresolved.fetch_sub(1) == 1) (*done)(t);
    });
  }
  for (std::size_t i : to_pull) {
    TaskArg& a = t->args[i];
    const ObjectId id = a.ref;
    transfer_.pull(id, a.location, a.size,
                   [this, t, i, done, id, defer](SharedBuffer bytes, std::uint64_t tag,
                                                 std::shared_ptr<const ErrorInfo> err,
                                                 std::uint64_t reserved, int in_place_of) {
                     TaskArg& arg = t->args[i];
                     const bool deferred =
                         defer && bytes && bytes->size() > ctx_.config.inline_limit;
                     if (err) {
                       t->set_input_error(std::move(err));
                     } else if (in_place_of >= 0 && !deferred) {
                       arg.take(std::move(bytes), tag);  // the task holds the view, nothing else
                     } else {
                       transfer_.keep_copy(id, bytes, tag, reserved, in_place_of);
                       if (defer && bytes->size() > ctx_.config.inline_limit) {
                         arg.location = ctx_.rank;  // taken from the store when the task runs
                         arg.size = bytes->size();
                       } else {
                         arg.take(std::move(bytes), tag);
                       }
                     }
                     if (t->unresolved.fetch_sub(1) == 1) (*done)(t);
                   });
  }
  if (t->unresolved.fetch_sub(1) == 1) (*done)(t);
}

void Executor::restore_argument(const TaskPtr& t, std::size_t i, std::function<void()> done) {
  const ObjectId id = t->args[i].ref;
  auto check = [this, t, i, done, id] {
    ObjectStore::View v = ctx_.store.view(id);
    TaskArg& a = t->args[i];
    if (v.exists && v.state == ObjectStore::State::ready) {
      a.take(std::move(v.bytes), v.tag);
      done();
    } else if (v.exists && v.state == ObjectStore::State::spilled) {
      if (auto error = ctx_.store.take_restore_error(id)) {
        // The store cannot make room for it: the task gets it straight from the file.
        transfer_.read_spilled(
            id, v, std::move(error),
            [t, i, done, tag = v.tag](SharedBuffer bytes, std::shared_ptr<const ErrorInfo> err) {
              if (bytes) {
                t->args[i].take(std::move(bytes), tag);
              } else {
                t->set_input_error(std::move(err));
              }
              done();
            });
        return;
      }
      restore_argument(t, i, done);  // spilled again before it was taken
    } else {
      t->set_input_error(v.error ? v.error
                                 : std::make_shared<const ErrorInfo>(ctx_.make_error(
                                       ErrorKind::object_lost, t.get(),
                                       "argument " + id.to_string() + " is gone from this rank")));
      done();
    }
  };
  if (!ctx_.store.when_restored(id, check)) {
    check();
    return;
  }
  ctx_.spill->restore(id);
}

std::shared_ptr<const ErrorInfo> Executor::materialize_arguments(const TaskPtr& t) {
  for (TaskArg& a : t->args) {
    if (!a.is_ref) continue;
    try {
      detail::StoredValue v = objects_.get(a.ref, std::nullopt);
      a.take(std::move(v.bytes), v.tag);
    } catch (const Error& e) {
      ErrorInfo info = e.info();
      if (info.task_name.empty()) info.task_name = ctx_.function_name(*t);
      return std::make_shared<const ErrorInfo>(std::move(info));
    }
  }
  return nullptr;
}

void Executor::run_task(const TaskPtr& t) {
  if (t->kind == TaskKind::actor_creation) {
    start_actor(t);
    return;
  }
  detail::CallResult result;
  // An input that cannot be read back (e.g. its spill file is damaged) fails the task with it.
  std::shared_ptr<const ErrorInfo> error = materialize_arguments(t);
  if (!error) {
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t waits = LocalScheduler::waits_here();
    error = invoke(t, result);
    // A task that waited for others (a driver-like task submitting a wave) says nothing about
    // how long tasks take.
    if (local_ && t->kind == TaskKind::task && LocalScheduler::waits_here() == waits) {
      local_->note_run_time(std::chrono::steady_clock::now() - start);
    }
  }
  executed_.fetch_add(1, std::memory_order_relaxed);
  // Inputs go back to the store's keeping (spillable) as soon as the task is done with them.
  for (TaskArg& a : t->args) {
    if (a.ref.valid() && a.size > ctx_.config.inline_limit) {
      a.buffer.reset();
      a.is_ref = true;  // a retry takes it again
      a.location = ctx_.rank;
    }
  }
  finish_task(t, std::move(result), std::move(error));
}

std::shared_ptr<const ErrorInfo> Executor::invoke(const TaskPtr& t, detail::CallResult& result) {
  const detail::FunctionEntry* f = FunctionTable::instance().at(t->function);
  if (!f) {
    return std::make_shared<const ErrorInfo>(
        ctx_.make_error(ErrorKind::unregistered, t.get(), "no such function on this rank"));
  }
  constexpr std::size_t kSmall = 8;
  detail::ArgView small[kSmall];
  std::vector<detail::ArgView> big;
  detail::ArgView* views = small;
  if (t->args.size() > kSmall) {
    big.resize(t->args.size());
    views = big.data();
  }
  for (std::size_t i = 0; i < t->args.size(); ++i) {
    const TaskArg& a = t->args[i];
    views[i] = {a.buffer ? a.buffer->data() + a.offset : nullptr, a.size, a.tag,
                a.buffer ? &a.buffer : nullptr};
  }
  std::shared_ptr<const ErrorInfo> error;
  const std::int64_t start_us = timeline_ ? Timeline::now_us() : 0;
  const RunningCallScope running(RunningCallScope::Kind::task, f->name, t->name, t->id, t->actor);
  const GpuGrantScope gpus(t->gpu_ids);
  const EnvScope env(t->env.get());
  try {
    f->invoke(f->key, nullptr, views, t->args.size(), result);
  } catch (const Error& e) {
    ErrorInfo info = e.info();
    if (info.rank < 0) info.rank = ctx_.rank;
    if (info.task_name.empty()) info.task_name = ctx_.function_name(*t);
    error = std::make_shared<const ErrorInfo>(std::move(info));
  } catch (const std::exception& e) {
    ErrorInfo info = ctx_.make_error(ErrorKind::task, t.get(), e.what());
    info.exception_type = detail::demangle(typeid(e).name());
    error = std::make_shared<const ErrorInfo>(std::move(info));
  } catch (...) {
    ErrorInfo info =
        ctx_.make_error(ErrorKind::task, t.get(), "an exception not derived from std::exception");
    info.exception_type = "unknown";
    error = std::make_shared<const ErrorInfo>(std::move(info));
  }
  if (timeline_) timeline_->record(ctx_.function_name(*t), t->id, start_us, Timeline::now_us());
  return error;
}

void Executor::finish_task(const TaskPtr& t, detail::CallResult&& result,
                           std::shared_ptr<const ErrorInfo> error) {
  const int owner = t->id.submitter;
  std::uint64_t reserved = 0;
  // Small results are let in without asking (like inline values arriving in messages): the
  // spill that follows makes the room, and the hot path of tiny tasks skips the store's lock.
  const bool stays_here =
      result.size() > ctx_.config.inline_limit || (!result.contained.empty() && owner != ctx_.rank);
  if (!error && stays_here) {
    // The result takes room in this store: wait for it (spilling makes it), or fail the task.
    const std::uint64_t size = result.size();
    const ObjectStore::Room room = ctx_.store.reserve(size, ctx_.store_full_timeout());
    if (room.ok) {
      reserved = size;
    } else {
      error = std::make_shared<const ErrorInfo>(ctx_.store_full_error(size, room, t.get()));
    }
  }
  if (owner != ctx_.rank) {
    report(t, std::move(result), std::move(error), reserved);
    return;
  }
  SharedBuffer bytes;
  if (!error) {
    bytes = result.shared ? std::move(result.shared)
                          : std::make_shared<const Buffer>(std::move(result.bytes));
  }
  tasks_.finish_here(t, std::move(bytes), result.tag, std::move(error), std::move(result.contained),
                     reserved);
}

void Executor::report(const TaskPtr& t, detail::CallResult&& result,
                      std::shared_ptr<const ErrorInfo> error, std::uint64_t reserved) {
  const std::uint64_t size = result.size();
  // Large results stay here; the owner learns where, and getters pull them. So do results
  // holding references: this copy keeps them alive for as long as the owner keeps the result.
  const bool located = !error && (size > ctx_.config.inline_limit || !result.contained.empty());
  if (located) {
    ctx_.store.store_primary(t->return_object(),
                             result.shared
                                 ? std::move(result.shared)
                                 : std::make_shared<const Buffer>(std::move(result.bytes)),
                             result.tag, std::move(result.contained), reserved);
  }
  // Results join the owner's batch while tasks wait in the queue here: their results follow in
  // microseconds. The last one, and actor work (queued in the actor host, not here), sends what
  // is open at once, so an idle rank holds nothing back.
  const bool more_here = t->kind == TaskKind::task && local_ && local_->queued() > 0;
  // A result releases the owner's hold on the arguments: the batches leave through the gate.
  results_.add(
      t->id.submitter,
      [&](WireWriter& w) {
        w.put(t->id);
        if (error) {
          w.put(ResultKind::failed);
          write_error(w, *error);
        } else if (located) {
          w.put(ResultKind::located).put(result.tag).put(ctx_.rank).put(size).put<std::uint8_t>(0);
        } else {
          w.put(ResultKind::value).put(result.tag);
          w.bytes(result.shared ? result.shared->span() : result.bytes.span());
        }
      },
      more_here);
}

void Executor::start_actor(const TaskPtr& creation) {
  ActorSettings settings;
  settings.max_restarts = creation->max_restarts_actor;
  settings.max_concurrency = creation->max_concurrency;
  settings.resources = *creation->resources;
  settings.gpu_ids = creation->gpu_ids;
  actors_->create(creation, std::move(settings));
}

}  // namespace manta::engine
