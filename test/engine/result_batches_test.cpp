// Results batched per owner: a batch leaves when full (results or bytes), when no more work
// waits here, once its first result is old enough, and at stop; always behind the borrow gate,
// and in order for each owner.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include <manta/ids.h>

#include "engine/messages.h"
#include "engine/result_batches.h"
#include "fake_outbox.h"
#include "transport/wire.h"

namespace manta::engine {
namespace {

using fakes::FakeOutbox;
using fakes::SentMessage;
using transport::WireReader;
using transport::WireWriter;
using namespace std::chrono_literals;

ResultBatches::Limits limits(std::size_t results, std::size_t bytes = 1 << 20,
                             ResultBatches::Clock::duration age = 1h) {
  ResultBatches::Limits l;
  l.max_results = results;
  l.max_bytes = bytes;
  l.max_age = age;
  return l;
}

// A value result of task {owner, seq} carrying `size` bytes.
void add_value(ResultBatches& batches, int owner, std::uint64_t seq, bool more_here,
               std::size_t size = 4) {
  const std::vector<std::byte> value(size, std::byte{7});
  batches.add(
      owner,
      [&](WireWriter& w) {
        w.put(TaskId{owner, seq}).put(ResultKind::value).put<std::uint64_t>(99);
        w.bytes(value);
      },
      more_here);
}

// The tasks whose results a message carries, in order, each body read to its end.
std::vector<std::uint64_t> seqs_in(const SentMessage& m) {
  std::vector<std::span<const std::byte>> bodies;
  WireReader r = m.reader();
  if (m.type == MessageType::task_done) {
    bodies.push_back(std::span<const std::byte>(m.bytes).subspan(1));
  } else {
    EXPECT_EQ(m.type, MessageType::task_results);
    bodies = read_task_results(r);
  }
  std::vector<std::uint64_t> out;
  for (auto body : bodies) {
    WireReader b(body);
    out.push_back(b.get<TaskId>().seq);
    EXPECT_EQ(b.get<ResultKind>(), ResultKind::value);
    EXPECT_EQ(b.get<std::uint64_t>(), 99u);
    b.bytes();
    EXPECT_TRUE(b.done()) << "a body holds more than one result";
  }
  return out;
}

TEST(ResultBatches, ABatchLeavesWhenItHoldsEnoughResults) {
  FakeOutbox out;
  ResultBatches batches(out, limits(4));
  for (std::uint64_t i = 0; i < 3; ++i) add_value(batches, 0, i, /*more_here=*/true);
  EXPECT_TRUE(out.sent().empty());
  EXPECT_EQ(batches.waiting(), 3u);
  add_value(batches, 0, 3, true);
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].dest, 0);
  EXPECT_EQ(seqs_in(sent[0]), (std::vector<std::uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(batches.waiting(), 0u);
  EXPECT_EQ(batches.counts().results, 4u);
  EXPECT_EQ(batches.counts().messages, 1u);
}

TEST(ResultBatches, ABatchLeavesWhenItsBytesReachTheBound) {
  FakeOutbox out;
  ResultBatches batches(out, limits(64, 1000));
  add_value(batches, 2, 1, true, 600);
  EXPECT_TRUE(out.sent().empty());
  add_value(batches, 2, 2, true, 600);
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].dest, 2);
  EXPECT_EQ(seqs_in(sent[0]), (std::vector<std::uint64_t>{1, 2}));
}

TEST(ResultBatches, NoMoreWorkHereSendsEveryOpenBatch) {
  FakeOutbox out;
  ResultBatches batches(out, limits(64));
  add_value(batches, 0, 1, true);
  add_value(batches, 2, 5, true);
  add_value(batches, 0, 2, true);
  EXPECT_TRUE(out.sent().empty());
  add_value(batches, 2, 6, /*more_here=*/false);
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].dest, 0);  // the older batch first
  EXPECT_EQ(seqs_in(sent[0]), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(sent[1].dest, 2);
  EXPECT_EQ(seqs_in(sent[1]), (std::vector<std::uint64_t>{5, 6}));
  EXPECT_EQ(batches.waiting(), 0u);
}

TEST(ResultBatches, ALoneResultGoesAtOnceAsTaskDone) {
  FakeOutbox out;
  ResultBatches batches(out, limits(64));
  add_value(batches, 3, 8, /*more_here=*/false);
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, MessageType::task_done);
  EXPECT_EQ(seqs_in(sent[0]), (std::vector<std::uint64_t>{8}));
  EXPECT_EQ(batches.counts().messages, 1u);
}

TEST(ResultBatches, ABatchLeavesOnceItsFirstResultWaitedTheTimeBound) {
  using Clock = ResultBatches::Clock;
  FakeOutbox out;
  ResultBatches batches(out, limits(64, 1 << 20, 2ms));
  add_value(batches, 1, 1, true);
  const auto between = Clock::now();  // after rank 1's batch opened, before rank 2's
  while (Clock::now() == between) {
  }
  add_value(batches, 2, 2, true);
  EXPECT_FALSE(batches.flush_due(between + 1ms));
  EXPECT_TRUE(out.sent().empty());
  // Only the batch that waited long enough leaves.
  EXPECT_TRUE(batches.flush_due(between + 2ms));
  auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].dest, 1);
  EXPECT_EQ(batches.waiting(), 1u);
  EXPECT_TRUE(batches.flush_due(Clock::now() + 2ms));
  sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].dest, 2);
  EXPECT_FALSE(batches.flush_due(Clock::now() + 1h)) << "nothing is open";
}

TEST(ResultBatches, BatchesWaitBehindTheBorrowGate) {
  FakeOutbox out;
  ResultBatches batches(out, limits(2));
  out.borrow_registered();
  add_value(batches, 0, 1, true);
  add_value(batches, 0, 2, true);  // full: it leaves, into the gate
  add_value(batches, 0, 3, false);
  EXPECT_TRUE(out.sent().empty()) << "a result overtook an unacknowledged borrow";
  EXPECT_EQ(out.gated(), 2u);
  out.borrow_acknowledged();
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(seqs_in(sent[0]), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(seqs_in(sent[1]), (std::vector<std::uint64_t>{3}));
}

TEST(ResultBatches, ResultsKeepTheirOrderForEachOwner) {
  FakeOutbox out;
  ResultBatches batches(out, limits(3));
  for (std::uint64_t i = 0; i < 20; ++i) add_value(batches, static_cast<int>(i % 2), i, i % 7 != 6);
  batches.flush_all();
  std::vector<std::uint64_t> to0, to1;
  for (const SentMessage& m : out.take_all()) {
    for (std::uint64_t seq : seqs_in(m)) (m.dest == 0 ? to0 : to1).push_back(seq);
  }
  EXPECT_EQ(to0, (std::vector<std::uint64_t>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}));
  EXPECT_EQ(to1, (std::vector<std::uint64_t>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}));
  EXPECT_EQ(batches.counts().results, 20u);
}

TEST(ResultBatches, FlushSendsOneOwnersBatchOnly) {
  FakeOutbox out;
  ResultBatches batches(out, limits(64));
  add_value(batches, 0, 1, true);
  add_value(batches, 1, 2, true);
  batches.flush(1);
  batches.flush(5);  // nothing open there
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].dest, 1);
  EXPECT_EQ(batches.waiting(), 1u);
}

TEST(ResultBatches, StopSendsWhatIsOpenAndLaterResultsAtOnce) {
  FakeOutbox out;
  ResultBatches batches(out, limits(64));
  add_value(batches, 0, 1, true);
  add_value(batches, 1, 2, true);
  batches.stop();
  EXPECT_EQ(out.take_all().size(), 2u);
  add_value(batches, 0, 3, /*more_here=*/true);
  const auto sent = out.take_all();
  ASSERT_EQ(sent.size(), 1u) << "a result held after stop would never leave";
  EXPECT_EQ(seqs_in(sent[0]), (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(batches.waiting(), 0u);
}

}  // namespace
}  // namespace manta::engine
