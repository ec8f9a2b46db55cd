// The per-rank runtime: owns the object store, local scheduler, progress channel and (on rank 0)
// the global scheduler, and implements the public API on top of them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include <manta/actor.h>
#include <manta/memory.h>
#include <string>
#include <unordered_map>
#include <vector>

#include <manta/detail/runtime_api.h>

#include "engine/actor_host.h"
#include "engine/config.h"
#include "engine/control_store.h"
#include "engine/job_directory.h"
#include "engine/local_scheduler.h"
#include "engine/messages.h"
#include "engine/object_store.h"
#include "engine/scheduling_policy.h"
#include "engine/spill_manager.h"
#include "engine/task_spec.h"
#include "engine/timeline.h"
#include "transport/control_channel.h"
#include "transport/mpi_world.h"
#include "transport/wire.h"

namespace manta::transport {
class UcxDataPlane;
}

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
  transport::ChannelStats channel;
};

class Runtime {
 public:
  Runtime(Config config, transport::MpiWorld world);
  ~Runtime();

  /// Collective: checks function tables, exchanges the rank table, starts threads.
  void start();
  /// Ranks other than 0: serve until rank 0 says stop. Returns the exit code.
  int serve();
  /// Rank 0: stop every rank and finalize MPI. `failed` marks a driver that ended by an error,
  /// `reason` says which (for the job directory's summary).
  void shutdown(bool failed = false, const std::string& reason = {});

  [[nodiscard]] int rank() const noexcept { return world_.rank; }
  [[nodiscard]] int size() const noexcept { return world_.size; }
  [[nodiscard]] const Config& config() const noexcept { return config_; }
  [[nodiscard]] RuntimeStats stats() const;
  [[nodiscard]] const std::vector<RankInfo>& rank_table() const noexcept { return ranks_; }

  // The public API.
  std::shared_ptr<detail::RefToken> submit(detail::Submission&& s, const TaskOptions& options);
  std::shared_ptr<detail::RefToken> put(SharedBuffer bytes, std::uint64_t tag, TokenList contained);
  detail::StoredValue get(const ObjectId& id, detail::Timeout timeout);
  std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_ready,
                         detail::Timeout timeout);
  void cache_decoded(const ObjectId& id, std::uint64_t tag, std::shared_ptr<const void> value,
                     bool views_bytes);
  std::shared_ptr<detail::RefToken> acquire_ref(const ObjectId& id);
  void release_ref(const ObjectId& id);
  MemorySummary memory_summary(std::size_t max_objects);
  /// This rank's store capacity (0: unbounded); read on every encode, so kept without a lock.
  [[nodiscard]] std::uint64_t store_capacity() const noexcept {
    return store_capacity_.load(std::memory_order_relaxed);
  }
  /// A value that can never fit this rank's store: `what` of `bytes` (or more, `at_least`).
  [[noreturn]] void throw_larger_than_store(const char* what, std::uint64_t bytes,
                                            bool at_least) const;
  /// "ucx" or "mpi": how large objects move.
  [[nodiscard]] const char* transport_name() const noexcept;

  // Actors.
  ActorId create_actor(detail::Submission&& s, const ActorOptions& options,
                       std::uint64_t class_tag);
  std::shared_ptr<detail::RefToken> submit_actor_call(const ActorId& actor, detail::Submission&& s);
  void kill_actor(const ActorId& actor, bool no_restart);
  std::optional<ActorId> lookup_actor(const std::string& name, std::uint64_t class_tag,
                                      const std::string& class_name);

 private:
  /// `reserved`: the room the pull held for the bytes, which storing them takes over.
  using PullDone =
      std::function<void(SharedBuffer bytes, std::uint64_t tag,
                         std::shared_ptr<const ErrorInfo> error, std::uint64_t reserved)>;

  // Submission path.
  TaskPtr make_spec(detail::Submission&& s, const TaskOptions& options);
  void resolve_arguments(const TaskPtr& task);
  void resolve_one(const TaskPtr& task, std::size_t index);
  void arguments_resolved(const TaskPtr& task);
  void place(const TaskPtr& task);
  void schedule_globally(const TaskPtr& task);
  void send_task(int dest, const TaskPtr& task);
  void forward_task(const TaskPtr& task);
  /// Spillback: a task this busy rank cannot start now goes to a rank with free resources.
  void hand_on(const TaskPtr& task);
  /// Whether some other rank can start `request` now, as far as this rank knows.
  bool free_elsewhere(const ResourceSet& request);
  /// Whether a queued task may leave this rank for an idle one.
  [[nodiscard]] bool movable(const TaskSpec& task) const;
  /// Rank 0, each tick: hands its own waiting tasks to idle ranks and tells busy ranks how many
  /// tasks others could start.
  void balance_waiting_work();
  void on_spill_hint(transport::WireReader& r);
  void fail_task(const TaskPtr& task, ErrorInfo error);
  /// Bytes of the task's reference arguments held on each rank (empty when it has none worth
  /// following), for locality-aware placement.
  std::vector<std::uint64_t> input_bytes_by_rank(const TaskSpec& task) const;

  // Execution path.
  void prepare_and_enqueue(const TaskPtr& task);
  /// Pulls reference arguments that are elsewhere, then calls `then` (on any thread).
  /// `defer`: large arguments already here stay in the store until the task runs.
  void fetch_arguments(const TaskPtr& task, std::function<void(const TaskPtr&)> then,
                       bool defer = false);
  void run_task(const TaskPtr& task);
  void finish_task(const TaskPtr& task, detail::CallResult&& result,
                   std::shared_ptr<const ErrorInfo> error);
  void complete_owned(const TaskPtr& task, SharedBuffer bytes, std::uint64_t tag,
                      std::shared_ptr<const ErrorInfo> error, TokenList contained = {},
                      std::uint64_t reserved = 0);
  bool retry(const TaskPtr& task, const ErrorInfo& error);

  // Actors: caller side, control store (rank 0), host side.
  void route_call(const TaskPtr& call);
  void send_call(int host, const TaskPtr& call);
  void on_create_actor(transport::WireReader& r, const SharedBuffer& message);
  /// Rank 0: places an actor, or keeps it waiting for an actor slot (false) with a message.
  bool place_actor(const TaskPtr& creation, std::shared_ptr<const ErrorInfo> input_error,
                   bool first_try);
  /// Rank 0, after an actor ended: creations waiting for a slot try again, in order.
  void place_waiting_actors();
  void on_host_actor(transport::WireReader& r, const SharedBuffer& message);
  void start_actor(const TaskPtr& creation);
  void on_actor_location(transport::WireReader& r);
  void on_actor_call(transport::WireReader& r, const SharedBuffer& message);
  void reply_location(int dest, const ActorId& id);
  void send_kill(int dest, const ActorId& id, bool no_restart, bool at_host);

  // Objects across ranks.
  void start_data_plane();
  /// Sets the store's capacity and makes the spill directory; every rank agrees it worked.
  void start_memory();
  /// Reserves room for `size` bytes (waiting for it if need be), then asks `from` for the
  /// object. `may_read_file`: `from` may answer with its spill file instead of the bytes.
  void pull(const ObjectId& id, int from, std::uint64_t size, PullDone done,
            bool may_read_file = true);
  void send_pull_request(const ObjectId& id, int from, std::uint64_t reserved, PullDone done,
                         bool may_read_file);
  void serve_pull(int source, int tag, const ObjectId& id, bool may_read_file);
  /// Brings a spilled argument back into memory, then takes its bytes.
  void restore_argument(const TaskPtr& task, std::size_t index, std::function<void()> done);
  /// Reads spilled object `id` (seen as `v`) into a buffer outside the store, for a reader the
  /// store could not make room for (`no_room` says why). `done` gets the bytes, or the error:
  /// ObjectLostError when the file region is damaged (the object then fails for every reader),
  /// else `no_room` with why the read failed too.
  using ReadPastStore = std::function<void(SharedBuffer, std::shared_ptr<const ErrorInfo>)>;
  void read_spilled(const ObjectId& id, const ObjectStore::View& v,
                    std::shared_ptr<const ErrorInfo> no_room, ReadPastStore done);
  /// read_spilled for a get: waits for it and returns the value, or throws.
  detail::StoredValue read_past_store(const ObjectId& id, const ObjectStore::View& v,
                                      const ErrorInfo& no_room);
  /// Takes the bytes of arguments left in this rank's store until the task runs (so queued
  /// tasks pin nothing); restores spilled ones. Returns the error of one that is lost.
  std::shared_ptr<const ErrorInfo> materialize_arguments(const TaskPtr& task);
  [[nodiscard]] std::chrono::steady_clock::duration store_full_timeout() const;
  /// The error for room that could not be made: requested, capacity and pinned bytes.
  ErrorInfo store_full_error(std::uint64_t requested, const ObjectStore::Room& room,
                             const TaskSpec* task) const;
  /// Pulls a copy from `at` and records it: on the owner as a location, elsewhere as a cached
  /// copy the owner learns of. `assigned`: the owner counted this read against `at`.
  void pull_copy(const ObjectId& id, int at, bool assigned);
  void read_ended(const ObjectId& id, int from, int copy_at);
  /// `want_pull`: the asker will read the bytes, so the owner assigns it a copy to read from.
  void ask_owner(const ObjectId& id, bool want_pull);
  void on_resolve_object(int source, transport::WireReader& r);
  void send_located(int dest, const ObjectId& id, const ObjectStore::Assignment& a);
  /// Carries out what freeing an object left to do: tell holders of copies, drop references.
  void apply_freed(const ObjectId& id, ObjectStore::Freed&& freed);

  // Reference counting. A rank that gets its first reference to an object owned elsewhere
  // registers with the owner. Until the owner acknowledges, whatever kept the object alive for
  // it (the submitter's task, an outer object) must not let go, so messages that release
  // references from this rank (task_done, remove_borrower, free_object) wait behind the
  // acknowledgements.
  void register_borrow(const ObjectId& id);
  void send_gated(int dest, const std::function<void(transport::WireWriter&)>& fill);
  void on_borrow_ack();

  void on_summary_request(int source, transport::WireReader& r);
  void on_summary_reply(transport::WireReader& r);
  RankMemory local_memory() const;
  void print_summary(const std::string& text);
  [[noreturn]] void throw_if_stopped(const ObjectId& id);

  // Messages.
  void on_message(int source, std::span<const std::byte> message);
  void on_tick();
  void on_task_done(int source, transport::WireReader& r);
  void on_object_status(transport::WireReader& r);
  /// Records a finished object as a task_done or object_status message describes it.
  void apply_result(const ObjectId& id, ResultKind kind, transport::WireReader& r);
  void on_pull_request(int source, transport::WireReader& r);
  void on_pull_header(int source, transport::WireReader& r);
  void on_load_report(int source, transport::WireReader& r);
  void send(int dest, const std::function<void(transport::WireWriter&)>& fill);
  void send_timeline();
  void write_timeline();
  /// The data plane, then MPI, each bounded by --manta-shutdown-timeout (see TeardownGuard).
  void close_transports(int exit_code, bool process_ends);
  /// This rank's state for the job directory's status file.
  RankStatus rank_status() const;
  void start_job_directory();
  std::string function_name(const TaskSpec& t) const;
  ErrorInfo make_error(ErrorKind kind, const TaskSpec* task, std::string message) const;

  Config config_;
  transport::MpiWorld world_;
  std::uint64_t forward_threshold_ = 16;
  std::vector<RankInfo> ranks_;
  std::vector<ResourceSet> totals_;
  std::shared_ptr<const ResourceSet> default_resources_;

  ObjectStore store_;
  std::atomic<std::uint64_t> store_capacity_{0};  // the store's, set once at start
  std::unique_ptr<LocalScheduler> scheduler_;
  std::unique_ptr<transport::ControlChannel> channel_;

  std::atomic<std::uint64_t> next_seq_{1};
  std::atomic<bool> stopping_{false};

  // Tasks this rank owns that left it: kept for their results, retries and argument lifetimes.
  std::mutex pending_mutex_;
  std::unordered_map<TaskId, TaskPtr> pending_;

  struct Pull {
    ObjectId id;
    std::uint64_t reserved = 0;  // room held for the bytes
    PullDone done;
  };
  std::mutex pulls_mutex_;
  std::unordered_map<int, Pull> pulls_;  // by transfer tag

  std::unique_ptr<SpillManager> spill_;

  // RMA reads over UCX (null: large objects move over MPI). Objects exposed for a reader stay
  // alive until it says it is done.
  std::shared_ptr<transport::UcxDataPlane> data_plane_;
  struct Lease {
    SharedBuffer bytes;
    std::uint64_t handle = 0;       // UCX registration
    ObjectStore::SpillHandle slot;  // a reader reads it from the spill file
  };
  std::mutex leases_mutex_;
  std::unordered_map<std::uint64_t, Lease> leases_;  // by reader rank << 32 | transfer tag
  std::atomic<int> leases_open_{0};

  // The release gate (see register_borrow).
  std::mutex gate_mutex_;
  std::uint64_t unacked_borrows_ = 0;
  std::vector<std::pair<int, Buffer>> gated_;

  // memory_summary requests this rank made, waiting for every rank's reply.
  struct SummaryRequest {
    int replies = 0;
    MemorySummary summary;
  };
  std::mutex summary_mutex_;
  std::condition_variable summary_cv_;
  std::uint64_t next_summary_ = 1;
  std::unordered_map<std::uint64_t, SummaryRequest> summaries_;

  std::atomic<std::uint64_t> bytes_fetched_{0};
  std::atomic<std::uint64_t> bytes_served_{0};
  std::atomic<std::uint64_t> fetches_{0};
  std::atomic<std::uint64_t> serves_{0};
  std::atomic<std::uint64_t> serves_of_copies_{0};

  // Rank 0: the global scheduler's view of every rank.
  std::mutex global_mutex_;
  std::vector<RankLoad> loads_;
  std::vector<std::uint64_t> sent_to_;    // placements sent to each rank, ever
  std::vector<std::uint64_t> actors_on_;  // live actors rank 0 placed on each rank
  std::uint64_t global_hint_ = 0;
  std::vector<std::uint64_t> spill_hint_sent_;  // last spill hint sent to each rank

  // Tasks other ranks could start now, from rank 0's last spill hint: how many this rank may
  // still hand on before it hears again.
  std::atomic<std::uint64_t> spill_credit_{0};

  std::atomic<bool> actors_started_{false};  // actors_ exists (ticks start before it does)

  // Load last reported (ranks > 0).
  std::uint64_t reported_waiting_ = ~0ull;
  ResourceSet reported_available_;
  std::atomic<std::uint64_t> placed_by_rank0_{0};  // placements received from rank 0, ever
  std::uint64_t reported_placed_ = 0;

  // Shutdown handshake.
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  int acks_ = 0;

  std::unique_ptr<Timeline> timeline_;  // when --manta-timeline or --manta-job-dir is set
  std::string job_id_;                  // the same on every rank
  std::unique_ptr<JobDirectory> job_dir_;

  // Actors hosted here.
  std::unique_ptr<ActorHost> actors_;
  // Where this rank sends calls to each actor it knows, and its next sequence number there.
  struct ActorRoute {
    int host = -1;
    bool known = false;     // host or death is known
    bool accepted = false;  // rank 0 took its name; it waits for a free actor slot
    std::shared_ptr<const ErrorInfo> death;
    bool asked = false;
    std::uint64_t next_seq = 0;
    std::vector<TaskPtr> waiting;  // calls made before the host was known
  };
  std::mutex routes_mutex_;
  std::condition_variable routes_cv_;
  std::unordered_map<ActorId, ActorRoute> routes_;
  std::unordered_map<ActorId, TaskPtr> creations_;  // creation specs made here (their arguments)
  // Rank 0: the actor table and the names.
  struct ActorRecord {
    int host = -1;
    bool placed = false;
    std::shared_ptr<const ErrorInfo> death;
    std::string name;
    std::uint64_t class_tag = 0;
    std::vector<int> waiting;          // ranks that asked before it was placed
    std::optional<bool> kill_pending;  // kill asked before it was placed (no_restart)
  };
  std::mutex table_mutex_;
  std::unordered_map<ActorId, ActorRecord> actor_table_;
  std::unordered_map<std::string, ActorId> actor_names_;
  std::deque<TaskPtr> actors_waiting_;  // creations waiting for a free actor slot, oldest first
  // Name lookups waiting for rank 0's answer.
  struct NameAnswer {
    bool done = false;
    bool found = false;
    ActorId id;
    std::uint64_t class_tag = 0;
  };
  std::mutex names_mutex_;
  std::condition_variable names_cv_;
  std::uint64_t next_name_request_ = 1;
  std::unordered_map<std::uint64_t, NameAnswer> name_answers_;

  std::atomic<std::uint64_t> tasks_submitted_{0};
  std::atomic<std::uint64_t> tasks_executed_{0};
  std::atomic<std::uint64_t> tasks_forwarded_{0};
  std::atomic<std::uint64_t> tasks_handed_on_{0};
};

/// The runtime of this process, or nullptr outside init/shutdown.
Runtime* runtime() noexcept;

}  // namespace manta::engine
