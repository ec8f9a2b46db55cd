// The actors hosted on this rank. An actor with calls to run is served by threads of the host's
// executor pool (up to max_concurrency at once), outside the task worker pool, so actors never
// starve tasks; an idle actor holds no thread, so a rank can host thousands. The pool grows
// while every thread is busy and work waits (a call blocked in get holds its thread), and idle
// threads end after a while. Calls from one calling rank start in the order that rank submitted
// them: the caller numbers them and the host holds any that arrive early until the gap before
// them is filled. A dead actor fails every call at once, whatever its number.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/detail/function_registry.h>
#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/resources.h"
#include "engine/task_spec.h"

namespace manta::engine {

struct ActorSettings {
  int max_restarts = 0;
  int max_concurrency = 1;
  ResourceSet resources;     // reserved on this rank while the actor lives
  std::vector<int> gpu_ids;  // the devices its creation was granted: the actor's for life
};

class ActorHost {
 public:
  struct Hooks {
    /// Runs `fn` with `views` on `instance` (or the factory when instance is null) and reports.
    std::function<void(const TaskPtr& call, detail::CallResult&& result,
                       std::shared_ptr<const ErrorInfo> error)>
        finish;
    /// The actor died: tell the control store.
    std::function<void(const ActorId& actor, std::shared_ptr<const ErrorInfo> cause)> died;
    /// The actor is being rebuilt from its factory (may be empty).
    std::function<void(const ActorId& actor)> restarting;
    std::function<void(const ResourceSet&, const std::vector<int>& gpu_ids)> reserve;
    std::function<void(const ResourceSet&, const std::vector<int>& gpu_ids)> release;
    std::function<ErrorInfo(ErrorKind, const TaskSpec*, std::string)> make_error;
    /// Resources of one call (ActorCallOptions::resources), beside what the actor holds:
    /// `fit` says why the rank can never offer them (empty: it can), `acquire` waits for them
    /// (nullopt: it gave up, as `cancelled` said), `give_back` returns them. Empty hooks: such
    /// calls fail.
    std::function<std::string(const ResourceSet& request, const ResourceSet& kept)> fit;
    std::function<std::optional<std::vector<int>>(const ResourceSet& request,
                                                  const std::function<bool()>& cancelled)>
        acquire;
    std::function<void(const ResourceSet& request, const std::vector<int>& gpu_ids)> give_back;
    /// An idle executor polls (this, or yields) for `idle_spin` before it sleeps, so a call that
    /// follows the last one closely is picked up without a wake-up.
    std::function<bool()> idle_poll;
    /// Called after each method call with its start and end (wall clock, µs); may be empty.
    std::function<void(const TaskPtr& call, std::int64_t start_us, std::int64_t end_us)> ran;
    std::chrono::microseconds idle_spin{0};
    /// Executor threads started without waiting; past it, a new one starts only when actors
    /// with work waited a whole tick (keep_moving) for a thread.
    std::size_t max_threads = 64;
  };

  explicit ActorHost(Hooks hooks) : hooks_(std::move(hooks)) {}
  ~ActorHost();

  /// Creates an actor from its resolved creation spec (the factory call).
  void create(TaskPtr creation, ActorSettings settings);
  /// Delivers a call whose arguments are local; runs in per-caller order.
  void deliver(TaskPtr call);
  void kill(const ActorId& actor, bool no_restart);
  /// Ends the actor (no restart) with `cause` (null: "was killed"); one whose creation has not
  /// reached this host yet dies of it when it does.
  void kill(const ActorId& actor, std::shared_ptr<const ErrorInfo> cause);
  /// The live actors created in a bundle of `group`.
  [[nodiscard]] std::vector<ActorId> in_group(const PlacementGroupId& group) const;
  /// Ends every actor: queued calls fail, running ones finish, instances are destroyed.
  void stop();
  /// Called periodically: if actors with calls waited since the last call while every
  /// executor thread stayed busy (blocked calls, say), starts one more thread, so work never
  /// waits for a thread that cannot come.
  void keep_moving();

  /// A live actor as a checkpoint saw it: its state, or why it was not saved.
  struct SavedActor {
    ActorId id;
    TaskPtr creation;  // name, factory, options and resources
    Buffer state;
    std::string skipped;  // non-empty: not saved, and why
  };
  /// Stops starting calls on every actor and waits until none runs (checkpoints are taken
  /// between calls), at most `timeout`; then saves each checkpointable actor's state (its
  /// class's save or serialize). The actors stay held, their calls queued, until resume_calls.
  /// Throws std::runtime_error naming the actors still running a call when the time is up, or
  /// the actor whose save threw.
  std::vector<SavedActor> hold_and_save(std::chrono::milliseconds timeout);
  /// Lets held actors run their queued calls again.
  void resume_calls();

  [[nodiscard]] std::size_t alive() const;
  /// Whether this rank hosted `actor` and it is dead now.
  [[nodiscard]] bool is_dead(const ActorId& actor) const;
  /// Executor threads now (busy or idle).
  [[nodiscard]] std::size_t executor_threads() const;

 private:
  struct Actor;
  /// Runs the actor's work on this pool thread until it has none (or has had its turn).
  void serve(const std::shared_ptr<Actor>& a);
  /// serve's steps, with the actor's mutex held through `lock`. stop_or_restart: false when
  /// the serving thread should leave (it died, a call still runs, or rebuilding failed).
  bool stop_or_restart(Actor& a, std::unique_lock<std::mutex>& lock);
  void spin_for_next_call(Actor& a, std::unique_lock<std::mutex>& lock);
  void restart_marker(Actor& a);
  /// Waits for the resources of `call` (ActorCallOptions::resources) and returns the GPUs
  /// granted; nullopt with `error` set when the rank can never offer them or the actor stopped.
  std::optional<std::vector<int>> take_call_resources(Actor& a, const TaskSpec& call,
                                                      std::shared_ptr<const ErrorInfo>& error);
  void run_call(Actor& a, const TaskPtr& call, std::vector<detail::ArgView>& views,
                std::unique_lock<std::mutex>& lock);
  /// With a.mutex held: puts the actor on the pool as often as its work and max_concurrency ask.
  void add_workers(const std::shared_ptr<Actor>& a);
  void schedule(std::shared_ptr<Actor> a);
  void pool_loop(std::uint64_t serial);
  void spawn_locked();  // with pool_mutex_ held
  void join_exited();
  bool construct(Actor& a, std::unique_lock<std::mutex>& lock);
  void die(Actor& a, std::shared_ptr<const ErrorInfo> cause, std::unique_lock<std::mutex>& lock);
  void enqueue_in_order(Actor& a, TaskPtr call);
  void fail_call(const TaskPtr& call, std::shared_ptr<const ErrorInfo> cause);

  Hooks hooks_;
  mutable std::mutex mutex_;
  std::unordered_map<ActorId, std::shared_ptr<Actor>> actors_;
  std::unordered_map<ActorId, std::vector<TaskPtr>> before_creation_;  // calls that beat it here
  // Kills that beat the creation here, with their cause (null: "was killed").
  std::unordered_map<ActorId, std::shared_ptr<const ErrorInfo>> killed_before_creation_;
  bool stopping_ = false;
  // A checkpoint holds every actor between calls; read under each actor's mutex by serve.
  std::atomic<bool> held_{false};

  // The executor pool: actors with work wait in runnable_ for a thread.
  mutable std::mutex pool_mutex_;
  std::condition_variable pool_cv_;
  std::deque<std::shared_ptr<Actor>> runnable_;
  std::unordered_map<std::uint64_t, std::thread> threads_;
  std::vector<std::thread> exited_;  // threads that ended, to be joined
  std::uint64_t next_serial_ = 0;
  int idle_ = 0;                  // pool threads waiting for an actor to serve
  std::uint64_t dispatched_ = 0;  // actors taken from runnable_, ever
  std::uint64_t seen_dispatched_ = ~0ull;
  bool pool_stopping_ = false;
  bool warned_past_cap_ = false;
};

/// Thrown by manta::exit_actor(); caught by the actor's executor.
struct ActorExit {};

}  // namespace manta::engine
