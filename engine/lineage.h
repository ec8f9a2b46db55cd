// Lineage: the owner's record of how each object it owns was made, so that an object whose
// every copy is lost can be made again by running its task once more (the Ray model).
//
// For a task this rank submitted, the table keeps a copy of the spec as submitted (reference
// arguments as references, with their tokens: inputs stay alive while the output can be
// rebuilt) until the output is freed. The specs are bounded by --manta-max-lineage-bytes: past
// it, the oldest are dropped and their objects can no longer be rebuilt. Objects that have no
// spec say why (a put, an actor call's result, a spec dropped for the bound), so that their loss
// fails with an ObjectLostError that says what to do.
//
// When the last copy of an owned object is lost (object_lost), the table decides: rebuild (the
// store turns the object back into pending, its waiters keep waiting, and the spec runs again
// through the submitter), or fail it for good with the reason. Rebuilds per object are bounded
// by the task's max_retries. Inputs that are lost too are rebuilt when the rerun asks for them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/task_spec.h"

namespace manta::engine {

class Ownership;
struct RankContext;

/// What the table holds, for the memory summary and tests.
struct LineageStats {
  std::uint64_t specs = 0;            // objects that can be rebuilt now
  std::uint64_t bytes = 0;            // what their specs take, against the bound
  std::uint64_t evicted = 0;          // specs dropped to stay under the bound, ever
  std::uint64_t reconstructions = 0;  // reruns started, ever
  std::uint64_t lost = 0;             // owned objects that failed because every copy was lost
};

class Lineage {
 public:
  /// `max_bytes`: --manta-max-lineage-bytes (0 keeps no spec).
  explicit Lineage(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  /// Where rebuilds go: the store and errors (`ctx`), freeing (`ownership`), `resubmit` (resolve
  /// the arguments again and place the task) and `reask` (answer a reader that asked for the
  /// object once it is finished). Without it (unit tests) the table only keeps records.
  struct Hooks {
    RankContext* ctx = nullptr;
    Ownership* ownership = nullptr;
    std::function<void(const TaskPtr&)> resubmit;
    std::function<void(int reader, const ObjectId&)> reask;
  };
  void attach(Hooks hooks) { hooks_ = std::move(hooks); }
  [[nodiscard]] RankContext* context() const noexcept { return hooks_.ctx; }

  /// A task this rank submitted (before its arguments are resolved): keeps a copy of its spec,
  /// dropping the oldest specs past the bound.
  void record_task(const TaskSpec& t);
  /// An actor call this rank submitted: its result cannot be rebuilt.
  void record_actor_result(const ObjectId& id, const ActorId& actor);
  /// The owner freed these objects: their records go (and with them the inputs they kept).
  void forget(const std::vector<ObjectId>& ids);

  /// Why `id` cannot be rebuilt, or nothing when it can: then `spec` is a fresh copy of its
  /// task to run again and the rebuild is counted. Both empty: a rebuild is under way.
  struct Decision {
    TaskPtr spec;
    std::string why_not;
  };
  Decision decide(const ObjectId& id);
  /// The rebuild of `id` ended (its object finished, ready or failed).
  void rebuild_ended(const ObjectId& id);

  /// Every copy of `id`, an object this rank owns, is lost (`cause` says how): rebuilds it, or
  /// fails it with an ObjectLostError that gives the cause and why it cannot be rebuilt.
  void object_lost(const ObjectId& id, const ErrorInfo& cause);

  [[nodiscard]] LineageStats stats() const;
  [[nodiscard]] std::uint64_t max_bytes() const noexcept { return max_bytes_; }

  /// What a spec costs against the bound (its own size, its arguments' value bytes).
  static std::uint64_t spec_bytes(const TaskSpec& t);
  /// The spec as submitted, for a rerun: references again unresolved, values copied.
  static TaskPtr copy_spec(const TaskSpec& t);

 private:
  enum class Kind : std::uint8_t { task, actor_result, evicted };
  struct Entry {
    Kind kind = Kind::task;
    TaskPtr spec;  // kind task only
    std::uint64_t bytes = 0;
    std::int32_t reconstructions = 0;
    bool rebuilding = false;
    ActorId actor;  // kind actor_result
    std::string function;
    std::int32_t max_retries = 0;
  };
  /// Drops the oldest specs until the table is under the bound; the specs go to `dropped`
  /// (destroyed outside the lock: their tokens may free objects).
  void evict_locked(std::vector<TaskPtr>& dropped);

  std::uint64_t max_bytes_;
  Hooks hooks_;
  mutable std::mutex mutex_;
  std::unordered_map<ObjectId, Entry> entries_;
  std::deque<ObjectId> order_;  // specs in the order they were kept (may name forgotten ones)
  std::uint64_t bytes_ = 0;
  LineageStats counts_;
};

namespace testing {
/// Test only: drops this rank's copy of an object owned elsewhere without telling the owner,
/// as a rank that lost it would; a reader the owner sends here then hears it is gone.
bool drop_copy_here(const ObjectId& id);
}  // namespace testing

}  // namespace manta::engine
