// The task manager: a failed task is retried through the resubmit callback while its options
// allow, then its return object fails; task_done messages make return objects ready or failed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <manta/ids.h>

#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/task_manager.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using fakes::error_of;
using fakes::FakeRank;
using fakes::make_task;
using transport::WireWriter;
using namespace std::chrono_literals;

struct Rank : FakeRank {
  Rank(int rank, int size) : FakeRank(rank, size) {
    ownership.register_handlers(dispatcher);
    transfer.register_handlers(dispatcher);
    tasks.register_handlers(dispatcher);
  }
  void task_failed(int from, const TaskId& id, const ErrorInfo& e) {
    deliver(from, [&](WireWriter& w) {
      w.put(MessageType::task_done).put(id).put(ResultKind::failed);
      write_error(w, e);
    });
  }
  Ownership ownership{ctx};
  ObjectTransfer transfer{ctx, ownership, plane};
  std::vector<TaskPtr> resubmitted;
  TaskManager tasks{ctx, ownership, transfer,
                    [this](const TaskPtr& t) { resubmitted.push_back(t); }};
};

TaskPtr retried_task(int max_retries) {
  TaskPtr t = make_task(0, 5);
  t->retry_exceptions = true;
  t->max_retries = max_retries;
  return t;
}

TEST(TaskManager, AFailedTaskIsRetriedUntilItsRetriesAreSpent) {
  Rank rank(0, 2);
  TaskPtr t = retried_task(2);
  auto token = rank.store.create_pending(t->return_object());
  for (int attempt = 1; attempt <= 2; ++attempt) {
    rank.tasks.keep(t);  // the submitter keeps it each time it sends it away
    rank.task_failed(1, t->id, error_of(ErrorKind::task, "boom " + std::to_string(attempt)));
    ASSERT_EQ(rank.resubmitted.size(), static_cast<std::size_t>(attempt));
    EXPECT_EQ(rank.resubmitted.back(), t);
    EXPECT_EQ(t->attempt, attempt);
    EXPECT_EQ(rank.store.view(t->return_object()).state, ObjectStore::State::pending)
        << "a retried task's object does not fail";
    EXPECT_EQ(rank.tasks.pending(), 0u);
  }
  rank.tasks.keep(t);
  rank.task_failed(1, t->id, error_of(ErrorKind::task, "boom 3"));
  EXPECT_EQ(rank.resubmitted.size(), 2u);
  const auto v = rank.store.view(t->return_object());
  ASSERT_EQ(v.state, ObjectStore::State::failed);
  EXPECT_EQ(v.error->kind, ErrorKind::task);
  EXPECT_EQ(v.error->message, "boom 3");
}

TEST(TaskManager, OnlyExceptionsOfTheTaskAreRetriedAndOnlyWhenAsked) {
  Rank rank(0, 2);
  TaskPtr lost = retried_task(3);
  auto t1 = rank.store.create_pending(lost->return_object());
  rank.tasks.keep(lost);
  rank.task_failed(1, lost->id, error_of(ErrorKind::object_lost, "argument gone"));
  EXPECT_TRUE(rank.resubmitted.empty());
  EXPECT_EQ(rank.store.view(lost->return_object()).state, ObjectStore::State::failed);

  TaskPtr plain = make_task(0, 6);
  plain->max_retries = 3;  // retry_exceptions not set
  auto t2 = rank.store.create_pending(plain->return_object());
  rank.tasks.keep(plain);
  rank.task_failed(1, plain->id, error_of(ErrorKind::task, "boom"));
  EXPECT_TRUE(rank.resubmitted.empty());
  EXPECT_EQ(rank.store.view(plain->return_object()).state, ObjectStore::State::failed);
}

TEST(TaskManager, NoRetriesOnceTheRankStops) {
  Rank rank(0, 2);
  TaskPtr t = retried_task(3);
  auto token = rank.store.create_pending(t->return_object());
  rank.ctx.stopping = true;
  EXPECT_FALSE(rank.tasks.retry(t, error_of(ErrorKind::task, "boom")));
  EXPECT_TRUE(rank.resubmitted.empty());
}

TEST(TaskManager, ARetryHereGivesBackTheRoomReservedForTheResult) {
  Rank rank(0, 2);
  rank.store.set_capacity(1000, 1000, nullptr);
  TaskPtr t = retried_task(1);
  auto token = rank.store.create_pending(t->return_object());
  ASSERT_TRUE(rank.store.reserve(600, 0ms).ok);
  rank.tasks.finish_here(
      t, nullptr, 0, std::make_shared<const ErrorInfo>(error_of(ErrorKind::task, "boom")), {}, 600);
  EXPECT_EQ(rank.resubmitted.size(), 1u);
  EXPECT_TRUE(rank.store.reserve(1000, 0ms).ok);
}

TEST(TaskManager, TaskDoneWithAValueMakesTheObjectReady) {
  Rank rank(0, 2);
  TaskPtr t = make_task(0, 7);
  auto token = rank.store.create_pending(t->return_object());
  rank.tasks.keep(t);
  const std::vector<std::byte> value{std::byte{1}, std::byte{2}, std::byte{3}};
  rank.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::task_done).put(t->id).put(ResultKind::value).put<std::uint64_t>(42);
    w.bytes(value);
  });
  const auto v = rank.store.view(t->return_object());
  ASSERT_EQ(v.state, ObjectStore::State::ready);
  EXPECT_EQ(v.tag, 42u);
  ASSERT_NE(v.bytes, nullptr);
  EXPECT_EQ(std::vector<std::byte>(v.bytes->span().begin(), v.bytes->span().end()), value);
  EXPECT_EQ(rank.tasks.pending(), 0u);
}

TEST(TaskManager, FailingATaskOwnedElsewhereTellsItsOwner) {
  Rank rank(1, 2);
  rank.tasks.fail(make_task(0, 8), error_of(ErrorKind::unschedulable, "no rank offers that"));
  const auto done = rank.outbox.pop(MessageType::task_done);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->dest, 0);
  auto r = done->reader();
  EXPECT_EQ(r.get<TaskId>(), (TaskId{0, 8}));
  EXPECT_EQ(r.get<ResultKind>(), ResultKind::failed);
  const ErrorInfo e = read_error(r);
  EXPECT_EQ(e.kind, ErrorKind::unschedulable);
  EXPECT_EQ(e.message, "no rank offers that");

  // Its own task fails here, without a message.
  TaskPtr own = make_task(1, 9);
  auto token = rank.store.create_pending(own->return_object());
  rank.tasks.fail(own, error_of(ErrorKind::unschedulable, "no rank offers that"));
  EXPECT_EQ(rank.store.view(own->return_object()).state, ObjectStore::State::failed);
  EXPECT_EQ(rank.outbox.count(MessageType::task_done), 0u);
}

}  // namespace
}  // namespace manta::engine
