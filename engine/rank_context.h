// What every part of a rank's engine shares: who the rank is, its settings, its object store,
// its outbox and the counters that number its tasks and objects. Parts hold a reference to it;
// Runtime owns it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <manta/errors.h>

#include "engine/config.h"
#include "engine/object_store.h"
#include "engine/outbox.h"
#include "engine/task_spec.h"

namespace manta::engine {

class SpillManager;

struct RankContext {
  RankContext(int rank_, int size_, const Config& config_, ObjectStore& store_, Outbox& outbox_)
      : rank(rank_), size(size_), config(config_), store(store_), outbox(outbox_) {
    seq_.store(session_base(config_.session) + 1, std::memory_order_relaxed);
  }

  int rank;
  int size;
  const Config& config;
  ObjectStore& store;
  Outbox& outbox;
  SpillManager* spill = nullptr;  // set once the store has its spill directory
  // Set at init, before any message: the node of every rank (ranks of a node read each other's
  // large objects in place), and whether this rank's large objects live in shared segments.
  std::vector<int> node_of;
  bool shared_store = false;
  [[nodiscard]] bool same_node(int other) const noexcept {
    return other == rank ||
           (other >= 0 && static_cast<std::size_t>(other) < node_of.size() &&
            node_of[static_cast<std::size_t>(other)] == node_of[static_cast<std::size_t>(rank)]);
  }
  std::atomic<bool> stopping{false};

  /// A sequence number no other task, object or actor of this rank uses.
  std::uint64_t next_seq() noexcept { return seq_.fetch_add(1, std::memory_order_relaxed); }
  /// Sequence numbers of runtime `session` (Config::session) start here: 2^48 per runtime.
  static constexpr std::uint64_t session_base(int session) noexcept {
    return static_cast<std::uint64_t>(session) << 48;
  }
  /// Whether `seq` was drawn by this runtime (not by one that an earlier shutdown ended).
  [[nodiscard]] bool this_session(std::uint64_t seq) const noexcept {
    return (seq >> 48) == static_cast<std::uint64_t>(config.session);
  }

  /// The task's name for errors and traces: its name option, else its function's name.
  [[nodiscard]] std::string function_name(const TaskSpec& t) const;
  /// An error raised on this rank, naming the task when there is one.
  [[nodiscard]] ErrorInfo make_error(ErrorKind kind, const TaskSpec* task,
                                     std::string message) const;
  /// How long a reservation waits for room (--manta-store-full-timeout).
  [[nodiscard]] std::chrono::steady_clock::duration store_full_timeout() const;
  /// The error for room that could not be made: requested, capacity and pinned bytes, and why.
  [[nodiscard]] ErrorInfo store_full_error(std::uint64_t requested, const ObjectStore::Room& room,
                                           const TaskSpec* task) const;

 private:
  std::atomic<std::uint64_t> seq_{1};
};

}  // namespace manta::engine
