#include "engine/messages.h"

#include <array>
#include <cmath>
#include <stdexcept>

namespace manta::engine {

using transport::WireReader;
using transport::WireWriter;

const char* message_name(MessageType type) noexcept {
  // In the enum's order, from kFirstMessageType.
  static constexpr std::array kNames = {
      "submit_task", "forward_task", "task_done", "resolve_object", "object_status", "pull_request",
      "pull_header", "free_object", "load_report", "shutdown", "shutdown_ack", "timeline",
      "create_actor", "host_actor", "actor_location", "actor_lookup", "actor_call", "actor_kill",
      "actor_died", "name_lookup", "name_result", "add_borrower", "borrow_ack", "remove_borrower",
      "copy_done", "pull_done", "summary_request", "summary_reply", "status_report", "spill_hint",
      "host_kill", "pg_create", "pg_commit", "pg_committed", "pg_state", "pg_remove", "pg_release",
      "pg_lookup", "collective_create", "collective_destroy", "collective_query",
      "collective_answer", "collective_setup", "collective_ready", "collective_teardown",
      "collective_broken",
      // Checkpoints.
      "checkpoint_begin",
      // Lineage reconstruction.
      "copy_lost",
      // Results batched per owner.
      "task_results",
      // Leases.
      "lease_request", "lease_grant", "lease_renew", "lease_renewed", "lease_return",
      "task_refused"};
  static_assert(kNames.size() == static_cast<std::size_t>(kLastMessageType) -
                                     static_cast<std::size_t>(kFirstMessageType) + 1,
                "a message type without a name");
  const auto i = static_cast<std::size_t>(type) - static_cast<std::size_t>(kFirstMessageType);
  return i < kNames.size() ? kNames[i] : "unknown";
}

void write_task_results(WireWriter& w, std::uint32_t count,
                        std::span<const std::byte> framed_bodies) {
  w.put(MessageType::task_results).put(count);
  w.buffer().append(framed_bodies.data(), framed_bodies.size());
}

std::vector<std::span<const std::byte>> read_task_results(WireReader& r) {
  // Each body: at least its length.
  std::vector<std::span<const std::byte>> bodies(r.count<std::uint32_t>(sizeof(std::uint64_t)));
  for (auto& body : bodies) body = r.bytes();
  if (!r.done()) throw std::runtime_error("manta: task_results holds bytes past its last result");
  return bodies;
}

void write_error(WireWriter& w, const ErrorInfo& e) {
  w.put(static_cast<std::uint8_t>(e.kind))
      .put(e.rank)
      .str(e.task_name)
      .str(e.exception_type)
      .str(e.message)
      .put(e.requested_bytes)
      .put(e.capacity_bytes)
      .put(e.pinned_bytes);
}

ErrorInfo read_error(WireReader& r) {
  ErrorInfo e;
  e.kind = static_cast<ErrorKind>(r.get<std::uint8_t>());
  e.rank = r.get<std::int32_t>();
  e.task_name = r.str();
  e.exception_type = r.str();
  e.message = r.str();
  e.requested_bytes = r.get<std::uint64_t>();
  e.capacity_bytes = r.get<std::uint64_t>();
  e.pinned_bytes = r.get<std::uint64_t>();
  return e;
}

void write_resources(WireWriter& w, const ResourceSet& res) {
  w.put(static_cast<std::uint32_t>(res.items().size()));
  for (const auto& [k, v] : res.items()) w.str(k).put(v);
}

ResourceSet read_resources(WireReader& r) {
  ResourceSet res;
  // Each item: a name (its length at least) and an amount.
  const std::size_t n = r.count<std::uint32_t>(2 * sizeof(std::uint64_t));
  for (std::size_t i = 0; i < n; ++i) {
    std::string k = r.str();
    const auto amount = r.get<double>();
    // No sender makes one, and a NaN would not even stay in the set consistently.
    if (!std::isfinite(amount)) {
      throw std::runtime_error("manta: control message holds a resource amount of " + k +
                               " that is not a finite number");
    }
    res.set(k, amount);
  }
  return res;
}

void write_env(WireWriter& w, const EnvVars* env) {
  // One count only for the usual task without variables.
  w.put(static_cast<std::uint32_t>(env ? env->size() : 0));
  if (env) {
    for (const auto& [name, value] : *env) w.str(name).str(value);
  }
}

std::shared_ptr<const EnvVars> read_env(WireReader& r) {
  // Each variable: two strings (their lengths at least).
  const std::size_t n = r.count<std::uint32_t>(2 * sizeof(std::uint64_t));
  if (n == 0) return nullptr;
  auto env = std::make_shared<EnvVars>();
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = r.str();
    (*env)[std::move(name)] = r.str();
  }
  return env;
}

void write_task(WireWriter& w, const TaskSpec& s, std::uint64_t inline_limit, int self) {
  w.put(s.id).put(s.kind).put(s.actor).put(s.actor_seq).put(s.caller).put(s.function).str(s.name);
  write_resources(w, *s.resources);
  if (s.kind == TaskKind::actor_creation) {
    w.str(s.actor_name).str(s.actor_namespace);
    w.put(s.max_restarts_actor).put(s.max_concurrency).put(s.class_tag);
  }
  write_env(w, s.env.get());
  w.put(s.placement_group.creator).put(s.placement_group.seq).put(s.bundle_index);
  w.put(s.on_rank)
      .put(s.max_retries)
      .put(static_cast<std::uint8_t>(s.retry_exceptions))
      .put(s.attempt)
      .put(s.hand_ons)
      .put(s.lease);
  w.put(static_cast<std::uint32_t>(s.args.size()));
  for (const auto& a : s.args) {
    const bool send_as_ref = a.is_ref || (a.ref.valid() && a.size > inline_limit);
    w.put(static_cast<std::uint8_t>(send_as_ref)).put(a.tag);
    if (send_as_ref) {
      w.put(a.ref).put(a.is_ref ? a.location : self).put(a.size);
    } else {
      // Arguments that all encode to nothing (empty strings) leave the task without a buffer.
      w.bytes(a.buffer ? std::span<const std::byte>(a.buffer->data() + a.offset, a.size)
                       : std::span<const std::byte>());
    }
  }
}

TaskPtr read_task(WireReader& r, const SharedBuffer& message) {
  auto s = std::make_shared<TaskSpec>();
  s->from_wire = true;
  s->id = r.get<TaskId>();
  s->kind = r.get<TaskKind>();
  s->actor = r.get<ActorId>();
  s->actor_seq = r.get<std::uint64_t>();
  s->caller = r.get<std::int32_t>();
  s->function = r.get<std::uint32_t>();
  s->name = r.str();
  s->resources = std::make_shared<const ResourceSet>(read_resources(r));
  if (s->kind == TaskKind::actor_creation) {
    s->actor_name = r.str();
    s->actor_namespace = r.str();
    s->max_restarts_actor = r.get<std::int32_t>();
    s->max_concurrency = r.get<std::int32_t>();
    s->class_tag = r.get<std::uint64_t>();
  }
  s->env = read_env(r);
  s->placement_group.creator = r.get<std::int32_t>();
  s->placement_group.seq = r.get<std::uint64_t>();
  s->bundle_index = r.get<std::int32_t>();
  s->on_rank = r.get<std::int32_t>();
  s->max_retries = r.get<std::int32_t>();
  s->retry_exceptions = r.get<std::uint8_t>() != 0;
  s->attempt = r.get<std::int32_t>();
  s->hand_ons = r.get<std::int32_t>();
  s->lease = r.get<std::uint64_t>();
  // Each argument: its kind, its tag and at least a length.
  s->args.resize(r.count<std::uint32_t>(1 + 2 * sizeof(std::uint64_t)));
  for (auto& a : s->args) {
    a.is_ref = r.get<std::uint8_t>() != 0;
    a.tag = r.get<std::uint64_t>();
    if (a.is_ref) {
      a.ref = r.get<ObjectId>();
      a.location = r.get<std::int32_t>();
      a.size = r.get<std::uint64_t>();
    } else {
      auto bytes = r.bytes();
      a.buffer = message;
      a.offset = static_cast<std::uint64_t>(bytes.data() - message->data());
      a.size = bytes.size();
    }
  }
  return s;
}

TaskMessage::TaskMessage(std::span<const std::byte> message)
    : bytes(std::make_shared<const Buffer>(message.data(), message.size())), reader(bytes->span()) {
  reader.get<MessageType>();
}

}  // namespace manta::engine
