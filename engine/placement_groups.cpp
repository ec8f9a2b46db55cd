#include "engine/placement_groups.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <manta/serialization.h>

#include "engine/bundle_resources.h"
#include "engine/dispatcher.h"
#include "engine/local_scheduler.h"
#include "engine/log.h"
#include "engine/messages.h"
#include "engine/option_checks.h"
#include "engine/ownership.h"
#include "engine/timeline.h"

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;
using State = PlacementGroupTable::State;

namespace {

// pg_state's outcome byte.
enum class Outcome : std::uint8_t { ready = 0, failed = 1, removed = 2 };

void put_id(WireWriter& w, const PlacementGroupId& id) { w.put(id.creator).put(id.seq); }

PlacementGroupId get_id(WireReader& r) {
  PlacementGroupId id;
  id.creator = r.get<std::int32_t>();
  id.seq = r.get<std::uint64_t>();
  return id;
}

/// A bundle as given: no CPU added when it names none (unlike a task's request).
ResourceSet bundle_set(const ResourceMap& m) {
  ResourceSet r;
  for (const auto& [name, amount] : m) r.set(name, amount);
  return r;
}

std::vector<ResourceSet> bundle_sets(const std::vector<ResourceMap>& bundles) {
  std::vector<ResourceSet> out;
  out.reserve(bundles.size());
  for (const auto& b : bundles) out.push_back(bundle_set(b));
  return out;
}

/// `r` without the rank's actor slots (they are not a bundle's).
ResourceSet without_slots(const ResourceSet& r) {
  ResourceSet out = r;
  out.set("actor_slots", 0);
  return out;
}

std::string label(const PlacementGroupId& id, const std::string& name) {
  return name.empty() ? id.to_string() : fmt::format("{} ('{}')", id.to_string(), name);
}

}  // namespace

PlacementGroups::PlacementGroups(RankContext& ctx, Ownership& ownership, LocalScheduler& local,
                                 std::vector<ResourceSet> totals, Timeline* timeline, Hooks hooks)
    : ctx_(ctx),
      ownership_(ownership),
      local_(local),
      timeline_(timeline),
      hooks_(std::move(hooks)) {
  if (ctx_.rank == 0) table_.emplace(std::move(totals));
}

void PlacementGroups::register_handlers(Dispatcher& d) {
  if (table_) {
    d.on(MessageType::pg_create, [this](int source, WireReader& r, auto) { on_create(source, r); });
    d.on(MessageType::pg_committed,
         [this](int source, WireReader& r, auto) { on_committed(source, get_id(r)); });
    d.on(MessageType::pg_remove, [this](int, WireReader& r, auto) { on_remove(get_id(r)); });
    d.on(MessageType::pg_lookup,
         [this](int source, WireReader& r, auto) { on_lookup(source, get_id(r)); });
  }
  d.on(MessageType::pg_commit, [this](int, WireReader& r, auto) { on_commit(r); });
  d.on(MessageType::pg_release, [this](int, WireReader& r, auto) { on_release(get_id(r)); });
  d.on(MessageType::pg_state, [this](int, WireReader& r, auto) { on_state(r); });
}

// ---------------------------------------------------------------------------------------------
// Creator and holders.

std::pair<PlacementGroupId, std::shared_ptr<detail::RefToken>> PlacementGroups::create(
    const std::vector<ResourceMap>& bundles, PlacementStrategy strategy, std::string name) {
  if (ctx_.stopping) {
    throw RuntimeStoppedError(
        ctx_.make_error(ErrorKind::shutdown, nullptr, "placement group created after shutdown"));
  }
  if (bundles.empty()) {
    throw std::invalid_argument(
        "manta::placement_group: no bundles; pass at least one resource map, e.g. {{{\"CPU\", "
        "1}}}");
  }
  for (std::size_t b = 0; b < bundles.size(); ++b) {
    const std::string call = fmt::format("manta::placement_group(bundle {})", b);
    check_resources(bundles[b], CallName(call));
    if (bundle_set(bundles[b]).items().empty()) {
      throw std::invalid_argument(call +
                                  ": the bundle reserves nothing; give it an amount, e.g. "
                                  "{\"CPU\", 1}");
    }
  }
  if (static_cast<std::uint8_t>(strategy) >
      static_cast<std::uint8_t>(PlacementStrategy::strict_spread)) {
    throw std::invalid_argument("manta::placement_group: unknown strategy");
  }
  const PlacementGroupId id{ctx_.rank, ctx_.next_seq()};
  const ObjectId ready{ctx_.rank, 0, ctx_.next_seq()};
  auto token = ctx_.store.create_pending(ready);
  {
    std::lock_guard lock(mutex_);
    known_[id].ready = ready;
  }
  ctx_.outbox.send(0, [&](WireWriter& w) {
    w.put(MessageType::pg_create);
    put_id(w, id);
    w.str(name)
        .put(static_cast<std::uint8_t>(strategy))
        .put(static_cast<std::uint32_t>(bundles.size()));
    for (const auto& b : bundles) write_resources(w, bundle_set(b));
  });
  return {id, std::move(token)};
}

void PlacementGroups::remove(const PlacementGroupId& id) {
  if (!id.valid()) throw std::invalid_argument("manta::remove_placement_group: an empty group");
  if (ctx_.stopping) return;
  ctx_.outbox.send(0, [&](WireWriter& w) {
    w.put(MessageType::pg_remove);
    put_id(w, id);
  });
}

std::vector<int> PlacementGroups::ranks(const PlacementGroupId& id) {
  std::unique_lock lock(mutex_);
  Known& k = known_[id];  // nodes stay put: the reference survives other insertions
  if (!k.resolved && !k.asked) {
    k.asked = true;
    ctx_.outbox.send(0, [&](WireWriter& w) {
      w.put(MessageType::pg_lookup);
      put_id(w, id);
    });
  }
  while (!k.resolved) {
    if (ctx_.stopping) {
      throw RuntimeStoppedError(ctx_.make_error(
          ErrorKind::shutdown, nullptr, "the runtime stopped while waiting for " + id.to_string()));
    }
    known_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  if (k.error) throw UnschedulableError(*k.error);
  return k.ranks;
}

void PlacementGroups::on_state(WireReader& r) {
  const PlacementGroupId id = get_id(r);
  const auto outcome = r.get<Outcome>();
  std::vector<int> ranks;
  std::shared_ptr<const ErrorInfo> error;
  if (outcome == Outcome::ready) {
    ranks.resize(r.count<std::uint32_t>(sizeof(std::int32_t)));
    for (int& k : ranks) k = r.get<std::int32_t>();
  } else {
    error = std::make_shared<const ErrorInfo>(read_error(r));
  }
  ObjectId ready;
  {
    std::lock_guard lock(mutex_);
    Known& k = known_[id];
    const bool first = !k.resolved;
    k.resolved = true;
    if (!ranks.empty()) k.ranks = ranks;
    k.error = error;
    // The creator sets its ready object once: true, or the failure.
    if (first && outcome != Outcome::removed) ready = k.ready;
  }
  known_cv_.notify_all();
  if (!ready.valid()) return;
  if (error) {
    ownership_.apply_freed(ready, ctx_.store.set_failed(ready, error));
  } else {
    Buffer bytes = encode_value(true);
    ownership_.apply_freed(
        ready, ctx_.store.set_ready(ready, std::make_shared<const Buffer>(std::move(bytes)),
                                    detail::type_tag<bool>()));
  }
}

// ---------------------------------------------------------------------------------------------
// Submitter.

void PlacementGroups::apply(TaskSpec& t, const BundleTarget& target, int on_rank,
                            const CallName& call) {
  const PlacementGroupId id = target.group;
  const std::size_t n = target.bundles ? target.bundles->size() : 0;
  const int index = target.bundle_index;
  if (index < -1 || index >= static_cast<int>(n)) {
    throw std::invalid_argument(fmt::format(
        "{}.placement_group({}, {}): the group has {} bundle{} (index 0 to {}); pass one of them, "
        "or -1 for any bundle with room",
        call.to_string(), id.to_string(), index, n, n == 1 ? "" : "s", static_cast<int>(n) - 1));
  }
  const std::vector<ResourceSet> bundles = bundle_sets(*target.bundles);
  const ResourceSet& request = *t.resources;
  if (!fits_bundle(request, bundles, index)) {
    std::string held;
    if (index >= 0) {
      held = fmt::format("bundle {} holds {}", index,
                         bundles[static_cast<std::size_t>(index)].to_string());
    } else {
      held = "no bundle of it holds that (bundle 0 holds " + bundles[0].to_string() + ")";
    }
    throw UnschedulableError(ctx_.make_error(
        ErrorKind::unschedulable, &t,
        fmt::format("{} asks for {} in placement group {} but {}: it could never run there; ask "
                    "for less, or give the group larger bundles",
                    call.to_string(), without_slots(request).to_string(), id.to_string(), held)));
  }
  if (on_rank >= 0) {
    // Where the group is decides where it runs: on_rank must agree (this waits for the group).
    const std::vector<int> where = ranks(id);
    if (index >= 0 && where[static_cast<std::size_t>(index)] != on_rank) {
      throw std::invalid_argument(fmt::format(
          "{}.on_rank({}) with placement_group({}, {}): that bundle is on rank {}; drop on_rank "
          "(the bundle decides where it runs) or pick a bundle on rank {}",
          call.to_string(), on_rank, id.to_string(), index, where[static_cast<std::size_t>(index)],
          on_rank));
    }
    if (index < 0 && std::find(where.begin(), where.end(), on_rank) == where.end()) {
      throw std::invalid_argument(fmt::format(
          "{}.on_rank({}) with placement_group({}): no bundle of the group is on rank {} (its "
          "bundles are on ranks {}); drop on_rank or pick another rank",
          call.to_string(), on_rank, id.to_string(), on_rank, fmt::join(where, ", ")));
    }
  }
  t.resources = std::make_shared<const ResourceSet>(request_in_bundle(request, id, index));
  t.placement_group = id;
  t.bundle_index = index;
  t.on_rank = on_rank;
}

// ---------------------------------------------------------------------------------------------
// Rank 0.

void PlacementGroups::on_create(int source, WireReader& r) {
  PlacementGroupTable::Group g;
  g.id = get_id(r);
  g.name = r.str();
  g.strategy = static_cast<PlacementStrategy>(r.get<std::uint8_t>());
  g.bundles.resize(r.count<std::uint32_t>(sizeof(std::uint32_t)));
  for (auto& b : g.bundles) b = read_resources(r);
  g.creator = source;
  const PlacementGroupId id = g.id;
  bool failed = false;
  {
    std::lock_guard lock(mutex_);
    const PlacementGroupTable::Group& rec = table_->create(std::move(g));
    created_us_[id] = Timeline::now_us();
    if (rec.state == State::failed) {
      failed = true;
      log().warn("{}", rec.error);
      send_state_locked(rec.creator, rec);
      for (int asker : askers_[id]) send_state_locked(asker, rec);
      askers_.erase(id);
      if (timeline_) {
        timeline_->record("placement group failed " + id.to_string(), {id.creator, id.seq},
                          created_us_[id], Timeline::now_us());
      }
    } else {
      place_waiting_locked();
    }
  }
  if (failed) release_held(id);
}

void PlacementGroups::place_waiting_locked() {
  for (const PlacementGroupTable::Group* g : table_->place_waiting()) {
    std::map<int, std::vector<std::pair<int, ResourceSet>>> by_rank;
    for (std::size_t b = 0; b < g->bundles.size(); ++b) {
      by_rank[g->ranks[b]].emplace_back(static_cast<int>(b), g->bundles[b]);
    }
    for (const auto& [rank, bundles] : by_rank) {
      ctx_.outbox.send(rank, [&, &list = bundles](WireWriter& w) {
        w.put(MessageType::pg_commit);
        put_id(w, g->id);
        w.put(static_cast<std::uint32_t>(list.size()));
        for (const auto& [index, b] : list) {
          w.put(static_cast<std::int32_t>(index));
          write_resources(w, b);
        }
      });
    }
  }
}

void PlacementGroups::on_committed(int source, const PlacementGroupId& id) {
  {
    std::lock_guard lock(mutex_);
    if (!table_->committed(id, source)) return;
    const PlacementGroupTable::Group& g = *table_->find(id);
    send_state_locked(g.creator, g);
    for (int asker : askers_[id]) {
      if (asker != g.creator) send_state_locked(asker, g);
    }
    askers_.erase(id);
    if (timeline_) {
      timeline_->record("placement group ready " + id.to_string(), {id.creator, id.seq},
                        created_us_[id], Timeline::now_us());
    }
    created_us_.erase(id);
  }
  release_held(id);
}

void PlacementGroups::on_remove(const PlacementGroupId& id) {
  {
    std::lock_guard lock(mutex_);
    const std::optional<State> was = table_->remove(id);
    if (!was) return;  // removed or failed already, or removed before its creation came
    const PlacementGroupTable::Group& g = *table_->find(id);
    if (*was == State::committing || *was == State::ready) {
      for (int rank : std::set<int>(g.ranks.begin(), g.ranks.end())) {
        ctx_.outbox.send(rank, [&](WireWriter& w) {
          w.put(MessageType::pg_release);
          put_id(w, id);
        });
      }
    }
    if (*was != State::ready) {
      // Never ready: its ready() fails.
      PlacementGroupTable::Group failed = g;
      failed.state = State::failed;
      failed.error = id.to_string() + " was removed before it was reserved";
      send_state_locked(g.creator, failed);
      for (int asker : askers_[id]) send_state_locked(asker, failed);
      askers_.erase(id);
    } else {
      send_state_locked(g.creator, g);
    }
    if (timeline_) {
      const std::int64_t now = Timeline::now_us();
      timeline_->record("placement group removed " + id.to_string(), {id.creator, id.seq}, now,
                        now);
    }
    created_us_.erase(id);
    place_waiting_locked();  // the freed bundles may let the next groups in
  }
  release_held(id);
}

void PlacementGroups::on_lookup(int source, const PlacementGroupId& id) {
  std::lock_guard lock(mutex_);
  const PlacementGroupTable::Group* g = table_->find(id);
  if (g && g->state != State::waiting && g->state != State::committing) {
    send_state_locked(source, *g);
  } else {
    askers_[id].push_back(source);
  }
}

void PlacementGroups::send_state_locked(int dest, const PlacementGroupTable::Group& g) {
  ctx_.outbox.send(dest, [&](WireWriter& w) {
    w.put(MessageType::pg_state);
    put_id(w, g.id);
    if (g.state == State::ready) {
      w.put(Outcome::ready).put(static_cast<std::uint32_t>(g.ranks.size()));
      for (int r : g.ranks) w.put(static_cast<std::int32_t>(r));
    } else {
      w.put(g.state == State::removed ? Outcome::removed : Outcome::failed);
      write_error(w, *group_error(&g, g.id, nullptr, ErrorKind::unschedulable));
    }
  });
}

std::shared_ptr<const ErrorInfo> PlacementGroups::group_error(const PlacementGroupTable::Group* g,
                                                              const PlacementGroupId& id,
                                                              const TaskSpec* t,
                                                              ErrorKind kind) const {
  std::string why;
  if (!g) {
    why = "placement group " + id.to_string() + " is not known";
  } else if (g->state == State::removed) {
    why = "placement group " + label(id, g->name) + " was removed";
  } else {
    why = g->error;
  }
  if (t) {
    why = (t->kind == TaskKind::actor_creation ? "it could not be created: " : "it cannot run: ") +
          why;
  }
  return std::make_shared<const ErrorInfo>(ctx_.make_error(kind, t, std::move(why)));
}

void PlacementGroups::release_held(const PlacementGroupId& id) {
  std::vector<TaskPtr> held;
  bool ready = false;
  std::shared_ptr<const ErrorInfo> task_error;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(id);
    if (it == held_.end()) return;
    const PlacementGroupTable::Group* g = table_->find(id);
    if (!g || g->state == State::waiting || g->state == State::committing) return;
    held = std::move(it->second);
    held_.erase(it);
    ready = g->state == State::ready;
  }
  for (const TaskPtr& t : held) {
    if (t->kind == TaskKind::actor_creation) {
      if (ready) {
        hooks_.place_actor(t);
      } else {
        std::shared_ptr<const ErrorInfo> e;
        {
          std::lock_guard lock(mutex_);
          e = group_error(table_->find(id), id, t.get(), ErrorKind::actor_died);
        }
        hooks_.fail_actor(t, std::move(e));
      }
    } else if (ready) {
      place_task(t);
    } else {
      std::shared_ptr<const ErrorInfo> e;
      {
        std::lock_guard lock(mutex_);
        e = group_error(table_->find(id), id, t.get(), ErrorKind::unschedulable);
      }
      hooks_.fail_task(t, *e);
    }
  }
}

int PlacementGroups::pick_rank(const PlacementGroupTable::Group& g, const TaskSpec& t) {
  if (t.bundle_index >= 0) return g.ranks[static_cast<std::size_t>(t.bundle_index)];
  // Ranks whose bundles of the group together could hold it at all.
  std::map<int, std::vector<std::pair<int, ResourceSet>>> by_rank;
  for (std::size_t b = 0; b < g.bundles.size(); ++b) {
    by_rank[g.ranks[b]].emplace_back(static_cast<int>(b), g.bundles[b]);
  }
  const ResourceSet request = without_slots(*t.resources);
  std::vector<int> able;
  for (const auto& [rank, bundles] : by_rank) {
    if (request.fits_in(bundle_offer(g.id, bundles))) able.push_back(rank);
  }
  if (able.empty()) return g.ranks[0];  // cannot happen: checked at submission
  if (t.on_rank >= 0 && std::find(able.begin(), able.end(), t.on_rank) != able.end()) {
    return t.on_rank;
  }
  // Of those, the ones with room now (as last reported); else any of them, in turn.
  std::vector<int> free_now;
  if (hooks_.loads) {
    const std::vector<RankLoad> loads = hooks_.loads();
    for (int r : able) {
      if (static_cast<std::size_t>(r) < loads.size() &&
          t.resources->fits_in(loads[static_cast<std::size_t>(r)].available)) {
        free_now.push_back(r);
      }
    }
  }
  const std::vector<int>& from = free_now.empty() ? able : free_now;
  return from[turn_++ % from.size()];
}

void PlacementGroups::place_task(const TaskPtr& t) {
  const PlacementGroupId id = t->placement_group;
  int rank = -1;
  std::shared_ptr<const ErrorInfo> error;
  {
    std::lock_guard lock(mutex_);
    const PlacementGroupTable::Group* g = table_->find(id);
    if (!g || g->state == State::waiting || g->state == State::committing) {
      held_[id].push_back(t);  // runs once the group is ready; fails if it never is
      return;
    }
    if (g->state == State::ready) {
      rank = pick_rank(*g, *t);
    } else {
      error = group_error(g, id, t.get(), ErrorKind::unschedulable);
    }
  }
  if (error) {
    hooks_.fail_task(t, *error);
    return;
  }
  t->on_rank = rank;
  hooks_.send_task(rank, t);
}

PlacementGroups::ActorRoute PlacementGroups::route_actor(const TaskPtr& creation) {
  const PlacementGroupId id = creation->placement_group;
  ActorRoute route;
  std::lock_guard lock(mutex_);
  const PlacementGroupTable::Group* g = table_->find(id);
  if (!g || g->state == State::waiting || g->state == State::committing) {
    held_[id].push_back(creation);
    route.held = true;
  } else if (g->state == State::ready) {
    route.rank = pick_rank(*g, *creation);
  } else {
    route.error = group_error(g, id, creation.get(), ErrorKind::actor_died);
  }
  return route;
}

void PlacementGroups::actor_started(int rank, const ResourceSet& r) {
  std::lock_guard lock(mutex_);
  if (table_) table_->actor_started(rank, without_slots(r));
}

void PlacementGroups::actor_ended(int rank, const ResourceSet& r) {
  std::lock_guard lock(mutex_);
  if (!table_) return;
  table_->actor_ended(rank, without_slots(r));
  place_waiting_locked();
}

std::vector<PlacementGroupSummary> PlacementGroups::summary() const {
  constexpr std::size_t kFinishedShown = 20;  // a long job may have made thousands
  std::vector<PlacementGroupSummary> live, finished;
  std::lock_guard lock(mutex_);
  if (!table_) return live;
  for (const PlacementGroupTable::Group& g : table_->groups()) {
    PlacementGroupSummary out;
    out.id = g.id.to_string();
    out.name = g.name;
    out.strategy = to_string(g.strategy);
    out.state = to_string(g.state);
    for (const auto& b : g.bundles) out.bundles.push_back(b.to_string());
    out.ranks = g.ranks;
    const bool over = g.state == State::failed || g.state == State::removed;
    (over ? finished : live).push_back(std::move(out));
  }
  if (finished.size() > kFinishedShown) {
    finished.erase(finished.begin(), finished.end() - static_cast<std::ptrdiff_t>(kFinishedShown));
  }
  live.insert(live.end(), finished.begin(), finished.end());
  return live;
}

// ---------------------------------------------------------------------------------------------
// Host.

void PlacementGroups::on_commit(WireReader& r) {
  const PlacementGroupId id = get_id(r);
  Hosted h;
  h.bundles.resize(r.count<std::uint32_t>(sizeof(std::int32_t) + sizeof(std::uint32_t)));
  ResourceSet base;
  for (auto& [index, b] : h.bundles) {
    index = r.get<std::int32_t>();
    b = read_resources(r);
    base.add(b);
  }
  const ResourceSet offer = bundle_offer(id, h.bundles);
  {
    std::lock_guard lock(mutex_);
    hosted_[id] = std::move(h);
  }
  // The bundles leave the free pool (tasks running on them keep them until they end) and come
  // back under their own names; rank 0 hears only after that, so work sent into the group
  // once it is ready finds them here.
  local_.reserve(base);
  local_.add_offer(offer);
  ctx_.outbox.send(0, [&](WireWriter& w) {
    w.put(MessageType::pg_committed);
    put_id(w, id);
  });
}

void PlacementGroups::on_release(const PlacementGroupId& id) {
  Hosted h;
  {
    std::lock_guard lock(mutex_);
    auto it = hosted_.find(id);
    if (it == hosted_.end()) return;
    h = std::move(it->second);
    hosted_.erase(it);
  }
  const std::string why = "its placement group " + id.to_string() + " was removed";
  for (const ActorId& a : hooks_.actors_in(id)) {
    hooks_.kill_actor(a, std::make_shared<const ErrorInfo>(ctx_.make_error(
                             ErrorKind::actor_died, nullptr, a.to_string() + " died: " + why)));
  }
  for (const TaskPtr& t : local_.retire_offer(offer_bases(id, h.bundles))) {
    const bool creation = t->kind == TaskKind::actor_creation;
    hooks_.fail_queued(t, std::make_shared<const ErrorInfo>(ctx_.make_error(
                              creation ? ErrorKind::actor_died : ErrorKind::unschedulable, t.get(),
                              (creation ? t->actor.to_string() + " died before it started: "
                                        : std::string("the task was queued and cannot run: ")) +
                                  why)));
  }
}

}  // namespace manta::engine
