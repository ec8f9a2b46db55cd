// A task as the engine moves it: function, options, arguments (values or references) and
// retry state. Specs are shared between the queue, the submitter's pending table and the
// worker that runs them; one rank mutates a spec at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/object_ref.h>
#include <manta/options.h>

#include "engine/resources.h"

namespace manta::engine {

struct TaskArg {
  bool is_ref = false;    // still a reference: bytes live at `location`
  std::uint64_t tag = 0;  // type tag the function expects (values: the tag of the bytes)
  SharedBuffer buffer;    // value bytes are buffer[offset, offset + size)
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  ObjectId ref;                // the object this argument came from, if any
  std::int32_t location = -1;  // rank holding the bytes of a reference (-1: not yet known)
  std::shared_ptr<detail::RefToken> token;  // keeps `ref` alive on the submitter

  /// The argument's bytes are here now: it becomes a value.
  void take(SharedBuffer bytes, std::uint64_t bytes_tag) {
    is_ref = false;
    size = bytes ? bytes->size() : 0;
    buffer = std::move(bytes);
    offset = 0;
    tag = bytes_tag;
  }
};

enum class TaskKind : std::uint8_t { task = 0, actor_creation = 1, actor_call = 2 };

/// The function index of an actor call that is kill(no_restart = false): it travels in the
/// caller's call order, so the caller's earlier calls run on the old instance and later ones on
/// the rebuilt one.
inline constexpr std::uint32_t kRestartMarker = 0xffffffffu;

struct TaskSpec {
  TaskId id;
  TaskKind kind = TaskKind::task;
  ActorId actor;                // creations and calls
  std::uint64_t actor_seq = 0;  // calls: position in the calling rank's calls to this actor
  std::int32_t caller = -1;     // calls: the calling rank
  // Creations only.
  std::string actor_name;
  std::string actor_namespace;  // the name's namespace (the creator's job namespace if not given)
  std::int32_t max_restarts_actor = 0;
  std::int32_t max_concurrency = 1;
  std::uint64_t class_tag = 0;
  std::uint32_t function = 0;  // index in the sealed function table
  std::string name;            // TaskOptions::name; empty means the function's name
  std::shared_ptr<const ResourceSet> resources;
  std::int32_t on_rank = -1;
  // The placement group whose bundle it runs in (invalid: none); its resources are the
  // bundle's names (bundle_resources.h). Rank 0 places it on the bundle's rank.
  PlacementGroupId placement_group;
  std::int32_t bundle_index = -1;  // -1: any bundle of the group with room
  // Variables manta::getenv sees while it runs (an actor's creation: in every call); null when
  // none were given, so a plain task neither allocates nor copies a map.
  std::shared_ptr<const EnvVars> env;
  std::int32_t max_retries = 0;
  bool retry_exceptions = false;
  std::int32_t attempt = 0;
  std::int32_t hand_ons = 0;  // times a busy rank passed it on to a free one (spillback)
  std::uint64_t lease = 0;    // the lease it went out on (lease_table.h); 0: none
  std::vector<TaskArg> args;
  std::vector<std::shared_ptr<detail::RefToken>> keep_alive;

  // Scheduling state on the rank that holds the spec.
  std::atomic<int> unresolved{0};
  std::vector<int> gpu_ids;  // devices granted while it runs here (an actor's creation: for life)
  bool from_wire = false;    // decoded from a message (the owner may hold the original)
  bool nested = false;       // submitted by a task running on this rank, not by the driver

  /// The first failure among the inputs; arguments resolve on several threads.
  void set_input_error(std::shared_ptr<const ErrorInfo> e) {
    std::lock_guard lock(error_mutex_);
    if (!input_error_) input_error_ = std::move(e);
  }
  [[nodiscard]] std::shared_ptr<const ErrorInfo> input_error() const {
    std::lock_guard lock(error_mutex_);
    return input_error_;
  }
  /// Before its arguments are resolved again (a rerun after an input was lost).
  void clear_input_error() {
    std::lock_guard lock(error_mutex_);
    input_error_.reset();
  }
  [[nodiscard]] ObjectId return_object() const noexcept { return id.return_object(); }

 private:
  mutable std::mutex error_mutex_;
  std::shared_ptr<const ErrorInfo> input_error_;
};

using TaskPtr = std::shared_ptr<TaskSpec>;

}  // namespace manta::engine
