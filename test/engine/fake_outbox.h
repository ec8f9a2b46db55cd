// An Outbox for tests of the engine's parts in one process: it keeps every message a part posts
// (its destination, type and bytes) instead of sending it, and feeds messages to a Dispatcher as
// if another rank had sent them. The borrow gate is the real one (it lives in Outbox).
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include <manta/buffer.h>

#include "engine/dispatcher.h"
#include "engine/messages.h"
#include "engine/outbox.h"
#include "transport/wire.h"

namespace manta::engine::fakes {

/// One message a part posted.
struct SentMessage {
  int dest = -1;
  MessageType type{};
  std::vector<std::byte> bytes;  // the whole message, its type byte included

  /// A reader positioned after the type byte; it reads this message's bytes, so the message
  /// must outlive it (name the message, not a temporary, before reading it).
  [[nodiscard]] transport::WireReader reader() const {
    transport::WireReader r(bytes);
    r.get<MessageType>();
    return r;
  }
};

/// A message encoded by `fill(WireWriter&)`, as a part would send it.
template <class Fill>
std::vector<std::byte> encode(Fill&& fill) {
  Buffer b;
  transport::WireWriter w(b);
  fill(w);
  return {b.data(), b.data() + b.size()};
}

class FakeOutbox final : public Outbox {
 public:
  void post(int dest, std::span<const std::byte> message) override;

  /// Everything posted so far, oldest first.
  [[nodiscard]] std::vector<SentMessage> sent() const;
  /// Messages of `type` posted so far.
  [[nodiscard]] std::vector<SentMessage> sent(MessageType type) const;
  [[nodiscard]] std::size_t count(MessageType type) const;
  /// Removes and returns the oldest message of `type`, if any.
  std::optional<SentMessage> pop(MessageType type);
  /// Like pop, for a message that must have been sent: throws std::logic_error naming the type
  /// when none was (a test then fails instead of reading nothing).
  SentMessage take(MessageType type);
  /// Removes and returns everything posted so far.
  std::vector<SentMessage> take_all();
  void clear();

 private:
  mutable std::mutex mutex_;
  std::vector<SentMessage> sent_;
};

/// Hands `message` to `d` as if rank `source` had sent it.
void deliver(const Dispatcher& d, int source, std::span<const std::byte> message);

/// Builds a message with `fill(WireWriter&)` and hands it to `d` as if from `source`.
template <class Fill>
void deliver(const Dispatcher& d, int source, Fill&& fill) {
  const std::vector<std::byte> message = encode(fill);
  deliver(d, source, std::span<const std::byte>(message));
}

}  // namespace manta::engine::fakes
