// The task manager: a failed task is retried through the resubmit callback while its options
// allow, then its return object fails; task_done and task_results messages make return objects
// ready, remote or failed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <manta/ids.h>

#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/result_batches.h"
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
  ResultBatches results{outbox};
  TaskManager tasks{ctx, ownership, transfer, results,
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

TEST(TaskManager, TaskResultsApplyEachResultOnItsOwn) {
  Rank rank(0, 3);
  std::vector<TaskPtr> tasks;
  std::vector<std::shared_ptr<detail::RefToken>> tokens;
  for (std::uint64_t seq = 20; seq < 24; ++seq) {
    tasks.push_back(make_task(0, seq));
    tokens.push_back(rank.store.create_pending(tasks.back()->return_object()));
    rank.tasks.keep(tasks.back());
  }
  const std::vector<std::byte> value{std::byte{9}};
  Buffer bodies;
  append_framed_body(bodies, [&](WireWriter& w) {
    w.put(tasks[0]->id).put(ResultKind::value).put<std::uint64_t>(5);
    w.bytes(value);
  });
  // A body cut short: it is dropped, and the results after it still count.
  append_framed_body(bodies, [&](WireWriter& w) {
    w.put(tasks[1]->id).put(ResultKind::value).put<std::uint64_t>(5);
  });
  append_framed_body(bodies, [&](WireWriter& w) {
    w.put(tasks[2]->id).put(ResultKind::failed);
    write_error(w, error_of(ErrorKind::task, "boom", 2));
  });
  append_framed_body(bodies, [&](WireWriter& w) {
    w.put(tasks[3]->id)
        .put(ResultKind::located)
        .put<std::uint64_t>(5)
        .put<std::int32_t>(2)
        .put<std::uint64_t>(1 << 20)
        .put<std::uint8_t>(0);
  });
  rank.deliver(2, [&](WireWriter& w) { write_task_results(w, 4, bodies.span()); });
  EXPECT_EQ(rank.store.view(tasks[0]->return_object()).state, ObjectStore::State::ready);
  EXPECT_EQ(rank.store.view(tasks[1]->return_object()).state, ObjectStore::State::pending);
  const auto failed = rank.store.view(tasks[2]->return_object());
  ASSERT_EQ(failed.state, ObjectStore::State::failed);
  EXPECT_EQ(failed.error->message, "boom");
  const auto located = rank.store.view(tasks[3]->return_object());
  EXPECT_EQ(located.state, ObjectStore::State::remote);
  EXPECT_EQ(located.size, 1u << 20);
}

TEST(TaskManager, AFailureForAnotherOwnerGoesWithTheResultsWaitingForIt) {
  Rank rank(1, 2);
  // A result of a task run here waits in rank 0's batch (more work is queued here).
  rank.results.add(
      0,
      [](WireWriter& w) {
        w.put(TaskId{0, 30}).put(ResultKind::value).put<std::uint64_t>(1);
        w.bytes({});
      },
      /*more_here=*/true);
  EXPECT_TRUE(rank.outbox.sent().empty());
  rank.tasks.fail(make_task(0, 31), error_of(ErrorKind::unschedulable, "no rank offers that"));
  const auto sent = rank.outbox.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, MessageType::task_results);
  auto r = sent[0].reader();
  const auto bodies = read_task_results(r);
  ASSERT_EQ(bodies.size(), 2u);
  transport::WireReader first(bodies[0]), second(bodies[1]);
  EXPECT_EQ(first.get<TaskId>(), (TaskId{0, 30}));
  EXPECT_EQ(second.get<TaskId>(), (TaskId{0, 31}));
  EXPECT_EQ(second.get<ResultKind>(), ResultKind::failed);
  EXPECT_EQ(read_error(second).kind, ErrorKind::unschedulable);
}

}  // namespace
}  // namespace manta::engine
