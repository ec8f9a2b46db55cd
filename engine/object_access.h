// The object API of a rank: put, get and wait. A get finds the object in this rank's store, or
// starts what brings it here (asks the owner, pulls a copy, restores it from disk, or runs the
// task inline) and waits, lending its CPU when it waits inside a task.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <manta/detail/runtime_api.h>
#include <manta/ids.h>

#include "engine/object_store.h"
#include "engine/rank_context.h"

namespace manta::engine {

class LocalScheduler;
class ObjectTransfer;

class ObjectAccess {
 public:
  /// `scheduler`: this rank's workers (a get on one of them lends its CPU; may be null).
  /// `poll`: drives the control channel once, so a short wait handles its own reply.
  ObjectAccess(RankContext& ctx, ObjectTransfer& transfer, LocalScheduler* scheduler,
               std::function<bool()> poll)
      : ctx_(ctx), transfer_(transfer), scheduler_(scheduler), poll_(std::move(poll)) {}

  std::shared_ptr<detail::RefToken> put(SharedBuffer bytes, std::uint64_t tag, TokenList contained);
  detail::StoredValue get(const ObjectId& id, detail::Timeout timeout);
  std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_ready,
                         detail::Timeout timeout);
  void cache_decoded(const ObjectId& id, std::uint64_t tag, std::shared_ptr<const void> value,
                     bool views_bytes);

  /// This rank's store capacity (0: unbounded); read on every encode, so kept without a lock.
  [[nodiscard]] std::uint64_t store_capacity() const noexcept {
    return capacity_.load(std::memory_order_relaxed);
  }
  void set_store_capacity(std::uint64_t bytes) noexcept {
    capacity_.store(bytes, std::memory_order_relaxed);
  }
  /// A value that can never fit this rank's store: `what` of `bytes` (or more, `at_least`).
  [[noreturn]] void throw_larger_than_store(const char* what, std::uint64_t bytes,
                                            bool at_least) const;

 private:
  /// Starts bringing a pending, remote or spilled object here. True when the get should look
  /// again at once (it ran the object's task inline).
  bool bring_here(const ObjectId& id, const ObjectStore::View& v, LocalScheduler* sched);
  /// The get's value read straight from the spill file: the store has no room for it. Nothing
  /// when the file region is lost: the object is then rebuilt or failed (the get looks again).
  std::optional<detail::StoredValue> read_past_store(const ObjectId& id, const ObjectStore::View& v,
                                                     const ErrorInfo& no_room);
  [[noreturn]] void throw_if_stopped(const ObjectId& id) const;

  RankContext& ctx_;
  ObjectTransfer& transfer_;
  LocalScheduler* scheduler_;
  std::function<bool()> poll_;
  std::atomic<std::uint64_t> capacity_{0};
};

}  // namespace manta::engine
