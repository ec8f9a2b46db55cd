// Routes each control message to the part of the engine that handles its type. The parts fill
// the table at start; a type with no handler, or a second handler for a type, is an error.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/messages.h"
#include "transport/wire.h"

namespace manta::engine {

class Dispatcher {
 public:
  /// `r` reads the message after its type byte; `message` is the whole message (the type byte
  /// included), valid only during the call.
  using Handler =
      std::function<void(int source, transport::WireReader& r, std::span<const std::byte> message)>;

  /// Sets the handler of `type`. Throws std::logic_error naming the type if it has one already.
  void on(MessageType type, Handler handler);

  /// Handles one message from `source`. An unknown type, a type without a handler or a message
  /// its handler cannot decode is logged with the type and the sender, and dropped.
  void dispatch(int source, std::span<const std::byte> message) const;

  [[nodiscard]] bool handles(MessageType type) const noexcept;
  /// Every type of the protocol that has no handler yet.
  [[nodiscard]] std::vector<MessageType> unhandled() const;

 private:
  std::array<Handler, 256> handlers_;
};

}  // namespace manta::engine
