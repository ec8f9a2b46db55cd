#include "engine/object_store.h"

#include <algorithm>
#include <climits>
#include <thread>

namespace manta::engine {
namespace {
const char* state_name(ObjectStore::State s) {
  switch (s) {
    case ObjectStore::State::pending:
      return "pending";
    case ObjectStore::State::ready:
      return "ready";
    case ObjectStore::State::remote:
      return "remote";
    case ObjectStore::State::failed:
      return "failed";
    case ObjectStore::State::spilled:
      return "spilled";
  }
  return "?";
}
}  // namespace

void ObjectStore::Waiter::notify() {
  // Notified under the mutex: once it is released this wake-up touches the waiter no more.
  std::lock_guard lock(mutex);
  signaled.store(true, std::memory_order_release);
  cv.notify_one();
}

ObjectStore::Waiter::~Waiter() {
  while (in_flight.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ObjectStore::Freed::merge(Freed&& other) {
  tell.insert(tell.end(), other.tell.begin(), other.tell.end());
  for (auto& t : other.contained) contained.push_back(std::move(t));
  if (!decoded) decoded = std::move(other.decoded);
  erased.insert(erased.end(), other.erased.begin(), other.erased.end());
}

void ObjectStore::Wakeups::run() {
  auto ws = std::move(waiters);
  waiters.clear();
  auto cbs = std::move(callbacks);
  callbacks.clear();
  for (Waiter* w : ws) {
    w->notify();
    w->in_flight.fetch_sub(1, std::memory_order_release);  // the last touch of *w
  }
  for (auto& cb : cbs) cb();
}

void ObjectStore::collect(Entry& e, Wakeups& w, bool finished) {
  for (Waiter* waiter : e.waiters) {
    // Under the store's lock: the waiter is registered, so still alive; counted before the
    // lock is dropped so that its destructor waits for this wake-up.
    if (std::find(w.waiters.begin(), w.waiters.end(), waiter) != w.waiters.end()) continue;
    waiter->in_flight.fetch_add(1, std::memory_order_relaxed);
    w.waiters.push_back(waiter);
  }
  if (finished) {
    w.callbacks = std::move(e.on_finished);
    e.on_finished.clear();
  }
}

void ObjectStore::add_location(Entry& e, int rank) {
  for (const auto& l : e.locations) {
    if (l.rank == rank) return;
  }
  e.locations.push_back({rank, 0});
}

void ObjectStore::set_bytes(Entry& e, SharedBuffer bytes, std::uint64_t tag, TokenList&& contained,
                            std::uint64_t reserved, bool rerun, int view_of) {
  if (rerun) e.spill.reset();
  bytes_ -= counted(e);
  if (e.spilling) spilling_bytes_ -= e.size;
  e.spilling = false;
  e.state = State::ready;
  e.size = bytes->size();
  e.bytes = std::move(bytes);
  e.tag = tag;
  e.fetching = false;
  e.resolving = false;
  e.last_use = ++clock_;
  e.view_of = view_of;
  bytes_ += counted(e);
  take_reserved(reserved);
  for (auto& t : contained) e.contained.push_back(std::move(t));
  if (view_of < 0 && over_high_water() && on_pressure_) on_pressure_();
}

bool ObjectStore::is_pinned(const Entry& e) {
  // The store and a decoded view of it account for two owners; any more is a reader.
  const long holders = e.bytes ? e.bytes.use_count() : 0;
  return holders > 1 + (e.decoded && e.decoded_views ? 1 : 0) ||
         (e.decoded && e.decoded.use_count() > 1);
}

void ObjectStore::take_reserved(std::uint64_t n) { reserved_ -= std::min(reserved_, n); }

bool ObjectStore::over_high_water() const {
  return capacity_ != 0 && bytes_ + reserved_ + demand_ > high_water_ + spilling_bytes_;
}

std::uint64_t ObjectStore::pinned_locked() const {
  std::uint64_t n = 0;
  for (const auto& [id, e] : entries_) {
    if (counted(e) && (is_pinned(e) || e.spilling)) n += e.size;
  }
  return n;
}

void ObjectStore::drop_bytes(Entry& e, std::vector<std::shared_ptr<const void>>& out) {
  bytes_ -= e.size;
  e.bytes.reset();
  if (e.decoded) out.push_back(std::move(e.decoded));
  e.decoded.reset();
  e.decoded_tag = 0;
  e.decoded_views = false;
  e.state = State::spilled;
}

ObjectStore::Freed ObjectStore::erase(std::unordered_map<ObjectId, Entry>::iterator it) {
  Freed f;
  Entry& e = it->second;
  if (owned(it->first)) {
    for (const auto& l : e.locations) {
      if (l.rank != rank_) f.tell.push_back(l.rank);
    }
    f.erased.push_back(it->first);
  }
  f.contained = std::move(e.contained);
  f.decoded = std::move(e.decoded);
  bytes_ -= counted(e);
  if (e.spilling) spilling_bytes_ -= e.size;
  f.spill = std::move(e.spill);
  entries_.erase(it);
  if (capacity_ != 0) room_cv_.notify_all();
  return f;
}

ObjectStore::Freed ObjectStore::free_if_unreferenced(
    std::unordered_map<ObjectId, Entry>::iterator it) {
  Entry& e = it->second;
  if (!owned(it->first) || !e.token.expired() || e.state == State::pending || !e.waiters.empty() ||
      !e.on_finished.empty() || !e.queued_readers.empty()) {
    return {};
  }
  for (const auto& [r, n] : e.borrowers) {
    if (n > 0) return {};
  }
  return erase(it);
}

std::shared_ptr<detail::RefToken> ObjectStore::create_pending(const ObjectId& id) {
  auto token = std::make_shared<detail::RefToken>(id);
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  e.token = token;
  return token;
}

std::shared_ptr<detail::RefToken> ObjectStore::create_ready(const ObjectId& id, SharedBuffer bytes,
                                                            std::uint64_t tag, TokenList contained,
                                                            std::uint64_t reserved) {
  auto token = std::make_shared<detail::RefToken>(id);
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  set_bytes(e, std::move(bytes), tag, std::move(contained), reserved);
  e.token = token;
  add_location(e, rank_);
  return token;
}

ObjectStore::Acquired ObjectStore::acquire(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    it = entries_.emplace(id, Entry{}).first;
    if (owned(id)) {
      // A reference that came back after its object was freed: fail its gets, don't hang.
      it->second.state = State::failed;
      it->second.error = std::make_shared<const ErrorInfo>(
          ErrorInfo{ErrorKind::object_lost, rank_, "", "",
                    id.to_string() + " was freed: no reference to it was left"});
    }
  }
  Entry& e = it->second;
  if (auto t = e.token.lock()) return {std::move(t), false};
  auto token = std::make_shared<detail::RefToken>(id);
  e.token = token;
  const bool borrow = !owned(id) && !e.borrowing;
  if (borrow) e.borrowing = true;
  return {std::move(token), borrow};
}

ObjectStore::Released ObjectStore::release(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  Released r;
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.token.expired()) return r;
  Entry& e = it->second;
  if (owned(id)) {
    r.freed = free_if_unreferenced(it);
    return r;
  }
  r.tell_owner = e.borrowing;
  e.borrowing = false;
  // The decoded value may hold references of its own; they go with the last local reference.
  r.freed.decoded = std::move(e.decoded);
  e.decoded_tag = 0;
  if (e.primary || e.copy || !e.waiters.empty() || !e.on_finished.empty()) return r;
  Freed f = erase(it);
  r.freed.merge(std::move(f));
  return r;
}

ObjectStore::Freed ObjectStore::set_ready(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                                          TokenList contained, std::uint64_t reserved) {
  Wakeups w;
  Freed f;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      take_reserved(reserved);
      f.contained = std::move(contained);
      return f;  // nobody here wants it any more
    }
    Entry& e = it->second;
    set_bytes(e, std::move(bytes), tag, std::move(contained), reserved);
    if (owned(id)) add_location(e, rank_);
    collect(e, w, true);
    f = free_if_unreferenced(it);
  }
  w.run();
  return f;
}

ObjectStore::Freed ObjectStore::set_remote(const ObjectId& id, int location, std::uint64_t size,
                                           std::uint64_t tag, bool fetching) {
  Wakeups w;
  Freed f;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      if (owned(id)) f.tell.push_back(location);  // its result is not wanted
      return f;
    }
    Entry& e = it->second;
    // Bytes here (in memory or in this rank's spill file) stay the ones to read.
    if (e.state != State::ready && e.state != State::spilled) e.state = State::remote;
    e.location = location;
    e.size = size;
    e.tag = tag;
    e.resolving = false;
    if (fetching) e.fetching = true;
    if (owned(id)) add_location(e, location);
    collect(e, w, true);
    f = free_if_unreferenced(it);
  }
  w.run();
  return f;
}

ObjectStore::Freed ObjectStore::set_failed(const ObjectId& id,
                                           std::shared_ptr<const ErrorInfo> error) {
  Wakeups w;
  Freed f;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return f;
    Entry& e = it->second;
    e.state = State::failed;
    e.error = std::move(error);
    e.fetching = false;
    e.resolving = false;
    collect(e, w, true);
    if (e.restoring) {
      // A lost object whose restore was waiting for this decision: that restore is over.
      e.restoring = false;
      for (auto& cb : e.on_restored) w.callbacks.push_back(std::move(cb));
      e.on_restored.clear();
    }
    f = free_if_unreferenced(it);
  }
  w.run();
  return f;
}

void ObjectStore::store_primary(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                                TokenList contained, std::uint64_t reserved) {
  Wakeups w;
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id];
  // An entry here already holds an earlier result of the same task: this one is its rerun.
  set_bytes(e, std::move(bytes), tag, std::move(contained), reserved, /*rerun=*/true);
  e.primary = true;
  collect(e, w, true);  // a get here waiting for a rebuilt object
}

void ObjectStore::store_copy(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                             std::uint64_t reserved) {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      it = entries_.emplace(id, Entry{}).first;  // an argument fetched for a task
    }
    Entry& e = it->second;
    set_bytes(e, std::move(bytes), tag, {}, reserved);
    e.copy = !owned(id);
    collect(e, w, true);
  }
  w.run();
}

ObjectStore::Freed ObjectStore::set_view(const ObjectId& id, SharedBuffer bytes, std::uint64_t tag,
                                         int holder, bool create) {
  Wakeups w;
  Freed f;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      if (owned(id) || !create) return f;        // nobody here wants it any more
      it = entries_.emplace(id, Entry{}).first;  // an argument read for a task
    }
    Entry& e = it->second;
    if (e.bytes && e.view_of < 0) return f;  // bytes of its own came meanwhile: keep those
    // Not a location: the owner keeps sending readers to the holder, whose lease this is.
    set_bytes(e, std::move(bytes), tag, {}, 0, false, holder);
    collect(e, w, true);
    f = free_if_unreferenced(it);
    // A get's read that ended after its last reference went: the view ends here.
    if (!create && unwanted(it->first, e)) f.merge(erase(it));
  }
  w.run();
  return f;
}

void ObjectStore::end_view(const ObjectId& id, const SharedBuffer& bytes) {
  std::shared_ptr<const void> decoded;  // dropped after the lock: it may hold the last view
  SharedBuffer view;
  Freed f;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.view_of < 0 || e.bytes != bytes || e.state != State::ready) return;
  e.state = State::remote;
  e.location = e.view_of;
  e.view_of = -1;
  e.fetching = false;
  view = std::move(e.bytes);
  e.bytes.reset();
  decoded = std::move(e.decoded);
  e.decoded.reset();
  e.decoded_tag = 0;
  e.decoded_views = false;
  if (unwanted(it->first, e)) f = erase(it);
}

void ObjectStore::set_nodes(std::vector<int> node_of) {
  std::lock_guard lock(mutex_);
  nodes_ = std::move(node_of);
}

ObjectStore::Freed ObjectStore::free_copy(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || owned(id)) return {};
  Entry& e = it->second;
  e.primary = false;
  e.copy = false;
  if (e.token.expired() && e.waiters.empty() && e.on_finished.empty()) return erase(it);
  return {};
}

int ObjectStore::drop_location(const ObjectId& id, int rank) {
  Wakeups w;
  std::shared_ptr<const SpillSlot> slot;  // given back after the lock
  int left = -1;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !owned(id)) return -1;
    Entry& e = it->second;
    bool dropped = false;
    if (e.state != State::pending && e.state != State::failed) {
      if (rank == rank_) {
        slot = std::move(e.spill);
        e.spill.reset();
        dropped = e.state == State::spilled;
      }
      if (rank != rank_ || !e.bytes) {  // bytes still in memory here are not lost
        const auto before = e.locations.size();
        std::erase_if(e.locations, [rank](const Location& l) { return l.rank == rank; });
        dropped |= e.locations.size() != before;
      }
    }
    if (dropped) left = static_cast<int>(e.locations.size());
    if (left > 0 && !e.bytes) {
      // Readers go to the copies left; a get here starts a new fetch.
      e.state = State::remote;
      e.location = e.locations.front().rank;
      e.fetching = false;
    }
    // With no copy left the rebuild (or the final error) ends the restore; else it ends here.
    if (left != 0) {
      collect(e, w, false);
      if (e.restoring) end_restore(e, w);
    }
  }
  w.run();
  return left;
}

bool ObjectStore::lists_location(const ObjectId& id, int rank) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  // Only where drop_location would drop it (pending and failed objects have no copy to drop).
  if (it == entries_.end() || it->second.state == State::pending ||
      it->second.state == State::failed) {
    return false;
  }
  const auto& ls = it->second.locations;
  return std::any_of(ls.begin(), ls.end(), [rank](const Location& l) { return l.rank == rank; });
}

std::optional<std::vector<int>> ObjectStore::make_pending(const ObjectId& id) {
  Wakeups w;
  std::shared_ptr<const void> decoded;  // destroyed after the lock: it may hold references
  std::shared_ptr<const SpillSlot> slot;
  std::vector<int> readers;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.state == State::pending) return std::nullopt;
    Entry& e = it->second;
    bytes_ -= counted(e);
    if (e.spilling) spilling_bytes_ -= e.size;
    e.bytes.reset();
    e.view_of = -1;
    e.spilling = false;
    decoded = std::move(e.decoded);
    e.decoded.reset();
    e.decoded_tag = 0;
    e.decoded_views = false;
    slot = std::move(e.spill);
    e.spill.reset();
    e.state = State::pending;
    e.error.reset();
    e.restore_error.reset();
    e.location = -1;
    e.locations.clear();
    e.fetching = false;
    e.resolving = false;
    readers = std::move(e.queued_readers);
    e.queued_readers.clear();
    e.incoming_nodes.clear();
    collect(e, w, false);
    if (e.restoring) end_restore(e, w);
  }
  w.run();
  return readers;
}

ObjectStore::Freed ObjectStore::drop_copy(const ObjectId& id, bool* dropped) {
  Wakeups w;
  Freed f;
  *dropped = false;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end() || owned(id)) return f;
    Entry& e = it->second;
    if (!e.bytes && !e.spill && e.state != State::spilled) return f;
    *dropped = true;
    bytes_ -= counted(e);
    if (e.spilling) spilling_bytes_ -= e.size;
    e.bytes.reset();
    e.view_of = -1;
    e.spilling = false;
    f.decoded = std::move(e.decoded);
    e.decoded.reset();
    e.decoded_tag = 0;
    f.spill = std::move(e.spill);
    e.spill.reset();
    e.primary = false;
    e.copy = false;
    e.state = State::pending;
    e.location = -1;
    e.fetching = false;
    e.resolving = false;
    collect(e, w, false);
    if (e.restoring) end_restore(e, w);
    if (e.token.expired() && e.waiters.empty() && e.on_finished.empty() && !e.borrowing) {
      f.merge(erase(it));
    }
  }
  w.run();
  return f;
}

bool ObjectStore::add_borrower(const ObjectId& id, int rank) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  for (auto& [r, n] : it->second.borrowers) {
    if (r == rank) {
      ++n;
      return true;
    }
  }
  it->second.borrowers.emplace_back(rank, 1);
  return true;
}

ObjectStore::Freed ObjectStore::remove_borrower(const ObjectId& id, int rank) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  auto& b = it->second.borrowers;
  auto at = std::find_if(b.begin(), b.end(), [&](const auto& p) { return p.first == rank; });
  if (at == b.end()) {
    b.emplace_back(rank, -1);  // its registration is still on its way
  } else if (--at->second == 0) {
    b.erase(at);
  }
  return free_if_unreferenced(it);
}

ObjectStore::View ObjectStore::view(const ObjectId& id) const {
  std::lock_guard lock(mutex_);
  View v;
  auto it = entries_.find(id);
  if (it == entries_.end()) return v;
  const Entry& e = it->second;
  e.last_use = ++clock_;
  v.exists = true;
  v.state = e.state;
  v.spill = e.spill;
  v.bytes = e.bytes;
  v.tag = e.tag;
  v.size = e.size;
  v.location = e.location;
  v.error = e.error;
  v.decoded = e.decoded;
  v.decoded_tag = e.decoded_tag;
  v.cached_copy = e.copy;
  v.primary_copy = e.primary;
  v.neighbour_view = e.view_of >= 0;
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
  if (it == entries_.end()) return;
  auto& ws = it->second.waiters;
  if (std::find(ws.begin(), ws.end(), w) == ws.end()) ws.push_back(w);  // wait({a, a}) adds a once
}

void ObjectStore::remove_waiter(const ObjectId& id, Waiter* w) {
  Freed f;  // destroyed after the lock
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  std::erase(it->second.waiters, w);
  // The last reference went while this waiter kept the entry: nothing else ever removes it.
  if (unwanted(it->first, it->second)) f = erase(it);
}

bool ObjectStore::unwanted(const ObjectId& id, const Entry& e) const {
  return !owned(id) && e.token.expired() && e.waiters.empty() && e.on_finished.empty() &&
         !e.primary && !e.copy && !e.borrowing && !e.fetching && !e.resolving && !e.spilling &&
         !e.restoring && e.on_restored.empty() && !e.spill;
}

bool ObjectStore::holds_bytes(const Entry& e) {
  return e.state == State::ready || e.state == State::spilled;
}

bool ObjectStore::start_fetch(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.fetching || holds_bytes(it->second)) return false;
  it->second.fetching = true;
  return true;
}

bool ObjectStore::start_resolve(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.resolving || holds_bytes(it->second)) return false;
  it->second.resolving = true;
  return true;
}

void ObjectStore::end_resolve(const ObjectId& id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.resolving = false;
}

void ObjectStore::fetch_failed(const ObjectId& id, std::shared_ptr<const ErrorInfo> error) {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.fetching = false;
    e.resolving = false;
    e.state = State::failed;
    e.error = std::move(error);
    collect(e, w, true);
  }
  w.run();
}

void ObjectStore::cache_decoded(const ObjectId& id, std::uint64_t tag,
                                std::shared_ptr<const void> value, bool views_bytes) {
  std::shared_ptr<const void> old;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.state != State::ready) return;
  old = std::move(it->second.decoded);
  it->second.decoded = std::move(value);
  it->second.decoded_tag = tag;
  it->second.decoded_views = views_bytes;
}

void ObjectStore::stop() {
  Wakeups w;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    room_cv_.notify_all();
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

void ObjectStore::summarize(RankMemory& m, std::vector<ObjectSummary>& objects,
                            std::size_t max_objects) const {
  std::lock_guard lock(mutex_);
  m.objects = entries_.size();
  m.bytes = bytes_;
  m.capacity_bytes = capacity_;
  for (const auto& [id, e] : entries_) {
    const bool referenced = !e.token.expired();
    const bool pinned = counted(e) && (is_pinned(e) || e.spilling);
    const std::uint64_t here = counted(e);
    if (e.spill) {
      ++m.spilled_objects;
      m.spilled_bytes += e.size;
    }
    if (owned(id)) ++m.owned_objects;
    if (!owned(id) && referenced) ++m.borrowed_refs;
    if (e.primary) ++m.primary_copies;
    if (e.copy) ++m.cached_copies;
    if (referenced) m.in_use_bytes += here;
    if (pinned) {
      m.pinned_bytes += here;
    } else {
      m.spillable_bytes += here;
    }
    if (max_objects == 0) continue;
    ObjectSummary o;
    o.id = id;
    o.rank = rank_;
    o.size = e.size;
    o.role = owned(id)                   ? "owned"
             : e.primary                 ? "primary copy"
             : e.copy                    ? "cached copy"
             : e.bytes && e.view_of >= 0 ? "view"
                                         : "borrowed";
    if (e.bytes) o.viewing = e.view_of;
    o.state = state_name(e.state);
    o.referenced = referenced;
    o.pinned = pinned;
    for (const auto& [r, n] : e.borrowers) o.borrowers += n > 0;
    o.locations = static_cast<int>(e.locations.size());
    o.contained = static_cast<int>(e.contained.size());
    o.in_memory = counted(e) > 0;
    o.spilled = e.spill != nullptr;
    objects.push_back(std::move(o));
  }
  std::sort(objects.begin(), objects.end(),
            [](const ObjectSummary& a, const ObjectSummary& b) { return a.size > b.size; });
  if (objects.size() > max_objects) objects.resize(max_objects);
}

}  // namespace manta::engine
