#include "engine/lineage.h"

#include <fmt/format.h>

#include "engine/log.h"
#include "engine/ownership.h"
#include "engine/rank_context.h"
#include "engine/runtime.h"

namespace manta::engine {

namespace {

/// The name of a spec's task, for messages and the rerun's trace event.
std::string task_name(const RankContext* ctx, const TaskSpec& t) {
  if (ctx) return ctx->function_name(t);
  return t.name.empty() ? "its task" : t.name;
}

}  // namespace

std::uint64_t Lineage::spec_bytes(const TaskSpec& t) {
  std::uint64_t n = sizeof(TaskSpec) + t.name.size() + t.args.size() * sizeof(TaskArg) +
                    t.keep_alive.size() * sizeof(void*);
  for (std::size_t i = 0; i < t.args.size(); ++i) {
    const TaskArg& a = t.args[i];
    if (a.is_ref || !a.buffer) continue;
    // Value arguments share their submission's buffer: it counts once (arguments are few).
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) seen = t.args[j].buffer == a.buffer;
    if (!seen) n += a.buffer->size();
  }
  return n;
}

TaskPtr Lineage::copy_spec(const TaskSpec& t) {
  auto s = std::make_shared<TaskSpec>();
  s->id = t.id;
  s->kind = t.kind;
  s->actor = t.actor;
  s->function = t.function;
  s->name = t.name;
  s->resources = t.resources;
  s->on_rank = t.on_rank;
  s->placement_group = t.placement_group;
  s->bundle_index = t.bundle_index;
  s->max_retries = t.max_retries;
  s->retry_exceptions = t.retry_exceptions;
  // A large value argument is a store object whose bytes the submission buffer may share:
  // holding that buffer would pin the object in memory, so small values are copied out then.
  bool shares_store_bytes = false;
  for (const TaskArg& a : t.args) shares_store_bytes |= a.ref.valid() && !a.is_ref;
  s->args.resize(t.args.size());
  for (std::size_t i = 0; i < t.args.size(); ++i) {
    const TaskArg& a = t.args[i];
    TaskArg& b = s->args[i];
    b.tag = a.tag;
    if (a.ref.valid() && a.token) {
      // Resolved again by the rerun, wherever its bytes are then.
      b.is_ref = true;
      b.ref = a.ref;
      b.token = a.token;
    } else if (!shares_store_bytes || !a.buffer) {
      b.buffer = a.buffer;
      b.offset = a.offset;
      b.size = a.size;
    } else {
      b.buffer = std::make_shared<const Buffer>(a.buffer->data() + a.offset, a.size);
      b.size = a.size;
    }
  }
  s->keep_alive = t.keep_alive;
  return s;
}

void Lineage::record_task(const TaskSpec& t) {
  if (t.kind != TaskKind::task) return;
  const ObjectId id = t.return_object();
  if (max_bytes_ == 0) {
    Entry e;
    e.kind = Kind::evicted;
    std::lock_guard lock(mutex_);
    entries_[id] = std::move(e);
    ++counts_.evicted;
    return;
  }
  Entry e;
  e.spec = copy_spec(t);
  e.bytes = spec_bytes(*e.spec);
  e.max_retries = t.max_retries;
  std::vector<TaskPtr> dropped;
  std::lock_guard lock(mutex_);
  bytes_ += e.bytes;
  entries_[id] = std::move(e);
  order_.push_back(id);
  evict_locked(dropped);
  // Forgotten ids are left in the queue; compact it before it outgrows the table.
  if (order_.size() > 2 * entries_.size() + 1024) {
    std::deque<ObjectId> kept;
    for (const ObjectId& o : order_) {
      auto it = entries_.find(o);
      if (it != entries_.end() && it->second.spec) kept.push_back(o);
    }
    order_.swap(kept);
  }
  // `dropped` (specs, and the input tokens they hold, which may free objects) is destroyed
  // after the lock is released: it was declared first.
}

void Lineage::evict_locked(std::vector<TaskPtr>& dropped) {
  while (bytes_ > max_bytes_ && !order_.empty()) {
    const ObjectId id = order_.front();
    order_.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.spec) continue;
    Entry& e = it->second;
    e.function = task_name(hooks_.ctx, *e.spec);
    dropped.push_back(std::move(e.spec));
    e.spec.reset();
    e.kind = Kind::evicted;
    bytes_ -= e.bytes;
    e.bytes = 0;
    ++counts_.evicted;
  }
}

void Lineage::record_actor_result(const ObjectId& id, const ActorId& actor) {
  Entry e;
  e.kind = Kind::actor_result;
  e.actor = actor;
  std::lock_guard lock(mutex_);
  entries_[id] = std::move(e);
}

void Lineage::forget(const std::vector<ObjectId>& ids) {
  if (ids.empty()) return;
  std::vector<TaskPtr> dropped;
  std::lock_guard lock(mutex_);
  for (const ObjectId& id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    if (it->second.spec) {
      bytes_ -= it->second.bytes;
      dropped.push_back(std::move(it->second.spec));
    }
    entries_.erase(it);
  }
}

Lineage::Decision Lineage::decide(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return {nullptr, fmt::format("{} was made by manta::put: a put has no task to rebuild it "
                                 "from; keep such data where it can be read again, or make it "
                                 "with a task",
                                 id.to_string())};
  }
  Entry& e = it->second;
  if (e.kind == Kind::actor_result) {
    return {nullptr,
            fmt::format("{} is the result of a call on actor {}: actor results are not rebuilt "
                        "(the actor's state has moved on); call the actor again",
                        id.to_string(), e.actor.to_string())};
  }
  if (e.kind == Kind::evicted) {
    return {nullptr,
            fmt::format("{} was made by {} but its lineage was dropped to stay under "
                        "--manta-max-lineage-bytes={}; raise it to rebuild such objects",
                        id.to_string(), e.function.empty() ? "a task" : e.function, max_bytes_)};
  }
  if (e.rebuilding) return {nullptr, ""};  // a rebuild is under way already
  const std::string name = task_name(hooks_.ctx, *e.spec);
  if (e.reconstructions >= e.max_retries) {
    return {nullptr, fmt::format("{} was made by {} and was rebuilt {} times, max_retries={}; "
                                 "give the task a higher max_retries to rebuild it again",
                                 id.to_string(), name, e.reconstructions, e.max_retries)};
  }
  ++e.reconstructions;
  ++counts_.reconstructions;
  e.rebuilding = true;
  TaskPtr spec = copy_spec(*e.spec);
  // The rerun says what it is in the timeline and in its errors.
  spec->name = fmt::format("{} (reconstruction {} of {})", name, e.reconstructions, id.to_string());
  return {std::move(spec), ""};
}

void Lineage::rebuild_ended(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(id); it != entries_.end()) it->second.rebuilding = false;
}

void Lineage::object_lost(const ObjectId& id, const ErrorInfo& cause) {
  RankContext& ctx = *hooks_.ctx;
  Decision d = ctx.stopping ? Decision{nullptr, "the runtime is shutting down"} : decide(id);
  if (d.spec) {
    std::optional<std::vector<int>> readers = ctx.store.make_pending(id);
    if (!readers) {  // freed meanwhile, or being rebuilt already
      rebuild_ended(id);
      return;
    }
    log().info("rebuilding {} by running {} again: {}", id.to_string(), d.spec->name,
               cause.message);
    if (!ctx.store.when_finished(id, [this, id] { rebuild_ended(id); })) rebuild_ended(id);
    for (int reader : *readers) hooks_.reask(reader, id);
    hooks_.resubmit(d.spec);
    return;
  }
  if (d.why_not.empty()) return;  // its rebuild is under way
  {
    std::lock_guard lock(mutex_);
    ++counts_.lost;
  }
  ErrorInfo e = cause;
  e.kind = ErrorKind::object_lost;
  e.message = cause.message + "; " + d.why_not;
  log().info("{} is lost: {}", id.to_string(), e.message);
  hooks_.ownership->apply_freed(id, ctx.store.set_failed(id, std::make_shared<const ErrorInfo>(e)));
}

LineageStats Lineage::stats() const {
  std::lock_guard lock(mutex_);
  LineageStats s = counts_;
  s.bytes = bytes_;
  for (const auto& [id, e] : entries_) s.specs += e.spec != nullptr;
  return s;
}

namespace testing {

bool drop_copy_here(const ObjectId& id) {
  Runtime* r = Runtime::instance();
  if (!r) return false;
  RankContext* ctx = r->parts().lineage.context();
  if (!ctx || id.owner == ctx->rank) return false;
  bool dropped = false;
  ObjectStore::Freed freed = ctx->store.drop_copy(id, &dropped);
  r->parts().ownership.apply_freed(id, std::move(freed));
  return dropped;
}

}  // namespace testing

}  // namespace manta::engine
