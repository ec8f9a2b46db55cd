#include "engine/outbox.h"

#include "transport/control_channel.h"

namespace manta::engine {
namespace {

// t_scratch_gone is trivially destructible, so it can still be read after t_scratch is gone.
thread_local bool t_scratch_gone = false;
struct Scratch {
  Buffer bytes;
  ~Scratch() { t_scratch_gone = true; }
};
thread_local Scratch t_scratch;

}  // namespace

Buffer& Outbox::scratch(Buffer& own) { return t_scratch_gone ? own : t_scratch.bytes; }

void Outbox::borrow_registered() {
  std::lock_guard lock(gate_mutex_);
  ++unacked_borrows_;
}

void Outbox::borrow_acknowledged() {
  std::lock_guard lock(gate_mutex_);
  if (unacked_borrows_ > 0) --unacked_borrows_;
  if (unacked_borrows_ > 0) return;
  for (auto& [dest, message] : gated_) post(dest, message.span());
  gated_.clear();
}

std::size_t Outbox::gated() const {
  std::lock_guard lock(gate_mutex_);
  return gated_.size();
}

void ChannelOutbox::post(int dest, std::span<const std::byte> message) {
  channel_->send(dest, message);
}

}  // namespace manta::engine
