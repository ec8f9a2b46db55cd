// A rank's local scheduler: the queue of tasks whose inputs are here, the rank's free
// resources, and the worker threads that run tasks when their resources fit. A worker blocked in
// get lends its resources back and, if work is queued and no thread is idle, another thread is
// started, so nested tasks never deadlock on a full pool. A worker that waits for a task still in
// this queue runs that task itself instead of waiting (work helping).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/gpu_pool.h"
#include "engine/resources.h"
#include "engine/task_spec.h"

namespace manta::engine {

class LocalScheduler {
 public:
  using Runner = std::function<void(const TaskPtr&)>;

  /// `max_threads` bounds the pool; past it, blocked workers run queued tasks themselves. Only
  /// when every blocked worker has helped as deep as its stack allows does the pool grow past it.
  /// An idle worker polls for `idle_spin` before it sleeps, calling `idle_poll` (which may
  /// receive the next task on this very thread).
  LocalScheduler(ResourceSet total, int threads, int max_threads, Runner run,
                 std::chrono::microseconds idle_spin = std::chrono::microseconds(50),
                 std::function<bool()> idle_poll = {});
  ~LocalScheduler();

  /// The rank's GPUs, as ordinals: tasks asking for GPU get distinct devices (fractions pack).
  /// Before start().
  void set_gpus(std::vector<int> ordinals);
  /// Runs first on each worker thread with its index (0, 1, ...): core binding. Before start().
  void set_thread_start(std::function<void(std::size_t index)> hook);
  void start();
  /// Stops taking tasks, drops the queue, waits for running tasks to return, joins threads.
  void stop();

  void enqueue(TaskPtr task);

  /// Tasks queued or running here.
  [[nodiscard]] std::uint64_t load() const;
  /// Tasks waiting for a worker (a task blocked in get is not waiting).
  [[nodiscard]] std::uint64_t queued() const;
  /// Whether a task asking for `request` would start at once if queued now: it fits what is
  /// free once the tasks already queued took theirs. With the number queued, in one look.
  struct Admission {
    std::uint64_t queued = 0;
    bool starts_now = false;
  };
  [[nodiscard]] Admission admission(const ResourceSet& request) const;
  /// Takes up to `max` queued tasks that cannot start now (those the free resources would not
  /// reach), newest first, of those `movable` accepts: work to hand to idle ranks.
  std::vector<TaskPtr> take_waiting(std::size_t max,
                                    const std::function<bool(const TaskSpec&)>& movable);
  [[nodiscard]] ResourceSet available() const;
  [[nodiscard]] const ResourceSet& total() const noexcept { return total_; }
  [[nodiscard]] std::size_t thread_count() const;

  /// A task ran here for `d`. The recent mean (newer tasks weigh most) says how long the queue
  /// takes to drain: a backlog of tiny tasks is over before a lease could help, so it stays.
  void note_run_time(std::chrono::nanoseconds d) noexcept;
  /// How long `queued` tasks take to run on this rank's CPUs, by that mean.
  [[nodiscard]] std::chrono::nanoseconds drain_time(std::uint64_t queued) const noexcept;

  /// Resources held outside the pool (by an actor) for as long as it lives, with the GPUs its
  /// creation task was granted (the actor keeps those devices).
  void reserve(const ResourceSet& r, const std::vector<int>& gpu_ids = {});
  void release(const ResourceSet& r, const std::vector<int>& gpu_ids = {});
  /// Resources of one actor method call (ActorCallOptions::resources), taken from the pool for
  /// as long as the call runs. Callers wait in the order they asked; a queued task starts only
  /// where it leaves the first waiter's request free, so a large request is not starved by small
  /// tasks. Returns the GPUs granted, or nullopt once `cancelled` (polled while waiting) is true
  /// or the scheduler stops. The request must be one the rank can ever meet (could_fit).
  std::optional<std::vector<int>> acquire(const ResourceSet& r,
                                          const std::function<bool()>& cancelled);
  /// Gives back what acquire took.
  void give_back(const ResourceSet& r, const std::vector<int>& gpu_ids);
  /// Whether the rank could ever offer `r` beside `kept` (what the asking actor holds for its
  /// whole life): empty when it could, else why not.
  [[nodiscard]] std::string could_fit(const ResourceSet& r, const ResourceSet& kept) const;
  /// Fraction of each GPU in use, in ordinal order.
  [[nodiscard]] std::vector<double> gpus_used() const;

  /// Placement-group bundles reserved here (their resources already taken with reserve):
  /// `offer`, under the bundles' names (bundle_resources.h), joins what tasks may take.
  void add_offer(const ResourceSet& offer);
  /// The group is gone: its names (`bases`: name -> the resource it stands for, "" for none)
  /// leave the pool. What of them is free now goes back under the base names; what running
  /// tasks and actors hold goes back the same way when they release it. Returns the queued
  /// tasks that ask for them (the caller fails them); tasks that come later go to `rejected`.
  std::vector<TaskPtr> retire_offer(const std::map<std::string, std::string>& bases);
  /// Where enqueue sends a task that asks for a retired name (set once, before start).
  void set_rejected(Runner rejected) { rejected_ = std::move(rejected); }

  /// Called by a worker thread about to block (in get or wait) / after it woke up. `wake` wakes
  /// the blocked thread so that it can help when work arrives and no thread can be started.
  /// `key` names this wait (unique while it lasts). `wake` is called with the scheduler's lock
  /// held, so it must not call back into the scheduler.
  void worker_blocked(const void* key, std::function<void()> wake);
  void worker_unblocked(const void* key);
  /// A blocked worker runs one queued task when the pool is at its limit. True if it ran one.
  bool help(const void* key);
  /// If `id` is queued here and fits the calling worker's resources, runs it on this thread.
  bool run_inline(const TaskId& id);

  /// The scheduler whose worker is the calling thread, if any.
  static LocalScheduler* current() noexcept;
  /// How often the calling thread blocked in a get or wait, or ran a task inline: a task
  /// during which it did is not timed (its time is mostly other tasks').
  static std::uint64_t waits_here() noexcept;

 private:
  void worker_loop(std::size_t index);
  /// With mutex_ held. Workers take the oldest task (fair); helpers the newest, which is the
  /// deepest in a recursion and so the quickest to finish without blocking further.
  TaskPtr pop_runnable(const ResourceSet& within, bool newest = false);
  void run_claimed(const TaskPtr& task);    // runs a task taken from the queue on this thread
  [[nodiscard]] bool has_runnable() const;  // with mutex_ held
  /// With mutex_ held: the task's resources fit `within` and its GPUs can be placed on devices.
  [[nodiscard]] bool fits(const TaskSpec& task, const ResourceSet& within) const;
  void claim(const TaskPtr& task);    // with mutex_ held: subtracts its resources, grants GPUs
  void unclaim(const TaskPtr& task);  // with mutex_ held: the reverse
  /// What a worker blocked in get lends: its resources but its GPUs, which stay its own (the
  /// device is still its current one), as Ray lends only CPUs.
  [[nodiscard]] ResourceSet lendable(const ResourceSet& held) const;
  void spawn_thread();    // with mutex_ held
  void spawn_past_cap();  // with mutex_ held: when helping can go no deeper

  /// The idle worker to wake once the lock is dropped, if any.
  struct Kick {
    std::condition_variable* cv = nullptr;
    void operator()() const;
  };
  /// With mutex_ held and a queued task that fits: makes sure some thread will take it (wakes an
  /// idle worker, starts a thread, or wakes a blocked worker to help at the thread cap).
  Kick kick_locked();

  /// With mutex_ held: `r` as it counts against the pool now (retired names translated).
  [[nodiscard]] ResourceSet counted(const ResourceSet& r) const;
  [[nodiscard]] bool asks_retired(const ResourceSet& r) const;  // with mutex_ held
  void add_counted(const ResourceSet& r);                       // with mutex_ held
  void subtract_counted(const ResourceSet& r);                  // with mutex_ held

  /// With mutex_ held: what queued tasks may take now (what the first waiter of acquire
  /// needs stays free for it).
  [[nodiscard]] const ResourceSet& room_for_tasks() const;
  /// With mutex_ held: grants the first waiters of acquire whose requests fit now.
  void serve_waiters();

  const ResourceSet total_;
  const double total_cpus_;  // total_'s CPUs, read with each submission past the threshold
  Runner run_;
  Runner rejected_;
  int initial_threads_;
  std::chrono::microseconds idle_spin_;
  std::function<bool()> idle_poll_;
  std::function<void(std::size_t)> thread_start_;
  std::size_t max_threads_;

  // Negative until a task ran: a backlog of tasks of unknown length is worth a lease.
  std::atomic<std::int64_t> mean_run_ns_{-1};
  std::atomic<double> reserved_cpus_{0};  // held by actors, outside the pool

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TaskPtr> queue_;
  std::unordered_map<TaskId, TaskPtr> queued_by_id_;
  ResourceSet available_;
  GpuPool gpus_;
  std::uint64_t running_ = 0;
  int idle_ = 0;      // workers asleep waiting for a task
  int spinning_ = 0;  // workers polling for a task before they sleep
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  bool warned_thread_cap_ = false;
  bool warned_past_cap_ = false;
  std::size_t helper_turn_ = 0;
  std::vector<std::pair<const void*, std::function<void()>>>
      blocked_;  // wake-ups of blocked workers
  // Names of removed placement groups -> their base resource ("": dropped). Kept for the job's
  // life: a task or actor may hold them long after the removal.
  std::unordered_map<std::string, std::string> retired_;
  // Placement-group bundles offered here, by name (kept when retired: their base names count).
  ResourceSet offered_;
  // Actor calls waiting in acquire, oldest first; each is granted in turn by serve_waiters.
  struct Waiter {
    const ResourceSet* request;
    std::optional<std::vector<int>> granted;
  };
  std::deque<Waiter*> waiters_;
  std::condition_variable waiters_cv_;
  mutable ResourceSet room_;  // room_for_tasks' result while someone waits
};

}  // namespace manta::engine
