// The parts of one rank's engine, built and wired together. Runtime builds them at start over the
// control channel and the data plane; tests build them over a fake outbox and data plane, in
// one process. Each part owns its state and lock and handles its own messages; see
// docs/architecture.md for the whole picture.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "engine/actor_host.h"
#include "engine/actor_routing.h"
#include "engine/checkpoints.h"
#include "engine/collective_groups.h"
#include "engine/collective_registry.h"
#include "engine/control_store.h"
#include "engine/executor.h"
#include "engine/global_scheduler.h"
#include "engine/job_reports.h"
#include "engine/lineage.h"
#include "engine/local_scheduler.h"
#include "engine/memory_reports.h"
#include "engine/object_access.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/placement_groups.h"
#include "engine/rank_context.h"
#include "engine/result_batches.h"
#include "engine/stop_handshake.h"
#include "engine/submitter.h"
#include "engine/task_manager.h"
#include "transport/data_plane.h"

namespace manta::engine {

class Dispatcher;
class Timeline;

struct EngineSettings {
  std::vector<ResourceSet> totals;  // what each rank offers; this rank's is totals[rank]
  int workers = 1;                  // worker threads to start with
  int max_workers = 64;
  std::function<bool()> poll;  // drives the control channel once (null: nothing to drive)
  std::function<bool()> poll_collectives;      // moves the collective groups' MPI work (null: none)
  std::function<void(bool)> polling;           // a thread starts or stops polling it (null: none)
  MPI_Comm collective_parent = MPI_COMM_NULL;  // parent of collective groups' communicators
  MPI_Comm checkpoint_comm = MPI_COMM_NULL;    // checkpoints' parallel writes (null: none)
  std::function<bool(const std::function<bool()>&)> try_with_mpi;  // null: no checkpoints
  std::function<void(std::function<void()>)> run_file_work;        // the HDF5 thread
  Timeline* timeline = nullptr;
};

class EngineParts {
 public:
  EngineParts(RankContext& ctx, transport::DataPlane& plane, EngineSettings settings);
  /// The store's lost handler calls into the parts: it goes before they do.
  ~EngineParts();
  EngineParts(const EngineParts&) = delete;
  EngineParts& operator=(const EngineParts&) = delete;

  /// Every part adds the handlers of its messages.
  void register_handlers(Dispatcher& d);

  // In the order they are built (each uses only those above it, and the hooks below it).
  Lineage lineage;  // the specs of owned objects, to rebuild lost ones (hooks set in the body)
  LocalScheduler local;
  Ownership ownership;
  ObjectTransfer transfer;
  ObjectAccess objects;
  ResultBatches results;  // results for owners on other ranks, batched per owner
  TaskManager tasks;
  std::unique_ptr<GlobalScheduler> global;  // rank 0 only
  Executor executor;
  Submitter submitter;
  ActorRouting routing;
  ActorHost actors;
  Checkpoints checkpoints;
  std::unique_ptr<ControlStore> control;  // rank 0 only
  PlacementGroups placement;
  CollectiveGroups collectives;
  std::unique_ptr<CollectiveRegistry> registry;  // rank 0 only
  MemoryReports memory;
  JobReports reports;
  StopHandshake stop;

 private:
  static ActorHost::Hooks actor_hooks(EngineParts& parts, RankContext& ctx,
                                      const EngineSettings& s);
  static PlacementGroups::Hooks group_hooks(EngineParts& parts);
  static CollectiveGroups::Hooks collective_hooks(EngineParts& parts, const EngineSettings& s);
  /// Fails a task or creation of a removed placement group that was queued here.
  void fail_queued(const TaskPtr& t, std::shared_ptr<const ErrorInfo> error);
  /// Lineage reconstruction: the hooks between the store, the transfer, the task manager and
  /// the lineage table.
  void wire_lineage(RankContext& ctx);

  ObjectStore& store_;
};

}  // namespace manta::engine
