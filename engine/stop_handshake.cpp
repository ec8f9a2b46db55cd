#include "engine/stop_handshake.h"

#include "engine/dispatcher.h"
#include "engine/messages.h"

namespace manta::engine {

void StopHandshake::register_handlers(Dispatcher& d) {
  d.on(MessageType::shutdown, [this](int, transport::WireReader& r, auto) {
    const bool failed = r.get<std::uint8_t>() != 0;
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
    failed_ = failed;
    cv_.notify_all();
  });
  d.on(MessageType::shutdown_ack, [this](int, transport::WireReader&, auto) {
    std::lock_guard lock(mutex_);
    ++acks_;
    cv_.notify_all();
  });
}

bool StopHandshake::wait_for_stop() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return stop_requested_; });
  return failed_;
}

int StopHandshake::wait_for_acks(int ranks, std::chrono::seconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return acks_ >= ranks; });
  return acks_;
}

}  // namespace manta::engine
