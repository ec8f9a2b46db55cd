#include "engine/stop_handshake.h"

#include "engine/dispatcher.h"
#include "engine/messages.h"

namespace manta::engine {

void StopHandshake::register_handlers(Dispatcher& d) {
  // The message's byte says whether the driver failed; the job directory records that on rank 0.
  d.on(MessageType::shutdown, [this](int, transport::WireReader&, auto) {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
    cv_.notify_all();
  });
  d.on(MessageType::shutdown_ack, [this](int, transport::WireReader&, auto) {
    std::lock_guard lock(mutex_);
    ++acks_;
    cv_.notify_all();
  });
}

void StopHandshake::wait_for_stop() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return stop_requested_; });
}

int StopHandshake::wait_for_acks(int ranks, std::chrono::seconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return acks_ >= ranks; });
  return acks_;
}

}  // namespace manta::engine
