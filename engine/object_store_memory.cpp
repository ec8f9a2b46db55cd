// The object store's memory: capacity, reservations (room made before bytes arrive), the
// batches that leave for the spill file and the objects read back from it.
#include "engine/object_store.h"

#include <algorithm>
#include <climits>
#include <thread>

namespace manta::engine {

void ObjectStore::set_capacity(std::uint64_t capacity, std::uint64_t high_water,
                               std::function<void()> on_pressure) {
  std::lock_guard lock(mutex_);
  capacity_ = capacity;
  high_water_ = std::min(high_water, capacity);
  on_pressure_ = std::move(on_pressure);
}

std::uint64_t ObjectStore::capacity() const {
  std::lock_guard lock(mutex_);
  return capacity_;
}

ObjectStore::Room ObjectStore::reserve(std::uint64_t bytes,
                                       std::chrono::steady_clock::duration timeout) {
  std::unique_lock lock(mutex_);
  if (capacity_ == 0) {
    reserved_ += bytes;
    return {true, 0, 0};
  }
  if (bytes > capacity_) return {false, capacity_, pinned_locked()};
  if (room_waiters_.empty() && bytes_ + reserved_ + bytes <= capacity_) {
    reserved_ += bytes;
    if (over_high_water() && on_pressure_) on_pressure_();
    return {true, capacity_, 0};
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  demand_ += bytes;
  room_waiting_.fetch_add(1, std::memory_order_relaxed);
  struct Done {  // however the wait ends, it no longer asks for room
    ObjectStore& s;
    std::uint64_t n;
    ~Done() {
      s.demand_ -= n;
      s.room_waiting_.fetch_sub(1, std::memory_order_relaxed);
    }
  } done{*this, bytes};
  for (;;) {
    if (room_waiters_.empty() && bytes_ + reserved_ + bytes <= capacity_) {
      reserved_ += bytes;
      if (over_high_water() && on_pressure_) on_pressure_();
      return {true, capacity_, 0};
    }
    if (on_pressure_) on_pressure_();
    // Room appears when spills finish or objects are freed; both notify, the timeout is a guard.
    if (room_cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                         std::chrono::milliseconds(50))) ==
            std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline) {
      return {false, capacity_, pinned_locked()};
    }
    if (stopped_) return {false, capacity_, pinned_locked()};
  }
}

void ObjectStore::reserve_async(std::uint64_t bytes, std::function<void()> then,
                                std::chrono::steady_clock::duration timeout,
                                std::function<void()> give_up) {
  {
    std::lock_guard lock(mutex_);
    const bool fits = capacity_ == 0 || bytes_ + reserved_ + bytes <= capacity_;
    if (!(room_waiters_.empty() && fits)) {
      room_waiters_.push_back(
          {bytes, std::move(then), std::chrono::steady_clock::now() + timeout, std::move(give_up)});
      room_waiting_.fetch_add(1, std::memory_order_relaxed);
      demand_ += bytes;
      if (on_pressure_) on_pressure_();
      return;
    }
    reserved_ += bytes;
    if (over_high_water() && on_pressure_) on_pressure_();
  }
  then();
}

void ObjectStore::unreserve(std::uint64_t bytes) {
  {
    std::lock_guard lock(mutex_);
    take_reserved(bytes);
  }
  serve_reservations();
}

void ObjectStore::serve_reservations() {
  // Called after every free: with nobody waiting for room, it costs one atomic load.
  if (room_waiting_.load(std::memory_order_relaxed) == 0) return;
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(mutex_);
    room_cv_.notify_all();
    const auto now = std::chrono::steady_clock::now();
    for (auto it = room_waiters_.begin(); it != room_waiters_.end();) {
      if (it->give_up && now >= it->deadline) {
        demand_ -= it->bytes;
        ready.push_back(std::move(it->give_up));
        it = room_waiters_.erase(it);
        room_waiting_.fetch_sub(1, std::memory_order_relaxed);
      } else {
        ++it;
      }
    }
    while (!room_waiters_.empty()) {
      RoomWaiter& w = room_waiters_.front();
      // A request larger than the whole store is let in alone, when nothing else is held.
      const bool fits =
          bytes_ + reserved_ + w.bytes <= capacity_ || (bytes_ == 0 && reserved_ == 0);
      if (!fits) break;
      reserved_ += w.bytes;
      demand_ -= w.bytes;
      ready.push_back(std::move(w.then));
      room_waiters_.pop_front();
      room_waiting_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (!room_waiters_.empty() && on_pressure_) on_pressure_();
  }
  for (auto& cb : ready) cb();
}

std::uint64_t ObjectStore::spill_needed() const {
  std::lock_guard lock(mutex_);
  if (!over_high_water()) return 0;
  return bytes_ + reserved_ + demand_ - high_water_ - spilling_bytes_;
}

std::vector<ObjectStore::SpillItem> ObjectStore::take_spill_batch(std::uint64_t want,
                                                                  std::uint64_t min_batch,
                                                                  bool written_only) {
  std::vector<std::shared_ptr<const void>> dropped;  // destroyed after the lock is released
  std::vector<SpillItem> items;
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::uint64_t, decltype(entries_)::iterator>> candidates;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const Entry& e = it->second;
    // A neighbour's bytes viewed in place take no room here: nothing to spill.
    if (e.state == State::ready && e.bytes && e.view_of < 0 && e.size > 0 && !e.spilling &&
        !is_pinned(e) && (e.spill || !written_only)) {
      candidates.emplace_back(e.last_use, it);
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::uint64_t freed = 0, batch = 0;
  for (auto& [use, it] : candidates) {
    if (freed >= want && batch >= min_batch) break;
    if (freed >= want && batch == 0) break;
    Entry& e = it->second;
    freed += e.size;
    if (e.spill) {
      drop_bytes(e, dropped);  // written before: memory goes now
      continue;
    }
    e.spilling = true;
    spilling_bytes_ += e.size;
    batch += e.size;
    items.push_back({it->first, e.bytes});
  }
  if (freed > 0) room_cv_.notify_all();
  return items;
}

std::vector<std::shared_ptr<const void>> ObjectStore::spilled(
    const std::vector<ObjectId>& ids, const std::vector<SpillHandle>& slots) {
  std::vector<std::shared_ptr<const void>> dropped;
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto it = entries_.find(ids[i]);
    if (it == entries_.end()) continue;  // freed while it was written
    Entry& e = it->second;
    if (!e.spilling) continue;
    e.spilling = false;
    spilling_bytes_ -= e.size;
    if (!slots[i]) continue;
    e.spill = slots[i];
    if (e.state == State::ready && e.bytes && !is_pinned(e)) drop_bytes(e, dropped);
  }
  room_cv_.notify_all();
  return dropped;
}

ObjectStore::SpillHandle ObjectStore::start_restore(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::spilled || it->second.restoring) {
    return nullptr;
  }
  it->second.restoring = true;
  return it->second.spill;
}

void ObjectStore::end_restore(Entry& e, Wakeups& w) {
  e.restoring = false;
  collect(e, w, false);
  w.callbacks = std::move(e.on_restored);
  e.on_restored.clear();
}

void ObjectStore::restored(const ObjectId& id, SharedBuffer bytes, std::uint64_t reserved) {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      take_reserved(reserved);
      return;
    }
    Entry& e = it->second;
    if (e.state == State::spilled) {
      set_bytes(e, std::move(bytes), e.tag, {}, reserved);
    } else {
      // The bytes came back another way while the file was read (a transfer stored a copy):
      // this read is not needed, but whoever waits for the restore must still hear it ended.
      take_reserved(reserved);
    }
    end_restore(e, w);
  }
  w.run();
}

void ObjectStore::set_lost_handler(LostHandler handler) {
  std::lock_guard lock(mutex_);
  lost_handler_ = std::move(handler);
}

void ObjectStore::restore_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error) {
  Wakeups w;
  LostHandler handler;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    if (e.state == State::spilled && lost_handler_ && !stopped_) {
      // The handler ends the restore: another copy, a rebuild or a final error.
      handler = lost_handler_;
    } else if (e.state == State::spilled) {  // else its bytes came back another way meanwhile
      e.state = State::failed;
      e.error = std::move(error);
      e.spill.reset();
    }
    if (!handler) end_restore(e, w);
  }
  w.run();
  if (handler) handler(id, std::move(error));
}

void ObjectStore::restore_gave_up(const ObjectId& id, std::shared_ptr<const ErrorInfo> error) {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.restore_error = std::move(error);
    end_restore(e, w);  // those waiting look again: a get reports the error, others retry
  }
  w.run();
}

std::shared_ptr<const ErrorInfo> ObjectStore::take_restore_error(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  return std::move(it->second.restore_error);
}

std::uint64_t ObjectStore::pinned_bytes() const {
  std::lock_guard lock(mutex_);
  return pinned_locked();
}

std::uint64_t ObjectStore::room_shortfall() const {
  std::lock_guard lock(mutex_);
  const std::uint64_t wanted = bytes_ + reserved_ + demand_;
  return capacity_ != 0 && wanted > capacity_ ? wanted - capacity_ : 0;
}

std::uint64_t ObjectStore::unwritten_bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t n = 0;
  for (const auto& [id, e] : entries_) {
    if (e.bytes && !e.spill) n += e.size;
  }
  return n;
}

bool ObjectStore::when_restored(const ObjectId& id, std::function<void()> cb) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::spilled) return false;
  it->second.on_restored.push_back(std::move(cb));
  return true;
}

}  // namespace manta::engine
