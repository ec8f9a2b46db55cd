// Placement groups in one process: rank 0's table (its states, creation order, what it counts
// as reservable), the protocol between rank 0, a host and the creator over the fake outbox, and
// a host's local scheduler offering bundle resources and taking them back.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <manta/serialization.h>

#include "engine/bundle_resources.h"
#include "engine/local_scheduler.h"
#include "engine/ownership.h"
#include "engine/placement_group_table.h"
#include "engine/placement_groups.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using State = PlacementGroupTable::State;
using transport::WireWriter;

std::vector<ResourceSet> cluster(int ranks, double cpus) {
  return std::vector<ResourceSet>(static_cast<std::size_t>(ranks), ResourceSet::cpus(cpus));
}

PlacementGroupTable::Group group(std::uint64_t seq, int bundles, double cpus,
                                 PlacementStrategy s = PlacementStrategy::strict_spread) {
  PlacementGroupTable::Group g;
  g.id = {1, seq};
  g.creator = 1;
  g.strategy = s;
  g.bundles.assign(static_cast<std::size_t>(bundles), ResourceSet::cpus(cpus));
  return g;
}

// ---- the table --------------------------------------------------------------------------------

TEST(PlacementGroupTable, WaitingCommittingReadyRemoved) {
  PlacementGroupTable t(cluster(2, 2));
  const PlacementGroupId id{1, 1};
  EXPECT_EQ(t.create(group(1, 2, 1)).state, State::waiting);
  auto placed = t.place_waiting();
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0]->state, State::committing);
  EXPECT_FALSE(t.committed(id, placed[0]->ranks[0]));
  EXPECT_TRUE(t.committed(id, placed[0]->ranks[1]));
  EXPECT_EQ(t.find(id)->state, State::ready);
  EXPECT_EQ(t.reservable()[0], ResourceSet::cpus(1));
  EXPECT_EQ(t.remove(id), State::ready);
  EXPECT_EQ(t.find(id)->state, State::removed);
  EXPECT_EQ(t.reservable()[0], ResourceSet::cpus(2));
  EXPECT_EQ(t.remove(id), std::nullopt);  // twice: nothing to undo
  EXPECT_FALSE(t.committed(id, 0));       // a late confirmation changes nothing
}

TEST(PlacementGroupTable, NeverFittingGroupFailsAtCreation) {
  PlacementGroupTable t(cluster(4, 2));
  const auto& g = t.create(group(1, 5, 1));
  EXPECT_EQ(g.state, State::failed);
  EXPECT_NE(g.error.find("can never be reserved"), std::string::npos) << g.error;
  EXPECT_EQ(t.waiting(), 0u);
}

TEST(PlacementGroupTable, CompetingGroupsAreServedInCreationOrder) {
  PlacementGroupTable t(cluster(2, 2));
  t.create(group(1, 2, 2));                           // the whole cluster
  t.create(group(2, 2, 2));                           // the whole cluster again
  t.create(group(3, 1, 1, PlacementStrategy::pack));  // small, but younger
  ASSERT_EQ(t.place_waiting().size(), 1u);
  EXPECT_EQ(t.find({1, 2})->state, State::waiting);
  EXPECT_EQ(t.find({1, 3})->state, State::waiting);  // behind the second, though it would fit
  EXPECT_TRUE(t.place_waiting().empty());
  t.remove({1, 1});
  auto next = t.place_waiting();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]->id, (PlacementGroupId{1, 2}));
  t.remove({1, 2});
  next = t.place_waiting();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]->id, (PlacementGroupId{1, 3}));
}

TEST(PlacementGroupTable, RemovingAWaitingGroupFailsIt) {
  PlacementGroupTable t(cluster(1, 1));
  t.create(group(1, 1, 1));
  t.create(group(2, 1, 1));
  t.place_waiting();
  EXPECT_EQ(t.remove({1, 2}), State::waiting);
  EXPECT_EQ(t.find({1, 2})->state, State::failed);
  EXPECT_EQ(t.waiting(), 0u);
}

TEST(PlacementGroupTable, RemovalBeforeCreationFailsTheCreation) {
  PlacementGroupTable t(cluster(1, 1));
  EXPECT_EQ(t.remove({1, 7}), std::nullopt);
  const auto& g = t.create(group(7, 1, 1));
  EXPECT_EQ(g.state, State::failed);
  EXPECT_NE(g.error.find("removed before"), std::string::npos);
}

TEST(PlacementGroupTable, ActorsOutsideGroupsAreNotReservable) {
  PlacementGroupTable t(cluster(1, 2));
  t.actor_started(0, ResourceSet::cpus(1));
  t.create(group(1, 1, 2));
  EXPECT_TRUE(t.place_waiting().empty());
  t.actor_ended(0, ResourceSet::cpus(1));
  EXPECT_EQ(t.place_waiting().size(), 1u);
}

// ---- a host's local scheduler -------------------------------------------------------------------

TEST(BundleResources, BaseOfABundleName) {
  const PlacementGroupId id{2, 17};
  EXPECT_EQ(base_resource(bundle_resource("GPU", id, 3)), "GPU");
  EXPECT_EQ(base_resource(group_resource("custom_pg", id)), "custom_pg");
  EXPECT_EQ(base_resource("GPU"), "GPU");
  // Names a user may choose that no placement group made.
  for (const char* own : {"GPU_pgx", "GPU_pg1", "GPU_pg1.", "GPU_pg.2", "GPU_pg1.2_x", "_pg1.2"}) {
    EXPECT_EQ(base_resource(own), own);
  }
}

TEST(BundleResources, HostOffersBundlesAndTakesThemBack) {
  LocalScheduler local(ResourceSet::cpus(4), 0, 1, [](const TaskPtr&) {});
  const PlacementGroupId id{0, 3};
  const std::vector<std::pair<int, ResourceSet>> bundles = {{0, ResourceSet::cpus(1)},
                                                            {2, ResourceSet::cpus(2)}};
  local.reserve(ResourceSet::cpus(3));
  local.add_offer(bundle_offer(id, bundles));
  EXPECT_EQ(local.available().get("CPU"), 1);
  EXPECT_EQ(local.available().get("CPU_pg0.3"), 3);
  EXPECT_EQ(local.available().get("CPU_pg0.3_2"), 2);
  // An actor in bundle 2 holds one CPU of it when the group goes away.
  const ResourceSet actor = request_in_bundle(ResourceSet::cpus(1), id, 2);
  local.reserve(actor);
  // Bundle 0's one CPU is held too, so the task queued for it stays queued (a worker could
  // otherwise start it before the group goes away).
  const ResourceSet holder = request_in_bundle(ResourceSet::cpus(1), id, 0);
  local.reserve(holder);
  auto queued = fakes::make_task(1, 1, request_in_bundle(ResourceSet::cpus(1), id, 0));
  local.enqueue(queued);
  const std::vector<TaskPtr> failed = local.retire_offer(offer_bases(id, bundles));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0], queued);
  EXPECT_EQ(local.available().get("CPU_pg0.3"), 0);
  EXPECT_EQ(local.available().get("CPU_pg0.3_2"), 0);
  EXPECT_EQ(local.available().get("CPU"), 2);  // the actor and the holder still hold one each
  local.release(holder);
  local.release(actor);
  EXPECT_EQ(local.available(), ResourceSet::cpus(4));  // it comes back as a plain CPU
  // Work for the removed group that arrives later is refused.
  TaskPtr rejected;
  local.set_rejected([&](const TaskPtr& t) { rejected = t; });
  auto late = fakes::make_task(1, 2, request_in_bundle(ResourceSet::cpus(1), id, -1));
  local.enqueue(late);
  EXPECT_EQ(rejected, late);
  EXPECT_EQ(local.queued(), 0u);
}

// ---- the protocol over the fake outbox
// ------------------------------------------------------------

struct Rank {
  Rank(int rank, int size, std::vector<ResourceSet> totals)
      : fake(rank, size),
        ownership(fake.ctx),
        local(totals[static_cast<std::size_t>(rank)], 0, 1, [](const TaskPtr&) {}),
        groups(fake.ctx, ownership, local, totals, nullptr, hooks()) {
    groups.register_handlers(fake.dispatcher);
  }
  PlacementGroups::Hooks hooks() {
    PlacementGroups::Hooks h;
    h.send_task = [this](int rank, const TaskPtr& t) { sent.emplace_back(rank, t); };
    h.fail_task = [this](const TaskPtr& t, ErrorInfo e) { failed.emplace_back(t, e.message); };
    h.actors_in = [](const PlacementGroupId&) { return std::vector<ActorId>{}; };
    return h;
  }
  fakes::FakeRank fake;
  Ownership ownership;
  LocalScheduler local;
  PlacementGroups groups;
  std::vector<std::pair<int, TaskPtr>> sent;
  std::vector<std::pair<TaskPtr, std::string>> failed;
};

TEST(PlacementGroupsProtocol, CreateCommitReadyRemove) {
  const auto totals = cluster(2, 2);
  Rank rank0(0, 2, totals);
  Rank host(1, 2, totals);
  // Rank 1 creates a group of one 2-CPU bundle; it can only go on a whole rank.
  auto [id, token] = host.groups.create({{{"CPU", 2}}}, PlacementStrategy::strict_pack, "learners");
  const auto create = host.fake.outbox.take(MessageType::pg_create);
  rank0.fake.deliver(1, create);
  const auto commit = rank0.fake.outbox.take(MessageType::pg_commit);
  // A task for the group that comes before it is ready waits at rank 0.
  auto early = fakes::make_task(1, 100, request_in_bundle(ResourceSet::cpus(1), id, 0));
  early->placement_group = id;
  early->bundle_index = 0;
  rank0.groups.place_task(early);
  EXPECT_TRUE(rank0.sent.empty());
  // The host applies the bundle, then confirms.
  Rank& target = commit.dest == 1 ? host : rank0;
  target.fake.deliver(0, commit);
  EXPECT_EQ(target.local.available().get("CPU"), 0);
  EXPECT_EQ(target.local.available().get(group_resource("CPU", id)), 2);
  const auto committed = target.fake.outbox.take(MessageType::pg_committed);
  EXPECT_FALSE(host.fake.store.view(token->id()).state == ObjectStore::State::ready);
  rank0.fake.deliver(commit.dest, committed);
  // The creator hears that it is ready; its ready object becomes true; the held task goes.
  const auto state = rank0.fake.outbox.take(MessageType::pg_state);
  EXPECT_EQ(state.dest, 1);
  host.fake.deliver(0, state);
  const auto v = host.fake.store.view(token->id());
  ASSERT_EQ(v.state, ObjectStore::State::ready);
  EXPECT_TRUE(decode_tagged<bool>(v.tag, v.bytes->data(), v.bytes->size()));
  EXPECT_EQ(host.groups.ranks(id), (std::vector<int>{commit.dest}));
  ASSERT_EQ(rank0.sent.size(), 1u);
  EXPECT_EQ(rank0.sent[0].first, commit.dest);
  // Removal: rank 0 tells the host, which gives the CPUs back; later tasks fail.
  host.groups.remove(id);
  const auto remove = host.fake.outbox.take(MessageType::pg_remove);
  rank0.fake.deliver(1, remove);
  const auto release = rank0.fake.outbox.take(MessageType::pg_release);
  EXPECT_EQ(release.dest, commit.dest);
  target.fake.deliver(0, release);
  EXPECT_EQ(target.local.available(), totals[static_cast<std::size_t>(commit.dest)]);
  auto late = fakes::make_task(1, 101, request_in_bundle(ResourceSet::cpus(1), id, 0));
  late->placement_group = id;
  rank0.groups.place_task(late);
  ASSERT_EQ(rank0.failed.size(), 1u);
  EXPECT_NE(rank0.failed[0].second.find("was removed"), std::string::npos);
}

TEST(PlacementGroupsProtocol, NeverFittingGroupFailsItsReadyObject) {
  const auto totals = cluster(2, 2);
  Rank rank0(0, 2, totals);
  auto [id, token] = rank0.groups.create({{{"CPU", 3}}}, PlacementStrategy::pack, "");
  const auto create = rank0.fake.outbox.take(MessageType::pg_create);
  rank0.fake.deliver(0, create);
  EXPECT_EQ(rank0.fake.outbox.count(MessageType::pg_commit), 0u);
  const auto state = rank0.fake.outbox.take(MessageType::pg_state);
  rank0.fake.deliver(0, state);
  const auto v = rank0.fake.store.view(token->id());
  ASSERT_EQ(v.state, ObjectStore::State::failed);
  EXPECT_EQ(v.error->kind, ErrorKind::unschedulable);
  EXPECT_NE(v.error->message.find("bundle 0 asks for {CPU: 3}"), std::string::npos)
      << v.error->message;
  EXPECT_THROW(rank0.groups.ranks(id), UnschedulableError);
}

}  // namespace
}  // namespace manta::engine
