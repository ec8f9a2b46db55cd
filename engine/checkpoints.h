// Whole-job checkpoints, the engine's side (the API is include/manta/checkpoint.h). Rank 0's
// driver starts one: it tells every other rank (checkpoint_begin), and each rank holds its actors
// between calls and saves the checkpointable ones. Then every rank meets the others on the
// checkpoints communicator and writes its part of one HDF5 file at once (spill/checkpoint_file.h),
// on its spill I/O thread (HDF5's one thread) with MPI held for the collective write; then its
// actors go on. A rank that could not save passes its reason into the write, so every rank fails
// the same way and no rank is left waiting.
//
// Handles: checkpoint_begin.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/actor_host.h"
#include "engine/rank_context.h"
#include "spill/checkpoint_file.h"

namespace manta::engine {

class Dispatcher;
class Timeline;

class Checkpoints {
 public:
  struct Hooks {
    MPI_Comm comm = MPI_COMM_NULL;  // MpiWorld::checkpoints
    /// Runs `step` with MPI held if it is free now (ControlChannel::try_with_mpi).
    std::function<bool(const std::function<bool()>&)> try_with_mpi;
    /// A thread starts or stops polling MPI (the progress thread then leaves it the core).
    std::function<void(bool)> polling;
    /// Runs file work on the HDF5 thread (SpillManager::run_file_work).
    std::function<void(std::function<void()>)> run_file_work;
    Timeline* timeline = nullptr;
  };
  /// A record rank 0 adds of its own (kept objects, the driver's state).
  struct OwnedRecord {
    std::string kind, name, meta;
    SharedBuffer bytes;
  };

  Checkpoints(RankContext& ctx, ActorHost& actors, Hooks hooks)
      : ctx_(ctx), actors_(actors), hooks_(std::move(hooks)) {}
  ~Checkpoints();
  Checkpoints(const Checkpoints&) = delete;
  Checkpoints& operator=(const Checkpoints&) = delete;

  void register_handlers(Dispatcher& d);

  /// Rank 0: takes a checkpoint of the whole job in `dir`, with `extra` as rank 0's own records.
  /// Throws spill::CheckpointError saying what failed.
  spill::CheckpointWritten take(const std::string& dir, std::vector<OwnedRecord> extra);
  /// Waits for a checkpoint this rank is part of to end.
  void stop();

  /// "name:hash" of this program: its file name and its registered functions.
  static std::string program_name(const std::string& argv0);
  static std::string fingerprint();

 private:
  /// Every rank: hold and save the actors, write this rank's part, let the actors go on.
  spill::CheckpointWritten write_part(const std::string& dir, std::vector<OwnedRecord> extra);
  /// On the HDF5 thread: meet the other ranks, then write with MPI held.
  spill::CheckpointWritten write_collectively(const std::string& dir,
                                              const std::vector<spill::CheckpointRecord>& records,
                                              const std::string& local_error);

  RankContext& ctx_;
  ActorHost& actors_;
  Hooks hooks_;
  std::mutex mutex_;    // one checkpoint at a time on this rank
  std::thread worker_;  // ranks > 0: the checkpoint in progress
};

}  // namespace manta::engine
