// EngineParts built over the fakes: together the parts handle every message type exactly once on
// rank 0, and the other ranks lack exactly rank 0's handlers (global scheduler, control store).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/dispatcher.h"
#include "engine/engine_parts.h"
#include "engine/messages.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using fakes::FakeRank;

EngineSettings settings_for(int ranks) {
  EngineSettings s;
  for (int r = 0; r < ranks; ++r) {
    ResourceSet total = ResourceSet::cpus(2);
    total.set("actor_slots", 4);
    s.totals.push_back(total);
  }
  return s;
}

std::vector<std::string> names(const std::vector<MessageType>& types) {
  std::vector<std::string> out;
  for (MessageType t : types) out.emplace_back(message_name(t));
  std::sort(out.begin(), out.end());
  return out;
}

TEST(EngineParts, RankZeroHandlesEveryMessageType) {
  FakeRank rank(0, 2);
  EngineParts parts(rank.ctx, rank.plane, settings_for(2));
  ASSERT_NE(parts.global, nullptr);
  ASSERT_NE(parts.control, nullptr);
  Dispatcher d;
  parts.register_handlers(d);
  EXPECT_EQ(names(d.unhandled()), std::vector<std::string>{});
}

TEST(EngineParts, OtherRanksLackExactlyRankZerosHandlers) {
  FakeRank rank(1, 2);
  EngineParts parts(rank.ctx, rank.plane, settings_for(2));
  EXPECT_EQ(parts.global, nullptr);
  EXPECT_EQ(parts.control, nullptr);
  Dispatcher d;
  parts.register_handlers(d);
  // load_report: the global scheduler; then the control store (see engine_parts.cpp); the pg_*
  // messages: rank 0's placement-group table; the collective_* requests: the group registry;
  // lease_request/renew/return: rank 0's lease granter.
  EXPECT_EQ(names(d.unhandled()),
            names({MessageType::load_report, MessageType::lease_request, MessageType::lease_renew,
                   MessageType::lease_return, MessageType::create_actor, MessageType::actor_lookup,
                   MessageType::actor_kill, MessageType::actor_died, MessageType::name_lookup,
                   MessageType::pg_create, MessageType::pg_committed, MessageType::pg_remove,
                   MessageType::pg_lookup, MessageType::collective_create,
                   MessageType::collective_destroy, MessageType::collective_query,
                   MessageType::collective_ready}));
}

TEST(EngineParts, RegisteringAnyPartTwiceThrows) {
  FakeRank rank(0, 2);
  EngineParts parts(rank.ctx, rank.plane, settings_for(2));
  const std::vector<std::pair<const char*, std::function<void(Dispatcher&)>>> each = {
      {"ownership", [&](Dispatcher& d) { parts.ownership.register_handlers(d); }},
      {"transfer", [&](Dispatcher& d) { parts.transfer.register_handlers(d); }},
      {"tasks", [&](Dispatcher& d) { parts.tasks.register_handlers(d); }},
      {"global", [&](Dispatcher& d) { parts.global->register_handlers(d); }},
      {"executor", [&](Dispatcher& d) { parts.executor.register_handlers(d); }},
      {"submitter", [&](Dispatcher& d) { parts.submitter.register_handlers(d); }},
      {"routing", [&](Dispatcher& d) { parts.routing.register_handlers(d); }},
      {"control", [&](Dispatcher& d) { parts.control->register_handlers(d); }},
      {"placement", [&](Dispatcher& d) { parts.placement.register_handlers(d); }},
      {"collectives", [&](Dispatcher& d) { parts.collectives.register_handlers(d); }},
      {"registry", [&](Dispatcher& d) { parts.registry->register_handlers(d); }},
      {"memory", [&](Dispatcher& d) { parts.memory.register_handlers(d); }},
      {"reports", [&](Dispatcher& d) { parts.reports.register_handlers(d); }},
      {"stop", [&](Dispatcher& d) { parts.stop.register_handlers(d); }},
  };
  for (const auto& [name, register_part] : each) {
    Dispatcher d;
    parts.register_handlers(d);
    EXPECT_THROW(register_part(d), std::logic_error) << name;
    // Alone in a table, each part registers without a clash.
    Dispatcher alone;
    EXPECT_NO_THROW(register_part(alone)) << name;
  }
  Dispatcher d;
  parts.register_handlers(d);
  EXPECT_THROW(parts.register_handlers(d), std::logic_error);
}

}  // namespace
}  // namespace manta::engine
