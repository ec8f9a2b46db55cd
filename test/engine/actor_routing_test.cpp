// The caller's side of actors: calls made before the actor's host is known wait, in their call
// order, behind one question to rank 0, and go to the host once it is known; a dead actor fails
// them with its death.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <manta/detail/function_registry.h>
#include <manta/detail/runtime_api.h>
#include <manta/ids.h>

#include "engine/actor_routing.h"
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
using fakes::SentMessage;
using transport::WireWriter;

// Rank 1 of 3: its submitter routes actor calls through the routing under test.
struct Rank : FakeRank {
  Rank() : FakeRank(1, 3) {
    ownership.register_handlers(dispatcher);
    transfer.register_handlers(dispatcher);
    tasks.register_handlers(dispatcher);
    routing.register_handlers(dispatcher);
    method.name = "Counter::add";
    method.index = 3;
    method.is_method = true;
  }

  /// A call with no arguments, or with `input` as its only one.
  std::shared_ptr<detail::RefToken> call(const ActorId& actor,
                                         std::shared_ptr<detail::RefToken> input = nullptr) {
    detail::Submission s;
    s.function = &method;
    if (input) {
      detail::ArgSlot slot;
      slot.kind = detail::ArgSlot::Kind::ref;
      slot.ref = std::move(input);
      s.args.push_back(std::move(slot));
    }
    return routing.submit_call(actor, std::move(s));
  }

  void location(const ActorId& actor, int host) {
    deliver(0, [&](WireWriter& w) {
      w.put(MessageType::actor_location).put(actor).put<std::uint8_t>(0).put(host);
    });
  }

  std::vector<ResourceSet> totals{3, ResourceSet::cpus(2)};
  detail::FunctionEntry method;
  Ownership ownership{ctx};
  ObjectTransfer transfer{ctx, ownership, plane};
  ResultBatches results{outbox};
  TaskManager tasks{ctx, ownership, transfer, results, [](const TaskPtr&) {}};
  LocalScheduler local{totals[1], 1, 1, [](const TaskPtr&) { ADD_FAILURE() << "ran a task"; }};
  Submitter submitter{ctx,
                      totals,
                      tasks,
                      transfer,
                      local,
                      nullptr,
                      {[](const TaskPtr&) { ADD_FAILURE() << "a call ran as a task"; },
                       [this](const TaskPtr& t) { routing.route_call(t); }}};
  std::vector<TaskPtr> delivered_here;
  ActorRouting routing{ctx, submitter, tasks,
                       [this](const TaskPtr& t) { delivered_here.push_back(t); }};
};

// The call an actor_call message carries.
TaskPtr call_in(const SentMessage& m) {
  TaskMessage tm(m.bytes);
  EXPECT_EQ(tm.reader.get<std::uint8_t>(), 0) << "no input error";
  return read_task(tm.reader, tm.bytes);
}

const ActorId kActor{0, 0, 77};

TEST(ActorRouting, CallsMadeBeforeTheHostIsKnownKeepTheirOrder) {
  Rank rank;
  // The first call waits for its argument, so it reaches the routing after the other two.
  const ObjectId input{1, 0, 500};
  auto input_token = rank.store.create_pending(input);
  auto r0 = rank.call(kActor, input_token);
  auto r1 = rank.call(kActor);
  auto r2 = rank.call(kActor);
  EXPECT_EQ(rank.routing.waiting_calls(kActor), 2u);
  rank.ownership.apply_freed(
      input, rank.store.set_ready(input, std::make_shared<const Buffer>(std::size_t{8}), 1));
  EXPECT_EQ(rank.routing.waiting_calls(kActor), 3u);

  EXPECT_EQ(rank.outbox.count(MessageType::actor_lookup), 1u) << "one question, not one per call";
  const auto lookup = rank.outbox.take(MessageType::actor_lookup);
  EXPECT_EQ(lookup.dest, 0);
  EXPECT_EQ(lookup.reader().get<ActorId>(), kActor);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 0u);

  rank.location(kActor, 2);
  const auto calls = rank.outbox.sent(MessageType::actor_call);
  ASSERT_EQ(calls.size(), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(calls[i].dest, 2);
    const TaskPtr c = call_in(calls[i]);
    EXPECT_EQ(c->actor_seq, i);
    EXPECT_EQ(c->actor, kActor);
    EXPECT_EQ(c->caller, 1);
  }
  EXPECT_EQ(call_in(calls[0])->id.return_object(), r0->id());
  EXPECT_EQ(call_in(calls[2])->id.return_object(), r2->id());
  EXPECT_EQ(rank.routing.waiting_calls(kActor), 0u);
  EXPECT_EQ(rank.tasks.pending(), 3u) << "kept for their results";

  // Once the host is known, a call goes at once, without asking again.
  rank.outbox.clear();
  auto r3 = rank.call(kActor);
  const auto sent = rank.outbox.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, MessageType::actor_call);
  EXPECT_EQ(call_in(sent[0])->actor_seq, 3u);
}

TEST(ActorRouting, CallsToAnActorHostedHereAreDeliveredHere) {
  Rank rank;
  auto r0 = rank.call(kActor);
  auto r1 = rank.call(kActor);
  rank.location(kActor, 1);
  ASSERT_EQ(rank.delivered_here.size(), 2u);
  EXPECT_EQ(rank.delivered_here[0]->actor_seq, 0u);
  EXPECT_EQ(rank.delivered_here[1]->actor_seq, 1u);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 0u);
}

TEST(ActorRouting, AnActorWaitingForASlotKeepsItsCallsWaiting) {
  Rank rank;
  auto r0 = rank.call(kActor);
  rank.location(kActor, -1);  // rank 0 took it; no host yet
  EXPECT_EQ(rank.routing.waiting_calls(kActor), 1u);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 0u);
  auto r1 = rank.call(kActor);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_lookup), 1u);
  rank.location(kActor, 2);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 2u);
}

TEST(ActorRouting, ADeadActorFailsItsCallsWithItsDeath) {
  Rank rank;
  auto r0 = rank.call(kActor);
  auto r1 = rank.call(kActor);
  rank.deliver(0, [&](WireWriter& w) {
    w.put(MessageType::actor_location).put(kActor).put<std::uint8_t>(1);
    write_error(w, error_of(ErrorKind::actor_died, "its constructor threw", 0));
  });
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 0u);
  for (const auto& r : {r0, r1}) {
    const auto v = rank.store.view(r->id());
    ASSERT_EQ(v.state, ObjectStore::State::failed);
    EXPECT_EQ(v.error->kind, ErrorKind::actor_died);
    EXPECT_EQ(v.error->message, "its constructor threw");
  }
  auto r2 = rank.call(kActor);
  EXPECT_EQ(rank.store.view(r2->id()).state, ObjectStore::State::failed);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_lookup), 1u);
}

TEST(ActorRouting, AKillFailsWaitingCallsHereAndTellsRankZero) {
  Rank rank;
  auto r0 = rank.call(kActor);
  rank.routing.kill_actor(kActor, /*no_restart=*/true);
  const auto v = rank.store.view(r0->id());
  ASSERT_EQ(v.state, ObjectStore::State::failed);
  EXPECT_EQ(v.error->kind, ErrorKind::actor_died);
  EXPECT_NE(v.error->message.find("was killed"), std::string::npos) << v.error->message;
  const auto kill = rank.outbox.pop(MessageType::actor_kill);
  ASSERT_TRUE(kill);
  EXPECT_EQ(kill->dest, 0);
  auto r = kill->reader();
  EXPECT_EQ(r.get<ActorId>(), kActor);
  EXPECT_EQ(r.get<std::uint8_t>(), 1);
  // The location that comes after does not revive it.
  rank.location(kActor, 2);
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 0u);
}

TEST(ActorRouting, AKillFailsAWaitingCallWhoseResultAnotherWaitingCallTakes) {
  // Failing the first call's result resolves the second call's argument, which routes that call
  // on the same thread: the kill must not hold the routes' lock then (it is not recursive).
  Rank rank;
  auto r1 = rank.call(kActor);
  auto r2 = rank.call(kActor, r1);
  rank.routing.kill_actor(kActor, /*no_restart=*/true);
  for (const auto& r : {r1, r2}) {
    const auto v = rank.store.view(r->id());
    ASSERT_EQ(v.state, ObjectStore::State::failed);
    EXPECT_EQ(v.error->kind, ErrorKind::actor_died);
  }
  EXPECT_EQ(rank.outbox.count(MessageType::actor_call), 0u);
}

}  // namespace
}  // namespace manta::engine
