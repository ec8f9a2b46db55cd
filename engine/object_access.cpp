#include "engine/object_access.h"

#include <sched.h>

#include <chrono>
#include <future>
#include <span>

#include <fmt/format.h>

#include "engine/local_scheduler.h"
#include "engine/object_transfer.h"
#include "engine/spill_manager.h"
#include "engine/text.h"

namespace manta::engine {

using Clock = std::chrono::steady_clock;

namespace {

std::optional<Clock::time_point> deadline_of(const detail::Timeout& t) {
  if (!t) return std::nullopt;
  return Clock::now() + *t;
}

/// A waiter registered with the store for some objects, and lent to the scheduler while a
/// worker waits. However the wait ends, an exception included, both let go of it.
struct WaitGuard {
  ObjectStore& store;
  LocalScheduler* sched;
  std::span<const ObjectId> ids;
  ObjectStore::Waiter waiter;
  bool registered = false;
  bool lent = false;

  WaitGuard(ObjectStore& s, LocalScheduler* l, std::span<const ObjectId> i)
      : store(s), sched(l), ids(i) {}
  ~WaitGuard() { release(); }

  void add() {
    registered = true;
    for (const auto& id : ids) store.add_waiter(id, &waiter);
  }
  void lend() {
    if (!sched || lent) return;
    sched->worker_blocked(&waiter, [w = &waiter] { w->notify(); });
    lent = true;
  }
  void release() {
    if (registered) {
      for (const auto& id : ids) store.remove_waiter(id, &waiter);
      registered = false;
    }
    if (lent) sched->worker_unblocked(&waiter);
    lent = false;
  }
  /// A wait polls before it sleeps (--manta-wait-spin-us, 1 ms): a reply from another rank can
  /// only be noticed by polling MPI, so a sleeper learns of it at the progress thread's next
  /// wake-up (that added about 300 µs to a 700 µs call). Yielding keeps the core available to
  /// the thread it awaits. While it polls it also drives the channel, so a reply is handled on
  /// this thread.
  bool spin(const std::optional<Clock::time_point>& deadline, std::chrono::microseconds span,
            const std::function<bool()>& poll) {
    const auto until = Clock::now() + span;
    while (!waiter.signaled.load(std::memory_order_acquire)) {
      const auto now = Clock::now();
      if (now >= until || (deadline && now >= *deadline)) return false;
      if (!poll || !poll()) sched_yield();
    }
    waiter.signaled.store(false, std::memory_order_relaxed);
    return true;
  }
  /// Sleeps until signaled; false when the deadline passed first.
  bool sleep(const std::optional<Clock::time_point>& deadline) {
    std::unique_lock lock(waiter.mutex);
    if (deadline) {
      if (!waiter.cv.wait_until(lock, *deadline, [&] { return waiter.signaled.load(); })) {
        return false;
      }
    } else {
      waiter.cv.wait(lock, [&] { return waiter.signaled.load(); });
    }
    waiter.signaled.store(false, std::memory_order_relaxed);
    return true;
  }
};

}  // namespace

std::shared_ptr<detail::RefToken> ObjectAccess::put(SharedBuffer bytes, std::uint64_t tag,
                                                    TokenList contained) {
  const std::uint64_t size = bytes->size();
  if (store_capacity() != 0 && size > store_capacity()) throw_larger_than_store("put", size, false);
  const ObjectStore::Room room = ctx_.store.reserve(size, ctx_.store_full_timeout());
  if (!room.ok) throw ObjectStoreFullError(ctx_.store_full_error(size, room, nullptr));
  ObjectId id{ctx_.rank, 0, ctx_.next_seq()};
  return ctx_.store.create_ready(id, std::move(bytes), tag, std::move(contained), size);
}

void ObjectAccess::throw_larger_than_store(const char* what, std::uint64_t bytes,
                                           bool at_least) const {
  const std::uint64_t capacity = store_capacity();
  ErrorInfo info = ctx_.make_error(
      ErrorKind::store_full, nullptr,
      fmt::format("object store full on rank {}: {} of {}{} bytes ({}) is larger than the whole "
                  "store ({} bytes, {}), so it fails at once; raise "
                  "--manta-object-store-memory above its size, or split it into smaller objects",
                  ctx_.rank, what, at_least ? "at least " : "", bytes, human_bytes(bytes), capacity,
                  human_bytes(capacity)));
  info.requested_bytes = bytes;
  info.capacity_bytes = capacity;
  throw ObjectStoreFullError(std::move(info));
}

void ObjectAccess::cache_decoded(const ObjectId& id, std::uint64_t tag,
                                 std::shared_ptr<const void> value, bool views_bytes) {
  ctx_.store.cache_decoded(id, tag, std::move(value), views_bytes);
}

[[noreturn]] void ObjectAccess::throw_if_stopped(const ObjectId& id) const {
  throw RuntimeStoppedError(
      ctx_.make_error(ErrorKind::shutdown, nullptr,
                      "the runtime is shutting down; " + id.to_string() + " will not arrive"));
}

std::optional<detail::StoredValue> ObjectAccess::read_past_store(const ObjectId& id,
                                                                 const ObjectStore::View& v,
                                                                 const ErrorInfo& no_room) {
  auto result =
      std::make_shared<std::promise<std::pair<SharedBuffer, std::shared_ptr<const ErrorInfo>>>>();
  auto future = result->get_future();
  transfer_.read_spilled(id, v, std::make_shared<const ErrorInfo>(no_room),
                         [result](SharedBuffer bytes, std::shared_ptr<const ErrorInfo> error) {
                           result->set_value({std::move(bytes), std::move(error)});
                         });
  auto [bytes, error] = future.get();
  if (error && error->kind == ErrorKind::object_lost) return std::nullopt;
  if (error) throw_error(*error);
  return detail::StoredValue{std::move(bytes), v.tag, nullptr, 0};
}

bool ObjectAccess::bring_here(const ObjectId& id, const ObjectStore::View& v,
                              LocalScheduler* sched) {
  ObjectStore& store = ctx_.store;
  if (v.state == ObjectStore::State::spilled) {
    ctx_.spill->restore(id);  // waiters wake when it is back in memory
  } else if (v.state == ObjectStore::State::remote) {
    if (store.start_fetch(id)) {
      if (id.owner == ctx_.rank) {
        auto a = store.assign_reader(id, ctx_.rank, /*may_queue=*/false);
        transfer_.pull_copy(id, a ? a->at : v.location, a.has_value());
      } else {
        transfer_.ask_owner(id, /*want_pull=*/true);  // the owner says which copy to read
      }
    }
  } else if (id.owner != ctx_.rank) {
    if (store.start_resolve(id)) transfer_.ask_owner(id, /*want_pull=*/true);
  } else if (sched && sched->run_inline(TaskId{id.owner, id.seq})) {
    return true;  // ran the task ourselves
  }
  return false;
}

detail::StoredValue ObjectAccess::get(const ObjectId& id, detail::Timeout timeout) {
  const auto deadline = deadline_of(timeout);
  LocalScheduler* sched =
      scheduler_ && LocalScheduler::current() == scheduler_ ? scheduler_ : nullptr;
  ObjectStore& store = ctx_.store;
  WaitGuard guard(store, sched, std::span<const ObjectId>(&id, 1));
  for (;;) {
    ObjectStore::View v = store.view(id);
    if (!v.exists) {
      throw ObjectLostError(ctx_.make_error(
          ErrorKind::object_lost, nullptr,
          id.to_string() +
              " is not known on this rank (its ObjectRef is empty or was not made by Manta)"));
    }
    if (v.state == ObjectStore::State::ready) {
      // A neighbour's bytes viewed in place stay leased only while the returned value lives.
      if (v.neighbour_view) store.end_view(id, v.bytes);
      return {std::move(v.bytes), v.tag, std::move(v.decoded), v.decoded_tag};
    }
    if (v.state == ObjectStore::State::failed) throw_error(*v.error);
    if (v.state == ObjectStore::State::spilled) {
      if (auto error = store.take_restore_error(id)) {
        // The store cannot make room for it: the caller gets it straight from the file.
        guard.release();
        if (auto value = read_past_store(id, v, *error)) return std::move(*value);
        continue;  // lost: rebuilt, read from another copy, or failed (the next look says)
      }
    }
    if (bring_here(id, v, sched)) continue;
    if (store.stopped()) throw_if_stopped(id);
    if (!guard.registered) {
      guard.add();
      continue;  // look again: it may have finished before we were registered
    }
    guard.lend();
    if (sched && sched->help(&guard.waiter)) continue;
    if (guard.spin(deadline, std::chrono::microseconds(ctx_.config.wait_spin_us), poll_)) continue;
    if (!guard.sleep(deadline)) {
      guard.release();
      throw GetTimeoutError(ctx_.make_error(
          ErrorKind::get_timeout, nullptr,
          fmt::format("{} was not ready within {} ms", id.to_string(),
                      std::chrono::duration_cast<std::chrono::milliseconds>(*timeout).count())));
    }
  }
}

std::vector<bool> ObjectAccess::wait(const std::vector<ObjectId>& ids, std::size_t num_ready,
                                     detail::Timeout timeout) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].valid()) {
      throw ObjectLostError(ctx_.make_error(
          ErrorKind::object_lost, nullptr,
          "wait: ref " + std::to_string(i + 1) + " of " + std::to_string(ids.size()) +
              " is an empty ObjectRef (default-constructed or moved from); it can never be ready"));
    }
  }
  const auto deadline = deadline_of(timeout);
  num_ready = std::min(num_ready, ids.size());
  LocalScheduler* sched =
      scheduler_ && LocalScheduler::current() == scheduler_ ? scheduler_ : nullptr;
  ObjectStore& store = ctx_.store;
  WaitGuard guard(store, sched, ids);
  std::vector<bool> ready(ids.size(), false);
  for (;;) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      ObjectStore::View v = store.view(ids[i]);
      ready[i] = v.exists && v.state != ObjectStore::State::pending;
      count += ready[i];
      if (!ready[i] && v.exists && ids[i].owner != ctx_.rank && store.start_resolve(ids[i])) {
        transfer_.ask_owner(ids[i], false);
      }
    }
    const bool timed_out = deadline && Clock::now() >= *deadline;
    if (count >= num_ready || timed_out || store.stopped()) break;
    if (!guard.registered) {
      guard.add();
      continue;
    }
    guard.lend();
    if (sched && sched->help(&guard.waiter)) continue;
    if (guard.spin(deadline, std::chrono::microseconds(ctx_.config.wait_spin_us), poll_)) continue;
    guard.sleep(deadline);
  }
  return ready;
}

}  // namespace manta::engine
