// Where the engine's parts send control messages, and the release gate in front of it.
//
// The gate: a rank that gets its first reference to an object owned elsewhere registers with the
// owner (add_borrower). Until the owner acknowledges, whatever kept the object alive for this
// rank (the submitter's task, an outer object) must not let go, so messages that release
// references from this rank (task_done, remove_borrower, free_object) wait behind the
// acknowledgements: send_gated holds them until every registration is acknowledged.
//
// Runtime sends over the control channel (ChannelOutbox); tests put a fake in its place that
// records what was sent and feeds replies back.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include <manta/buffer.h>

#include "transport/wire.h"

namespace manta::transport {
class ControlChannel;
}

namespace manta::engine {

class Outbox {
 public:
  virtual ~Outbox() = default;

  /// Sends one encoded message to `dest` (this rank included); the bytes are copied.
  virtual void post(int dest, std::span<const std::byte> message) = 0;

  /// Builds a message with `fill(WireWriter&)` and posts it.
  template <class Fill>
  void send(int dest, Fill&& fill) {
    Buffer own;
    Buffer& bytes = scratch(own);
    bytes.clear();
    transport::WireWriter w(bytes);
    fill(w);
    post(dest, bytes.span());
  }

  /// A registration with an owner went out (add_borrower); gated messages wait for its ack.
  void borrow_registered();
  /// The owner acknowledged one registration (borrow_ack); the last one releases the gate.
  void borrow_acknowledged();
  /// Sends now, or once every registration is acknowledged; gated messages keep their order.
  template <class Fill>
  void send_gated(int dest, Fill&& fill) {
    std::lock_guard lock(gate_mutex_);
    if (unacked_borrows_ == 0) {
      send(dest, fill);
      return;
    }
    Buffer message;
    transport::WireWriter w(message);
    fill(w);
    gated_.emplace_back(dest, std::move(message));
  }
  /// Messages waiting behind the gate (for tests and the status report).
  [[nodiscard]] std::size_t gated() const;

 private:
  /// The message being built on this thread, or `own` once the thread's buffer is gone: the
  /// driver's main thread destroys its thread_locals before the exit handlers run, and the
  /// shutdown implied at the end of main is one of them.
  static Buffer& scratch(Buffer& own);

  mutable std::mutex gate_mutex_;
  std::uint64_t unacked_borrows_ = 0;
  std::vector<std::pair<int, Buffer>> gated_;
};

/// Sends over the control channel (attached once it exists, before the first message).
class ChannelOutbox final : public Outbox {
 public:
  void attach(transport::ControlChannel& channel) noexcept { channel_ = &channel; }
  void post(int dest, std::span<const std::byte> message) override;

 private:
  transport::ControlChannel* channel_ = nullptr;
};

}  // namespace manta::engine
