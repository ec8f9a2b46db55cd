// The submitter over the fakes: a task runs here while this rank can take it, goes to rank 0
// when the local queue is long or the rank lacks what it asks for, goes straight to the rank
// on_rank names, and fails as unschedulable when nothing can run it. A failed input fails its
// dependents with the same cause, down the chain.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <manta/ids.h>

#include "engine/global_scheduler.h"
#include "engine/local_scheduler.h"
#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/result_batches.h"
#include "engine/submitter.h"
#include "engine/task_manager.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using fakes::error_of;
using fakes::FakeRank;
using fakes::make_task;
using fakes::SentMessage;
using transport::WireWriter;

// Three ranks of 2 CPUs; rank 2 also has a GPU.
std::vector<ResourceSet> three_ranks() {
  std::vector<ResourceSet> t(3, ResourceSet::cpus(2));
  t[2].set("GPU", 1);
  return t;
}

ResourceSet gpus(double n) {
  ResourceSet r = ResourceSet::cpus(1);
  r.set("GPU", n);
  return r;
}

// One rank's submitter and the parts it places through. Nothing runs: run_here and route_call
// only record, and the local scheduler is never started.
struct Rank : FakeRank {
  Rank(int rank, std::vector<ResourceSet> offered, int forward_threshold = 0, bool leases = true)
      : FakeRank(rank, static_cast<int>(offered.size())), totals(std::move(offered)) {
    config.forward_threshold = forward_threshold;
    config.leases = leases;
    local = std::make_unique<LocalScheduler>(totals[static_cast<std::size_t>(rank)], 1, 1,
                                             [](const TaskPtr&) { ADD_FAILURE() << "ran a task"; });
    if (rank == 0) {
      global = std::make_unique<GlobalScheduler>(totals, 10, [this](RankLoad& r0) {
        r0.queued = local->queued();
        r0.available = local->available();
      });
      global->register_handlers(dispatcher);
    }
    submitter = std::make_unique<Submitter>(
        ctx, totals, tasks, transfer, *local, global.get(),
        Submitter::Hooks{[this](const TaskPtr& t) { ran_here.push_back(t); },
                         [this](const TaskPtr& t) { routed.push_back(t); }});
    ownership.register_handlers(dispatcher);
    transfer.register_handlers(dispatcher);
    tasks.register_handlers(dispatcher);
    submitter->register_handlers(dispatcher);
  }

  /// Takes every CPU and queues `n` tasks behind them (none fits, so no worker is started).
  void busy(int n) {
    local->reserve(local->total());
    for (int i = 0; i < n; ++i)
      local->enqueue(make_task(ctx.rank, 1000 + static_cast<std::uint64_t>(i)));
  }

  /// A task of this rank with its return object made, as submit() makes it.
  TaskPtr task(ResourceSet resources = ResourceSet::cpus(1)) {
    TaskPtr t = make_task(ctx.rank, ctx.next_seq(), std::move(resources));
    tokens.push_back(store.create_pending(t->return_object()));
    return t;
  }

  std::vector<ResourceSet> totals;
  Ownership ownership{ctx};
  ObjectTransfer transfer{ctx, ownership, plane};
  std::vector<TaskPtr> resubmitted;
  ResultBatches results{outbox};
  TaskManager tasks{ctx, ownership, transfer, results,
                    [this](const TaskPtr& t) { resubmitted.push_back(t); }};
  std::unique_ptr<LocalScheduler> local;
  std::unique_ptr<GlobalScheduler> global;
  std::unique_ptr<Submitter> submitter;
  std::vector<TaskPtr> ran_here;
  std::vector<TaskPtr> routed;
  std::vector<std::shared_ptr<detail::RefToken>> tokens;
};

TaskPtr task_in(const SentMessage& m) {
  TaskMessage tm(m.bytes);
  return read_task(tm.reader, tm.bytes);
}

std::shared_ptr<const ErrorInfo> failure(const Rank& rank, const TaskPtr& t) {
  const auto v = rank.store.view(t->return_object());
  EXPECT_EQ(v.state, ObjectStore::State::failed);
  return v.error;
}

TEST(Submitter, RunsHereWhileThisRankCanStartIt) {
  Rank rank(1, three_ranks());
  TaskPtr t = rank.task();
  rank.submitter->place(t);
  ASSERT_EQ(rank.ran_here.size(), 1u);
  EXPECT_EQ(rank.ran_here[0], t);
  EXPECT_TRUE(rank.outbox.sent().empty()) << "the hot path sends nothing";
}

TEST(Submitter, WaitsHereBehindAShortQueue) {
  Rank rank(1, three_ranks(), /*forward_threshold=*/2);
  rank.busy(1);
  rank.submitter->place(rank.task());
  EXPECT_EQ(rank.ran_here.size(), 1u);
  EXPECT_TRUE(rank.outbox.sent().empty());
}

TEST(Submitter, AsksRankZeroForALeaseWhenTheLocalQueueIsLong) {
  Rank rank(1, three_ranks(), /*forward_threshold=*/2);
  rank.busy(2);
  TaskPtr t = rank.task();
  rank.submitter->place(t);
  // No lease yet: the task waits here, and rank 0 hears one request, not the task.
  ASSERT_EQ(rank.ran_here.size(), 1u);
  EXPECT_EQ(rank.ran_here[0], t);
  EXPECT_EQ(rank.outbox.count(MessageType::forward_task), 0u);
  const auto ask = rank.outbox.pop(MessageType::lease_request);
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->dest, 0);
  // The next task past the threshold asks nothing more: one request per shape is out.
  rank.submitter->place(rank.task());
  EXPECT_EQ(rank.outbox.count(MessageType::lease_request), 0u);
}

TEST(Submitter, ForwardsToRankZeroWhenTheLocalQueueIsLongWithLeasesOff) {
  Rank rank(1, three_ranks(), /*forward_threshold=*/2, /*leases=*/false);
  rank.busy(2);
  TaskPtr t = rank.task();
  rank.submitter->place(t);
  EXPECT_TRUE(rank.ran_here.empty());
  const auto fwd = rank.outbox.pop(MessageType::forward_task);
  ASSERT_TRUE(fwd);
  EXPECT_EQ(fwd->dest, 0);
  EXPECT_EQ(task_in(*fwd)->id, t->id);
  EXPECT_EQ(rank.tasks.pending(), 1u) << "kept for its result";
  EXPECT_EQ(rank.submitter->forwarded(), 1u);
}

TEST(Submitter, ForwardsWhatThisRankDoesNotOffer) {
  Rank rank(1, three_ranks());
  TaskPtr t = rank.task(gpus(1));
  rank.submitter->place(t);
  EXPECT_TRUE(rank.ran_here.empty());
  const auto fwd = rank.outbox.pop(MessageType::forward_task);
  ASSERT_TRUE(fwd);
  EXPECT_EQ(fwd->dest, 0);
  EXPECT_EQ(task_in(*fwd)->resources->get("GPU"), 1.0);
}

TEST(Submitter, ASpillHintHandsWaitingTasksOnAndLeavesCreditWithLeasesOff) {
  Rank rank(1, three_ranks(), /*forward_threshold=*/100, /*leases=*/false);
  rank.busy(2);
  rank.deliver(0, [](WireWriter& w) { w.put(MessageType::spill_hint).put<std::uint64_t>(3); });
  EXPECT_EQ(rank.outbox.count(MessageType::forward_task), 2u);
  EXPECT_EQ(rank.local->queued(), 0u);
  // One slot elsewhere is left: a task that would wait here goes there instead.
  rank.outbox.clear();
  TaskPtr t = rank.task();
  rank.submitter->place(t);
  EXPECT_TRUE(rank.ran_here.empty());
  ASSERT_EQ(rank.outbox.count(MessageType::forward_task), 1u);
  EXPECT_EQ(task_in(rank.outbox.take(MessageType::forward_task))->hand_ons, 1);
  EXPECT_EQ(rank.submitter->handed_on(), 3u);
  // The credit is spent: the next one waits here.
  rank.submitter->place(rank.task());
  EXPECT_EQ(rank.ran_here.size(), 1u);
}

TEST(Submitter, WhatNoRankOffersFailsAsUnschedulable) {
  Rank rank(1, three_ranks());
  TaskPtr t = rank.task(gpus(5));
  rank.submitter->place(t);
  const auto e = failure(rank, t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, ErrorKind::unschedulable);
  EXPECT_NE(e->message.find("no rank offers that"), std::string::npos) << e->message;
  EXPECT_TRUE(rank.outbox.sent().empty());
}

TEST(Submitter, OnRankOutOfRangeFailsNamingTheRankCount) {
  Rank rank(1, three_ranks());
  TaskPtr t = rank.task();
  t->on_rank = 7;
  rank.submitter->place(t);
  const auto e = failure(rank, t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, ErrorKind::unschedulable);
  EXPECT_NE(e->message.find("on_rank(7)"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("the job has 3 ranks"), std::string::npos) << e->message;
  EXPECT_TRUE(rank.ran_here.empty());
}

TEST(Submitter, OnRankSendsTheTaskStraightToThatRank) {
  Rank rank(1, three_ranks());
  TaskPtr t = rank.task();
  t->on_rank = 2;
  rank.submitter->place(t);
  const auto sent = rank.outbox.pop(MessageType::submit_task);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->dest, 2);
  const TaskPtr got = task_in(*sent);
  EXPECT_EQ(got->id, t->id);
  EXPECT_EQ(got->on_rank, 2);
  EXPECT_EQ(rank.tasks.pending(), 1u);
  EXPECT_EQ(rank.outbox.count(MessageType::forward_task), 0u) << "rank 0 is not asked";

  TaskPtr here = rank.task();
  here->on_rank = 1;
  rank.submitter->place(here);
  ASSERT_EQ(rank.ran_here.size(), 1u);
  EXPECT_EQ(rank.ran_here[0], here);

  TaskPtr too_big = rank.task(gpus(1));
  too_big->on_rank = 1;
  rank.submitter->place(too_big);
  const auto e = failure(rank, too_big);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("on_rank(1) asks for"), std::string::npos) << e->message;
}

TEST(Submitter, RankZeroPlacesAForwardedTaskByTheLoadItSees) {
  Rank rank(0, three_ranks());
  rank.busy(0);  // rank 0's CPUs are taken
  rank.deliver(1, [](WireWriter& w) {
    w.put(MessageType::load_report).put<std::uint64_t>(5).put<std::uint64_t>(0);
    write_resources(w, ResourceSet::cpus(0));
  });
  TaskPtr t = make_task(1, 40);
  rank.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::forward_task);
    write_task(w, *t, rank.config.inline_limit, 1);
  });
  const auto sent = rank.outbox.pop(MessageType::submit_task);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->dest, 2);
  EXPECT_EQ(task_in(*sent)->id, t->id);
  EXPECT_EQ(rank.tasks.pending(), 0u) << "rank 1 owns it, not rank 0";

  // A forwarded task no rank offers fails at its owner.
  TaskPtr gpu = make_task(1, 41, gpus(5));
  rank.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::forward_task);
    write_task(w, *gpu, rank.config.inline_limit, 1);
  });
  const auto done = rank.outbox.pop(MessageType::task_done);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->dest, 1);
  auto r = done->reader();
  EXPECT_EQ(r.get<TaskId>(), gpu->id);
  EXPECT_EQ(r.get<ResultKind>(), ResultKind::failed);
  EXPECT_EQ(read_error(r).kind, ErrorKind::unschedulable);
}

// Rank 0 of 3 CPUs (the others as in three_ranks()). Then 2 CPUs held by an actor (so 1 CPU
// works through the queue) and two tasks of 2 CPUs waiting: a task of 2 CPUs cannot start, and
// is past a threshold of 2.
std::vector<ResourceSet> three_cpus_on_rank_zero() {
  std::vector<ResourceSet> totals = three_ranks();
  totals[0] = ResourceSet::cpus(3);
  return totals;
}
void queue_behind_an_actor(Rank& rank, std::chrono::nanoseconds mean_run) {
  rank.local->reserve(ResourceSet::cpus(2));
  for (std::uint64_t i = 0; i < 2; ++i)
    rank.local->enqueue(make_task(0, 1000 + i, ResourceSet::cpus(2)));
  rank.local->note_run_time(mean_run);
}
// Places a 2-CPU task submitted by a task running on `rank`.
TaskPtr place_nested(Rank& rank) {
  TaskPtr t = rank.task(ResourceSet::cpus(2));
  t->nested = true;
  rank.submitter->place(t);
  return t;
}
// `t` was kept here, and nothing left this rank.
void expect_only_ran_here(const Rank& rank, const TaskPtr& t) {
  ASSERT_EQ(rank.ran_here.size(), 1u);
  EXPECT_EQ(rank.ran_here[0], t);
  EXPECT_EQ(rank.outbox.count(MessageType::submit_task), 0u);
}

// Rank 0 spreads the driver's work over the job, but a task running on rank 0 that submits a
// wave of tiny tasks keeps it, as any other rank would: moving each costs more than running it.
TEST(Submitter, RankZeroKeepsAShortWaveItsOwnTasksSubmitButSpreadsTheDrivers) {
  Rank rank(0, three_cpus_on_rank_zero(), /*forward_threshold=*/2);
  queue_behind_an_actor(rank, std::chrono::microseconds(5));  // 15 us to drain

  expect_only_ran_here(rank, place_nested(rank));

  TaskPtr driver = rank.task(ResourceSet::cpus(2));
  rank.submitter->place(driver);
  EXPECT_EQ(rank.ran_here.size(), 1u) << "the driver's task went to a free rank";
  const auto sent = rank.outbox.pop(MessageType::submit_task);
  ASSERT_TRUE(sent);
  EXPECT_NE(sent->dest, 0);
  EXPECT_EQ(task_in(*sent)->id, driver->id);

  // A nested task this rank cannot run (a GPU) still goes where it can.
  TaskPtr gpu = rank.task(gpus(1));
  gpu->nested = true;
  rank.submitter->place(gpu);
  const auto to_gpu = rank.outbox.pop(MessageType::submit_task);
  ASSERT_TRUE(to_gpu);
  EXPECT_EQ(to_gpu->dest, 2);
}

// A backlog worth moving leaves rank 0 whoever submitted it.
TEST(Submitter, RankZeroSpreadsANestedWaveThatWouldTakeLongHere) {
  Rank rank(0, three_cpus_on_rank_zero(), /*forward_threshold=*/2);
  queue_behind_an_actor(rank, std::chrono::milliseconds(50));  // 150 ms, over 10 ms
  place_nested(rank);
  EXPECT_TRUE(rank.ran_here.empty());
  const auto sent = rank.outbox.pop(MessageType::submit_task);
  ASSERT_TRUE(sent);
  EXPECT_NE(sent->dest, 0);
}

// Moving a long wave only queues it elsewhere when no other rank has a free slot: rank 0 keeps
// its nested wave then, and hands it on once a load report shows room.
TEST(Submitter, RankZeroKeepsALongNestedWaveWhileNoOtherRankHasRoom) {
  Rank rank(0, three_cpus_on_rank_zero(), /*forward_threshold=*/2);
  queue_behind_an_actor(rank, std::chrono::milliseconds(50));  // 150 ms, over 10 ms
  auto report = [&](int from, std::uint64_t queued, const ResourceSet& free) {
    rank.deliver(from, [&](WireWriter& w) {
      w.put(MessageType::load_report).put(queued).put(std::uint64_t{0});
      write_resources(w, free);
    });
  };
  // Both other ranks run a task on each CPU with none waiting: less loaded than rank 0, but a
  // task sent there would wait all the same.
  report(1, 0, ResourceSet::cpus(0));
  report(2, 0, ResourceSet::cpus(0));
  expect_only_ran_here(rank, place_nested(rank));

  report(2, 0, ResourceSet::cpus(2));
  TaskPtr moved = place_nested(rank);
  EXPECT_EQ(rank.ran_here.size(), 1u) << "rank 2 has room now";
  const auto sent = rank.outbox.pop(MessageType::submit_task);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->dest, 2);
  EXPECT_EQ(task_in(*sent)->id, moved->id);
}

// A task taking `input` (an object of any rank) as its only argument.
TaskPtr dependent(Rank& rank, const ObjectId& input, std::shared_ptr<detail::RefToken> token) {
  TaskPtr t = rank.task();
  TaskArg a;
  a.is_ref = true;
  a.ref = input;
  a.token = std::move(token);
  t->args.push_back(std::move(a));
  return t;
}

TEST(Submitter, AFailedInputFailsItsDependentsWithTheSameCause) {
  Rank rank(1, three_ranks());
  TaskPtr first = rank.task();
  TaskPtr second = dependent(rank, first->return_object(), rank.tokens.back());
  TaskPtr third = dependent(rank, second->return_object(), rank.tokens.back());
  rank.submitter->resolve_arguments(second);
  rank.submitter->resolve_arguments(third);
  EXPECT_TRUE(rank.ran_here.empty()) << "their inputs are pending";

  const auto cause = std::make_shared<const ErrorInfo>(error_of(ErrorKind::task, "boom"));
  rank.tasks.complete(first, nullptr, 0, cause);
  EXPECT_EQ(failure(rank, second), cause);
  EXPECT_EQ(failure(rank, third), cause);
  EXPECT_TRUE(rank.ran_here.empty());
  EXPECT_TRUE(rank.outbox.sent().empty());

  // An input that failed already fails the task at once.
  TaskPtr late = dependent(rank, first->return_object(), nullptr);
  rank.submitter->resolve_arguments(late);
  EXPECT_EQ(failure(rank, late), cause);
}

TEST(Submitter, AnInputOwnedElsewhereIsAskedForAndItsFailurePassedOn) {
  Rank rank(1, three_ranks());
  const ObjectId input{0, 0, 9};
  auto token = rank.ownership.acquire(input);
  TaskPtr t = dependent(rank, input, token);
  rank.submitter->resolve_arguments(t);
  const auto ask = rank.outbox.pop(MessageType::resolve_object);
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->dest, 0);
  EXPECT_EQ(ask->reader().get<ObjectId>(), input);
  rank.deliver(0, [&](WireWriter& w) {
    w.put(MessageType::object_status).put(input).put(ResultKind::failed);
    write_error(w, error_of(ErrorKind::task, "boom on rank 2", 2));
  });
  const auto e = failure(rank, t);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->message, "boom on rank 2");
  EXPECT_EQ(e->rank, 2);
  EXPECT_TRUE(rank.ran_here.empty());
}

}  // namespace
}  // namespace manta::engine
