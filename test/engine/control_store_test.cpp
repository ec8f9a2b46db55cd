// Rank 0's control store: an actor name is taken once, a kill that beats the creation still
// reaches the host, a death frees the name, lookups wait for the creation, and creations that
// find every rank full wait in order for a slot an ended actor frees.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <manta/ids.h>

#include "engine/control_store.h"
#include "engine/global_scheduler.h"
#include "engine/messages.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using fakes::error_of;
using fakes::FakeRank;
using fakes::make_task;
using fakes::SentMessage;
using transport::WireWriter;

// Every rank offers `slots[r]` actor slots.
std::vector<ResourceSet> with_slots(const std::vector<double>& slots) {
  std::vector<ResourceSet> out;
  for (double n : slots) {
    ResourceSet t = ResourceSet::cpus(4);
    t.set("actor_slots", n);
    out.push_back(t);
  }
  return out;
}

struct Rank0 : FakeRank {
  explicit Rank0(std::vector<ResourceSet> t)
      : FakeRank(0, static_cast<int>(t.size())),
        totals(std::move(t)),
        global(totals, 1, [this](RankLoad& r0) { r0.available = totals[0]; }),
        control(ctx, global, [this](const TaskPtr& c) { hosted_here.push_back(c); }) {
    global.register_handlers(dispatcher);
    control.register_handlers(dispatcher);
  }

  /// Rank 1 creates actor {1, 0, seq}, named `name` in `name_space`.
  ActorId create(std::uint64_t seq, const std::string& name = "",
                 const std::string& name_space = "default") {
    ResourceSet request;
    request.set("actor_slots", 1);
    TaskPtr t = make_task(1, seq, request, "Counter::make");
    t->kind = TaskKind::actor_creation;
    t->actor = ActorId{1, 0, seq};
    t->actor_name = name;
    t->actor_namespace = name.empty() ? "" : name_space;
    t->class_tag = 5;
    deliver(1, [&](WireWriter& w) {
      w.put(MessageType::create_actor).put<std::uint8_t>(0);
      write_task(w, *t, config.inline_limit, 1);
    });
    return t->actor;
  }

  std::vector<ResourceSet> totals;
  GlobalScheduler global;
  std::vector<TaskPtr> hosted_here;
  ControlStore control;
};

// An actor_location message as the caller reads it.
struct Location {
  ActorId id;
  bool dead = false;
  int host = -1;
  ErrorInfo death;
};

Location read_location(const SentMessage& m) {
  EXPECT_EQ(m.type, MessageType::actor_location);
  auto r = m.reader();
  Location l;
  l.id = r.get<ActorId>();
  l.dead = r.get<std::uint8_t>() != 0;
  if (l.dead) {
    l.death = read_error(r);
  } else {
    l.host = r.get<int>();
  }
  return l;
}

ActorId hosted_actor(const SentMessage& m) {
  EXPECT_EQ(m.type, MessageType::host_actor);
  TaskMessage tm(m.bytes);
  return read_task(tm.reader, tm.bytes)->actor;
}

TEST(ControlStore, ANameIsTakenOnce) {
  Rank0 rank(with_slots({0, 4}));
  const ActorId a = rank.create(10, "counter");
  const auto la = rank.outbox.pop(MessageType::actor_location);
  ASSERT_TRUE(la);
  EXPECT_EQ(la->dest, 1);
  const Location a_at = read_location(*la);
  EXPECT_EQ(a_at.id, a);
  EXPECT_FALSE(a_at.dead);
  EXPECT_EQ(a_at.host, 1);
  ASSERT_EQ(rank.outbox.count(MessageType::host_actor), 1u);
  EXPECT_EQ(hosted_actor(rank.outbox.take(MessageType::host_actor)), a);
  EXPECT_EQ(rank.control.named("counter", "default"), a);

  const ActorId b = rank.create(11, "counter");
  const auto lb = rank.outbox.pop(MessageType::actor_location);
  ASSERT_TRUE(lb);
  const Location b_at = read_location(*lb);
  EXPECT_EQ(b_at.id, b);
  ASSERT_TRUE(b_at.dead);
  EXPECT_EQ(b_at.death.kind, ErrorKind::actor_died);
  EXPECT_NE(b_at.death.message.find("'counter' is taken"), std::string::npos) << b_at.death.message;
  EXPECT_NE(b_at.death.message.find(a.to_string()), std::string::npos) << b_at.death.message;
  EXPECT_EQ(rank.outbox.count(MessageType::host_actor), 0u) << "it is not built anywhere";
  EXPECT_EQ(rank.global.actors_on(1), 1u);
  EXPECT_EQ(rank.control.named("counter", "default"), a);
}

// The same name in two namespaces names two actors; a lookup finds the one of its namespace,
// and a duplicate within a namespace is refused naming the namespace.
TEST(ControlStore, NamesAreUniqueWithinANamespace) {
  Rank0 rank(with_slots({0, 4}));
  const ActorId a = rank.create(10, "counter", "team_a");
  const ActorId b = rank.create(11, "counter", "team_b");
  const auto placed = rank.outbox.sent(MessageType::actor_location);
  ASSERT_EQ(placed.size(), 2u);
  EXPECT_FALSE(read_location(placed[0]).dead);
  EXPECT_FALSE(read_location(placed[1]).dead) << "another namespace: not taken";
  EXPECT_EQ(rank.control.named("counter", "team_a"), a);
  EXPECT_EQ(rank.control.named("counter", "team_b"), b);
  EXPECT_EQ(rank.control.named("counter", "default"), std::nullopt);

  auto lookup = [&](std::uint64_t request, const std::string& ns) -> std::optional<ActorId> {
    rank.outbox.clear();
    rank.deliver(2, [&](WireWriter& w) {
      w.put(MessageType::name_lookup).put(request).str(ns).str("counter");
    });
    const SentMessage result = rank.outbox.take(MessageType::name_result);
    auto r = result.reader();
    EXPECT_EQ(r.get<std::uint64_t>(), request);
    if (r.get<std::uint8_t>() == 0) return std::nullopt;
    return r.get<ActorId>();
  };
  EXPECT_EQ(lookup(1, "team_a"), a);
  EXPECT_EQ(lookup(2, "team_b"), b);
  EXPECT_EQ(lookup(3, "default"), std::nullopt);

  rank.outbox.clear();
  const ActorId c = rank.create(12, "counter", "team_a");
  const Location c_at = read_location(rank.outbox.take(MessageType::actor_location));
  EXPECT_EQ(c_at.id, c);
  ASSERT_TRUE(c_at.dead);
  EXPECT_NE(c_at.death.message.find("'counter' is taken in namespace 'team_a'"), std::string::npos)
      << c_at.death.message;
  EXPECT_NE(c_at.death.message.find(a.to_string()), std::string::npos) << c_at.death.message;

  // A death frees the name in its own namespace only.
  rank.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::actor_died).put(a);
    write_error(w, error_of(ErrorKind::actor_died, "killed", 1));
  });
  EXPECT_EQ(rank.control.named("counter", "team_a"), std::nullopt);
  EXPECT_EQ(rank.control.named("counter", "team_b"), b);
}

TEST(ControlStore, AKillThatBeatsTheCreationReachesTheHostOncePlaced) {
  Rank0 rank(with_slots({0, 4}));
  const ActorId a{1, 0, 10};
  rank.deliver(2,
               [&](WireWriter& w) { w.put(MessageType::actor_kill).put(a).put<std::uint8_t>(1); });
  EXPECT_TRUE(rank.outbox.sent().empty()) << "no host to tell yet";
  rank.create(10);
  const auto sent = rank.outbox.sent();
  std::vector<MessageType> types;
  for (const auto& m : sent) types.push_back(m.type);
  EXPECT_EQ(types, (std::vector<MessageType>{MessageType::actor_location, MessageType::host_actor,
                                             MessageType::host_kill}));
  const auto kill = rank.outbox.take(MessageType::host_kill);
  EXPECT_EQ(kill.dest, 1);
  auto r = kill.reader();
  EXPECT_EQ(r.get<ActorId>(), a);
  EXPECT_EQ(r.get<std::uint8_t>(), 1) << "no_restart as the kill said";
}

TEST(ControlStore, AKillOfAPlacedActorGoesToItsHost) {
  Rank0 rank(with_slots({0, 4}));
  const ActorId a = rank.create(10);
  rank.outbox.clear();
  rank.deliver(1,
               [&](WireWriter& w) { w.put(MessageType::actor_kill).put(a).put<std::uint8_t>(0); });
  const auto kill = rank.outbox.pop(MessageType::host_kill);
  ASSERT_TRUE(kill);
  EXPECT_EQ(kill->dest, 1);
}

TEST(ControlStore, ADeathFreesTheName) {
  Rank0 rank(with_slots({0, 4}));
  const ActorId a = rank.create(10, "counter");
  rank.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::actor_died).put(a);
    write_error(w, error_of(ErrorKind::actor_died, "its method called exit", 1));
  });
  EXPECT_EQ(rank.control.named("counter", "default"), std::nullopt);
  EXPECT_EQ(rank.global.actors_on(1), 0u) << "its slot is free";

  rank.outbox.clear();
  rank.deliver(2, [](WireWriter& w) {
    w.put(MessageType::name_lookup).put<std::uint64_t>(7).str("default").str("counter");
  });
  const auto result = rank.outbox.pop(MessageType::name_result);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->dest, 2);
  auto r = result->reader();
  EXPECT_EQ(r.get<std::uint64_t>(), 7u);
  EXPECT_EQ(r.get<std::uint8_t>(), 0) << "not found";

  // Whoever asks where the dead actor is hears why it died.
  rank.deliver(2, [&](WireWriter& w) { w.put(MessageType::actor_lookup).put(a); });
  const Location dead = read_location(rank.outbox.take(MessageType::actor_location));
  ASSERT_TRUE(dead.dead);
  EXPECT_EQ(dead.death.message, "its method called exit");

  const ActorId b = rank.create(11, "counter");
  const Location b_at = read_location(rank.outbox.take(MessageType::actor_location));
  EXPECT_FALSE(b_at.dead);
  EXPECT_EQ(rank.control.named("counter", "default"), b);
  rank.deliver(2, [](WireWriter& w) {
    w.put(MessageType::name_lookup).put<std::uint64_t>(8).str("default").str("counter");
  });
  const auto again = rank.outbox.pop(MessageType::name_result);
  ASSERT_TRUE(again);
  auto found = again->reader();
  EXPECT_EQ(found.get<std::uint64_t>(), 8u);
  EXPECT_EQ(found.get<std::uint8_t>(), 1);
  EXPECT_EQ(found.get<ActorId>(), b);
  EXPECT_EQ(found.get<std::uint64_t>(), 5u) << "its class tag";
}

TEST(ControlStore, ALookupBeforeTheCreationIsAnsweredOncePlaced) {
  Rank0 rank(with_slots({0, 4, 4}));
  const ActorId a{1, 0, 10};
  rank.deliver(2, [&](WireWriter& w) { w.put(MessageType::actor_lookup).put(a); });
  EXPECT_TRUE(rank.outbox.sent().empty());
  rank.create(10);
  const auto locations = rank.outbox.sent(MessageType::actor_location);
  ASSERT_EQ(locations.size(), 2u);
  EXPECT_EQ(locations[0].dest, 1);  // the creator
  EXPECT_EQ(locations[1].dest, 2);  // the rank that asked first
  EXPECT_EQ(read_location(locations[1]).host, read_location(locations[0]).host);
}

TEST(ControlStore, CreationsWaitInOrderForASlotAnEndedActorFrees) {
  Rank0 rank(with_slots({0, 1}));
  const ActorId a = rank.create(10);
  const ActorId b = rank.create(11, "second");
  const ActorId c = rank.create(12);
  EXPECT_EQ(rank.control.waiting(), 2u);
  EXPECT_EQ(rank.control.named("second", "default"), b) << "a waiting creation holds its name";
  const auto sent = rank.outbox.sent(MessageType::actor_location);
  ASSERT_EQ(sent.size(), 3u);
  for (std::size_t i = 1; i < 3; ++i) {
    const Location l = read_location(sent[i]);
    EXPECT_FALSE(l.dead);
    EXPECT_EQ(l.host, -1) << "taken, no host yet";
  }
  EXPECT_EQ(rank.outbox.count(MessageType::host_actor), 1u);

  rank.outbox.clear();
  rank.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::actor_died).put(a);
    write_error(w, error_of(ErrorKind::actor_died, "killed", 1));
  });
  EXPECT_EQ(rank.control.waiting(), 1u);
  const auto hosted = rank.outbox.pop(MessageType::host_actor);
  ASSERT_TRUE(hosted);
  EXPECT_EQ(hosted->dest, 1);
  EXPECT_EQ(hosted_actor(*hosted), b) << "the oldest waiting creation goes first";
  const Location b_at = read_location(rank.outbox.take(MessageType::actor_location));
  EXPECT_EQ(b_at.id, b);
  EXPECT_EQ(b_at.host, 1);

  // A kill of a creation still waiting ends it there.
  rank.deliver(1,
               [&](WireWriter& w) { w.put(MessageType::actor_kill).put(c).put<std::uint8_t>(1); });
  EXPECT_EQ(rank.control.waiting(), 0u);
  rank.deliver(2, [&](WireWriter& w) { w.put(MessageType::actor_lookup).put(c); });
  const Location c_at = read_location(rank.outbox.take(MessageType::actor_location));
  ASSERT_TRUE(c_at.dead);
  EXPECT_NE(c_at.death.message.find("waited for an actor slot"), std::string::npos);
}

TEST(ControlStore, ACreationPlacedOnRankZeroIsQueuedThere) {
  Rank0 rank(with_slots({4, 0}));
  const ActorId a = rank.create(10);
  ASSERT_EQ(rank.hosted_here.size(), 1u);
  EXPECT_EQ(rank.hosted_here[0]->actor, a);
  EXPECT_EQ(rank.outbox.count(MessageType::host_actor), 0u);
  EXPECT_EQ(read_location(rank.outbox.take(MessageType::actor_location)).host, 0);
}

}  // namespace
}  // namespace manta::engine
