// Results of tasks run here for owners on other ranks, sent in batches: one message to an owner
// carries many results, so a driver that fans thousands of tasks out takes in a few messages
// instead of one per task. A batch leaves when it is full (results or bytes), when the caller
// says no more work waits here (an idle rank holds nothing back), or once its first result has
// waited a short bound (flush_due, which the control channel's progress loop runs).
//
// Results release the owner's hold on a task's arguments, so batches leave through
// Outbox::send_gated, behind this rank's unacknowledged borrows. Results to one owner keep their
// order. A batch of one goes as task_done, a larger one as task_results (messages.h).
//
// Lock order: the batches' mutex is held while a batch is posted, so it comes before the
// outbox's gate mutex; it calls into nothing else.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <vector>

#include <manta/buffer.h>

#include "engine/messages.h"
#include "engine/outbox.h"

namespace manta::engine {

class ResultBatches {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    std::size_t max_results = 64;       // a batch this full leaves at once
    std::size_t max_bytes = 64 * 1024;  // so does one whose bodies reach this size
    Clock::duration max_age = std::chrono::milliseconds(1);  // the longest a result waits here
  };
  struct Counts {
    std::uint64_t results = 0;   // results sent to owners on other ranks
    std::uint64_t messages = 0;  // messages that carried them (task_done or task_results)
  };

  explicit ResultBatches(Outbox& outbox) : ResultBatches(outbox, Limits{}) {}
  ResultBatches(Outbox& outbox, Limits limits) : outbox_(outbox), limits_(limits) {}

  /// Adds one result for `owner` (another rank): `fill(WireWriter&)` writes a task_done body,
  /// the fields after its type byte. `more_here`: more work waits on this rank, whose results
  /// may join the batch; when false, every open batch leaves now.
  template <class Fill>
  void add(int owner, Fill&& fill, bool more_here) {
    std::lock_guard lock(mutex_);
    Batch& b = open_locked(owner);
    append_framed_body(b.bodies, fill);
    ++b.count;
    if (stopped_ || !more_here) {
      send_all_locked();
    } else if (b.count >= limits_.max_results || b.bodies.size() >= limits_.max_bytes) {
      send_locked(owner);
    }
  }

  /// Sends the batches whose first result has waited max_age by `now`; true if it sent any.
  /// Costs an atomic load when none is due, so the progress loop may call it every round.
  bool flush_due(Clock::time_point now = Clock::now());
  /// Sends `owner`'s open batch, if any: a message about one of its objects that assumes the
  /// owner already has the result goes after this.
  void flush(int owner);
  /// Sends every open batch.
  void flush_all();
  /// Sends every open batch, and every later result at once: at shutdown nothing stays here.
  void stop();

  [[nodiscard]] Counts counts() const noexcept {
    return {results_.load(std::memory_order_relaxed), messages_.load(std::memory_order_relaxed)};
  }
  /// Results waiting in open batches (for tests).
  [[nodiscard]] std::size_t waiting() const;

 private:
  struct Batch {
    Buffer bodies;  // framed task_done bodies (append_framed_body)
    std::uint32_t count = 0;
    Clock::time_point opened;
  };
  static constexpr Clock::rep kNone = std::numeric_limits<Clock::rep>::max();

  Batch& open_locked(int owner);  // `owner`'s batch, opened now if it was empty
  void send_locked(int owner);    // posts the batch and closes it
  void send_all_locked();
  void note_oldest_locked();  // oldest_ from the first open batch

  Outbox& outbox_;
  const Limits limits_;
  mutable std::mutex mutex_;
  std::vector<Batch> batches_;  // by owner rank, grown on demand
  std::deque<int> open_;        // owners with an open batch, oldest first
  bool stopped_ = false;
  // When the oldest open batch opened (Clock ticks), or kNone: read without the lock.
  std::atomic<Clock::rep> oldest_{kNone};
  std::atomic<std::uint64_t> results_{0};
  std::atomic<std::uint64_t> messages_{0};
};

}  // namespace manta::engine
