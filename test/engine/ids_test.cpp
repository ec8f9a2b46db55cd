// ObjectId and TaskId: ordering, hashing, text form, and the task -> return object mapping.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <unordered_set>
#include <vector>

#include <manta/ids.h>

namespace {

using manta::ObjectId;
using manta::TaskId;

TEST(ObjectId, DefaultIsInvalidAndOwnedIdsAreValid) {
  EXPECT_FALSE(ObjectId{}.valid());
  EXPECT_EQ(ObjectId{}.owner, -1);
  EXPECT_TRUE((ObjectId{0, 0, 0}.valid()));
  EXPECT_TRUE((ObjectId{7, 0, 3}.valid()));
}

TEST(ObjectId, OrdersByOwnerThenIndexThenSeq) {
  EXPECT_LT((ObjectId{0, 0, 99}), (ObjectId{1, 0, 0}));
  EXPECT_LT((ObjectId{1, 0, 1}), (ObjectId{1, 0, 2}));
  EXPECT_LT((ObjectId{1, 0, 99}), (ObjectId{1, 1, 0}));
  EXPECT_EQ((ObjectId{2, 0, 5}), (ObjectId{2, 0, 5}));
  EXPECT_NE((ObjectId{2, 0, 5}), (ObjectId{5, 0, 2}));

  std::vector<ObjectId> ids = {{2, 0, 1}, {0, 0, 7}, {1, 0, 3}, {0, 0, 2}, {1, 1, 0}};
  std::sort(ids.begin(), ids.end());
  const std::vector<ObjectId> expected = {{0, 0, 2}, {0, 0, 7}, {1, 0, 3}, {1, 1, 0}, {2, 0, 1}};
  EXPECT_EQ(ids, expected);
}

TEST(TaskId, OrdersBySubmitterThenSeq) {
  EXPECT_LT((TaskId{0, 9}), (TaskId{1, 0}));
  EXPECT_LT((TaskId{3, 1}), (TaskId{3, 2}));
  EXPECT_EQ((TaskId{3, 2}), (TaskId{3, 2}));
  std::set<TaskId> s = {{1, 2}, {0, 5}, {1, 1}};
  EXPECT_EQ(*s.begin(), (TaskId{0, 5}));
  EXPECT_EQ(*s.rbegin(), (TaskId{1, 2}));
}

TEST(ObjectId, HashesDifferForDifferentOwnersAndSequences) {
  std::hash<ObjectId> h;
  std::unordered_set<std::size_t> seen;
  std::size_t n = 0;
  for (std::int32_t owner = 0; owner < 16; ++owner) {
    for (std::uint64_t seq = 0; seq < 2000; ++seq, ++n) seen.insert(h(ObjectId{owner, 0, seq}));
  }
  EXPECT_EQ(seen.size(), n);
  // Owner and sequence number are not interchangeable.
  EXPECT_NE(h(ObjectId{1, 0, 2}), h(ObjectId{2, 0, 1}));
  // The return index takes part too.
  EXPECT_NE(h(ObjectId{1, 0, 2}), h(ObjectId{1, 1, 2}));
  // Equal ids hash equally.
  EXPECT_EQ(h(ObjectId{4, 0, 42}), h(ObjectId{4, 0, 42}));

  // Usable as a key: every id found again.
  std::unordered_set<ObjectId> set;
  for (std::int32_t owner = 0; owner < 4; ++owner) {
    for (std::uint64_t seq = 0; seq < 100; ++seq) set.insert({owner, 0, seq});
  }
  EXPECT_EQ(set.size(), 400u);
  EXPECT_TRUE(set.contains(ObjectId{3, 0, 99}));
  EXPECT_FALSE(set.contains(ObjectId{4, 0, 0}));
}

TEST(TaskId, HashesDifferForDifferentSubmittersAndSequences) {
  std::hash<TaskId> h;
  std::unordered_set<std::size_t> seen;
  std::size_t n = 0;
  for (std::int32_t submitter = 0; submitter < 16; ++submitter) {
    for (std::uint64_t seq = 0; seq < 2000; ++seq, ++n) seen.insert(h(TaskId{submitter, seq}));
  }
  EXPECT_EQ(seen.size(), n);
  EXPECT_NE(h(TaskId{1, 2}), h(TaskId{2, 1}));
}

TEST(Ids, ToString) {
  EXPECT_EQ((ObjectId{3, 0, 42}).to_string(), "obj:3:42");
  EXPECT_EQ((ObjectId{3, 1, 42}).to_string(), "obj:3:42.1");
  EXPECT_EQ((ObjectId{0, 0, 0}).to_string(), "obj:0:0");
  EXPECT_EQ((TaskId{3, 42}).to_string(), "task:3:42");
  EXPECT_EQ((TaskId{12, 18446744073709551615ull}).to_string(), "task:12:18446744073709551615");
}

TEST(TaskId, ReturnObjectSharesSubmitterAndSeq) {
  const TaskId t{5, 1234};
  const ObjectId o = t.return_object();
  EXPECT_EQ(o.owner, 5);
  EXPECT_EQ(o.index, 0u);
  EXPECT_EQ(o.seq, 1234u);
  EXPECT_TRUE(o.valid());
  EXPECT_EQ(o, (ObjectId{5, 0, 1234}));
  EXPECT_EQ(std::hash<TaskId>{}(t), std::hash<ObjectId>{}(o));
  EXPECT_FALSE(TaskId{}.return_object().valid());
}

}  // namespace
