#include "engine/dispatcher.h"

#include <stdexcept>
#include <string>

#include "engine/log.h"

namespace manta::engine {

void Dispatcher::on(MessageType type, Handler handler) {
  auto& slot = handlers_[static_cast<std::uint8_t>(type)];
  if (slot) {
    throw std::logic_error(std::string("two handlers for control message ") + message_name(type));
  }
  slot = std::move(handler);
}

void Dispatcher::dispatch(int source, std::span<const std::byte> message) const {
  try {
    transport::WireReader r(message);
    const auto type = r.get<MessageType>();
    const Handler& handler = handlers_[static_cast<std::uint8_t>(type)];
    if (!handler) {
      log().error(
          "control message of unknown type {} ({}) from rank {} dropped: do all ranks run the "
          "same build of the program?",
          static_cast<int>(type), message_name(type), source);
      return;
    }
    handler(source, r, message);
  } catch (const std::exception& e) {
    const auto type = message.empty() ? 0 : static_cast<int>(message[0]);
    log().error("failed to handle control message {} ({}) from rank {}: {}", type,
                message_name(static_cast<MessageType>(type)), source, e.what());
  }
}

bool Dispatcher::handles(MessageType type) const noexcept {
  return static_cast<bool>(handlers_[static_cast<std::uint8_t>(type)]);
}

std::vector<MessageType> Dispatcher::unhandled() const {
  std::vector<MessageType> out;
  for (int t = static_cast<int>(kFirstMessageType); t <= static_cast<int>(kLastMessageType); ++t) {
    if (!handles(static_cast<MessageType>(t))) out.push_back(static_cast<MessageType>(t));
  }
  return out;
}

}  // namespace manta::engine
