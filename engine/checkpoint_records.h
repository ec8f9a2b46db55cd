// What a checkpoint records of an actor, and how a restored actor finds its state: the creation
// of a restored actor carries one argument, a RestoreSource (where its record lies in the
// checkpoint file), instead of the factory's arguments; the hosting rank reads the record itself,
// so a restart reads every rank's actors at once.
#pragma once

#include <optional>
#include <string>

#include <manta/actor.h>
#include <manta/detail/function_registry.h>
#include <manta/detail/runtime_api.h>

#include "engine/task_spec.h"
#include "spill/checkpoint_file.h"

namespace manta::engine {

struct RestoreSource {
  std::string dir;  // the checkpoint directory
  std::uint64_t data_address = 0;
  std::uint64_t data_bytes = 0;
  spill::CheckpointEntry entry;
};

/// The options and factory an actor record's meta holds.
struct ActorRecord {
  std::string factory;     // registered name of its factory
  std::string class_name;  // demangled
  ActorOptions options;    // name, namespace, env, resources, max_restarts, max_concurrency
};

/// The meta JSON of an actor's record.
/// An actor named in the job's namespace is restored into the restoring job's namespace; one
/// named in another namespace keeps it (the meta says which).
std::string actor_record_meta(const TaskSpec& creation, const detail::FunctionEntry& factory,
                              const std::string& job_namespace = {});
/// A record's name is unique in a checkpoint: the actor's name in the job's namespace, else
/// "namespace/name" (the meta keeps the name and namespace apart).
std::string actor_record_name(const TaskSpec& creation, const std::string& job_namespace);
/// Reads an actor record's meta; throws std::runtime_error naming the record when it is wrong.
ActorRecord parse_actor_record(const spill::CheckpointEntry& entry);

/// The restore source a creation carries, if it is a restore.
std::optional<RestoreSource> restore_source(const TaskSpec& creation);
/// Makes `s` (a factory call with no arguments yet) a restore from `source`.
void add_restore_argument(detail::Submission& s, const RestoreSource& source);

/// A new instance of the factory's class with the record's state loaded: reads and checks the
/// bytes. Throws std::runtime_error naming the actor and the file when it cannot.
void* load_from_checkpoint(const detail::FunctionEntry& factory, const RestoreSource& source);

}  // namespace manta::engine
