#include "engine/actor_routing.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "engine/dispatcher.h"
#include "engine/messages.h"
#include "engine/option_checks.h"
#include "engine/submitter.h"
#include "engine/task_manager.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void ActorRouting::register_handlers(Dispatcher& d) {
  d.on(MessageType::actor_location, [this](int, WireReader& r, auto) {
    const auto id = r.get<ActorId>();
    if (r.get<std::uint8_t>() != 0) {
      on_location(id, -1, std::make_shared<const ErrorInfo>(read_error(r)));
    } else {
      on_location(id, r.get<int>(), nullptr);
    }
  });
  d.on(MessageType::name_result, [this](int, WireReader& r, auto) { on_name_result(r); });
}

ActorId ActorRouting::create_actor(detail::Submission&& s, const ActorOptions& options,
                                   std::uint64_t class_tag) {
  const CallName call{"manta::actor", s.function->name};
  check_actor_options(options, ctx_.size, call);
  TaskOptions to;
  to.on_rank = options.on_rank;
  to.max_retries = 0;
  TaskPtr t = submitter_.make_spec(std::move(s), to);
  ResourceSet request;
  for (const auto& [k, v] : options.resources) request.set(k, v);
  request.set("actor_slots", 1);
  t->resources = std::make_shared<const ResourceSet>(std::move(request));
  t->kind = TaskKind::actor_creation;
  t->actor = ActorId{ctx_.rank, 0, ctx_.next_seq()};
  t->actor_name = options.name;
  if (!options.name.empty()) {
    t->actor_namespace = options.name_space.empty() ? ctx_.config.name_space : options.name_space;
  }
  if (!options.env.empty()) t->env = std::make_shared<const EnvVars>(options.env);
  t->max_restarts_actor = options.max_restarts;
  t->max_concurrency = options.max_concurrency;
  t->class_tag = class_tag;
  if (options.placement_group.group.valid()) {
    submitter_.apply_group(*t, options.placement_group, options.on_rank, call);
  }
  const ActorId id = t->actor;
  {
    std::lock_guard lock(routes_mutex_);
    routes_[id];
    creations_[id] = t;
  }
  submitter_.resolve_arguments(t);
  if (!options.name.empty()) {
    // A named creation returns once rank 0 accepted the name, so a duplicate fails right here.
    std::unique_lock lock(routes_mutex_);
    if (!routes_cv_.wait_for(lock, std::chrono::seconds(ctx_.config.shutdown_timeout_s), [&] {
          return routes_[id].known || routes_[id].accepted || ctx_.stopping;
        })) {
      throw std::runtime_error("manta::actor: no answer from rank 0 about actor '" + options.name +
                               "' in namespace '" + t->actor_namespace + "'");
    }
    if (auto death = routes_[id].death) throw std::invalid_argument(death->message);
  }
  return id;
}

std::shared_ptr<detail::RefToken> ActorRouting::submit_call(const ActorId& actor,
                                                            detail::Submission&& s,
                                                            const ActorCallOptions& options) {
  if (!actor.valid()) throw std::invalid_argument("call on an empty ActorHandle");
  if (!ctx_.this_session(actor.seq)) {
    throw std::invalid_argument(fmt::format(
        "call on {}, an actor of a runtime that manta::shutdown ended: actors do not outlive "
        "their runtime; create it again after init",
        actor.to_string()));
  }
  // The amounts are checked here, where the call is written, as a task's are; whether the
  // actor's rank can ever offer them, its host says (ActorHost::take_call_resources). A call
  // takes only what it names: no CPU unless asked, as the actor already holds its own.
  // Most calls ask for nothing: they share one empty set instead of allocating their own.
  static const auto nothing = std::make_shared<const ResourceSet>();
  std::shared_ptr<const ResourceSet> request = nothing;
  if (!options.resources.empty()) {
    check_resources(options.resources, CallName{"handle.task(&C::m)", s.function->name});
    ResourceSet asked;
    for (const auto& [k, v] : options.resources) asked.set(k, v);
    request = std::make_shared<const ResourceSet>(std::move(asked));
  }
  TaskOptions to;
  to.max_retries = 0;
  to.name = options.name;
  TaskPtr t = submitter_.make_spec(std::move(s), to);
  t->resources = std::move(request);
  t->kind = TaskKind::actor_call;
  t->actor = actor;
  t->caller = ctx_.rank;
  {
    std::lock_guard lock(routes_mutex_);
    t->actor_seq = routes_[actor].next_seq++;
  }
  auto token = ctx_.store.create_pending(t->return_object());
  submitter_.count_submitted();
  submitter_.resolve_arguments(t);
  return token;
}

void ActorRouting::route_call(const TaskPtr& t) {
  std::unique_lock lock(routes_mutex_);
  Route& r = routes_[t->actor];
  if (r.death) {
    auto death = r.death;
    lock.unlock();
    if (t->function != kRestartMarker) tasks_.complete(t, nullptr, 0, death);
    return;
  }
  if (r.known) {
    const int host = r.host;
    lock.unlock();
    send_call(host, t);
    return;
  }
  r.waiting.push_back(t);
  const bool ask = !std::exchange(r.asked, true);
  lock.unlock();
  if (ask) {
    ctx_.outbox.send(0, [&](WireWriter& w) { w.put(MessageType::actor_lookup).put(t->actor); });
  }
}

void ActorRouting::send_call(int host, const TaskPtr& t) {
  if (host == ctx_.rank) {
    deliver_here_(t);
    return;
  }
  if (t->function != kRestartMarker) tasks_.keep(t);  // a marker has no result to wait for
  ctx_.outbox.send(host, [&](WireWriter& w) {
    w.put(MessageType::actor_call);
    auto err = t->input_error();
    w.put<std::uint8_t>(err != nullptr);
    if (err) write_error(w, *err);
    write_task(w, *t, ctx_.config.inline_limit, ctx_.rank);
  });
}

void ActorRouting::on_location(const ActorId& id, int host,
                               std::shared_ptr<const ErrorInfo> death) {
  if (!death && host < 0) {
    // Rank 0 took it but it waits for an actor slot: a named creation may return; calls wait.
    {
      std::lock_guard lock(routes_mutex_);
      routes_[id].accepted = true;
    }
    routes_cv_.notify_all();
    return;
  }
  std::vector<TaskPtr> waiting;
  {
    std::lock_guard lock(routes_mutex_);
    Route& route = routes_[id];
    route.known = true;
    route.host = host;
    if (death) route.death = death;
    death = route.death;  // killed by this rank meanwhile
    waiting.swap(route.waiting);
  }
  routes_cv_.notify_all();
  std::sort(waiting.begin(), waiting.end(),
            [](const TaskPtr& a, const TaskPtr& b) { return a->actor_seq < b->actor_seq; });
  for (const TaskPtr& call : waiting) {
    if (death) {
      if (call->function != kRestartMarker) tasks_.complete(call, nullptr, 0, death);
    } else {
      send_call(host, call);
    }
  }
}

void ActorRouting::send_restart(const ActorId& actor) {
  auto t = std::make_shared<TaskSpec>();
  t->id = {ctx_.rank, ctx_.next_seq()};
  t->kind = TaskKind::actor_call;
  t->function = kRestartMarker;
  t->resources = std::make_shared<const ResourceSet>();
  t->actor = actor;
  t->caller = ctx_.rank;
  {
    std::lock_guard lock(routes_mutex_);
    t->actor_seq = routes_[actor].next_seq++;
  }
  route_call(t);
}

void ActorRouting::kill_actor(const ActorId& actor, bool no_restart) {
  if (!actor.valid()) throw std::invalid_argument("kill of an empty ActorHandle");
  if (!ctx_.this_session(actor.seq)) {
    throw std::invalid_argument(fmt::format(
        "kill of {}, an actor of a runtime that manta::shutdown ended: it ended with it",
        actor.to_string()));
  }
  if (!no_restart) {
    send_restart(actor);
    return;
  }
  std::vector<TaskPtr> waiting;
  std::shared_ptr<const ErrorInfo> death;
  {
    // This rank's later calls fail at once; calls already sent fail at the host unless they ran.
    std::lock_guard lock(routes_mutex_);
    Route& route = routes_[actor];
    route.death = death = std::make_shared<const ErrorInfo>(
        ctx_.make_error(ErrorKind::actor_died, nullptr, actor.to_string() + " was killed"));
    if (!route.known) {
      route.known = true;
      waiting.swap(route.waiting);
    }
  }
  // Outside the lock: failing a result runs its dependents' callbacks, which may route calls.
  for (const TaskPtr& call : waiting) {
    if (call->function != kRestartMarker) tasks_.complete(call, nullptr, 0, death);
  }
  ctx_.outbox.send(0, [&](WireWriter& w) {
    w.put(MessageType::actor_kill).put(actor).put<std::uint8_t>(no_restart);
  });
}

std::optional<ActorId> ActorRouting::lookup_actor(const std::string& name,
                                                  const std::string& name_space,
                                                  std::uint64_t class_tag,
                                                  const std::string& class_name) {
  const std::string& ns = name_space.empty() ? ctx_.config.name_space : name_space;
  std::uint64_t request;
  {
    std::lock_guard lock(names_mutex_);
    request = next_name_request_++;
    name_answers_[request];
  }
  ctx_.outbox.send(
      0, [&](WireWriter& w) { w.put(MessageType::name_lookup).put(request).str(ns).str(name); });
  std::unique_lock lock(names_mutex_);
  if (!names_cv_.wait_for(lock, std::chrono::seconds(ctx_.config.shutdown_timeout_s),
                          [&] { return name_answers_[request].done || ctx_.stopping; })) {
    throw std::runtime_error("manta::get_actor: no answer from rank 0");
  }
  NameAnswer answer = name_answers_[request];
  name_answers_.erase(request);
  if (!answer.found) return std::nullopt;
  if (answer.class_tag != class_tag) {
    throw std::invalid_argument("manta::get_actor<" + class_name + ">(\"" + name + "\", \"" + ns +
                                "\"): that actor is a " +
                                detail::type_name_of_tag(answer.class_tag));
  }
  return answer.id;
}

void ActorRouting::on_name_result(WireReader& r) {
  const auto request = r.get<std::uint64_t>();
  {
    std::lock_guard lock(names_mutex_);
    NameAnswer& a = name_answers_[request];
    a.found = r.get<std::uint8_t>() != 0;
    if (a.found) {
      a.id = r.get<ActorId>();
      a.class_tag = r.get<std::uint64_t>();
    }
    a.done = true;
  }
  names_cv_.notify_all();
}

std::size_t ActorRouting::waiting_calls(const ActorId& actor) const {
  std::lock_guard lock(routes_mutex_);
  auto it = routes_.find(actor);
  return it == routes_.end() ? 0 : it->second.waiting.size();
}

}  // namespace manta::engine
