#include "engine/control_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/dispatcher.h"
#include "engine/global_scheduler.h"
#include "engine/log.h"
#include "engine/messages.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

void ControlStore::register_handlers(Dispatcher& d) {
  d.on(MessageType::create_actor, [this](int, WireReader&, auto message) {
    TaskMessage m(message);
    if (ctx_.stopping) return;
    std::shared_ptr<const ErrorInfo> input_error;
    if (m.reader.get<std::uint8_t>()) {
      input_error = std::make_shared<const ErrorInfo>(read_error(m.reader));
    }
    place_actor(read_task(m.reader, m.bytes), std::move(input_error), /*first_try=*/true);
  });
  d.on(MessageType::actor_lookup,
       [this](int source, WireReader& r, auto) { on_lookup(source, r.get<ActorId>()); });
  d.on(MessageType::actor_kill, [this](int, WireReader& r, auto) {
    const auto id = r.get<ActorId>();
    on_kill(id, r.get<std::uint8_t>() != 0);
  });
  d.on(MessageType::actor_died, [this](int, WireReader& r, auto) {
    const auto id = r.get<ActorId>();
    on_died(id, std::make_shared<const ErrorInfo>(read_error(r)));
  });
  d.on(MessageType::name_lookup, [this](int source, WireReader& r, auto) {
    const auto request = r.get<std::uint64_t>();
    std::string name_space = r.str();
    on_name_lookup(source, request, name_space, r.str());
  });
}

bool ControlStore::place_actor(const TaskPtr& t, std::shared_ptr<const ErrorInfo> input_error,
                               bool first_try) {
  auto dead = [&](std::string why) {
    return std::make_shared<const ErrorInfo>(
        ctx_.make_error(ErrorKind::actor_died, t.get(), std::move(why)));
  };
  std::optional<int> host;
  std::optional<bool> kill;
  std::vector<std::function<void()>> watchers;
  {
    std::lock_guard lock(mutex_);
    Record& rec = table_[t->actor];
    rec.class_tag = t->class_tag;
    if (input_error) {
      rec.death = dead("it could not be created: " + input_error->message);
    } else if (auto it = names_.find({t->actor_namespace, t->actor_name});
               first_try && !t->actor_name.empty() && it != names_.end()) {
      rec.death = dead(fmt::format(
          "the actor name '{}' is taken in namespace '{}' by {}; pick another name or namespace, "
          "or kill that actor first",
          t->actor_name, t->actor_namespace, it->second.to_string()));
    } else if (PlacementGroups::ActorRoute route;
               t->placement_group.valid() && groups_.route &&
               ((route = groups_.route(t)).held || route.error)) {
      if (route.held) {
        // Placed again once its group is ready (or failed); a named creation returns now.
        if (first_try) {
          ctx_.outbox.send(t->id.submitter, [&](WireWriter& w) {
            w.put(MessageType::actor_location).put(t->actor).put<std::uint8_t>(0).put(-1);
          });
        }
        return false;
      }
      rec.death = route.error;
    } else {
      // In a group, the bundle's rank hosts it; only its actor slot is the rank's to count.
      ResourceSet slots;
      slots.set("actor_slots", t->resources->get("actor_slots"));
      const GlobalScheduler::ActorPlacement p =
          route.rank ? global_.place_actor(slots, *route.rank)
                     : global_.place_actor(*t->resources, t->on_rank);
      if (!p.waits_for.empty()) {
        keep_waiting(t, rec, p.waits_for, first_try);
        return false;
      }
      if (!p.host) {
        rec.death = dead(fmt::format(
            "no rank can host it: it asks for {}{} (rank 0 offers {}); ask for less, or start "
            "ranks with more (--manta-resources, --manta-max-actors)",
            t->resources->to_string(),
            t->on_rank >= 0 ? fmt::format(" on rank {}", t->on_rank) : "",
            global_.totals()[0].to_string()));
      } else {
        rec.host = *p.host;
        rec.name = t->actor_name;
        rec.name_space = t->actor_namespace;
        if (!t->placement_group.valid() && groups_.started) {
          rec.held = t->resources;
          groups_.started(rec.host, *rec.held);
        }
        if (!rec.name.empty()) names_[{rec.name_space, rec.name}] = t->actor;
        host = p.host;
        kill = rec.kill_pending;
        if (!first_try) {
          log().info("actor {} ({}) got a slot on rank {}", t->actor.to_string(),
                     ctx_.function_name(*t), *p.host);
        }
      }
    }
    rec.placed = true;
    if (rec.death && !first_try) free_name(t->actor, rec);
    reply_location(t->id.submitter, t->actor);
    for (int asker : rec.waiting) reply_location(asker, t->actor);
    rec.waiting.clear();
    watchers = take_watchers(rec);
  }
  for (auto& w : watchers) w();
  if (host) start_placed(t, *host, kill);
  return true;
}

void ControlStore::keep_waiting(const TaskPtr& t, Record& rec, const std::string& waits_for,
                                bool first_try) {
  if (first_try && !t->actor_name.empty()) names_[{t->actor_namespace, t->actor_name}] = t->actor;
  rec.name = t->actor_name;
  rec.name_space = t->actor_namespace;
  waiting_.push_back(t);
  if (!first_try) return;
  // The first of a burst warns (visible on stderr); the rest go to the log.
  const bool first = waiting_.size() == 1;
  const std::string text = fmt::format(
      "actor {} ({}) waits for a free actor slot: {}; it is created when an actor there ends "
      "(kill actors you no longer need, or raise --manta-max-actors){}",
      t->actor.to_string(), ctx_.function_name(*t), waits_for,
      first ? "" : fmt::format(" [{} creations wait]", waiting_.size()));
  if (first) {
    log().warn("{}", text);
  } else {
    log().info("{}", text);
  }
  // The creator learns that rank 0 took it (a named creation returns).
  ctx_.outbox.send(t->id.submitter, [&](WireWriter& w) {
    w.put(MessageType::actor_location).put(t->actor).put<std::uint8_t>(0).put(-1);
  });
}

void ControlStore::start_placed(const TaskPtr& t, int host, std::optional<bool> kill) {
  if (host == ctx_.rank) {
    // Queue it here now, so the next placement already sees it in rank 0's load.
    host_here_(t);
  } else {
    ctx_.outbox.send(host, [&](WireWriter& w) {
      w.put(MessageType::host_actor);
      write_task(w, *t, ctx_.config.inline_limit, ctx_.rank);
    });
  }
  if (kill) send_host_kill(host, t->actor, *kill);
}

void ControlStore::place_waiting() {
  std::deque<TaskPtr> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(waiting_);
  }
  // Those that still find no slot queue again, in their order.
  for (const TaskPtr& t : waiting) place_actor(t, nullptr, /*first_try=*/false);
}

void ControlStore::on_lookup(int source, const ActorId& id) {
  std::lock_guard lock(mutex_);
  Record& rec = table_[id];
  if (rec.placed) {
    reply_location(source, id);
  } else {
    rec.waiting.push_back(source);  // its creation has not reached rank 0 yet
  }
}

void ControlStore::on_kill(const ActorId& id, bool no_restart) {
  std::optional<int> host;
  std::vector<std::function<void()>> watchers;
  {
    std::lock_guard lock(mutex_);
    Record& rec = table_[id];
    auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                                [&](const TaskPtr& t) { return t->actor == id; });
    if (!rec.placed && no_restart && waiting != waiting_.end()) {
      // Killed while it waited for an actor slot: it never starts.
      waiting_.erase(waiting);
      rec.placed = true;
      rec.death = std::make_shared<const ErrorInfo>(
          ctx_.make_error(ErrorKind::actor_died, nullptr,
                          id.to_string() + " was killed while it waited for an actor slot"));
      free_name(id, rec);
      for (int asker : rec.waiting) reply_location(asker, id);
      rec.waiting.clear();
      watchers = take_watchers(rec);
    } else if (!rec.placed) {
      rec.kill_pending = no_restart;  // the kill beat the creation: it applies once placed
    } else if (!rec.death) {
      host = rec.host;
    }
  }
  for (auto& w : watchers) w();
  if (host) send_host_kill(*host, id, no_restart);
}

void ControlStore::on_died(const ActorId& id, std::shared_ptr<const ErrorInfo> cause) {
  bool slot_freed = false;
  {
    std::lock_guard lock(mutex_);
    Record& rec = table_[id];
    if (rec.placed && rec.host >= 0 && !rec.death) {
      global_.actor_ended(rec.host);
      slot_freed = !waiting_.empty();
      if (rec.held && groups_.ended) groups_.ended(rec.host, *rec.held);
      rec.held.reset();
    }
    rec.death = std::move(cause);
    free_name(id, rec);
  }
  if (slot_freed) place_waiting();
}

std::vector<std::function<void()>> ControlStore::take_watchers(Record& rec) {
  std::vector<std::function<void()>> calls;
  for (auto& w : rec.watchers)
    calls.push_back([w = std::move(w), host = rec.host, death = rec.death] { w(host, death); });
  rec.watchers.clear();
  return calls;
}

void ControlStore::when_placed(
    const ActorId& id,
    std::function<void(int host, std::shared_ptr<const ErrorInfo> death)> placed) {
  int host = -1;
  std::shared_ptr<const ErrorInfo> death;
  {
    std::lock_guard lock(mutex_);
    Record& rec = table_[id];
    if (!rec.placed) {
      rec.watchers.push_back(std::move(placed));
      return;
    }
    host = rec.host;
    death = rec.death;
  }
  placed(host, std::move(death));
}

void ControlStore::on_name_lookup(int source, std::uint64_t request, const std::string& name_space,
                                  const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = names_.find({name_space, name});
  const bool found = it != names_.end();
  ctx_.outbox.send(source, [&](WireWriter& w) {
    w.put(MessageType::name_result).put(request).put<std::uint8_t>(found);
    if (found) w.put(it->second).put(table_[it->second].class_tag);
  });
}

void ControlStore::reply_location(int dest, const ActorId& id) {
  const Record& rec = table_[id];
  ctx_.outbox.send(dest, [&](WireWriter& w) {
    w.put(MessageType::actor_location).put(id).put<std::uint8_t>(rec.death != nullptr);
    if (rec.death) {
      write_error(w, *rec.death);
    } else {
      w.put(rec.host);
    }
  });
}

void ControlStore::free_name(const ActorId& id, const Record& rec) {
  if (auto it = names_.find({rec.name_space, rec.name});
      !rec.name.empty() && it != names_.end() && it->second == id) {
    names_.erase(it);
  }
}

void ControlStore::send_host_kill(int host, const ActorId& id, bool no_restart) {
  ctx_.outbox.send(host, [&](WireWriter& w) {
    w.put(MessageType::host_kill).put(id).put<std::uint8_t>(no_restart);
  });
}

std::optional<ActorId> ControlStore::named(const std::string& name,
                                           const std::string& name_space) const {
  std::lock_guard lock(mutex_);
  auto it = names_.find({name_space, name});
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::size_t ControlStore::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

}  // namespace manta::engine
