// ObjectStore: object states, waiters and callbacks, reference release, primary and cached
// copies, distributed reference counts (borrowers, contained references), reader assignment
// over copies, and the memory summary.
// Without a runtime a RefToken's destructor tells nobody, so the tests call release() themselves
// after dropping the last token, as the runtime does.
#include <gtest/gtest.h>

#include <algorithm>
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
#include <manta/memory.h>

#include "engine/object_store.h"

namespace {

using manta::Buffer;
using manta::ErrorInfo;
using manta::ObjectId;
using manta::SharedBuffer;
using manta::engine::ObjectStore;
using manta::engine::TokenList;
using Freed = ObjectStore::Freed;
using State = ObjectStore::State;
using Token = std::shared_ptr<manta::detail::RefToken>;
using namespace std::chrono_literals;

constexpr int kSelf = 0;
constexpr std::uint64_t kTag = 0xABCD;

SharedBuffer bytes_of(std::size_t n, char fill = 'x') {
  Buffer b(n);
  std::memset(b.data(), fill, n);
  return std::make_shared<const Buffer>(std::move(b));
}

/// Nothing left to do after an object's end: no ranks to tell, no references to drop.
bool nothing(const Freed& f) { return f.tell.empty() && f.contained.empty() && !f.decoded; }

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
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
  EXPECT_TRUE(nothing(store.set_ready(id, data, kTag))) << "still referenced";
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
  auto r = store.release(id);
  EXPECT_FALSE(r.tell_owner);
  EXPECT_TRUE(nothing(r.freed));
  EXPECT_TRUE(store.view(id).exists);

  token.reset();
  r = store.release(id);
  EXPECT_FALSE(r.tell_owner) << "the owner registers with nobody";
  EXPECT_TRUE(nothing(r.freed)) << "the bytes were here: nobody else to tell";
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.stats().objects, 0u);
  r = store.release(id);
  EXPECT_FALSE(r.tell_owner);
  EXPECT_TRUE(nothing(r.freed)) << "releasing twice is harmless";
}

TEST(ObjectStore, ReleaseWhilePendingDropsEntryWhenResultArrives) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  token.reset();
  EXPECT_TRUE(nothing(store.release(id).freed));
  EXPECT_TRUE(store.view(id).exists) << "kept until its task reports";
  EXPECT_EQ(store.view(id).state, State::pending);

  EXPECT_TRUE(nothing(store.set_ready(id, bytes_of(500), kTag))) << "the bytes were only here";
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
  const Freed f = store.set_remote(id, 2, 1 << 20, kTag);
  EXPECT_EQ(f.tell, std::vector<int>{2});
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, ReleasedPendingEntryThatFailsIsDropped) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  token.reset();
  store.release(id);
  EXPECT_TRUE(nothing(store.set_failed(id, std::make_shared<const ErrorInfo>())));
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, SetRemoteForAnOwnedObjectNobodyHoldsReturnsTheLocation) {
  ObjectStore store(kSelf);
  // The owner's entry is gone (all refs released and the entry dropped): the bytes on rank 3
  // must be freed.
  EXPECT_EQ(store.set_remote(ObjectId{kSelf, 0, 8}, 3, 4096, kTag).tell, std::vector<int>{3});
  EXPECT_FALSE(store.view(ObjectId{kSelf, 0, 8}).exists);
  // Not this rank's object: not ours to free.
  EXPECT_TRUE(nothing(store.set_remote(ObjectId{5, 0, 8}, 3, 4096, kTag)));
  EXPECT_FALSE(store.view(ObjectId{5, 0, 8}).exists);
}

TEST(ObjectStore, RemoteObjectIsFreedWhereItLivesOnRelease) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  int called = 0;
  store.when_finished(id, [&] { ++called; });
  EXPECT_TRUE(nothing(store.set_remote(id, 2, 1 << 20, kTag))) << "still referenced";
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
  EXPECT_FALSE(store.start_fetch(id)) << "the bytes are here: nothing to fetch";

  token.reset();
  // Rank 2 holds the bytes, and so does this rank now: only rank 2 needs telling.
  EXPECT_EQ(store.release(id).freed.tell, std::vector<int>{2});
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, BorrowerReleaseNeverFreesRemoteBytes) {
  ObjectStore store(kSelf);
  const ObjectId theirs{4, 0, 1};  // owned by rank 4
  auto token = store.acquire(theirs).token;
  EXPECT_TRUE(nothing(store.set_remote(theirs, 2, 64, kTag)));
  token.reset();
  const auto r = store.release(theirs);
  EXPECT_TRUE(nothing(r.freed)) << "only the owner frees";
  EXPECT_TRUE(r.tell_owner) << "the owner learns this rank holds no more references";
  EXPECT_FALSE(store.view(theirs).exists);
}

TEST(ObjectStore, StoreAndFreePrimaryCopies) {
  ObjectStore store(kSelf);
  const ObjectId id{1, 0, 9};  // a result this rank produced for rank 1
  store.store_primary(id, bytes_of(500), kTag, {});
  auto v = store.view(id);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.state, State::ready);
  EXPECT_FALSE(v.cached_copy) << "a primary copy is the maker's, not a fetched one";
  EXPECT_EQ(v.size, 500u);
  EXPECT_EQ(v.tag, kTag);
  v = {};
  EXPECT_EQ(store.stats().bytes, 500u);
  EXPECT_TRUE(nothing(store.free_copy(id))) << "a copy tells nobody: the owner tracks locations";
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_TRUE(nothing(store.free_copy(id)));  // unknown: nothing happens
  EXPECT_EQ(store.stats().objects, 0u);
}

TEST(ObjectStore, PrimaryCopyOutlivesLocalReferencesUntilFreed) {
  ObjectStore store(kSelf);
  const ObjectId id{1, 0, 9};
  store.store_primary(id, bytes_of(500), kTag, {});
  auto token = store.acquire(id).token;
  token.reset();
  const auto r = store.release(id);
  EXPECT_TRUE(r.tell_owner);
  EXPECT_TRUE(nothing(r.freed));
  EXPECT_TRUE(store.view(id).exists) << "the owner has not freed it yet";
  EXPECT_EQ(store.view(id).state, State::ready);
  store.free_copy(id);
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, FreedPrimaryStaysWhileReferencedHere) {
  ObjectStore store(kSelf);
  const ObjectId id{1, 0, 9};
  store.store_primary(id, bytes_of(500), kTag, {});
  auto token = store.acquire(id).token;
  EXPECT_TRUE(nothing(store.free_copy(id)));
  EXPECT_TRUE(store.view(id).exists);
  EXPECT_EQ(store.view(id).state, State::ready) << "the bytes stay while a ref here reads them";
  token.reset();
  store.release(id);
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, AcquireReturnsTheLiveToken) {
  ObjectStore store(kSelf);
  const ObjectId mine{kSelf, 0, 1};
  auto created = store.create_pending(mine);
  const auto own = store.acquire(mine);
  EXPECT_EQ(own.token, created);
  EXPECT_FALSE(own.new_borrow) << "the owner borrows from nobody";

  const ObjectId theirs{3, 0, 1};
  auto first = store.acquire(theirs);
  auto second = store.acquire(theirs);
  EXPECT_TRUE(first.new_borrow);
  EXPECT_FALSE(second.new_borrow) << "one registration per rank while a token lives";
  auto a = std::move(first.token);
  auto b = std::move(second.token);
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
  // Entry not yet released: a fresh token for it, under the registration it still has.
  auto third = store.acquire(theirs);
  auto c = third.token;
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->id(), theirs);
  EXPECT_FALSE(third.new_borrow);
  EXPECT_EQ(store.acquire(theirs).token, c);
  // The release for the old token arrives late: the new token keeps the entry and registration.
  const auto r = store.release(theirs);
  EXPECT_FALSE(r.tell_owner);
  EXPECT_TRUE(store.view(theirs).exists);
}

TEST(ObjectStore, ReleaseKeepsEntriesSomeoneWaitsFor) {
  ObjectStore store(kSelf);
  const ObjectId id{3, 0, 1};
  auto token = store.acquire(id).token;
  ObjectStore::Waiter w;
  store.add_waiter(id, &w);
  token.reset();
  EXPECT_TRUE(store.release(id).tell_owner);
  EXPECT_TRUE(store.view(id).exists);
  store.remove_waiter(id, &w);
}

TEST(ObjectStore, FetchFailedMarksFailedAndWakes) {
  ObjectStore store(kSelf);
  const ObjectId id{3, 0, 1};
  auto token = store.acquire(id).token;
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

// ---------------------------------------------------------------------------------------------
// Owner side: borrowers and locations.

TEST(ObjectStore, BorrowerKeepsOwnedObjectAliveAndItsFreeTellsEveryCopy) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, 4096, kTag);  // the result stays on rank 3
  bool known = false;
  EXPECT_TRUE(store.reader_done(id, 4, -1, 4, &known).empty());  // rank 4 made a copy
  EXPECT_TRUE(known);
  EXPECT_TRUE(store.add_borrower(id, 2));

  token.reset();
  EXPECT_TRUE(nothing(store.release(id).freed)) << "rank 2 still refers to it";
  EXPECT_TRUE(store.view(id).exists);
  EXPECT_EQ(store.view(id).state, State::remote);

  const Freed f = store.remove_borrower(id, 2);
  EXPECT_EQ(sorted(f.tell), (std::vector<int>{3, 4}));
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_FALSE(store.add_borrower(id, 2)) << "a registration after the free finds nothing";
  EXPECT_TRUE(nothing(store.remove_borrower(id, 2)));
}

TEST(ObjectStore, FreeOfOwnedObjectHeldHereTellsOnlyOtherCopies) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(64), kTag);
  bool known = false;
  store.reader_done(id, 2, -1, 2, &known);
  store.reader_done(id, 2, -1, 2, &known);  // a location counts once
  token.reset();
  EXPECT_EQ(store.release(id).freed.tell, std::vector<int>{2});
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, BorrowerCountsArePerRank) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(8), kTag);
  EXPECT_TRUE(store.add_borrower(id, 2));
  EXPECT_TRUE(store.add_borrower(id, 2));  // rank 2 dropped and took references again
  EXPECT_TRUE(store.add_borrower(id, 3));
  token.reset();
  store.release(id);
  EXPECT_TRUE(nothing(store.remove_borrower(id, 2)));
  EXPECT_TRUE(nothing(store.remove_borrower(id, 3)));
  EXPECT_TRUE(store.view(id).exists) << "rank 2 has one registration left";
  store.remove_borrower(id, 2);
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, RemoveBeforeAddCancelsOut) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(8), kTag);
  // Rank 2's drop overtook its registration: -1 then +1 leaves nothing to wait for.
  EXPECT_TRUE(nothing(store.remove_borrower(id, 2)));
  EXPECT_TRUE(store.view(id).exists) << "the local token still holds it";
  EXPECT_TRUE(store.add_borrower(id, 2));
  EXPECT_TRUE(store.view(id).exists);
  token.reset();
  store.release(id);
  EXPECT_FALSE(store.view(id).exists) << "freed once the local token is gone";
}

TEST(ObjectStore, EarlyRemoveOfOneRankDoesNotCancelAnotherRanksBorrow) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(8), kTag);
  EXPECT_TRUE(store.add_borrower(id, 3));
  token.reset();
  store.release(id);
  // A single counter would reach zero here and free the object rank 3 still uses.
  EXPECT_TRUE(nothing(store.remove_borrower(id, 2)));
  EXPECT_TRUE(store.view(id).exists);
  EXPECT_TRUE(store.add_borrower(id, 2));
  EXPECT_TRUE(store.view(id).exists);
  store.remove_borrower(id, 3);
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, PendingOwnedObjectWaitsForItsResultEvenWithoutBorrowers) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.add_borrower(id, 2);
  token.reset();
  store.release(id);
  EXPECT_TRUE(nothing(store.remove_borrower(id, 2)));
  EXPECT_TRUE(store.view(id).exists) << "its task has not reported";
  EXPECT_EQ(store.set_remote(id, 5, 100, kTag).tell, std::vector<int>{5});
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, AcquireOfFreedOwnedObjectGivesFailedEntry) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 5};  // ours, but never made or already freed
  const auto a = store.acquire(id);
  ASSERT_NE(a.token, nullptr);
  EXPECT_FALSE(a.new_borrow);
  const auto v = store.view(id);
  ASSERT_TRUE(v.exists);
  EXPECT_EQ(v.state, State::failed) << "a pending entry would hang every get";
  ASSERT_NE(v.error, nullptr);
  EXPECT_EQ(v.error->kind, manta::ErrorKind::object_lost);
  EXPECT_EQ(v.error->rank, kSelf);
  EXPECT_FALSE(store.when_finished(id, [] {}));
}

TEST(ObjectStore, AcquireOfUnknownBorrowedObjectIsPending) {
  ObjectStore store(kSelf);
  const ObjectId id{2, 0, 5};  // rank 2's: it resolves it
  const auto a = store.acquire(id);
  EXPECT_TRUE(a.new_borrow);
  EXPECT_EQ(store.view(id).state, State::pending);
  EXPECT_EQ(store.view(id).error, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Contained references.

TEST(ObjectStore, ContainedReferenceLivesUntilOuterObjectIsFreed) {
  ObjectStore store(kSelf);
  const ObjectId inner{kSelf, 0, 1}, outer{kSelf, 0, 2};
  Token inner_token = store.create_ready(inner, bytes_of(16), kTag);
  std::weak_ptr<manta::detail::RefToken> inner_weak = inner_token;
  auto outer_token = store.create_ready(outer, bytes_of(16), kTag, {inner_token});
  inner_token.reset();
  EXPECT_FALSE(inner_weak.expired()) << "the outer object holds it";
  EXPECT_TRUE(nothing(store.release(inner).freed));
  EXPECT_TRUE(store.view(inner).exists);

  outer_token.reset();
  Freed f = store.release(outer).freed;
  EXPECT_FALSE(store.view(outer).exists);
  ASSERT_EQ(f.contained.size(), 1u);
  EXPECT_EQ(f.contained[0]->id(), inner);
  // The caller drops them outside the store's lock; only then may the inner object go.
  EXPECT_FALSE(inner_weak.expired());
  f.contained.clear();
  EXPECT_TRUE(inner_weak.expired());
  store.release(inner);
  EXPECT_FALSE(store.view(inner).exists);
  EXPECT_EQ(store.stats().objects, 0u);
}

TEST(ObjectStore, ReleasedPendingObjectIsFreedBySetReadyWithItsContainedRefs) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1}, inner{kSelf, 0, 2};
  Token inner_token = store.create_ready(inner, bytes_of(4), kTag);
  auto token = store.create_pending(id);
  token.reset();
  store.release(id);
  Freed f = store.set_ready(id, bytes_of(100), kTag, {inner_token});
  EXPECT_FALSE(store.view(id).exists) << "nobody wanted the result";
  ASSERT_EQ(f.contained.size(), 1u);
  EXPECT_EQ(f.contained[0], inner_token);
  EXPECT_EQ(store.stats().bytes, 4u);
}

TEST(ObjectStore, SetReadyOfUnknownObjectHandsBackItsContainedRefs) {
  ObjectStore store(kSelf);
  Token t = std::make_shared<manta::detail::RefToken>(ObjectId{4, 0, 1});
  const Freed f = store.set_ready(ObjectId{kSelf, 0, 9}, bytes_of(4), kTag, {t});
  EXPECT_EQ(f.contained, TokenList{t});
  EXPECT_EQ(store.stats().objects, 0u);
}

TEST(ObjectStore, PrimaryCopyKeepsContainedRefsUntilFreed) {
  ObjectStore store(1);
  const ObjectId id{0, 0, 9};  // a result rank 1 produced for rank 0
  Token inner = std::make_shared<manta::detail::RefToken>(ObjectId{1, 0, 3});
  std::weak_ptr<manta::detail::RefToken> weak = inner;
  store.store_primary(id, bytes_of(32), kTag, {inner});
  inner.reset();
  EXPECT_FALSE(weak.expired());
  Freed f = store.free_copy(id);
  EXPECT_TRUE(f.tell.empty());
  ASSERT_EQ(f.contained.size(), 1u);
  EXPECT_EQ(f.contained[0]->id(), (ObjectId{1, 0, 3}));
  f = {};
  EXPECT_TRUE(weak.expired());
}

TEST(ObjectStore, FreedMergeKeepsEverything) {
  Freed a, b;
  auto d1 = std::make_shared<const int>(1), d2 = std::make_shared<const int>(2);
  a.tell = {1};
  a.contained = {std::make_shared<manta::detail::RefToken>(ObjectId{1, 0, 1})};
  b.tell = {2, 3};
  b.contained = {std::make_shared<manta::detail::RefToken>(ObjectId{1, 0, 2})};
  b.decoded = d2;
  a.merge(std::move(b));
  EXPECT_EQ(a.tell, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(a.contained.size(), 2u);
  EXPECT_EQ(a.decoded, d2);
  Freed c;
  c.decoded = d1;
  a.merge(std::move(c));
  EXPECT_EQ(a.decoded, d2) << "a decoded value already there is kept";
}

// ---------------------------------------------------------------------------------------------
// Non-owner side: borrowing, cached and primary copies. The store is rank 1, objects rank 0's.

constexpr int kBorrower = 1;

TEST(ObjectStore, BorrowerRegistersOnceWhileATokenLives) {
  ObjectStore store(kBorrower);
  const ObjectId id{0, 0, 1};
  auto first = store.acquire(id);
  EXPECT_TRUE(first.new_borrow);
  auto second = store.acquire(id);
  EXPECT_FALSE(second.new_borrow);
  EXPECT_EQ(first.token, second.token);
  first = {};
  second = {};
  auto r = store.release(id);
  EXPECT_TRUE(r.tell_owner);
  EXPECT_TRUE(nothing(r.freed));
  EXPECT_FALSE(store.view(id).exists);
  r = store.release(id);
  EXPECT_FALSE(r.tell_owner) << "the owner is told once";
  // A later reference registers again.
  EXPECT_TRUE(store.acquire(id).new_borrow);
}

TEST(ObjectStore, CachedCopySurvivesReleaseUntilTheOwnerFreesIt) {
  ObjectStore store(kBorrower);
  const ObjectId id{0, 0, 1};
  auto a = store.acquire(id);
  ASSERT_TRUE(store.start_fetch(id));
  const SharedBuffer data = bytes_of(300);
  store.store_copy(id, data, kTag);
  EXPECT_FALSE(store.start_fetch(id)) << "the copy is here: nothing to fetch";
  EXPECT_EQ(store.view(id).bytes, data);
  EXPECT_TRUE(store.view(id).cached_copy);
  a = {};
  const auto r = store.release(id);
  EXPECT_TRUE(r.tell_owner);
  EXPECT_TRUE(nothing(r.freed));
  auto v = store.view(id);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.state, State::ready) << "kept as a location the owner knows";
  EXPECT_EQ(v.size, 300u);
  v = {};
  EXPECT_EQ(store.stats().bytes, 300u);

  // A new reference reads the copy, but must register with the owner again.
  auto again = store.acquire(id);
  EXPECT_TRUE(again.new_borrow);
  again = {};
  EXPECT_TRUE(store.release(id).tell_owner);

  EXPECT_TRUE(nothing(store.free_copy(id)));
  EXPECT_FALSE(store.view(id).exists);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.stats().objects, 0u);
}

// A get decides from a view taken before it acts; a pull may end in between. Asking the owner
// then would tell it that this rank, which it lists as holding a copy, has lost it: it drops the
// location, and its free never reaches the copy.
TEST(ObjectStore, NoFetchOrQuestionStartsOnceACopyLandedAfterTheCallersLook) {
  ObjectStore store(kBorrower);
  const ObjectId id{0, 0, 1};
  auto token = store.acquire(id).token;
  ASSERT_TRUE(store.start_resolve(id));
  EXPECT_TRUE(nothing(store.set_remote(id, 2, 300, kTag, /*fetching=*/true)));
  const auto seen = store.view(id);  // what a waiting get acts on
  ASSERT_EQ(seen.state, State::remote);
  store.store_copy(id, bytes_of(300), kTag);
  EXPECT_FALSE(store.start_fetch(id)) << "the copy is here";
  EXPECT_FALSE(store.start_resolve(id)) << "the copy is here";

  // The same once the copy is only in this rank's spill file.
  store.set_capacity(10000, 100, nullptr);
  ASSERT_EQ(store.take_spill_batch(300, 0).size(), 1u);
  store.spilled(
      {id}, {std::make_shared<const ObjectStore::SpillSlot>(ObjectStore::SpillSlot{0, 300, 1})});
  ASSERT_EQ(store.view(id).state, State::spilled);
  EXPECT_FALSE(store.start_fetch(id));
  EXPECT_FALSE(store.start_resolve(id));

  // Once the copy is gone, a get may ask again.
  bool dropped = false;
  store.drop_copy(id, &dropped);
  ASSERT_TRUE(dropped);
  EXPECT_TRUE(store.start_resolve(id));
}

TEST(ObjectStore, CachedCopyFetchedForATaskIsKeptWithoutAReference) {
  ObjectStore store(kBorrower);
  const ObjectId id{0, 0, 1};
  store.store_copy(id, bytes_of(10), kTag);
  EXPECT_EQ(store.view(id).state, State::ready);
  EXPECT_TRUE(store.view(id).cached_copy);
  store.free_copy(id);
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, FreedCachedCopyStaysWhileReferencedHere) {
  ObjectStore store(kBorrower);
  const ObjectId id{0, 0, 1};
  auto token = store.acquire(id).token;
  store.store_copy(id, bytes_of(10), kTag);
  EXPECT_TRUE(nothing(store.free_copy(id)));
  EXPECT_EQ(store.view(id).state, State::ready);
  token.reset();
  EXPECT_TRUE(store.release(id).tell_owner);
  EXPECT_FALSE(store.view(id).exists) << "no longer a copy: the last reference takes it";
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(ObjectStore, ReleaseHandsBackTheDecodedValueOfABorrowedObject) {
  ObjectStore store(kBorrower);
  const ObjectId id{0, 0, 1};
  auto token = store.acquire(id).token;
  store.store_copy(id, bytes_of(10), kTag);
  auto value = std::make_shared<const int>(7);
  store.cache_decoded(id, 11, value);
  token.reset();
  const auto r = store.release(id);
  // It may hold references of its own, so it goes with the last local reference.
  EXPECT_EQ(r.freed.decoded, value);
  const auto v = store.view(id);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.decoded, nullptr);
  EXPECT_EQ(v.decoded_tag, 0u);
}

TEST(ObjectStore, FreeCopyIgnoresOwnedObjects) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(10), kTag);
  EXPECT_TRUE(nothing(store.free_copy(id)));
  token.reset();
  EXPECT_TRUE(store.view(id).exists) << "only release frees an owned object";
  store.release(id);
  EXPECT_FALSE(store.view(id).exists);
}

// ---------------------------------------------------------------------------------------------
// Reader assignment over copies (owner side).

constexpr std::uint64_t kLarge = std::uint64_t{1} << 20;  // at the spreading threshold

TEST(ObjectStore, LargeObjectGetsOneReaderPerCopy) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, kLarge, kTag);

  const auto a1 = store.assign_reader(id, 1, true);
  ASSERT_TRUE(a1.has_value());
  EXPECT_EQ(a1->requester, 1);
  EXPECT_EQ(a1->at, 3);
  EXPECT_EQ(a1->size, kLarge);
  EXPECT_EQ(a1->tag, kTag);
  EXPECT_FALSE(store.assign_reader(id, 2, true).has_value()) << "rank 3 is busy: queued";

  // Rank 1 finished reading from 3 and now has a copy itself.
  bool known = false;
  const auto next = store.reader_done(id, 1, 3, 1, &known);
  EXPECT_TRUE(known);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].requester, 2);
  EXPECT_TRUE(next[0].at == 1 || next[0].at == 3) << next[0].at;
  EXPECT_EQ(next[0].size, kLarge);

  // The other copy is free: the next reader goes there, not onto rank 2's.
  const auto a3 = store.assign_reader(id, 4, true);
  ASSERT_TRUE(a3.has_value());
  EXPECT_TRUE(a3->at == 1 || a3->at == 3);
  EXPECT_NE(a3->at, next[0].at);
  EXPECT_FALSE(store.assign_reader(id, 5, true).has_value()) << "both copies busy";

  // Each finished read frees one copy for one queued reader.
  const auto after = store.reader_done(id, 4, a3->at, 4, &known);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].requester, 5);
  EXPECT_NE(after[0].at, next[0].at) << "rank " << next[0].at << " is still serving rank 2";
}

TEST(ObjectStore, NewCopyServesSeveralQueuedReaders) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, 4 * kLarge, kTag);
  ASSERT_TRUE(store.assign_reader(id, 1, true).has_value());
  EXPECT_FALSE(store.assign_reader(id, 2, true).has_value());
  EXPECT_FALSE(store.assign_reader(id, 4, true).has_value());
  bool known = false;
  const auto next = store.reader_done(id, 1, 3, 1, &known);
  ASSERT_EQ(next.size(), 2u) << "rank 3 and rank 1's new copy are both free";
  EXPECT_EQ(next[0].requester, 2) << "in the order they asked";
  EXPECT_EQ(next[1].requester, 4);
  EXPECT_NE(next[0].at, next[1].at);
  EXPECT_EQ(sorted({next[0].at, next[1].at}), (std::vector<int>{1, 3}));
}

TEST(ObjectStore, LargeObjectWithoutQueueingReadsTheLeastBusyCopy) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, kLarge, kTag);
  ASSERT_TRUE(store.assign_reader(id, 1, false).has_value());
  const auto a = store.assign_reader(id, kSelf, false);  // the owner's own get never waits
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->at, 3);
  bool known = false;
  EXPECT_TRUE(store.reader_done(id, -1, 3, -1, &known).empty()) << "nobody queued";
}

TEST(ObjectStore, SmallObjectsAreNeverQueued) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, kLarge - 1, kTag);
  for (int r : {1, 2, 4, 5}) {
    const auto a = store.assign_reader(id, r, true);
    ASSERT_TRUE(a.has_value()) << "reader " << r;
    EXPECT_EQ(a->at, 3);
    EXPECT_EQ(a->requester, r);
  }
}

TEST(ObjectStore, RequesterIsNeverAssignedToItself) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, 100, kTag);
  EXPECT_FALSE(store.assign_reader(id, 3, false).has_value()) << "its only location is itself";
  bool known = false;
  store.reader_done(id, 4, -1, 4, &known);  // rank 4 has a copy too
  for (int i = 0; i < 3; ++i) {
    const auto a = store.assign_reader(id, 4, true);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->at, 3);
  }
  // Large: rank 3 is busy, but rank 4 is no copy for rank 4 to read.
  const ObjectId big{kSelf, 0, 2};
  auto big_token = store.create_pending(big);
  store.set_remote(big, 3, kLarge, kTag);
  store.reader_done(big, 4, -1, 4, &known);
  const auto first = store.assign_reader(big, 4, true);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->at, 3);
  EXPECT_FALSE(store.assign_reader(big, 4, true).has_value());
  const auto next = store.reader_done(big, -1, 3, -1, &known);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].requester, 4);
  EXPECT_EQ(next[0].at, 3);
}

TEST(ObjectStore, AssignmentPrefersACopyOverTheFirstLocation) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(64), kTag);  // first location: this rank
  bool known = false;
  store.reader_done(id, 2, -1, 2, &known);
  const auto a = store.assign_reader(id, 5, true);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->at, 2) << "takes load off the owner";
  const auto b = store.assign_reader(id, 6, true);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->at, kSelf) << "fewest readers first";
}

TEST(ObjectStore, ReaderAssignmentOfUnknownObject) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  EXPECT_FALSE(store.assign_reader(id, 2, true).has_value());
  bool known = true;
  EXPECT_TRUE(store.reader_done(id, 2, 3, 2, &known).empty());
  EXPECT_FALSE(known) << "the caller tells the new copy to go";
  EXPECT_EQ(store.any_location(id), -1);
  EXPECT_FALSE(store.view(id).exists);
}

TEST(ObjectStore, AnyLocationCountsNoReader) {
  ObjectStore store(kSelf);
  const ObjectId here{kSelf, 0, 1};
  auto t1 = store.create_ready(here, bytes_of(8), kTag);
  EXPECT_EQ(store.any_location(here), kSelf);

  const ObjectId there{kSelf, 0, 2};
  auto t2 = store.create_pending(there);
  store.set_remote(there, 3, kLarge, kTag);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(store.any_location(there), 3);
  const auto a = store.assign_reader(there, 1, true);
  ASSERT_TRUE(a.has_value()) << "any_location left rank 3 free";
  EXPECT_EQ(a->at, 3);

  ObjectStore borrower(kBorrower);  // a copy on a non-owner is read where it is
  const ObjectId theirs{0, 0, 7};
  borrower.store_copy(theirs, bytes_of(8), kTag);
  EXPECT_EQ(borrower.any_location(theirs), kBorrower);
}

TEST(ObjectStore, QueuedReaderKeepsObjectUntilServed) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, kLarge, kTag);
  ASSERT_TRUE(store.assign_reader(id, 1, true).has_value());
  EXPECT_FALSE(store.assign_reader(id, 2, true).has_value());
  token.reset();
  EXPECT_TRUE(nothing(store.release(id).freed)) << "rank 2 waits for an answer";
  EXPECT_TRUE(store.view(id).exists);
  bool known = false;
  const auto next = store.reader_done(id, 1, 3, 1, &known);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].requester, 2);
}

// If the last reference goes while a reader is queued (the owner's token, or the queued rank's
// own remove_borrower after its get timed out), draining the queue frees the object.
TEST(ObjectStore, ObjectWhoseLastReferenceWentWhileReadersQueuedIsFreedOnceServed) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_pending(id);
  store.set_remote(id, 3, kLarge, kTag);
  store.add_borrower(id, 2);
  ASSERT_TRUE(store.assign_reader(id, 1, true).has_value());
  EXPECT_FALSE(store.assign_reader(id, 2, true).has_value());
  token.reset();
  store.release(id);
  // Rank 2's get timed out; it dropped its reference while still queued.
  EXPECT_TRUE(nothing(store.remove_borrower(id, 2)));
  bool known = false;
  const auto next = store.reader_done(id, 1, 3, 1, &known);
  // If rank 2 was still answered, its read fails (it no longer wants the object) and says so.
  for (const auto& a : next) store.reader_done(id, -1, a.at, -1, &known);
  EXPECT_FALSE(store.view(id).exists) << "nothing refers to it and nobody is queued";
  EXPECT_EQ(store.stats().objects, 0u);
}

// ---------------------------------------------------------------------------------------------
// Memory summary.

TEST(ObjectStore, SummarizeCountsRolesBytesAndReferences) {
  ObjectStore store(kSelf);
  const ObjectId a{kSelf, 0, 1}, b{kSelf, 0, 2}, c{kSelf, 0, 3};
  const ObjectId primary{1, 0, 1}, cached{2, 0, 1}, borrowed{1, 0, 2};
  Token inner = store.create_ready(ObjectId{kSelf, 0, 4}, bytes_of(10), kTag);
  auto ta = store.create_ready(a, bytes_of(3000), kTag, {inner});
  const SharedBuffer held = bytes_of(1000);  // e.g. a get view or a transfer outside the store
  auto tb = store.create_ready(b, held, kTag);
  auto tc = store.create_pending(c);
  store.store_primary(primary, bytes_of(2000), kTag, {});
  auto tcached = store.acquire(cached).token;
  store.store_copy(cached, bytes_of(500), kTag);
  auto tborrowed = store.acquire(borrowed).token;
  store.add_borrower(a, 2);
  store.add_borrower(a, 3);
  store.remove_borrower(a, 4);  // not yet registered: not a borrower
  bool known = false;
  store.reader_done(a, 5, -1, 5, &known);
  inner.reset();  // the inner object lives on through `a`
  store.release(ObjectId{kSelf, 0, 4});

  manta::RankMemory m;
  std::vector<manta::ObjectSummary> objects;
  store.summarize(m, objects, 3);
  EXPECT_EQ(m.objects, 7u);
  EXPECT_EQ(m.bytes, 3000u + 1000 + 2000 + 500 + 10);
  EXPECT_EQ(m.owned_objects, 4u);
  EXPECT_EQ(m.primary_copies, 1u);
  EXPECT_EQ(m.cached_copies, 1u);
  EXPECT_EQ(m.borrowed_refs, 2u) << "cached and borrowed are referenced here";
  EXPECT_EQ(m.in_use_bytes, 3000u + 1000 + 500 + 10) << "a contained ref refers to the inner one";
  EXPECT_EQ(m.pinned_bytes, 1000u);
  EXPECT_EQ(m.spillable_bytes, 3000u + 2000 + 500 + 10);

  ASSERT_EQ(objects.size(), 3u) << "capped at max_objects";
  EXPECT_EQ(objects[0].id, a);
  EXPECT_EQ(objects[0].size, 3000u);
  EXPECT_EQ(objects[0].rank, kSelf);
  EXPECT_EQ(objects[0].role, "owned");
  EXPECT_EQ(objects[0].state, "ready");
  EXPECT_TRUE(objects[0].referenced);
  EXPECT_FALSE(objects[0].pinned);
  EXPECT_EQ(objects[0].borrowers, 2);
  EXPECT_EQ(objects[0].locations, 2);
  EXPECT_EQ(objects[0].contained, 1);
  EXPECT_EQ(objects[1].id, primary);
  EXPECT_EQ(objects[1].role, "primary copy");
  EXPECT_FALSE(objects[1].referenced);
  EXPECT_EQ(objects[2].id, b);
  EXPECT_TRUE(objects[2].pinned);

  manta::RankMemory all;
  objects.clear();
  store.summarize(all, objects, 100);
  ASSERT_EQ(objects.size(), 7u);
  EXPECT_TRUE(std::is_sorted(objects.begin(), objects.end(), [](const auto& x, const auto& y) {
    return x.size > y.size;
  })) << "largest first";
  for (const auto& o : objects) {
    if (o.id == cached) {
      EXPECT_EQ(o.role, "cached copy");
    }
    if (o.id == borrowed) {
      EXPECT_EQ(o.role, "borrowed");
      EXPECT_EQ(o.state, "pending");
      EXPECT_EQ(o.size, 0u);
    }
    if (o.id == c) {
      EXPECT_EQ(o.state, "pending");
    }
  }

  manta::RankMemory totals_only;
  objects.clear();
  store.summarize(totals_only, objects, 0);
  EXPECT_TRUE(objects.empty());
  EXPECT_EQ(totals_only.objects, 7u);
  EXPECT_EQ(totals_only.pinned_bytes, 1000u);
}

TEST(ObjectStore, SummarizePinnedFollowsHoldersOutsideTheStore) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(100), kTag);
  auto pinned = [&] {
    manta::RankMemory m;
    std::vector<manta::ObjectSummary> objects;
    store.summarize(m, objects, 1);
    EXPECT_EQ(objects.size(), 1u);
    EXPECT_EQ(m.pinned_bytes + m.spillable_bytes, 100u);
    return m.pinned_bytes;
  };
  EXPECT_EQ(pinned(), 0u);
  {
    const auto v = store.view(id);  // a view holds the bytes
    EXPECT_EQ(pinned(), 100u);
  }
  EXPECT_EQ(pinned(), 0u);

  // A decoded value that views the bytes (as manta::Array does) is the store's own.
  {
    SharedBuffer viewed = store.view(id).bytes;
    store.cache_decoded(id, 11, std::make_shared<const SharedBuffer>(std::move(viewed)), true);
  }
  EXPECT_EQ(pinned(), 0u);
  {
    auto decoded = store.view(id).decoded;  // a getter holds the decoded value
    EXPECT_EQ(pinned(), 100u);
  }
  EXPECT_EQ(pinned(), 0u);
}

// Only a decoded value that views the store's memory (manta::Array) accounts for a holder of the
// bytes; with an ordinary one, any outside holder (a task's argument, a transfer) pins them.
TEST(ObjectStore, SummarizePinsBytesHeldOutsideWhenDecodedValueDoesNotViewThem) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(100), kTag);
  store.cache_decoded(id, 11, std::make_shared<const int>(7));  // holds no bytes
  const SharedBuffer outside = store.view(id).bytes;
  manta::RankMemory m;
  std::vector<manta::ObjectSummary> objects;
  store.summarize(m, objects, 1);
  EXPECT_EQ(m.pinned_bytes, 100u);
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_TRUE(objects[0].pinned);
}

TEST(ObjectStore, ConcurrentBorrowersBalanceOut) {
  ObjectStore store(kSelf);
  const ObjectId id{kSelf, 0, 1};
  auto token = store.create_ready(id, bytes_of(8), kTag);
  std::vector<std::thread> ranks;
  std::atomic<int> freed{0};
  for (int r = 1; r <= 8; ++r) {
    ranks.emplace_back([&, r] {
      for (int i = 0; i < 500; ++i) {
        // Half the drops overtake their registrations.
        if (i % 2) {
          store.add_borrower(id, r);
          if (!nothing(store.remove_borrower(id, r))) ++freed;
        } else {
          if (!nothing(store.remove_borrower(id, r))) ++freed;
          store.add_borrower(id, r);
        }
      }
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(freed.load(), 0) << "the local token held it throughout";
  EXPECT_TRUE(store.view(id).exists);
  token.reset();
  store.release(id);
  EXPECT_FALSE(store.view(id).exists);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Capacity, spilling and restore.
namespace {

ObjectId owned_id(std::uint64_t seq) { return ObjectId{0, 0, seq}; }

TEST(Capacity, ReserveFitsUntilFullThenFailsWithPinnedBytes) {
  ObjectStore store(0);
  store.set_capacity(1000, 800, nullptr);
  EXPECT_TRUE(store.reserve(600, 0ms).ok);
  Token t = store.create_ready(owned_id(1), bytes_of(600), 1, {}, 600);
  SharedBuffer pin = store.view(owned_id(1)).bytes;  // a get view: pinned
  EXPECT_FALSE(store.reserve(500, 0ms).ok);
  const auto start = std::chrono::steady_clock::now();
  ObjectStore::Room room = store.reserve(500, 100ms);
  EXPECT_FALSE(room.ok);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  EXPECT_EQ(room.capacity, 1000u);
  EXPECT_EQ(room.pinned, 600u);
  // Larger than the whole store: no waiting.
  EXPECT_FALSE(store.reserve(2000, 10s).ok);
  EXPECT_TRUE(store.reserve(400, 0ms).ok);
}

TEST(Capacity, PressureIsSignalledPastTheHighWaterMark) {
  ObjectStore store(0);
  int kicks = 0;
  store.set_capacity(1000, 500, [&] { ++kicks; });
  Token a = store.create_ready(owned_id(1), bytes_of(400), 1, {}, 0);
  EXPECT_EQ(kicks, 0);
  EXPECT_EQ(store.spill_needed(), 0u);
  Token b = store.create_ready(owned_id(2), bytes_of(300), 1, {}, 0);
  EXPECT_GE(kicks, 1);
  EXPECT_EQ(store.spill_needed(), 200u);
}

TEST(Capacity, SpillBatchTakesLeastRecentlyUsedUnpinnedObjects) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(100), 1, {}, 0);
  Token b = store.create_ready(owned_id(2), bytes_of(100), 1, {}, 0);
  Token c = store.create_ready(owned_id(3), bytes_of(100), 1, {}, 0);
  (void)store.view(owned_id(1));                     // a is now the most recently used
  SharedBuffer pin = store.view(owned_id(2)).bytes;  // b is pinned
  auto batch = store.take_spill_batch(100, 0);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].id, owned_id(3));
  // Being written: not taken twice; the bytes written count against the need.
  EXPECT_EQ(store.spill_needed(), 100u);
  auto next = store.take_spill_batch(100, 0);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].id, owned_id(1));
}

TEST(Capacity, SpilledObjectLeavesMemoryAndIsRestoredOnce) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300, 'q'), 7, {}, 0);
  auto batch = store.take_spill_batch(300, 0);
  ASSERT_EQ(batch.size(), 1u);
  batch.clear();
  auto slot = std::make_shared<const ObjectStore::SpillSlot>(ObjectStore::SpillSlot{4096, 300});
  store.spilled({owned_id(1)}, {slot});
  ObjectStore::View v = store.view(owned_id(1));
  EXPECT_EQ(v.state, State::spilled);
  EXPECT_EQ(v.bytes, nullptr);
  EXPECT_EQ(v.spill, slot);
  EXPECT_EQ(store.stats().bytes, 0u);
  bool called = false;
  EXPECT_TRUE(store.when_restored(owned_id(1), [&] { called = true; }));
  EXPECT_EQ(store.start_restore(owned_id(1)), slot);
  EXPECT_EQ(store.start_restore(owned_id(1)), nullptr);  // one restore at a time
  ASSERT_TRUE(store.reserve(300, 0ms).ok);
  store.restored(owned_id(1), bytes_of(300, 'q'), 300);
  EXPECT_TRUE(called);
  v = store.view(owned_id(1));
  EXPECT_EQ(v.state, State::ready);
  EXPECT_EQ(v.tag, 7u);
  EXPECT_EQ(v.spill, slot);  // still on disk: spilling it again costs no write
  EXPECT_EQ(store.stats().bytes, 300u);
  v = {};
  auto again = store.take_spill_batch(300, 0);
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(store.view(owned_id(1)).state, State::spilled);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(Capacity, WithNothingWritableOnlyObjectsInTheFileLeaveMemory) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300, 'a'), 1, {}, 0);
  Token b = store.create_ready(owned_id(2), bytes_of(300, 'b'), 1, {}, 0);
  auto batch = store.take_spill_batch(300, 0);  // a, the older, is written
  ASSERT_EQ(batch.size(), 1u);
  batch.clear();
  auto slot = std::make_shared<const ObjectStore::SpillSlot>(ObjectStore::SpillSlot{0, 300, 9});
  store.spilled({owned_id(1)}, {slot});
  ASSERT_EQ(store.start_restore(owned_id(1)), slot);
  ASSERT_TRUE(store.reserve(300, 0ms).ok);
  store.restored(owned_id(1), bytes_of(300, 'a'), 300);
  (void)store.view(owned_id(2));  // b is older now
  EXPECT_EQ(store.unwritten_bytes(), 300u);
  // The disk is full: b cannot be written, a can leave at once.
  EXPECT_TRUE(store.take_spill_batch(600, 0, /*written_only=*/true).empty());
  EXPECT_EQ(store.view(owned_id(1)).state, State::spilled);
  EXPECT_EQ(store.view(owned_id(2)).state, State::ready);
  EXPECT_EQ(store.stats().bytes, 300u);
  EXPECT_EQ(store.room_shortfall(), 0u);
}

// Two tasks here need the same object: one restores this rank's spilled copy, the other fetched
// it from its owner meanwhile. The read that ends after the transfer must still wake whoever
// waits for the restore, and leave the object free to be restored again.
TEST(Capacity, RestoreThatEndsAfterACopyArrivedStillWakesItsWaiters) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  const ObjectId id{1, 0, 5};  // owned by rank 1: a cached copy here
  store.store_copy(id, bytes_of(300, 'q'), 7, 0);
  ASSERT_EQ(store.take_spill_batch(300, 0).size(), 1u);
  auto slot = std::make_shared<const ObjectStore::SpillSlot>(ObjectStore::SpillSlot{0, 300});
  store.spilled({id}, {slot});
  ASSERT_EQ(store.view(id).state, State::spilled);
  bool called = false;
  ASSERT_TRUE(store.when_restored(id, [&] { called = true; }));
  ASSERT_EQ(store.start_restore(id), slot);
  ASSERT_TRUE(store.reserve(300, 0ms).ok);
  store.store_copy(id, bytes_of(300, 'q'), 7, 0);  // the transfer lands first
  store.restored(id, bytes_of(300, 'q'), 300);
  EXPECT_TRUE(called) << "the restore's waiter was dropped";
  EXPECT_EQ(store.view(id).state, State::ready);
  EXPECT_EQ(store.stats().bytes, 300u) << "the unneeded read kept its reservation";
  // Spilled again (the slot is still valid): a new restore can start.
  EXPECT_TRUE(store.take_spill_batch(300, 0).empty());
  ASSERT_EQ(store.view(id).state, State::spilled);
  EXPECT_EQ(store.start_restore(id), slot) << "the store still thinks a restore is under way";
}

// The same race where the read fails: the object is in memory, so nothing is lost.
TEST(Capacity, RestoreFailureAfterACopyArrivedKeepsTheCopy) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  const ObjectId id{1, 0, 6};
  store.store_copy(id, bytes_of(300, 'q'), 7, 0);
  ASSERT_EQ(store.take_spill_batch(300, 0).size(), 1u);
  store.spilled({id}, {std::make_shared<const ObjectStore::SpillSlot>()});
  bool called = false;
  ASSERT_TRUE(store.when_restored(id, [&] { called = true; }));
  ASSERT_NE(store.start_restore(id), nullptr);
  store.store_copy(id, bytes_of(300, 'q'), 7, 0);
  store.restore_failed(id, std::make_shared<const ErrorInfo>());
  EXPECT_TRUE(called);
  EXPECT_EQ(store.view(id).state, State::ready);
}

TEST(Capacity, PinnedWhileWrittenStaysInMemory) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300), 1, {}, 0);
  auto batch = store.take_spill_batch(300, 0);
  ASSERT_EQ(batch.size(), 1u);
  SharedBuffer reader = batch[0].bytes;  // someone took a view while it was written
  batch.clear();
  store.spilled({owned_id(1)}, {std::make_shared<const ObjectStore::SpillSlot>()});
  EXPECT_EQ(store.view(owned_id(1)).state, State::ready);
  EXPECT_EQ(store.stats().bytes, 300u);
}

TEST(Capacity, FailedWriteKeepsTheObjectInMemory) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300), 1, {}, 0);
  auto batch = store.take_spill_batch(300, 0);
  batch.clear();
  store.spilled({owned_id(1)}, {nullptr});
  ObjectStore::View v = store.view(owned_id(1));
  EXPECT_EQ(v.state, State::ready);
  EXPECT_EQ(v.spill, nullptr);
}

TEST(Capacity, QueuedReservationRunsWhenMemoryIsFreed) {
  ObjectStore store(0);
  store.set_capacity(1000, 800, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(900), 1, {}, 0);
  bool ran = false;
  store.reserve_async(500, [&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_GT(store.spill_needed(), 0u);  // the waiting request counts as demand
  a.reset();
  Freed f = store.release(owned_id(1)).freed;
  store.serve_reservations();
  EXPECT_TRUE(ran);
  store.unreserve(500);
}

TEST(Capacity, RestoreFailureFailsTheObjectAndWakesWaiters) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300), 1, {}, 0);
  auto batch = store.take_spill_batch(300, 0);
  batch.clear();
  store.spilled({owned_id(1)}, {std::make_shared<const ObjectStore::SpillSlot>()});
  bool called = false;
  ASSERT_TRUE(store.when_restored(owned_id(1), [&] { called = true; }));
  ASSERT_NE(store.start_restore(owned_id(1)), nullptr);
  store.restore_failed(owned_id(1), std::make_shared<const ErrorInfo>(ErrorInfo{
                                        manta::ErrorKind::object_lost, 0, "", "", "checksum"}));
  EXPECT_TRUE(called);
  ObjectStore::View v = store.view(owned_id(1));
  EXPECT_EQ(v.state, State::failed);
  EXPECT_EQ(v.error->message, "checksum");
}

TEST(Capacity, RestoreThatFindsNoRoomKeepsTheObjectOnDiskAndWakesEveryone) {
  ObjectStore store(0);
  store.set_capacity(10000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300), 1, {}, 0);
  auto batch = store.take_spill_batch(300, 0);
  batch.clear();
  auto slot = std::make_shared<const ObjectStore::SpillSlot>();
  store.spilled({owned_id(1)}, {slot});
  int called = 0;
  ASSERT_TRUE(store.when_restored(owned_id(1), [&] { ++called; }));
  ASSERT_NE(store.start_restore(owned_id(1)), nullptr);
  store.restore_gave_up(owned_id(1), std::make_shared<const ErrorInfo>(ErrorInfo{
                                         manta::ErrorKind::store_full, 0, "", "", "no room"}));
  EXPECT_EQ(called, 1);  // a task waiting for its argument looks again
  EXPECT_EQ(store.view(owned_id(1)).state, State::spilled);
  EXPECT_EQ(store.view(owned_id(1)).spill, slot);
  auto error = store.take_restore_error(owned_id(1));
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->message, "no room");
  EXPECT_EQ(store.take_restore_error(owned_id(1)), nullptr);  // reported once
  EXPECT_NE(store.start_restore(owned_id(1)), nullptr);       // a later get may try again
}

TEST(Capacity, SummaryCountsSpilledObjectsAndCapacity) {
  ObjectStore store(0);
  store.set_capacity(5000, 100, nullptr);
  Token a = store.create_ready(owned_id(1), bytes_of(300), 1, {}, 0);
  Token b = store.create_ready(owned_id(2), bytes_of(200), 1, {}, 0);
  auto batch = store.take_spill_batch(300, 0);
  ASSERT_EQ(batch.size(), 1u);
  const ObjectId spilled_id = batch[0].id;
  batch.clear();
  store.spilled({spilled_id}, {std::make_shared<const ObjectStore::SpillSlot>()});
  manta::RankMemory m;
  std::vector<manta::ObjectSummary> objects;
  store.summarize(m, objects, 10);
  EXPECT_EQ(m.capacity_bytes, 5000u);
  EXPECT_EQ(m.spilled_objects, 1u);
  EXPECT_EQ(m.spilled_bytes, 300u);
  EXPECT_EQ(m.bytes, 200u);
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0].state, "spilled");
  EXPECT_TRUE(objects[0].spilled);
  EXPECT_FALSE(objects[0].in_memory);
}

}  // namespace
