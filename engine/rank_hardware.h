// What hardware this rank uses: its cores, the GPUs it offers (the environment's narrowing, then
// a split among the node's ranks), how its threads are bound. Decided once at init, collectively
// over the node's ranks, so every rank on a node agrees on who has which GPU.
#pragma once

#include <string>
#include <vector>

#include <manta/hardware.h>

#include "engine/config.h"
#include "gpu/binding.h"
#include "gpu/devices.h"
#include "gpu/topology.h"
#include "transport/mpi_world.h"

namespace manta::engine {

struct HardwarePlan {
  gpu::Topology topology;
  int cpus = 1;                      // the CPU resource and the worker threads
  std::vector<gpu::GpuDevice> gpus;  // this rank's, ordinals as its CUDA runtime numbers them
  int gpu_sharers = 1;
  std::string gpu_source;
  gpu::BindMode bind = gpu::BindMode::none;
  gpu::ThreadPlan threads;
  std::vector<std::string> notes;  // warnings for the log: narrowing, sharing, disagreements
  std::string assignment;          // local rank 0: who got which GPU, for the info log
  std::string error;               // why this rank cannot start ("" when it can)

  /// For manta::rank_hardware() and the status table.
  [[nodiscard]] RankHardware describe(int rank, const std::string& host) const;
  [[nodiscard]] std::vector<int> gpu_ordinals() const;
};

/// Collective over `world`'s node (every rank calls it). Never throws: a bad setting or list
/// lands in `error`, after the collective, so no rank is left waiting.
HardwarePlan plan_hardware(const Config& config, const transport::MpiWorld& world);

/// What each of `local_ranks` unbound ranks started on this node now would get, without MPI:
/// for `manta config`.
std::vector<HardwarePlan> preview_node(const Config& config, int local_ranks);

/// The devices behind the rank's GPU resource, for the local scheduler's pool. Normally the
/// GPUs found; an explicit --manta-resources=GPU=N without as many found GPUs numbers N
/// devices 0..N-1 (as Ray does for declared GPUs), so holders still get distinct ids.
std::vector<int> gpu_pool_ordinals(const HardwarePlan& plan, double gpu_resource);

/// From now on, fresh large buffers (object store bytes) take their pages from this NUMA node
/// (-1: wherever the first touch lands).
void place_large_buffers_on(int numa_node);

/// Binds the calling thread as the plan says for worker `index` (or the progress thread with
/// index -1); logs once when binding fails.
void bind_thread(const HardwarePlan& plan, int index);

}  // namespace manta::engine
