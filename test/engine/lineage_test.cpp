// The lineage table: what a kept spec costs, the bound (oldest specs dropped first, 0 keeps
// none), records dropped when objects are freed, and the decision on a lost object: a copy of
// the spec to rerun (counted against max_retries) or the reason it cannot be rebuilt.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <manta/ids.h>

#include "engine/lineage.h"

namespace manta::engine {
namespace {

/// A task of this rank (0) with one value argument of `value_bytes` and one reference.
TaskPtr make_spec(std::uint64_t seq, std::uint64_t value_bytes, int max_retries = 3) {
  auto t = std::make_shared<TaskSpec>();
  t->id = {0, seq};
  t->name = "make";
  t->max_retries = max_retries;
  t->args.resize(2);
  t->args[0].buffer = std::make_shared<const Buffer>(value_bytes);
  t->args[0].size = value_bytes;
  const ObjectId input{0, 0, 1000 + seq};
  t->args[1].is_ref = false;  // resolved inline already: the copy makes it a reference again
  t->args[1].ref = input;
  t->args[1].token = std::make_shared<detail::RefToken>(input);
  t->args[1].buffer = std::make_shared<const Buffer>(16);
  t->args[1].size = 16;
  t->args[1].location = 0;
  return t;
}

TEST(Lineage, KeptSpecIsCountedAndRerunsAsSubmitted) {
  Lineage lineage(1 << 20);
  const TaskPtr t = make_spec(1, 1000);
  lineage.record_task(*t);
  const LineageStats s = lineage.stats();
  EXPECT_EQ(s.specs, 1u);
  EXPECT_EQ(s.bytes, Lineage::spec_bytes(*Lineage::copy_spec(*t)));
  EXPECT_GE(s.bytes, 1000u);
  Lineage::Decision d = lineage.decide(t->return_object());
  ASSERT_TRUE(d.spec);
  EXPECT_TRUE(d.why_not.empty());
  EXPECT_EQ(d.spec->id, t->id);
  EXPECT_NE(d.spec->name.find("make (reconstruction 1 of obj:0:1)"), std::string::npos)
      << d.spec->name;
  // The reference is unresolved again and keeps its input alive; the value is kept.
  EXPECT_TRUE(d.spec->args[1].is_ref);
  EXPECT_EQ(d.spec->args[1].location, -1);
  EXPECT_FALSE(d.spec->args[1].buffer);
  EXPECT_EQ(d.spec->args[1].token, t->args[1].token);
  EXPECT_EQ(d.spec->args[0].size, 1000u);
  EXPECT_EQ(lineage.stats().reconstructions, 1u);
}

TEST(Lineage, OneRebuildAtATimeAndAtMostMaxRetries) {
  Lineage lineage(1 << 20);
  const TaskPtr t = make_spec(1, 10, /*max_retries=*/2);
  const ObjectId id = t->return_object();
  lineage.record_task(*t);
  ASSERT_TRUE(lineage.decide(id).spec);
  Lineage::Decision busy = lineage.decide(id);
  EXPECT_FALSE(busy.spec);
  EXPECT_TRUE(busy.why_not.empty()) << "a loss while it is rebuilt is not a second rebuild";
  lineage.rebuild_ended(id);
  ASSERT_TRUE(lineage.decide(id).spec);
  lineage.rebuild_ended(id);
  Lineage::Decision no = lineage.decide(id);
  EXPECT_FALSE(no.spec);
  EXPECT_NE(no.why_not.find("was rebuilt 2 times, max_retries=2"), std::string::npos) << no.why_not;
  EXPECT_EQ(lineage.stats().reconstructions, 2u);
}

TEST(Lineage, BoundDropsTheOldestSpecsFirst) {
  const std::uint64_t one = Lineage::spec_bytes(*Lineage::copy_spec(*make_spec(1, 1000)));
  Lineage lineage(3 * one);  // room for three
  for (std::uint64_t seq = 1; seq <= 5; ++seq) lineage.record_task(*make_spec(seq, 1000));
  const LineageStats s = lineage.stats();
  EXPECT_EQ(s.specs, 3u);
  EXPECT_EQ(s.evicted, 2u);
  EXPECT_LE(s.bytes, 3 * one);
  for (std::uint64_t seq : {1u, 2u}) {
    Lineage::Decision d = lineage.decide(ObjectId{0, 0, seq});
    EXPECT_FALSE(d.spec);
    EXPECT_NE(d.why_not.find("its lineage was dropped to stay under --manta-max-lineage-bytes=" +
                             std::to_string(3 * one) + "; raise it"),
              std::string::npos)
        << d.why_not;
  }
  for (std::uint64_t seq : {3u, 4u, 5u}) EXPECT_TRUE(lineage.decide(ObjectId{0, 0, seq}).spec);
}

TEST(Lineage, SpecLargerThanTheBoundIsNotKept) {
  Lineage lineage(500);
  lineage.record_task(*make_spec(1, 4096));
  EXPECT_EQ(lineage.stats().specs, 0u);
  EXPECT_EQ(lineage.stats().bytes, 0u);
  EXPECT_FALSE(lineage.decide(ObjectId{0, 0, 1}).spec);
}

TEST(Lineage, ZeroKeepsNone) {
  Lineage lineage(0);
  lineage.record_task(*make_spec(1, 10));
  EXPECT_EQ(lineage.stats().specs, 0u);
  Lineage::Decision d = lineage.decide(ObjectId{0, 0, 1});
  EXPECT_FALSE(d.spec);
  EXPECT_NE(d.why_not.find("--manta-max-lineage-bytes=0"), std::string::npos) << d.why_not;
}

TEST(Lineage, FreedObjectsGiveBackTheirBytesAndInputs) {
  Lineage lineage(1 << 20);
  const TaskPtr t = make_spec(1, 1000);
  std::weak_ptr<detail::RefToken> input = t->args[1].token;
  lineage.record_task(*t);
  t->args[1].token.reset();
  EXPECT_FALSE(input.expired()) << "the kept spec holds its input";
  lineage.forget({t->return_object()});
  EXPECT_TRUE(input.expired()) << "freeing the output lets its input go";
  EXPECT_EQ(lineage.stats().bytes, 0u);
  EXPECT_EQ(lineage.stats().specs, 0u);
  // Without a record it reads as a put.
  EXPECT_NE(lineage.decide(t->return_object()).why_not.find("was made by manta::put"),
            std::string::npos);
}

TEST(Lineage, ActorResultsAndPutsSayWhyTheyCannotBeRebuilt) {
  Lineage lineage(1 << 20);
  const ObjectId result{0, 0, 7};
  lineage.record_actor_result(result, ActorId{0, 0, 3});
  Lineage::Decision d = lineage.decide(result);
  EXPECT_FALSE(d.spec);
  EXPECT_NE(d.why_not.find("is the result of a call on actor actor:0:3: actor results are not "
                           "rebuilt"),
            std::string::npos)
      << d.why_not;
  Lineage::Decision put = lineage.decide(ObjectId{0, 0, 8});
  EXPECT_NE(put.why_not.find("obj:0:8 was made by manta::put: a put has no task to rebuild it "
                             "from"),
            std::string::npos)
      << put.why_not;
}

TEST(Lineage, ValuesSharingAStoredArgumentsBytesAreCopiedOut) {
  auto t = make_spec(1, 10);
  // A large value argument stored as an object shares the submission's buffer.
  auto shared = std::make_shared<const Buffer>(4096);
  t->args[0].buffer = shared;
  t->args[0].offset = 100;
  t->args[0].size = 10;
  TaskArg big;
  big.ref = ObjectId{0, 0, 55};
  big.token = std::make_shared<detail::RefToken>(big.ref);
  big.buffer = shared;
  big.size = 4096;
  t->args.push_back(big);
  const TaskPtr copy = Lineage::copy_spec(*t);
  EXPECT_NE(copy->args[0].buffer, shared) << "holding it would pin the stored argument";
  EXPECT_EQ(copy->args[0].size, 10u);
  EXPECT_TRUE(copy->args[2].is_ref);
  EXPECT_FALSE(copy->args[2].buffer);
}

}  // namespace
}  // namespace manta::engine
