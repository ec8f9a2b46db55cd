#include "fake_outbox.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace manta::engine::fakes {

void FakeOutbox::post(int dest, std::span<const std::byte> message) {
  if (message.empty()) throw std::logic_error("an empty control message was posted");
  SentMessage m;
  m.dest = dest;
  m.type = static_cast<MessageType>(message[0]);
  m.bytes.assign(message.begin(), message.end());
  std::lock_guard lock(mutex_);
  sent_.push_back(std::move(m));
}

std::vector<SentMessage> FakeOutbox::sent() const {
  std::lock_guard lock(mutex_);
  return sent_;
}

std::vector<SentMessage> FakeOutbox::sent(MessageType type) const {
  std::lock_guard lock(mutex_);
  std::vector<SentMessage> out;
  std::copy_if(sent_.begin(), sent_.end(), std::back_inserter(out),
               [type](const SentMessage& m) { return m.type == type; });
  return out;
}

std::size_t FakeOutbox::count(MessageType type) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      sent_.begin(), sent_.end(), [type](const SentMessage& m) { return m.type == type; }));
}

std::optional<SentMessage> FakeOutbox::pop(MessageType type) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(sent_.begin(), sent_.end(),
                         [type](const SentMessage& m) { return m.type == type; });
  if (it == sent_.end()) return std::nullopt;
  SentMessage m = std::move(*it);
  sent_.erase(it);
  return m;
}

SentMessage FakeOutbox::take(MessageType type) {
  if (auto m = pop(type)) return std::move(*m);
  throw std::logic_error(std::string("no ") + message_name(type) + " message was sent");
}

std::vector<SentMessage> FakeOutbox::take_all() {
  std::lock_guard lock(mutex_);
  return std::exchange(sent_, {});
}

void FakeOutbox::clear() {
  std::lock_guard lock(mutex_);
  sent_.clear();
}

void deliver(const Dispatcher& d, int source, std::span<const std::byte> message) {
  d.dispatch(source, message);
}

}  // namespace manta::engine::fakes
