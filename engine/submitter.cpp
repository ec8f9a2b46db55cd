#include "engine/submitter.h"

#include <fmt/format.h>

#include "engine/dispatcher.h"
#include "engine/global_scheduler.h"
#include "engine/lineage.h"
#include "engine/local_scheduler.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/option_checks.h"
#include "engine/scheduling_policy.h"
#include "engine/task_manager.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

Submitter::Submitter(RankContext& ctx, std::vector<ResourceSet> totals, TaskManager& tasks,
                     ObjectTransfer& transfer, LocalScheduler& local, GlobalScheduler* global,
                     Hooks hooks)
    : ctx_(ctx),
      totals_(std::move(totals)),
      tasks_(tasks),
      transfer_(transfer),
      local_(local),
      global_(global),
      hooks_(std::move(hooks)),
      default_resources_(std::make_shared<const ResourceSet>(ResourceSet::cpus(1))),
      // A lease unused for ten load reports goes back.
      leases_(ctx, std::chrono::milliseconds(ctx.config.lease_term_ms),
              std::chrono::milliseconds(10 * ctx.config.report_interval_ms)) {
  forward_threshold_ = ctx_.config.forward_threshold > 0
                           ? static_cast<std::uint64_t>(ctx_.config.forward_threshold)
                           : static_cast<std::uint64_t>(
                                 4 * totals_.at(static_cast<std::size_t>(ctx_.rank)).get("CPU"));
  if (global_) {
    LeaseSettings s;
    s.oversubscribe = ctx_.config.lease_depth;
    s.term = std::chrono::milliseconds(ctx_.config.lease_term_ms);
    granter_ = std::make_unique<LeaseGranter>(ctx_, totals_, s, *global_);
  }
}

void Submitter::register_handlers(Dispatcher& d) {
  d.on(MessageType::forward_task, [this](int, WireReader&, std::span<const std::byte> message) {
    TaskMessage m(message);
    TaskPtr t = read_task(m.reader, m.bytes);
    if (ctx_.stopping) return;
    if (!global_) {
      log().error("rank {} got a forwarded task ({}) but only rank 0 schedules globally", ctx_.rank,
                  t->id.to_string());
      return;
    }
    schedule_globally(t);
  });
  d.on(MessageType::spill_hint,
       [this](int, WireReader& r, auto) { on_spill_hint(r.get<std::uint64_t>()); });
  d.on(MessageType::task_refused,
       [this](int, WireReader& r, auto) { on_task_refused(r.get<TaskId>()); });
  leases_.register_handlers(d, [this] { fill_leases(); });
  if (granter_) granter_->register_handlers(d);
}

// ---------------------------------------------------------------------------------------------
// The spec.

TaskPtr Submitter::make_spec(detail::Submission&& s, const TaskOptions& options) {
  if (ctx_.stopping) {
    throw RuntimeStoppedError(
        ctx_.make_error(ErrorKind::shutdown, nullptr, "task submitted after shutdown"));
  }
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    if (s.args[i].kind == detail::ArgSlot::Kind::ref && !s.args[i].ref) {
      ErrorInfo e = ctx_.make_error(
          ErrorKind::object_lost, nullptr,
          "argument " + std::to_string(i + 1) + " of " + s.function->name +
              " is an empty ObjectRef (default-constructed or moved from): pass a ref that "
              "remote() or put() returned");
      e.task_name = s.function->name;
      throw ObjectLostError(std::move(e));
    }
    if (s.args[i].kind == detail::ArgSlot::Kind::ref &&
        !ctx_.this_session(s.args[i].ref->id().seq)) {
      ErrorInfo e = ctx_.make_error(
          ErrorKind::object_lost, nullptr,
          "argument " + std::to_string(i + 1) + " of " + s.function->name + " is " +
              s.args[i].ref->id().to_string() +
              ", an object of a runtime that manta::shutdown ended: objects do not outlive their "
              "runtime; make it again (put or a task) after init");
      e.task_name = s.function->name;
      throw ObjectLostError(std::move(e));
    }
  }
  auto t = std::make_shared<TaskSpec>();
  t->id = {ctx_.rank, ctx_.next_seq()};
  t->function = s.function->index;
  t->name = options.name;
  if (options.resources.empty() && options.memory == 0) {
    t->resources = default_resources_;
  } else {
    ResourceSet r = ResourceSet::from_map(options.resources);
    if (options.memory) r.set("memory", r.get("memory") + static_cast<double>(options.memory));
    t->resources = std::make_shared<const ResourceSet>(std::move(r));
  }
  t->on_rank = options.on_rank;
  t->max_retries = options.max_retries;
  t->retry_exceptions = options.retry_exceptions;
  if (!options.env.empty()) t->env = std::make_shared<const EnvVars>(options.env);
  SharedBuffer inline_bytes;
  if (!s.inline_bytes.empty())
    inline_bytes = std::make_shared<const Buffer>(std::move(s.inline_bytes));
  t->args.resize(s.args.size());
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    detail::ArgSlot& slot = s.args[i];
    TaskArg& a = t->args[i];
    a.tag = slot.tag;
    if (slot.kind == detail::ArgSlot::Kind::ref) {
      a.is_ref = true;
      a.ref = slot.ref->id();
      a.token = std::move(slot.ref);
    } else if (slot.size > ctx_.config.inline_limit) {
      store_value_argument(a, slot, inline_bytes);
    } else {
      a.buffer = inline_bytes;
      a.offset = slot.offset;
      a.size = slot.size;
    }
  }
  t->keep_alive = std::move(s.keep_alive);
  return t;
}

void Submitter::store_value_argument(TaskArg& a, const detail::ArgSlot& slot,
                                     const SharedBuffer& inline_bytes) {
  // It takes room in the store as a put does.
  const ObjectStore::Room room = ctx_.store.reserve(slot.size, ctx_.store_full_timeout());
  if (!room.ok) throw ObjectStoreFullError(ctx_.store_full_error(slot.size, room, nullptr));
  ObjectId id{ctx_.rank, 0, ctx_.next_seq()};
  // The only argument's bytes are adopted whole; others are copied out of the shared buffer.
  auto bytes = slot.offset == 0 && slot.size == inline_bytes->size()
                   ? inline_bytes
                   : std::make_shared<const Buffer>(inline_bytes->data() + slot.offset, slot.size);
  a.token = ctx_.store.create_ready(id, bytes, slot.tag, {}, slot.size);
  a.buffer = std::move(bytes);
  a.ref = id;
  a.location = ctx_.rank;
  a.size = slot.size;
}

std::shared_ptr<detail::RefToken> Submitter::submit(detail::Submission&& s,
                                                    const TaskOptions& options) {
  const CallName call{"manta::task", s.function->name};
  check_task_options(options, ctx_.size, call);
  TaskPtr t = make_spec(std::move(s), options);
  t->nested = LocalScheduler::current() == &local_;
  if (options.placement_group.group.valid()) {
    apply_group(*t, options.placement_group, options.on_rank, call);
  }
  auto token = ctx_.store.create_pending(t->return_object());
  if (lineage_) lineage_->record_task(*t);  // before resolving changes the arguments
  submitted_.fetch_add(1, std::memory_order_relaxed);
  resolve_arguments(t);
  return token;
}

// ---------------------------------------------------------------------------------------------
// Arguments: the owner resolves them before it places the task (bottom-up).

void Submitter::resolve_arguments(const TaskPtr& t) {
  if (lineage_ && t->kind == TaskKind::actor_call && t->id.submitter == ctx_.rank) {
    lineage_->record_actor_result(t->return_object(), t->actor);
  }
  int refs = 0;
  for (const auto& a : t->args) refs += a.is_ref;
  if (refs == 0) {
    arguments_resolved(t);
    return;
  }
  t->unresolved.store(refs + 1);  // +1 so it cannot reach zero while callbacks are being set
  for (std::size_t i = 0; i < t->args.size(); ++i) {
    if (t->args[i].is_ref) resolve_one(t, i);
  }
  if (t->unresolved.fetch_sub(1) == 1) arguments_resolved(t);
}

void Submitter::resolve_one(const TaskPtr& t, std::size_t i) {
  TaskArg& a = t->args[i];
  const ObjectId id = a.ref;
  ObjectStore& store = ctx_.store;
  ObjectStore::View v = store.view(id);
  if (v.exists && v.state == ObjectStore::State::pending) {
    if (store.when_finished(id, [this, t, i] { resolve_one(t, i); })) {
      if (id.owner != ctx_.rank && store.start_resolve(id)) transfer_.ask_owner(id, false);
      return;
    }
    v = store.view(id);  // finished in between
  }
  if (!v.exists) {
    t->set_input_error(std::make_shared<const ErrorInfo>(ctx_.make_error(
        ErrorKind::object_lost, t.get(), "argument " + id.to_string() + " is not known here")));
  } else if (v.state == ObjectStore::State::ready && v.size <= ctx_.config.inline_limit) {
    a.take(std::move(v.bytes), v.tag);  // the executor checks the tag against the parameter type
    a.location = ctx_.rank;
  } else if (v.state == ObjectStore::State::ready || v.state == ObjectStore::State::spilled) {
    // Large, or on disk: it stays in this rank's store until a task runs with it.
    a.location = ctx_.rank;
    a.size = v.size;
  } else if (v.state == ObjectStore::State::remote) {
    a.location = v.location;
    a.size = v.size;
  } else if (v.state == ObjectStore::State::failed) {
    t->set_input_error(v.error);
  }
  if (t->unresolved.fetch_sub(1) == 1) arguments_resolved(t);
}

void Submitter::arguments_resolved(const TaskPtr& t) {
  if (t->kind == TaskKind::actor_call) {
    hooks_.route_call(t);  // with or without an input error: the host must see every number
    return;
  }
  if (t->kind == TaskKind::actor_creation) {
    ctx_.outbox.send(0, [&](WireWriter& w) {
      w.put(MessageType::create_actor);
      auto err = t->input_error();
      w.put<std::uint8_t>(err != nullptr);
      if (err) write_error(w, *err);
      write_task(w, *t, ctx_.config.inline_limit, ctx_.rank);
    });
    return;
  }
  if (auto err = t->input_error()) {
    tasks_.complete(t, nullptr, 0, err);  // a failed input fails the task with the same cause
    return;
  }
  place(t);
}

// ---------------------------------------------------------------------------------------------
// Placement: bottom-up; the global scheduler only for what this rank should not run.

void Submitter::place(const TaskPtr& t) {
  if (t->placement_group.valid()) {
    forward(t);  // rank 0 knows where the group's bundles are
    return;
  }
  if (t->on_rank >= 0) {
    place_on_rank(t);
    return;
  }
  const ResourceSet& req = *t->resources;
  if (!feasible_anywhere(req, totals_)) {
    tasks_.fail(t, ctx_.make_error(
                       ErrorKind::unschedulable, t.get(),
                       fmt::format("the task asks for {} and no rank offers that (rank 0 offers "
                                   "{}); ask for less, or start ranks with more (--manta-num-cpus, "
                                   "--manta-resources)",
                                   req.to_string(), totals_[0].to_string())));
    return;
  }
  const LocalScheduler::Admission here = local_.admission(req);
  SpillbackView spill;
  spill.starts_now = here.starts_now;
  // Only work that would wait here looks at the other ranks: the hot path sends nothing.
  if (!here.starts_now && t->hand_ons < kMaxHandOns) spill.free_elsewhere = free_elsewhere(req);
  const std::vector<std::uint64_t> inputs = input_bytes_by_rank(*t);
  switch (decide_locally(req, local_.total(), here.queued, forward_threshold_, ctx_.rank, inputs,
                         spill)) {
    case LocalDecision::run_here:
      hooks_.run_here(t);
      break;
    case LocalDecision::forward:
      // Past the threshold: out on a lease, or wait here for a slot, asking rank 0 for room.
      // Inputs held elsewhere still go through rank 0, which places by locality.
      // So does a task this rank could never run (it asks for what this rank lacks).
      if (heaviest_input_rank(inputs) >= 0 || !req.fits_in(local_.total())) {
        forward(t);
      } else if (keeps_nested_wave(*t, here.queued + 1, spill.free_elsewhere)) {
        hooks_.run_here(t);
      } else if (!leasable(*t)) {
        forward(t);
      } else if (!worth_a_lease(here.queued + 1) || !send_on_lease(t)) {
        hooks_.run_here(t);
        if (worth_a_lease(here.queued + 1)) leases_.want(req, here.queued + 1);
      }
      break;
    case LocalDecision::spill_back:
      // With leases, room elsewhere comes from rank 0 once, not with each task.
      if (keeps_nested_wave(*t, here.queued + 1, spill.free_elsewhere)) {
        hooks_.run_here(t);
      } else if (!leasable(*t)) {
        hand_on(t);
      } else if (!worth_a_lease(here.queued + 1) || !send_on_lease(t)) {
        hooks_.run_here(t);
        if (worth_a_lease(here.queued + 1)) leases_.want(req, here.queued + 1);
      }
      break;
  }
}

bool Submitter::leasable(const TaskSpec& t) const {
  // Rank 0 places with its own view and sends no message to itself: it keeps doing that.
  return ctx_.config.leases && !global_ && ctx_.size > 1 && t.kind == TaskKind::task &&
         t.on_rank < 0 && !t.placement_group.valid() && t.id.submitter == ctx_.rank &&
         t.hand_ons < kMaxHandOns;
}

bool Submitter::keeps_nested_wave(const TaskSpec& t, std::uint64_t queued,
                                  bool free_elsewhere) const {
  // Rank 0 places the driver's work over the job (a pipeline's blocks must not pile up in one
  // store). A task running on rank 0 that submits a wave of tasks is treated as on any other
  // rank: a queue that drains here soon stays here, and so does one no other rank could start
  // sooner (none has a free slot: moving it only queues it there; the tick's balancing hands
  // waiting work on once slots free up elsewhere).
  return global_ && t.nested && ctx_.config.leases && ctx_.size > 1 && t.kind == TaskKind::task &&
         t.on_rank < 0 && !t.placement_group.valid() && t.hand_ons == 0 &&
         (!worth_a_lease(queued) || !free_elsewhere);
}

bool Submitter::worth_a_lease(std::uint64_t queued) const {
  // Sending a task away costs a message each way and a wait on another rank; a queue that
  // drains here sooner than that is better left alone (a wave of tiny tasks on a busy rank).
  return local_.drain_time(queued) >= std::chrono::milliseconds(ctx_.config.lease_backlog_ms);
}

bool Submitter::send_on_lease(const TaskPtr& t) {
  const auto use = leases_.take(*t->resources);
  if (!use) return false;
  t->lease = use->lease;
  send_task(use->rank, t);
  return true;
}

void Submitter::fill_leases() {
  if (ctx_.stopping || global_) return;
  // Only this rank's own tasks that can leave (small inputs) and fit a free slot; a result
  // coming back frees one slot, so this usually moves one task.
  auto fits_a_lease = [this](const TaskSpec& s) {
    return leasable(s) && movable(s) && s.lease == 0 && leases_.free_slots(*s.resources) > 0;
  };
  for (;;) {
    // Most calls come with a result and find nothing to move: two cheap looks before a scan.
    const std::uint64_t free = leases_.free_slots(*default_resources_);
    const std::uint64_t queued = local_.queued();
    if (free == 0 || !worth_a_lease(queued)) return;
    std::vector<TaskPtr> out = local_.take_waiting(std::min<std::uint64_t>(free, 64), fits_a_lease);
    if (out.empty()) return;
    for (const TaskPtr& t : out) {
      if (!send_on_lease(t)) local_.enqueue(t);  // the slots went meanwhile: it waits here again
    }
    if (out.size() < 64) return;
  }
}

void Submitter::lease_slot_free(std::uint64_t lease) {
  leases_.done(lease);
  fill_leases();
}

void Submitter::on_task_refused(const TaskId& id) {
  TaskPtr t = tasks_.take_kept(id);
  if (!t) return;
  // The leased rank is busier than rank 0 knew: its next choice is another lease, or here.
  leases_.refused(t->lease);
  t->lease = 0;
  ++t->hand_ons;
  if (ctx_.stopping) return;
  if (!send_on_lease(t)) hooks_.run_here(t);
}

void Submitter::tick_leases() {
  leases_.tick();
  if (granter_) {
    granter_->tick();
    return;
  }
  if (!ctx_.config.leases) return;
  // A backlog that outlived its request (rank 0 had no room then) asks again; waiting tasks
  // take slots that freed without a result (a renewal, a grant that came while busy).
  const LocalScheduler::Admission a = local_.admission(*default_resources_);
  if (!a.starts_now && a.queued > forward_threshold_ && worth_a_lease(a.queued)) {
    leases_.want(*default_resources_, a.queued);
  }
  fill_leases();
}

void Submitter::place_on_rank(const TaskPtr& t) {
  const ResourceSet& req = *t->resources;
  if (t->on_rank >= ctx_.size) {
    tasks_.fail(t, ctx_.make_error(ErrorKind::unschedulable, t.get(),
                                   fmt::format("on_rank({}) but the job has {} ranks (0..{})",
                                               t->on_rank, ctx_.size, ctx_.size - 1)));
  } else if (!req.fits_in(totals_[t->on_rank])) {
    tasks_.fail(t, ctx_.make_error(
                       ErrorKind::unschedulable, t.get(),
                       fmt::format("on_rank({}) asks for {} but that rank offers {}", t->on_rank,
                                   req.to_string(), totals_[t->on_rank].to_string())));
  } else if (t->on_rank == ctx_.rank) {
    hooks_.run_here(t);
  } else {
    send_task(t->on_rank, t);
  }
}

bool Submitter::free_elsewhere(const ResourceSet& request) {
  if (ctx_.size < 2) return false;
  if (!global_) return spill_credit_.load(std::memory_order_relaxed) > 0;
  return global_->free_elsewhere(request);
}

void Submitter::hand_on(const TaskPtr& t) {
  ++t->hand_ons;  // bounded (kMaxHandOns): a task never bounces between busy ranks forever
  handed_on_.fetch_add(1, std::memory_order_relaxed);
  if (global_) {
    schedule_globally(t);  // rank 0 holds the view: it picks the free rank itself
    return;
  }
  // Spend one credit of rank 0's hint (it may have been spent meanwhile: then the global
  // scheduler still finds the least loaded rank).
  std::uint64_t credit = spill_credit_.load(std::memory_order_relaxed);
  while (credit > 0 && !spill_credit_.compare_exchange_weak(credit, credit - 1)) {
  }
  forward(t);
}

bool Submitter::movable(const TaskSpec& t) const {
  if (t.kind != TaskKind::task || t.on_rank >= 0 || t.hand_ons >= kMaxHandOns) return false;
  for (const TaskArg& a : t.args) {
    // Large inputs held here stay with their data (locality); small ones travel with the task.
    if (a.ref.valid() && (a.is_ref || a.size > ctx_.config.inline_limit)) return false;
  }
  return true;
}

void Submitter::balance_waiting_work() {
  const GlobalScheduler::Balance b = global_->balance(*default_resources_);
  for (const auto& [rank, hint] : b.hints) {
    ctx_.outbox.send(rank,
                     [&, hint = hint](WireWriter& w) { w.put(MessageType::spill_hint).put(hint); });
  }
  if (b.free_for_rank0 == 0) return;
  for (const TaskPtr& t :
       local_.take_waiting(b.free_for_rank0, [this](const TaskSpec& s) { return movable(s); })) {
    ++t->hand_ons;
    handed_on_.fetch_add(1, std::memory_order_relaxed);
    schedule_globally(t);
  }
}

void Submitter::on_spill_hint(std::uint64_t hint) {
  if (ctx_.config.leases && !global_) {
    // Other ranks are idle: this rank's waiting tasks go to them on leases, asked for once,
    // rather than one by one through rank 0.
    const std::uint64_t queued = local_.queued();
    if (hint > 0 && !ctx_.stopping && worth_a_lease(queued)) {
      leases_.want(*default_resources_, queued);
      fill_leases();
    }
    spill_credit_.store(0, std::memory_order_relaxed);
    return;
  }
  std::uint64_t left = hint;
  if (hint > 0 && !ctx_.stopping) {
    // Tasks already waiting here go first: they have waited longest for a free CPU.
    for (const TaskPtr& t :
         local_.take_waiting(hint, [this](const TaskSpec& s) { return movable(s); })) {
      ++t->hand_ons;
      handed_on_.fetch_add(1, std::memory_order_relaxed);
      forward(t);
      --left;
    }
  }
  spill_credit_.store(left, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Submitter::input_bytes_by_rank(const TaskSpec& t) const {
  std::vector<std::uint64_t> bytes;
  for (const TaskArg& a : t.args) {
    if (!a.ref.valid() || a.location < 0 || a.location >= ctx_.size ||
        a.size < kLocalityMinBytes / 16) {
      continue;
    }
    if (bytes.empty()) bytes.assign(static_cast<std::size_t>(ctx_.size), 0);
    std::uint64_t n = a.size;
    // Bytes this rank spilled count half: reading them back is cheaper than a transfer, but
    // not free.
    if (a.location == ctx_.rank && ctx_.store.view(a.ref).state == ObjectStore::State::spilled) {
      n /= 2;
    }
    bytes[static_cast<std::size_t>(a.location)] += n;
  }
  return bytes;
}

void Submitter::forward(const TaskPtr& t) {
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  if (global_) {
    schedule_globally(t);
    return;
  }
  if (t->id.submitter == ctx_.rank) tasks_.keep(t);  // a task from elsewhere is not ours
  ctx_.outbox.send(0, [&](WireWriter& w) {
    w.put(MessageType::forward_task);
    write_task(w, *t, ctx_.config.inline_limit, ctx_.rank);
  });
}

void Submitter::schedule_globally(const TaskPtr& t) {
  if (t->placement_group.valid()) {
    hooks_.place_in_group(t);
    return;
  }
  const std::optional<int> target = global_->place_task(
      *t->resources, input_bytes_by_rank(*t),
      log().should_log(spdlog::level::debug) ? ctx_.function_name(*t) : std::string());
  if (!target) {
    tasks_.fail(t, ctx_.make_error(ErrorKind::unschedulable, t.get(),
                                   "the task asks for " + t->resources->to_string() +
                                       " and no rank offers that"));
  } else if (*target == ctx_.rank) {
    hooks_.run_here(t);
  } else {
    send_task(*target, t);
  }
}

void Submitter::place_at(int rank, const TaskPtr& t) {
  if (rank == ctx_.rank) {
    hooks_.run_here(t);
  } else {
    send_task(rank, t);
  }
}

void Submitter::send_task(int dest, const TaskPtr& t) {
  if (t->id.submitter == ctx_.rank) tasks_.keep(t);
  ctx_.outbox.send(dest, [&](WireWriter& w) {
    w.put(MessageType::submit_task);
    write_task(w, *t, ctx_.config.inline_limit, ctx_.rank);
  });
}

}  // namespace manta::engine
