// What a checkpoint records of an actor's options, read back as a restart uses them.
#include "engine/checkpoint_records.h"

#include <gtest/gtest.h>

#include <memory>

#include "engine/bundle_resources.h"

namespace manta::engine {
namespace {

ActorRecord round_trip(const ResourceSet& resources) {
  TaskSpec creation;
  creation.resources = std::make_shared<const ResourceSet>(resources);
  creation.max_restarts_actor = 2;
  creation.max_concurrency = 3;
  detail::FunctionEntry factory;
  factory.name = "Learner::create";
  factory.class_name = "Learner";
  spill::CheckpointEntry entry;
  entry.kind = "actor";
  entry.name = "learner-0";
  entry.meta = actor_record_meta(creation, factory);
  return parse_actor_record(entry);
}

TEST(CheckpointRecords, OptionsComeBack) {
  ResourceSet r = ResourceSet::from_map({{"GPU", 1}, {"CPU", 2}});
  r.set("actor_slots", 1);
  const ActorRecord a = round_trip(r);
  EXPECT_EQ(a.factory, "Learner::create");
  EXPECT_EQ(a.class_name, "Learner");
  EXPECT_EQ(a.options.name, "learner-0");
  EXPECT_EQ(a.options.max_restarts, 2);
  EXPECT_EQ(a.options.max_concurrency, 3);
  // actor_slots is added again when the actor is made.
  EXPECT_EQ(a.options.resources, (ResourceMap{{"CPU", 2}, {"GPU", 1}}));
}

TEST(CheckpointRecords, AnActorInAPlacementGroupKeepsWhatItAskedFor) {
  // In bundle 1 of a group, {GPU: 1, CPU: 1} is asked under the group's and the bundle's names;
  // the group is gone after a restart, so the record holds the plain request.
  PlacementGroupId group;
  group.creator = 0;
  group.seq = 3;
  ResourceSet in_bundle =
      request_in_bundle(ResourceSet::from_map({{"GPU", 1}, {"CPU", 1}}), group, 1);
  in_bundle.set("actor_slots", 1);
  ASSERT_GT(in_bundle.get(bundle_resource("GPU", group, 1)), 0);
  const ActorRecord a = round_trip(in_bundle);
  EXPECT_EQ(a.options.resources, (ResourceMap{{"CPU", 1}, {"GPU", 1}}));
}

// An actor named in another namespace than the job's keeps it, under a record name unique in the
// checkpoint; one in the job's namespace is restored into the restoring job's. Its variables too.
TEST(CheckpointRecords, NamespaceAndEnvComeBack) {
  TaskSpec creation;
  creation.resources = std::make_shared<const ResourceSet>();
  creation.actor_name = "svc";
  creation.actor_namespace = "ns_a";
  creation.env = std::make_shared<const EnvVars>(EnvVars{{"K", "v"}});
  detail::FunctionEntry factory;
  factory.name = "Svc::create";
  factory.class_name = "Svc";
  spill::CheckpointEntry entry;
  entry.kind = "actor";
  entry.name = actor_record_name(creation, "default");
  EXPECT_EQ(entry.name, "ns_a/svc");
  entry.meta = actor_record_meta(creation, factory, "default");
  const ActorRecord other = parse_actor_record(entry);
  EXPECT_EQ(other.options.name, "svc");
  EXPECT_EQ(other.options.name_space, "ns_a");
  EXPECT_EQ(other.options.env, (EnvVars{{"K", "v"}}));

  entry.name = actor_record_name(creation, "ns_a");
  EXPECT_EQ(entry.name, "svc");
  entry.meta = actor_record_meta(creation, factory, "ns_a");
  const ActorRecord own = parse_actor_record(entry);
  EXPECT_EQ(own.options.name, "svc");
  EXPECT_EQ(own.options.name_space, "") << "the restoring job's namespace";
}

}  // namespace
}  // namespace manta::engine
