// The control messages ranks exchange, and their encoding. One byte of type, then fields.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>

#include "engine/task_spec.h"
#include "transport/wire.h"

namespace manta::engine {

enum class MessageType : std::uint8_t {
  submit_task = 1,  // submitter or global scheduler -> executor: run this
  forward_task,     // overloaded or unable rank -> rank 0: place this
  task_done,        // executor -> owner: result inline, its location, or the error
  resolve_object,   // borrower -> owner: tell me when this object is finished
  object_status,    // owner -> borrower: value inline, location, or error
  pull_request,     // getter -> holder: send me the bytes on this tag
  pull_header,      // holder -> getter: size and type, or lost; bytes follow on the tag
  free_object,      // owner -> holder: drop your copy
  load_report,      // rank -> rank 0: queue length and free resources
  shutdown,         // rank 0 -> all: stop
  shutdown_ack,     // rank -> rank 0: stopped; nothing more will come from me
  timeline,         // rank -> rank 0 at shutdown: the tasks it ran, for the trace
  create_actor,     // creator -> rank 0: place and record this actor
  host_actor,       // rank 0 -> host: create it here
  actor_location,   // rank 0 -> caller: the actor's rank, or why it is dead
  actor_lookup,     // caller -> rank 0: where is this actor?
  actor_call,       // caller -> host: a method call
  actor_kill,       // anyone -> rank 0: kill this actor (rank 0 finds the host)
  actor_died,       // host -> rank 0: it is dead (the name is free again)
  name_lookup,      // anyone -> rank 0: which actor has this name in this namespace?
  name_result,      // rank 0 -> asker
  add_borrower,     // borrower -> owner: this rank now holds references to the object
  borrow_ack,       // owner -> borrower: registered
  remove_borrower,  // borrower -> owner: this rank holds no more references
  copy_done,        // getter -> owner: a read ended; the getter now holds a copy (or not)
  pull_done,        // getter -> holder: an RMA read of an exposed object ended
  summary_request,  // asker -> every rank: report your object store
  summary_reply,    // rank -> asker
  status_report,    // rank -> rank 0, each status interval with a job directory: its state (JSON)
  spill_hint,       // rank 0 -> a rank with waiting tasks: how many other ranks could start now
  host_kill,        // rank 0 -> host: kill this actor you host
  pg_create,        // creator -> rank 0: reserve this placement group
  pg_commit,        // rank 0 -> host: reserve these bundles of a group here
  pg_committed,     // host -> rank 0: the bundles are reserved and offered here
  pg_state,         // rank 0 -> creator and askers: the group is ready (its ranks), failed or gone
  pg_remove,        // anyone -> rank 0: remove this group
  pg_release,       // rank 0 -> host: free the group's bundles here and end what runs in them
  pg_lookup,        // anyone -> rank 0: tell me the group's ranks once it is ready (or failed)
  collective_create,    // anyone -> rank 0: make a collective group of these actors
  collective_destroy,   // anyone -> rank 0: end this collective group
  collective_query,     // anyone -> rank 0: does this collective group exist?
  collective_answer,    // rank 0 -> asker: done, or the error
  collective_setup,     // rank 0 -> each rank hosting members: make the group's communicator
  collective_ready,     // member rank -> rank 0: the communicator is made here
  collective_teardown,  // rank 0 -> member ranks: the group is destroyed
  collective_broken,    // member rank -> the others and rank 0: a member died or timed out
  // Checkpoints.
  checkpoint_begin,  // rank 0 -> the others: hold your actors, save them, write your part
  // Lineage reconstruction (docs/lineage.md).
  copy_lost,  // reader or holder -> owner: the copy on rank R is gone (why); answer me again
  // Results batched per owner (engine/result_batches.h).
  task_results,  // executor -> owner: a count, then that many task_done bodies, each framed
  // Leases (docs/leases.md).
  lease_request,  // submitter -> rank 0: room for N more tasks shaped like this
  lease_grant,    // rank 0 -> submitter: leases (rank, slots, time left), or none yet
  lease_renew,    // submitter -> rank 0: extend these leases, still in use
  lease_renewed,  // rank 0 -> submitter: these leases were extended (the others run out)
  lease_return,   // submitter -> rank 0: these leases are no longer needed
  task_refused,   // leased rank -> submitter: this task cannot start here soon; place it again
};

/// The first and last message types; every value between names one.
inline constexpr MessageType kFirstMessageType = MessageType::submit_task;
inline constexpr MessageType kLastMessageType = MessageType::task_refused;

/// The type's name as written in the enum ("unknown" outside it), for errors and docs.
const char* message_name(MessageType type) noexcept;

/// How an object's state is described in task_done and object_status.
enum class ResultKind : std::uint8_t { value = 0, located = 1, failed = 2 };

/// task_results carries `count` task_done bodies (the fields task_done carries after its type
/// byte), each framed by its length as WireWriter::bytes frames bytes, so that a body that fails
/// to apply does not take the others with it.
///
/// Appends one framed body to `out`; `fill(WireWriter&)` writes the body.
template <class Fill>
void append_framed_body(Buffer& out, Fill&& fill) {
  const std::size_t at = out.size();
  out.extend(sizeof(std::uint64_t));
  transport::WireWriter w(out);
  fill(w);
  const std::uint64_t length = out.size() - at - sizeof(std::uint64_t);
  std::memcpy(out.data() + at, &length, sizeof length);
}
/// A whole task_results message: its type, the count, and `count` framed bodies.
void write_task_results(transport::WireWriter& w, std::uint32_t count,
                        std::span<const std::byte> framed_bodies);
/// The bodies of a task_results message, in order; `r` is positioned after the type byte.
std::vector<std::span<const std::byte>> read_task_results(transport::WireReader& r);

void write_error(transport::WireWriter& w, const ErrorInfo& e);
ErrorInfo read_error(transport::WireReader& r);

void write_resources(transport::WireWriter& w, const ResourceSet& r);
ResourceSet read_resources(transport::WireReader& r);

/// A task's or actor's variables (null: none, sent as a zero count).
void write_env(transport::WireWriter& w, const EnvVars* env);
std::shared_ptr<const EnvVars> read_env(transport::WireReader& r);

/// Encodes a spec. Value arguments over `inline_limit` bytes that came from an object are sent
/// as references to `self` instead, so large data moves only when the executor pulls it.
void write_task(transport::WireWriter& w, const TaskSpec& spec, std::uint64_t inline_limit,
                int self);
/// Decodes a spec; its value arguments point into `message` (kept alive by the spec).
TaskPtr read_task(transport::WireReader& r, const SharedBuffer& message);

/// A message that carries a task, copied out of the channel's buffer so that the spec's value
/// arguments can keep pointing into it, and a reader positioned after its type byte.
struct TaskMessage {
  SharedBuffer bytes;
  transport::WireReader reader;
  explicit TaskMessage(std::span<const std::byte> message);
};

}  // namespace manta::engine
