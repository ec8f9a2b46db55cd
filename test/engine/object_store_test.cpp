// ObjectStore: object states, waiters and callbacks, reference release, primary copies.
// Without a runtime a RefToken's destructor tells nobody, so the tests call release() themselves
// after dropping the last token, as the runtime does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/object_store.h"

namespace {

using manta::Buffer;
using manta::ErrorInfo;
using manta::ObjectId;
using manta::SharedBuffer;
using manta::engine::ObjectStore;
using State = ObjectStore::State;
using namespace std::chrono_literals;

constexpr int kSelf = 0;
constexpr std::uint64_t kTag = 0xABCD;

SharedBuffer bytes_of(std::size_t n, char fill = 'x') {
  Buffer b(n);
  std::memset(b.data(), fill, n);
  return std::make_shared<const Buffer>(std::move(b));
}

/// A thread blocked on a Waiter until it is signalled (or a generous timeout passes).
class BlockedThread {
 public:
  explicit BlockedThread(ObjectStore::Waiter& w)
      : thread_([this, &w] {
          started_.count_down();
          std::unique_lock lock(w.mutex);
          woken_ = w.cv.wait_for(lock, 10s, [&] { return static_cast<bool>(w.signaled); });
        }) {
    started_.wait();
  }
  /// Joins; true when the thread was woken by a signal, false when it timed out.
  bool join() {
    thread_.join();
    return woken_;
  }

 private:
  std::latch started_{1};
  bool woken_ = false;
  std::thread thread_;
};

TEST(ObjectStore, CreatePendingIsPendingWithNoBytes) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  ASSERT_NE(token, nullptr);
  EXPECT_EQ(token->id(), id);
  const auto v = store.view(id);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.state, State::pending);
  EXPECT_EQ(v.bytes, nullptr);
  EXPECT_EQ(store.stats().objects, 1u);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_FALSE(store.view(ObjectId{kSelf, 0, 2}).exists);
}

TEST(ObjectStore, SetReadyWakesWaitersAndRunsCallbacksOnce) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  int first = 0, second = 0;
  EXPECT_TRUE(store.when_finished(id, [&] { ++first; }));
  EXPECT_TRUE(store.when_finished(id, [&] { ++second; }));

  ObjectStore::Waiter w1, w2;
  store.add_waiter(id, &w1);
  store.add_waiter(id, &w2);
  BlockedThread t1(w1), t2(w2);

  const SharedBuffer data = bytes_of(100);
  EXPECT_EQ(store.set_ready(id, data, kTag), std::nullopt);
  EXPECT_TRUE(t1.join());
  EXPECT_TRUE(t2.join());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);

  const auto v = store.view(id);
  EXPECT_EQ(v.state, State::ready);
  EXPECT_EQ(v.bytes, data) << "the store shares the bytes, it does not copy them";
  EXPECT_EQ(v.tag, kTag);
  EXPECT_EQ(v.size, 100u);
  EXPECT_EQ(store.stats().bytes, 100u);

  // Callbacks do not run again on a later state change.
  store.set_ready(id, bytes_of(100), kTag);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  store.remove_waiter(id, &w1);
  store.remove_waiter(id, &w2);
}

TEST(ObjectStore, CallbacksRunOutsideTheStoreLock) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  State seen = State::pending;
  // A callback that uses the store would deadlock if it ran under the store's mutex.
  EXPECT_TRUE(store.when_finished(id, [&] { seen = store.view(id).state; }));
  store.set_ready(id, bytes_of(8), kTag);
  EXPECT_EQ(seen, State::ready);
}

TEST(ObjectStore, WhenFinishedOnFinishedOrUnknownObjectReturnsFalse) {
  ObjectStore store(kSelf);
  const ObjectId ready{kSelf, 0, 1};
  auto t1 = store.create_ready(ready, bytes_of(10), kTag);
  bool called = false;
  EXPECT_FALSE(store.when_finished(ready, [&] { called = true; }));
  EXPECT_FALSE(store.when_finished(ObjectId{kSelf, 0, 99}, [&] { called = true; }));

  const ObjectId failed{kSelf, 0, 2};
  auto t2 = store.create_pending(failed);
  store.set_failed(failed, std::make_shared<const ErrorInfo>());
  EXPECT_FALSE(store.when_finished(failed, [&] { called = true; }));
  EXPECT_FALSE(called);
}

TEST(ObjectStore, SetFailedRecordsErrorWakesWaitersRunsCallbacks) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  int called = 0;
  store.when_finished(id, [&] { ++called; });
  ObjectStore::Waiter w;
  store.add_waiter(id, &w);
  BlockedThread t(w);
  auto error = std::make_shared<const ErrorInfo>(
      ErrorInfo{manta::ErrorKind::task, 1, "f", "std::runtime_error", "boom"});
  store.set_failed(id, error);
  EXPECT_TRUE(t.join());
  EXPECT_EQ(called, 1);
  const auto v = store.view(id);
  EXPECT_EQ(v.state, State::failed);
  ASSERT_NE(v.error, nullptr);
  EXPECT_EQ(v.error->message, "boom");
  store.remove_waiter(id, &w);
}

TEST(ObjectStore, ReleasingLastTokenOnOwnerFreesTheEntry) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(1000), kTag);
  EXPECT_EQ(store.stats().bytes, 1000u);
  EXPECT_EQ(store.stats().objects, 1u);

  // While a token lives, release does nothing.
  EXPECT_EQ(store.release(id), std::nullopt);
  EXPECT_TRUE(store.view(id).exists);

  token.reset();
  EXPECT_EQ(store.release(id), std::nullopt) << "the bytes were here: nobody else to tell";
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.stats().objects, 0u);
  EXPECT_EQ(store.release(id), std::nullopt) << "releasing twice is harmless";
}

TEST(ObjectStore, ReleaseWhilePendingDropsEntryWhenResultArrives) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  token.reset();
  EXPECT_EQ(store.release(id), std::nullopt);
  EXPECT_TRUE(store.view(id).exists) << "kept until its task reports";
  EXPECT_EQ(store.view(id).state, State::pending);

  EXPECT_EQ(store.set_ready(id, bytes_of(500), kTag), std::nullopt);
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.stats().objects, 0u);
}

TEST(ObjectStore, ReleasedPendingEntryWithRemoteResultReturnsWhereToFree) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  token.reset();
  store.release(id);
  EXPECT_EQ(store.set_remote(id, 2, 1 << 20, kTag), std::optional<int>(2));
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, ReleasedPendingEntryThatFailsIsDropped) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  token.reset();
  store.release(id);
  store.set_failed(id, std::make_shared<const ErrorInfo>());
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, SetRemoteForAnOwnedObjectNobodyHoldsReturnsTheLocation) {
  ObjectStore store(kSelf);
  // The owner's entry is gone (all refs released and the entry dropped): the bytes on rank 3
  // must be freed.
  EXPECT_EQ(store.set_remote(ObjectId{kSelf, 0, 8}, 3, 4096, kTag), std::optional<int>(3));
  EXPECT_FALSE(store.view(ObjectId{kSelf, 0, 8}).exists);
  // Not this rank's object: not ours to free.
  EXPECT_EQ(store.set_remote(ObjectId{5, 0, 8}, 3, 4096, kTag), std::nullopt);
}

TEST(ObjectStore, RemoteObjectIsFreedWhereItLivesOnRelease) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  int called = 0;
  store.when_finished(id, [&] { ++called; });
  EXPECT_EQ(store.set_remote(id, 2, 1 << 20, kTag), std::nullopt) << "still referenced";
  EXPECT_EQ(called, 1);
  auto v = store.view(id);
  EXPECT_EQ(v.state, State::remote);
  EXPECT_EQ(v.location, 2);
  EXPECT_EQ(v.size, 1u << 20);
  EXPECT_EQ(v.tag, kTag);
  EXPECT_EQ(v.bytes, nullptr);
  EXPECT_EQ(store.stats().bytes, 0u) << "remote bytes do not count here";

  // A fetched copy counts while it is here.
  EXPECT_TRUE(store.start_fetch(id));
  EXPECT_FALSE(store.start_fetch(id)) << "one fetch at a time";
  store.set_ready(id, bytes_of(1 << 20), kTag);
  EXPECT_EQ(store.stats().bytes, 1u << 20);
  EXPECT_TRUE(store.start_fetch(id)) << "set_ready ends the fetch";

  token.reset();
  EXPECT_EQ(store.release(id), std::optional<int>(2));
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, BorrowerReleaseNeverFreesRemoteBytes) {
  ObjectStore store(kSelf);
  const ObjectId theirs{4, 0, 1};  // owned by rank 4
  auto token = store.acquire(theirs);
  store.set_remote(theirs, 2, 64, kTag);
  token.reset();
  EXPECT_EQ(store.release(theirs), std::nullopt) << "only the owner frees";
  EXPECT_FALSE(store.view(theirs).exists);
}

TEST(ObjectStore, StoreAndFreePrimaryCopies) {
  ObjectStore store(kSelf);
  const ObjectId id{1, 0, 9};  // a result this rank produced for rank 1
  store.store_primary(id, bytes_of(500), kTag);
  auto v = store.view(id);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.state, State::ready);
  EXPECT_EQ(v.size, 500u);
  EXPECT_EQ(v.tag, kTag);
  EXPECT_EQ(store.stats().bytes, 500u);
  store.free_primary(id);
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
  store.free_primary(id);  // unknown: nothing happens
  EXPECT_EQ(store.stats().objects, 0u);
}

TEST(ObjectStore, PrimaryCopyOutlivesLocalReferencesUntilFreed) {
  ObjectStore store(kSelf);
  const ObjectId id{1, 0, 9};
  store.store_primary(id, bytes_of(500), kTag);
  auto token = store.acquire(id);
  token.reset();
  EXPECT_EQ(store.release(id), std::nullopt);
  EXPECT_TRUE(store.view(id).exists) << "the owner has not freed it yet";
  store.free_primary(id);
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, FreedPrimaryStaysWhileReferencedHere) {
  ObjectStore store(kSelf);
  const ObjectId id{1, 0, 9};
  store.store_primary(id, bytes_of(500), kTag);
  auto token = store.acquire(id);
  store.free_primary(id);
  EXPECT_TRUE(store.view(id).exists);
  token.reset();
  store.release(id);
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, AcquireReturnsTheLiveToken) {
  ObjectStore store(kSelf);
  const ObjectId mine{kSelf, 0, 1};
  auto created = store.create_pending(mine);
  EXPECT_EQ(store.acquire(mine), created);

  const ObjectId theirs{3, 0, 1};
  auto a = store.acquire(theirs);
  auto b = store.acquire(theirs);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->id(), theirs);
  EXPECT_EQ(store.view(theirs).state, State::pending) << "a borrowed ref starts unresolved";
  EXPECT_TRUE(store.start_resolve(theirs));
  EXPECT_FALSE(store.start_resolve(theirs));

  std::weak_ptr<manta::detail::RefToken> old = a;
  a.reset();
  EXPECT_FALSE(old.expired());
  b.reset();
  EXPECT_TRUE(old.expired());
  auto c = store.acquire(theirs);  // entry not yet released: a fresh token for it
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->id(), theirs);
  EXPECT_EQ(store.acquire(theirs), c);
}

TEST(ObjectStore, ReleaseKeepsEntriesSomeoneWaitsFor) {
  ObjectStore store(kSelf);
  const ObjectId id{3, 0, 1};
  auto token = store.acquire(id);
  ObjectStore::Waiter w;
  store.add_waiter(id, &w);
  token.reset();
  store.release(id);
  EXPECT_TRUE(store.view(id).exists);
  store.remove_waiter(id, &w);
}

TEST(ObjectStore, FetchFailedMarksFailedAndWakes) {
  ObjectStore store(kSelf);
  const ObjectId id{3, 0, 1};
  auto token = store.acquire(id);
  store.set_remote(id, 2, 64, kTag);
  ASSERT_TRUE(store.start_fetch(id));
  ObjectStore::Waiter w;
  store.add_waiter(id, &w);
  BlockedThread t(w);
  store.fetch_failed(id, std::make_shared<const ErrorInfo>(
                             ErrorInfo{manta::ErrorKind::object_lost, 2, "", "", "gone"}));
  EXPECT_TRUE(t.join());
  const auto v = store.view(id);
  EXPECT_EQ(v.state, State::failed);
  ASSERT_NE(v.error, nullptr);
  EXPECT_EQ(v.error->kind, manta::ErrorKind::object_lost);
  EXPECT_TRUE(store.start_fetch(id)) << "a later get may try again";
  store.remove_waiter(id, &w);
}

TEST(ObjectStore, CacheDecodedOnlyForReadyObjects) {
  ObjectStore store(kSelf);
  const ObjectId pending{kSelf, 0, 1};
  const ObjectId ready{kSelf, 0, 2};
  auto t1 = store.create_pending(pending);
  auto t2 = store.create_ready(ready, bytes_of(4), kTag);
  auto value = std::make_shared<const int>(7);
  store.cache_decoded(pending, 11, value);
  store.cache_decoded(ready, 11, value);
  EXPECT_EQ(store.view(pending).decoded, nullptr);
  EXPECT_EQ(store.view(ready).decoded, value);
  EXPECT_EQ(store.view(ready).decoded_tag, 11u);
}

TEST(ObjectStore, StopWakesEveryWaiter) {
  ObjectStore store(kSelf);
  const ObjectId a{kSelf, 0, 1}, b{kSelf, 0, 2};
  auto ta = store.create_pending(a);
  auto tb = store.create_pending(b);
  ObjectStore::Waiter wa, wb;
  store.add_waiter(a, &wa);
  store.add_waiter(b, &wb);
  BlockedThread t1(wa), t2(wb);
  EXPECT_FALSE(store.stopped());
  store.stop();
  EXPECT_TRUE(t1.join());
  EXPECT_TRUE(t2.join());
  EXPECT_TRUE(store.stopped());
  EXPECT_EQ(store.view(a).state, State::pending);
  store.remove_waiter(a, &wa);
  store.remove_waiter(b, &wb);
}

TEST(ObjectStore, ByteCountFollowsReplacedValues) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_ready(id, bytes_of(100), kTag);
  store.set_ready(id, bytes_of(300), kTag);
  EXPECT_EQ(store.stats().bytes, 300u);
  auto other = store.create_ready(ObjectId{kSelf, 0, 2}, bytes_of(50), kTag);
  EXPECT_EQ(store.stats().bytes, 350u);
  EXPECT_EQ(store.stats().objects, 2u);
  token.reset();
  store.release(id);
  EXPECT_EQ(store.stats().bytes, 50u);
}

TEST(ObjectStore, ConcurrentWaitersAndProducers) {
  ObjectStore store(kSelf);
  constexpr int kObjects = 64;
  std::vector<std::shared_ptr<manta::detail::RefToken>> tokens;
  for (int i = 0; i < kObjects; ++i)
    tokens.push_back(store.create_pending(ObjectId{kSelf, 0, std::uint64_t(i)}));
  std::atomic<int> finished{0};
  for (int i = 0; i < kObjects; ++i) {
    ASSERT_TRUE(store.when_finished(ObjectId{kSelf, 0, std::uint64_t(i)}, [&] { ++finished; }));
  }
  std::thread producer([&] {
    for (int i = 0; i < kObjects; ++i) {
      store.set_ready(ObjectId{kSelf, 0, std::uint64_t(i)}, bytes_of(16), kTag);
    }
  });
  // Wait for the last object like a getter does: register, then look again, then block.
  const ObjectId last{kSelf, 0, kObjects - 1};
  ObjectStore::Waiter w;
  store.add_waiter(last, &w);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (store.view(last).state != State::ready) {
    std::unique_lock lock(w.mutex);
    if (!w.cv.wait_until(lock, deadline, [&] { return static_cast<bool>(w.signaled); })) break;
    w.signaled = false;
  }
  EXPECT_EQ(store.view(last).state, State::ready);
  producer.join();
  store.remove_waiter(last, &w);
  EXPECT_EQ(finished.load(), kObjects);
  EXPECT_EQ(store.stats().bytes, kObjects * 16u);
}

}  // namespace
