// Starting a job from a checkpoint (--manta-restore=DIR). At init, before anything runs, every
// rank checks the checkpoint together (check_restore): a damaged one, or one another program
// wrote, stops the job with the reason. Once the runtime has started, rank 0 recreates the
// actors (placed by their resources, so on any number of ranks; each host reads its actor's
// state itself), puts the kept objects back and holds the driver's state for the program.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <manta/buffer.h>
#include <manta/object_ref.h>

#include "spill/checkpoint_file.h"

namespace manta::engine {

class EngineParts;

/// Collective at init: reads the manifest, checks that `program` wrote it and that every actor's
/// factory is here and checkpointable, and checks every record's checksum (shared out among the
/// ranks). Returns the manifest; throws std::runtime_error with the reason, the same on every
/// rank.
spill::CheckpointManifest check_restore(MPI_Comm comm, const std::string& dir,
                                        const std::string& program);

/// What the program gets back from the checkpoint it started from.
struct Restored {
  std::string dir;
  std::vector<std::string> actors;
  std::optional<std::pair<SharedBuffer, std::uint64_t>> driver_state;  // bytes and type tag
  std::map<std::string, std::pair<std::shared_ptr<detail::RefToken>, std::uint64_t>> objects;
  std::map<std::string, std::string> object_types;  // type names, for keep_in_checkpoint again
};

/// Rank 0, after start: recreates the actors, puts the objects back, reads the driver's state.
Restored restore(EngineParts& parts, const spill::CheckpointManifest& manifest,
                 const std::string& dir);
/// Hands what was restored to the public API (manta::restored_state, restored_object); the
/// objects are kept in later checkpoints under the same names.
void set_restored(Restored restored);

}  // namespace manta::engine
