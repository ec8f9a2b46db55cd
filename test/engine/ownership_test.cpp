// Ownership over the fake outbox: a borrower's releases wait behind its unacknowledged
// registrations, and a borrower keeps an object alive on its owner.
#include <gtest/gtest.h>

#include <memory>

#include <manta/ids.h>

#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/result_batches.h"
#include "engine/task_manager.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using fakes::FakeRank;
using fakes::SentMessage;
using transport::WireWriter;

SharedBuffer bytes_of(std::size_t n) { return std::make_shared<const Buffer>(n); }

// One rank's ownership, and the task manager whose task_done also waits behind the gate.
struct Rank : FakeRank {
  Rank(int rank, int size) : FakeRank(rank, size) {
    ownership.register_handlers(dispatcher);
    tasks.register_handlers(dispatcher);
  }
  Ownership ownership{ctx};
  ObjectTransfer transfer{ctx, ownership, plane};
  ResultBatches results{outbox};
  TaskManager tasks{ctx, ownership, transfer, results, [](const TaskPtr&) {}};
};

ObjectId id_of(const SentMessage& m) { return m.reader().get<ObjectId>(); }

TEST(Ownership, FirstReferenceToAnObjectOwnedElsewhereRegistersOnce) {
  Rank rank(1, 3);
  const ObjectId id{0, 0, 5};
  auto token = rank.ownership.acquire(id);
  auto again = rank.ownership.acquire(id);
  EXPECT_EQ(token, again);  // one token per object per rank
  ASSERT_EQ(rank.outbox.count(MessageType::add_borrower), 1u);
  const auto add = rank.outbox.take(MessageType::add_borrower);
  EXPECT_EQ(add.dest, 0);
  EXPECT_EQ(id_of(add), id);
  // Its own objects need no registration.
  auto own = rank.ownership.acquire(ObjectId{1, 0, 6});
  EXPECT_EQ(rank.outbox.count(MessageType::add_borrower), 0u);
}

TEST(Ownership, ReleasesWaitForTheOwnersAcknowledgement) {
  Rank rank(1, 3);
  const ObjectId id{0, 0, 5};
  auto token = rank.ownership.acquire(id);
  ASSERT_EQ(rank.outbox.count(MessageType::add_borrower), 1u);

  // A task rank 0 submitted fails here, and the reference goes: both release what rank 0 kept
  // alive for this rank, so neither may overtake the registration.
  rank.tasks.fail(fakes::make_task(0, 9),
                  fakes::error_of(ErrorKind::task, "argument could not be decoded"));
  token.reset();
  rank.ownership.release(id);
  EXPECT_EQ(rank.outbox.count(MessageType::task_done), 0u);
  EXPECT_EQ(rank.outbox.count(MessageType::remove_borrower), 0u);
  EXPECT_EQ(rank.outbox.gated(), 2u);

  rank.outbox.clear();
  rank.deliver(0, [&](WireWriter& w) { w.put(MessageType::borrow_ack).put(id); });
  EXPECT_EQ(rank.outbox.gated(), 0u);
  const auto sent = rank.outbox.take_all();
  ASSERT_EQ(sent.size(), 2u);
  // In the order they were made.
  EXPECT_EQ(sent[0].type, MessageType::task_done);
  EXPECT_EQ(sent[0].dest, 0);
  EXPECT_EQ(sent[0].reader().get<TaskId>(), (TaskId{0, 9}));
  EXPECT_EQ(sent[1].type, MessageType::remove_borrower);
  EXPECT_EQ(sent[1].dest, 0);
  EXPECT_EQ(id_of(sent[1]), id);
}

TEST(Ownership, TheGateOpensOnlyWhenEveryRegistrationIsAcknowledged) {
  Rank rank(1, 3);
  const ObjectId a{0, 0, 5};
  const ObjectId b{2, 0, 7};
  auto ta = rank.ownership.acquire(a);
  auto tb = rank.ownership.acquire(b);
  ASSERT_EQ(rank.outbox.count(MessageType::add_borrower), 2u);
  ta.reset();
  rank.ownership.release(a);
  rank.deliver(0, [&](WireWriter& w) { w.put(MessageType::borrow_ack).put(a); });
  EXPECT_EQ(rank.outbox.count(MessageType::remove_borrower), 0u) << "b is still unacknowledged";
  rank.deliver(2, [&](WireWriter& w) { w.put(MessageType::borrow_ack).put(b); });
  ASSERT_EQ(rank.outbox.count(MessageType::remove_borrower), 1u);
  EXPECT_EQ(id_of(rank.outbox.take(MessageType::remove_borrower)), a);
  // With nothing unacknowledged, a release goes at once.
  tb.reset();
  rank.ownership.release(b);
  const auto rb = rank.outbox.pop(MessageType::remove_borrower);
  ASSERT_TRUE(rb);
  EXPECT_EQ(rb->dest, 2);
  EXPECT_EQ(id_of(*rb), b);
}

TEST(Ownership, ABorrowerKeepsTheObjectAliveOnItsOwner) {
  Rank owner(0, 3);
  const ObjectId id{0, 0, 11};
  auto token = owner.store.create_pending(id);
  owner.deliver(1, [&](WireWriter& w) { w.put(MessageType::add_borrower).put(id); });
  const auto ack = owner.outbox.pop(MessageType::borrow_ack);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->dest, 1);
  EXPECT_EQ(id_of(*ack), id);
  // Its task ran on rank 2, which holds the bytes.
  owner.ownership.apply_freed(id, owner.store.set_remote(id, 2, 4096, 3));

  token.reset();
  owner.ownership.release(id);
  EXPECT_TRUE(owner.store.view(id).exists) << "rank 1 still borrows it";
  EXPECT_EQ(owner.outbox.count(MessageType::free_object), 0u);

  owner.deliver(1, [&](WireWriter& w) { w.put(MessageType::remove_borrower).put(id); });
  EXPECT_FALSE(owner.store.view(id).exists);
  const auto free = owner.outbox.pop(MessageType::free_object);
  ASSERT_TRUE(free);
  EXPECT_EQ(free->dest, 2);
  EXPECT_EQ(id_of(*free), id);
}

TEST(Ownership, FreeObjectDropsTheCopyOnTheHolder) {
  Rank holder(2, 3);
  const ObjectId id{0, 0, 11};
  holder.store.store_primary(id, bytes_of(4096), 3, {});
  ASSERT_TRUE(holder.store.view(id).exists);
  holder.deliver(0, [&](WireWriter& w) { w.put(MessageType::free_object).put(id); });
  EXPECT_FALSE(holder.store.view(id).exists);
}

}  // namespace
}  // namespace manta::engine
