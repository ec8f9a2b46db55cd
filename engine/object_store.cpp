#include "engine/object_store.h"

namespace manta::engine {

void ObjectStore::Waiter::notify() {
  {
    std::lock_guard lock(mutex);
    signaled.store(true, std::memory_order_release);
  }
  cv.notify_one();
}

void ObjectStore::Wakeups::run() {
  for (Waiter* w : waiters) w->notify();
  for (auto& cb : callbacks) cb();
}

void ObjectStore::collect(Entry& e, Wakeups& w, bool finished) {
  w.waiters.insert(w.waiters.end(), e.waiters.begin(), e.waiters.end());
  if (finished) {
    w.callbacks = std::move(e.on_finished);
    e.on_finished.clear();
  }
}

std::shared_ptr<detail::RefToken> ObjectStore::create_pending(const ObjectId& id) {
  auto token = std::make_shared<detail::RefToken>(id);
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  e.token = token;
  return token;
}

std::shared_ptr<detail::RefToken> ObjectStore::create_ready(const ObjectId& id, SharedBuffer bytes,
                                                            std::uint64_t tag) {
  auto token = std::make_shared<detail::RefToken>(id);
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  e.state = State::ready;
  e.size = bytes->size();
  bytes_ += e.size;
  e.bytes = std::move(bytes);
  e.tag = tag;
  e.token = token;
  return token;
}

std::shared_ptr<detail::RefToken> ObjectStore::acquire(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  if (auto t = e.token.lock()) return t;
  auto token = std::make_shared<detail::RefToken>(id);
  e.token = token;
  return token;
}

std::optional<int> ObjectStore::release(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.token.expired()) return std::nullopt;
  Entry& e = it->second;
  if (id.owner == rank_ && e.state == State::pending) {
    e.released = true;  // freed when its task reports
    return std::nullopt;
  }
  if (e.primary || !e.waiters.empty() || !e.on_finished.empty()) return std::nullopt;
  std::optional<int> free_at;
  if (id.owner == rank_ && e.location >= 0 && e.location != rank_) free_at = e.location;
  if (e.bytes) bytes_ -= e.size;
  entries_.erase(it);
  return free_at;
}

std::optional<int> ObjectStore::finish_owned(const ObjectId& id, Entry& e) {
  if (!e.released || !e.waiters.empty() || !e.on_finished.empty()) return std::nullopt;
  std::optional<int> free_at;
  if (e.location >= 0 && e.location != rank_) free_at = e.location;
  if (e.bytes) bytes_ -= e.size;
  entries_.erase(id);
  return free_at;
}

std::optional<int> ObjectStore::set_ready(const ObjectId& id, SharedBuffer bytes,
                                          std::uint64_t tag) {
  Wakeups w;
  std::optional<int> free_at;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;  // nobody here wants it any more
    Entry& e = it->second;
    if (e.bytes) bytes_ -= e.size;
    e.state = State::ready;
    e.size = bytes->size();
    e.bytes = std::move(bytes);
    e.tag = tag;
    e.fetching = false;
    bytes_ += e.size;
    collect(e, w, true);
    if (id.owner == rank_) free_at = finish_owned(id, e);
  }
  w.run();
  return free_at;
}

std::optional<int> ObjectStore::set_remote(const ObjectId& id, int location, std::uint64_t size,
                                           std::uint64_t tag) {
  Wakeups w;
  std::optional<int> free_at;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end())
      return id.owner == rank_ ? std::optional<int>(location) : std::nullopt;
    Entry& e = it->second;
    e.state = State::remote;
    e.location = location;
    e.size = size;
    e.tag = tag;
    collect(e, w, true);
    if (id.owner == rank_) free_at = finish_owned(id, e);
  }
  w.run();
  return free_at;
}

void ObjectStore::set_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error) {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.state = State::failed;
    e.error = std::move(error);
    e.fetching = false;
    collect(e, w, true);
    if (id.owner == rank_) finish_owned(id, e);
  }
  w.run();
}

void ObjectStore::store_primary(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag) {
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  if (e.bytes) bytes_ -= e.size;
  e.primary = true;
  e.state = State::ready;
  e.size = bytes->size();
  e.bytes = std::move(bytes);
  e.tag = tag;
  bytes_ += e.size;
}

void ObjectStore::free_primary(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.primary = false;
  if (e.token.expired() && e.waiters.empty() && e.on_finished.empty()) {
    if (e.bytes) bytes_ -= e.size;
    entries_.erase(it);
  }
}

ObjectStore::View ObjectStore::view(const ObjectId& id) const {
  std::lock_guard lock(mutex_);
  View v;
  auto it = entries_.find(id);
  if (it == entries_.end()) return v;
  const Entry& e = it->second;
  v.exists = true;
  v.state = e.state;
  v.bytes = e.bytes;
  v.tag = e.tag;
  v.size = e.size;
  v.location = e.location;
  v.error = e.error;
  v.decoded = e.decoded;
  v.decoded_tag = e.decoded_tag;
  return v;
}

bool ObjectStore::when_finished(const ObjectId& id, std::function<void()> cb) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::pending) return false;
  it->second.on_finished.push_back(std::move(cb));
  return true;
}

void ObjectStore::add_waiter(const ObjectId& id, Waiter* w) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.waiters.push_back(w);
}

void ObjectStore::remove_waiter(const ObjectId& id, Waiter* w) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  std::erase(it->second.waiters, w);
}

bool ObjectStore::start_fetch(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.fetching) return false;
  it->second.fetching = true;
  return true;
}

bool ObjectStore::start_resolve(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.resolving) return false;
  it->second.resolving = true;
  return true;
}

void ObjectStore::fetch_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error) {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.fetching = false;
    e.state = State::failed;
    e.error = std::move(error);
    collect(e, w, true);
  }
  w.run();
}

void ObjectStore::cache_decoded(const ObjectId& id, std::uint64_t tag,
                                std::shared_ptr<const void> value) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::ready) return;
  it->second.decoded = std::move(value);
  it->second.decoded_tag = tag;
}

void ObjectStore::stop() {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    for (auto& [id, e] : entries_) collect(e, w, false);
  }
  w.run();
}

bool ObjectStore::stopped() const {
  std::lock_guard lock(mutex_);
  return stopped_;
}

ObjectStore::Stats ObjectStore::stats() const {
  std::lock_guard lock(mutex_);
  return {entries_.size(), bytes_};
}

}  // namespace manta::engine
