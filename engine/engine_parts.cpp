#include "engine/engine_parts.h"

#include "engine/dispatcher.h"
#include "engine/messages.h"
#include "engine/timeline.h"

namespace manta::engine {

namespace {

std::unique_ptr<GlobalScheduler> make_global(const RankContext& ctx, const EngineSettings& s,
                                             LocalScheduler& local) {
  if (ctx.rank != 0) return nullptr;
  return std::make_unique<GlobalScheduler>(s.totals, ctx.config.max_actors,
                                           [&local](RankLoad& rank0) {
                                             rank0.queued = local.queued();
                                             rank0.available = local.available();
                                           });
}

}  // namespace

EngineParts::EngineParts(RankContext& ctx, transport::DataPlane& plane, EngineSettings s)
    : lineage(ctx.config.max_lineage_bytes),
      local(
          s.totals.at(static_cast<std::size_t>(ctx.rank)), s.workers, s.max_workers,
          [this](const TaskPtr& t) { executor.run_task(t); },
          std::chrono::microseconds(ctx.config.idle_spin_us), s.poll),
      ownership(ctx),
      transfer(ctx, ownership, plane),
      objects(ctx, transfer, &local, s.poll),
      results(ctx.outbox),
      tasks(ctx, ownership, transfer, results, [this](const TaskPtr& t) { submitter.place(t); }),
      global(make_global(ctx, s, local)),
      executor(ctx, tasks, transfer, objects, results),
      submitter(ctx, s.totals, tasks, transfer, local, global.get(),
                {[this](const TaskPtr& t) { executor.prepare_and_enqueue(t); },
                 [this](const TaskPtr& t) { routing.route_call(t); },
                 [this](TaskSpec& t, const BundleTarget& target, int on_rank,
                        const CallName& call) { placement.apply(t, target, on_rank, call); },
                 [this](const TaskPtr& t) { placement.place_task(t); }}),
      routing(ctx, submitter, tasks, [this](const TaskPtr& t) { executor.deliver_call(t); }),
      actors(actor_hooks(*this, ctx, s)),
      checkpoints(ctx, actors,
                  {s.checkpoint_comm, s.try_with_mpi, s.polling, s.run_file_work, s.timeline}),
      control(global
                  ? std::make_unique<ControlStore>(
                        ctx, *global, [this](const TaskPtr& t) { executor.prepare_and_enqueue(t); })
                  : nullptr),
      placement(ctx, ownership, local, s.totals, s.timeline, group_hooks(*this)),
      collectives(ctx, collective_hooks(*this, s)),
      registry(control ? std::make_unique<CollectiveRegistry>(
                             ctx,
                             [this](const ActorId& id, CollectiveRegistry::Placed placed) {
                               control->when_placed(id, std::move(placed));
                             })
                       : nullptr),
      memory(ctx, transfer),
      reports(ctx, s.timeline),
      store_(ctx.store) {
  executor.attach(&local, &actors, s.timeline);
  wire_lineage(ctx);
  local.set_rejected([this, &ctx](const TaskPtr& t) {
    const bool creation = t->kind == TaskKind::actor_creation;
    fail_queued(t, std::make_shared<const ErrorInfo>(ctx.make_error(
                       creation ? ErrorKind::actor_died : ErrorKind::unschedulable, t.get(),
                       "its placement group " + t->placement_group.to_string() +
                           " was removed before it could start")));
  });
  memory.set_placement_groups([this] { return placement.summary(); });
  if (registry) memory.set_collective_groups([this] { return registry->summary(); });
  if (control) {
    control->set_group_hooks(
        {[this](const TaskPtr& t) { return placement.route_actor(t); },
         [this](int rank, const ResourceSet& r) { placement.actor_started(rank, r); },
         [this](int rank, const ResourceSet& r) { placement.actor_ended(rank, r); }});
  }
}

EngineParts::~EngineParts() { store_.set_lost_handler(nullptr); }

void EngineParts::wire_lineage(RankContext& ctx) {
  lineage.attach({&ctx, &ownership, [this](const TaskPtr& t) { submitter.resolve_arguments(t); },
                  [this](int reader, const ObjectId& id) { transfer.answer_reader(reader, id); }});
  ownership.set_lineage(&lineage);
  submitter.set_lineage(&lineage);
  memory.set_lineage(&lineage);
  transfer.set_lost_hook(
      [this](const ObjectId& id, const ErrorInfo& cause) { lineage.object_lost(id, cause); });
  tasks.set_rerun([this](const TaskPtr& t) { submitter.resolve_arguments(t); });
  tasks.set_lease_done([this](std::uint64_t lease) { submitter.lease_slot_free(lease); });
  // A spill region found gone or damaged is a lost copy, not yet a lost object.
  ctx.store.set_lost_handler([this, &ctx](const ObjectId& id, std::shared_ptr<const ErrorInfo> e) {
    // The copy may be the primary of a result still in the owner's batch: the owner hears of
    // the result first, or it would take the loss for a pending object's and later list this
    // rank as holding a copy that is gone.
    if (id.owner != ctx.rank) results.flush(id.owner);
    transfer.copy_lost(id, ctx.rank, *e);
  });
}

PlacementGroups::Hooks EngineParts::group_hooks(EngineParts& parts) {
  PlacementGroups::Hooks h;
  h.send_task = [&parts](int rank, const TaskPtr& t) { parts.submitter.place_at(rank, t); };
  h.fail_task = [&parts](const TaskPtr& t, ErrorInfo e) { parts.tasks.fail(t, std::move(e)); };
  h.place_actor = [&parts](const TaskPtr& t) {
    parts.control->place_actor(t, nullptr, /*first_try=*/true);
  };
  h.fail_actor = [&parts](const TaskPtr& t, std::shared_ptr<const ErrorInfo> e) {
    parts.control->place_actor(t, std::move(e), /*first_try=*/true);
  };
  h.loads = [&parts] { return parts.global->loads(); };
  h.actors_in = [&parts](const PlacementGroupId& g) { return parts.actors.in_group(g); };
  h.kill_actor = [&parts](const ActorId& a, std::shared_ptr<const ErrorInfo> cause) {
    parts.actors.kill(a, std::move(cause));
  };
  h.fail_queued = [&parts](const TaskPtr& t, std::shared_ptr<const ErrorInfo> e) {
    parts.fail_queued(t, std::move(e));
  };
  return h;
}

void EngineParts::fail_queued(const TaskPtr& t, std::shared_ptr<const ErrorInfo> error) {
  if (t->kind == TaskKind::actor_creation) {
    // The actor dies of it as it starts: its early calls and the control store learn why.
    actors.kill(t->actor, std::move(error));
    executor.run_task(t);
  } else {
    executor.finish_task(t, {}, std::move(error));
  }
}

CollectiveGroups::Hooks EngineParts::collective_hooks(EngineParts& parts, const EngineSettings& s) {
  CollectiveGroups::Hooks hooks;
  hooks.poll = s.poll_collectives;
  hooks.polling = s.polling;
  hooks.parent = s.collective_parent;
  hooks.dead_here = [&parts](const ActorId& id) { return parts.actors.is_dead(id); };
  hooks.timeline = s.timeline;
  hooks.broken_seen = [&parts](const std::string& name, std::uint64_t generation,
                               std::shared_ptr<const ErrorInfo> cause) {
    if (parts.registry) parts.registry->note_broken(name, generation, std::move(cause));
  };
  return hooks;
}

ActorHost::Hooks EngineParts::actor_hooks(EngineParts& parts, RankContext& ctx,
                                          const EngineSettings& s) {
  ActorHost::Hooks hooks;
  hooks.finish = [&parts](const TaskPtr& t, detail::CallResult&& r,
                          std::shared_ptr<const ErrorInfo> e) {
    parts.executor.finish_task(t, std::move(r), std::move(e));
  };
  hooks.died = [&ctx, &parts](const ActorId& id, std::shared_ptr<const ErrorInfo> cause) {
    if (ctx.stopping) return;
    parts.collectives.member_ended(id, *cause, /*restarted=*/false);
    ctx.outbox.send(0, [&](transport::WireWriter& w) {
      w.put(MessageType::actor_died).put(id);
      write_error(w, *cause);
    });
  };
  hooks.restarting = [&parts, &ctx](const ActorId& id) {
    parts.collectives.member_ended(
        id, ctx.make_error(ErrorKind::actor_died, nullptr, id.to_string() + " was restarted"),
        /*restarted=*/true);
  };
  hooks.reserve = [&parts](const ResourceSet& r, const std::vector<int>& gpus) {
    parts.local.reserve(r, gpus);
  };
  hooks.release = [&parts](const ResourceSet& r, const std::vector<int>& gpus) {
    parts.local.release(r, gpus);
  };
  hooks.fit = [&parts](const ResourceSet& r, const ResourceSet& kept) {
    return parts.local.could_fit(r, kept);
  };
  hooks.acquire = [&parts](const ResourceSet& r, const std::function<bool()>& cancelled) {
    return parts.local.acquire(r, cancelled);
  };
  hooks.give_back = [&parts](const ResourceSet& r, const std::vector<int>& gpus) {
    parts.local.give_back(r, gpus);
  };
  hooks.make_error = [&ctx](ErrorKind k, const TaskSpec* t, std::string m) {
    return ctx.make_error(k, t, std::move(m));
  };
  hooks.idle_poll = s.poll;
  if (Timeline* timeline = s.timeline) {
    hooks.ran = [&ctx, timeline](const TaskPtr& call, std::int64_t start, std::int64_t end) {
      timeline->record(ctx.function_name(*call), call->id, start, end);
    };
  }
  hooks.idle_spin = std::chrono::microseconds(ctx.config.idle_spin_us);
  hooks.max_threads = static_cast<std::size_t>(s.max_workers);
  return hooks;
}

void EngineParts::register_handlers(Dispatcher& d) {
  ownership.register_handlers(d);
  transfer.register_handlers(d);
  tasks.register_handlers(d);
  if (global) global->register_handlers(d);
  executor.register_handlers(d);
  submitter.register_handlers(d);
  routing.register_handlers(d);
  if (control) control->register_handlers(d);
  placement.register_handlers(d);
  collectives.register_handlers(d);
  checkpoints.register_handlers(d);
  if (registry) registry->register_handlers(d);
  memory.register_handlers(d);
  reports.register_handlers(d);
  stop.register_handlers(d);
}

}  // namespace manta::engine
