// The runtime of one rank: builds the engine's parts over the control channel and the data
// plane, runs start, serve and shutdown, and is the one singleton the public API reaches.
// The protocols live in the parts (engine_parts.h); docs/architecture.md shows how they fit.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/engine_parts.h"
#include "engine/job_directory.h"
#include "engine/load_report_policy.h"
#include "engine/object_store.h"
#include "engine/outbox.h"
#include "engine/rank_context.h"
#include "engine/rank_hardware.h"
#include "engine/spill_manager.h"
#include "engine/startup_handshake.h"
#include "engine/timeline.h"
#include "transport/control_channel.h"
#include "transport/mpi_world.h"
#include "transport/open_data_plane.h"

namespace manta::engine {

/// Counters for benchmarks and tests.
struct RuntimeStats {
  std::uint64_t tasks_submitted = 0;
  std::uint64_t tasks_executed = 0;
  std::uint64_t tasks_forwarded = 0;  // handed to the global scheduler
  std::uint64_t tasks_handed_on = 0;  // spillback: passed from this busy rank to a free one
  std::uint64_t objects = 0;
  std::uint64_t object_bytes = 0;
  std::uint64_t worker_threads = 0;
  std::uint64_t results_sent = 0;    // results of tasks run here, to owners on other ranks
  std::uint64_t result_batches = 0;  // messages that carried them
  std::uint64_t tasks_leased = 0;    // sent on leases (docs/leases.md)
  std::uint64_t lease_requests = 0;
  std::uint64_t tasks_refused = 0;  // leased tasks handed back by this rank
  transport::ChannelStats channel;
  transport::DataPlaneStats data_plane;
};

class Runtime {
 public:
  Runtime(Config config, transport::MpiWorld world);
  ~Runtime();

  /// Collective: checks function tables, exchanges the rank table, builds the parts, starts
  /// threads.
  void start();
  /// Ranks other than 0: serve until rank 0 says stop. Returns the exit code.
  int serve();
  /// Rank 0: stop every rank (MPI stays up: api.cpp ends it with the driver's process). `failed`
  /// marks a driver that ended by an error, `reason` says which (for the job directory's summary).
  void shutdown(bool failed = false, const std::string& reason = {});

  /// The runtime of this process (null before init); see is_open for whether it takes calls.
  static Runtime* instance() noexcept;
  /// Between start and shutdown: the public API may call it.
  [[nodiscard]] bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }
  /// Stops taking API calls; true for the one caller that closed it (who then shuts down).
  bool close() noexcept { return open_.exchange(false); }

  [[nodiscard]] int rank() const noexcept { return world_.rank; }
  [[nodiscard]] const Config& config() const noexcept { return config_; }
  [[nodiscard]] const std::string& host() const noexcept { return world_.hostname; }
  /// Cores, GPUs and binding, as decided at start.
  [[nodiscard]] const HardwarePlan& hardware() const noexcept { return hardware_; }
  [[nodiscard]] RuntimeStats stats() const;
  /// "ucx" or "mpi": how large objects move.
  [[nodiscard]] const char* transport_name() const noexcept;

  /// The parts, for the public API's entry points (valid after start).
  [[nodiscard]] EngineParts& parts() noexcept { return *parts_; }
  /// Whether `seq` (of an id) was drawn by this runtime, not one an earlier shutdown ended.
  [[nodiscard]] bool made_here(std::uint64_t seq) const noexcept { return ctx_.this_session(seq); }
  /// Called by ObjectRef destructors, possibly after shutdown.
  void release_ref(const ObjectId& id);
  std::shared_ptr<detail::RefToken> acquire_ref(const ObjectId& id);

 private:
  /// Sets the store's capacity and makes the spill directory; every rank agrees it worked.
  void start_memory();
  /// Collective: the data plane every rank agrees on (exits when UCX is required but absent).
  /// Nodes, and large objects in shared memory (engine/shared_store.h). Collective.
  void start_shared_memory(std::uint64_t capacity);
  void start_data_plane();
  void start_job_directory();
  /// Collective: cores, GPUs and binding (exits when a rank's setting or GPU list is bad).
  void start_hardware();
  void on_tick();
  /// Ranks > 0: the load rank 0's global scheduler sees, when it changed enough or got old
  /// (LoadReportPolicy).
  void report_load();
  /// This rank's state for the job directory's status file.
  RankStatus rank_status() const;
  void write_timeline();
  /// The data plane, then the runtime's communicators, each bounded by --manta-shutdown-timeout
  /// (see TeardownGuard); MPI itself stays up for a later runtime (api.cpp ends it).
  void close_transports(int exit_code);
  /// Stops this rank's own work (store waits, actors, workers).
  void stop_local_work();

  Config config_;
  transport::MpiWorld world_;
  std::vector<RankInfo> ranks_;
  HardwarePlan hardware_;
  std::string job_id_;  // the same on every rank

  ObjectStore store_;
  ChannelOutbox outbox_;
  RankContext ctx_;
  std::unique_ptr<transport::ControlChannel> channel_;
  std::unique_ptr<SpillManager> spill_;
  std::unique_ptr<transport::DataPlane> data_plane_;
  std::unique_ptr<Timeline> timeline_;  // when --manta-timeline or --manta-job-dir is set
  std::unique_ptr<EngineParts> parts_;
  Dispatcher dispatcher_;
  std::unique_ptr<JobDirectory> job_dir_;
  std::atomic<bool> open_{false};

  // When to report load to rank 0 (ranks > 0; the progress thread's, made at the first report).
  std::optional<LoadReportPolicy> report_policy_;
};

}  // namespace manta::engine
