// Object transfer over the fake outbox and data plane: the holder answers a pull with a header
// and the bytes (by messages, by an rma offer it keeps leased until pull_done, or by its spill
// file), or says the object is lost; the getter reserves room, asks, and hands the bytes and
// the reservation to its callback once the data plane's receive completes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <manta/ids.h>

#include "engine/messages.h"
#include "engine/object_transfer.h"
#include "engine/ownership.h"
#include "engine/spill_manager.h"
#include "fake_rank.h"

namespace manta::engine {
namespace {

using fakes::FakeDataPlane;
using fakes::FakeRank;
using fakes::SentMessage;
using transport::Carrier;
using transport::WireReader;
using transport::WireWriter;
using namespace std::chrono_literals;

SharedBuffer bytes_of(std::size_t n, char fill = 'x') {
  auto b = std::make_shared<Buffer>(n);
  for (std::size_t i = 0; i < n; ++i) b->data()[i] = static_cast<std::byte>(fill);
  return b;
}

struct Rank : FakeRank {
  Rank(int rank, int size) : FakeRank(rank, size) {
    ownership.register_handlers(dispatcher);
    transfer.register_handlers(dispatcher);
  }
  Ownership ownership{ctx};
  ObjectTransfer transfer{ctx, ownership, plane};
};

// A pull_header as the getter reads it.
struct Header {
  int tag = -1;
  bool ok = false;
  std::uint64_t obj_tag = 0;
  std::uint64_t size = 0;
  Carrier carrier = Carrier::messages;
  std::vector<std::byte> descriptor;
  ErrorInfo error;
};

Header read_header(const SentMessage& m) {
  EXPECT_EQ(m.type, MessageType::pull_header);
  WireReader r = m.reader();
  Header h;
  h.tag = r.get<int>();
  h.ok = r.get<std::uint8_t>() != 0;
  if (!h.ok) {
    h.error = read_error(r);
    return h;
  }
  h.obj_tag = r.get<std::uint64_t>();
  h.size = r.get<std::uint64_t>();
  h.carrier = r.get<Carrier>();
  const auto d = r.bytes();
  h.descriptor.assign(d.begin(), d.end());
  return h;
}

void pull_request(Rank& holder, int from, const ObjectId& id, int tag, bool may_read_file) {
  holder.deliver(from, [&](WireWriter& w) {
    w.put(MessageType::pull_request).put(id).put(tag).put<std::uint8_t>(may_read_file);
  });
}

// ---------------------------------------------------------------------------------------------
// The holder's side.

TEST(ObjectTransferHolder, ServesAReadyObjectByMessages) {
  Rank holder(1, 2);
  const ObjectId id{1, 0, 4};
  const SharedBuffer bytes = bytes_of(3000);
  auto token = holder.store.create_ready(id, bytes, 77);
  pull_request(holder, 0, id, 7, true);
  const auto header = holder.outbox.pop(MessageType::pull_header);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->dest, 0);
  const Header h = read_header(*header);
  EXPECT_EQ(h.tag, 7);
  EXPECT_TRUE(h.ok);
  EXPECT_EQ(h.obj_tag, 77u);
  EXPECT_EQ(h.size, 3000u);
  EXPECT_EQ(h.carrier, Carrier::messages);
  EXPECT_TRUE(h.descriptor.empty());
  const auto sends = holder.plane.sends();
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].reader, 0);
  EXPECT_EQ(sends[0].tag, 7);
  EXPECT_EQ(sends[0].bytes, bytes);  // the store's buffer itself, not a copy
  EXPECT_EQ(holder.transfer.open_leases(), 0u);
  EXPECT_EQ(holder.transfer.stats().serves, 1u);
  EXPECT_EQ(holder.transfer.stats().bytes_served, 3000u);
}

TEST(ObjectTransferHolder, AnRmaOfferStaysLeasedUntilPullDone) {
  Rank holder(1, 3);
  holder.plane.set_offer_mode(FakeDataPlane::OfferMode::rma);
  const ObjectId id{1, 0, 4};
  auto token = holder.store.create_ready(id, bytes_of(3000), 77);
  pull_request(holder, 0, id, 7, true);
  const auto header = holder.outbox.pop(MessageType::pull_header);
  ASSERT_TRUE(header);
  const Header h = read_header(*header);
  EXPECT_EQ(h.carrier, Carrier::rma);
  EXPECT_EQ(h.descriptor, FakeDataPlane::rma_descriptor(1));
  EXPECT_TRUE(holder.plane.sends().empty()) << "the reader reads it itself";
  EXPECT_EQ(holder.transfer.open_leases(), 1u);

  // The reader lets go of its lease only: another rank's pull_done with the same tag is not it.
  holder.deliver(2, [](WireWriter& w) { w.put(MessageType::pull_done).put(7); });
  EXPECT_EQ(holder.transfer.open_leases(), 1u);
  EXPECT_TRUE(holder.plane.releases().empty());
  holder.deliver(0, [](WireWriter& w) { w.put(MessageType::pull_done).put(7); });
  EXPECT_EQ(holder.transfer.open_leases(), 0u);
  EXPECT_EQ(holder.plane.releases(), std::vector<std::uint64_t>{1});
}

TEST(ObjectTransferHolder, AFailedOfferFallsBackToMessages) {
  Rank holder(1, 2);
  holder.plane.set_offer_mode(FakeDataPlane::OfferMode::fail);
  const ObjectId id{1, 0, 4};
  auto token = holder.store.create_ready(id, bytes_of(100), 77);
  pull_request(holder, 0, id, 9, true);
  const auto header = holder.outbox.pop(MessageType::pull_header);
  ASSERT_TRUE(header);
  EXPECT_EQ(read_header(*header).carrier, Carrier::messages);
  ASSERT_EQ(holder.plane.sends().size(), 1u);
  EXPECT_EQ(holder.transfer.open_leases(), 0u);
}

TEST(ObjectTransferHolder, AnObjectItDoesNotHaveIsReportedLost) {
  Rank holder(1, 2);
  const ObjectId id{0, 0, 42};
  pull_request(holder, 0, id, 7, true);
  const auto header = holder.outbox.pop(MessageType::pull_header);
  ASSERT_TRUE(header);
  const Header h = read_header(*header);
  EXPECT_EQ(h.tag, 7);
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.error.kind, ErrorKind::object_lost);
  EXPECT_EQ(h.error.rank, 1);
  EXPECT_NE(h.error.message.find(id.to_string()), std::string::npos) << h.error.message;
  EXPECT_NE(h.error.message.find("rank 1"), std::string::npos) << h.error.message;
  EXPECT_TRUE(holder.plane.sends().empty());
  EXPECT_TRUE(holder.plane.offers().empty());
}

TEST(ObjectTransferHolder, AFailedObjectIsReportedWithItsError) {
  Rank holder(1, 2);
  const ObjectId id{1, 0, 4};
  auto token = holder.store.create_pending(id);
  holder.ownership.apply_freed(
      id, holder.store.set_failed(id, std::make_shared<const ErrorInfo>(fakes::error_of(
                                          ErrorKind::object_lost, "spill file damaged"))));
  pull_request(holder, 0, id, 7, true);
  const auto header = holder.outbox.pop(MessageType::pull_header);
  ASSERT_TRUE(header);
  const Header h = read_header(*header);
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.error.message, "spill file damaged");
}

class ObjectTransferSpilled : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("manta-object-transfer-test-" + std::to_string(getpid()));
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  SpillSettings settings() const {
    SpillSettings s;
    s.root = root_.string();
    s.job = "unit";
    s.rank = 1;
    s.room_timeout = 5s;
    return s;
  }

  std::filesystem::path root_;
};

TEST_F(ObjectTransferSpilled, AnObjectOnlyOnDiskIsServedByTheFileCarrier) {
  Rank holder(1, 2);
  SpillManager spill(settings(), holder.store);
  holder.ctx.spill = &spill;
  const ObjectId id{1, 0, 4};
  auto token = holder.store.create_ready(id, bytes_of(300), 77);
  // Spilled by hand (as the spill pass does), so no file I/O has to finish first.
  holder.store.set_capacity(10000, 100, nullptr);
  ASSERT_EQ(holder.store.take_spill_batch(300, 0).size(), 1u);
  auto slot = std::make_shared<const ObjectStore::SpillSlot>(ObjectStore::SpillSlot{4096, 300, 99});
  holder.store.spilled({id}, {slot});
  ASSERT_EQ(holder.store.view(id).state, ObjectStore::State::spilled);

  pull_request(holder, 0, id, 7, true);
  const auto header = holder.outbox.pop(MessageType::pull_header);
  ASSERT_TRUE(header);
  const Header h = read_header(*header);
  EXPECT_TRUE(h.ok);
  EXPECT_EQ(h.obj_tag, 77u);
  EXPECT_EQ(h.size, 300u);
  ASSERT_EQ(h.carrier, Carrier::file);
  WireReader d(h.descriptor);
  EXPECT_EQ(d.str(), spill.file_path());
  EXPECT_EQ(d.get<std::uint64_t>(), 4096u);
  EXPECT_EQ(d.get<std::uint64_t>(), 99u);
  EXPECT_TRUE(holder.plane.sends().empty());
  EXPECT_TRUE(holder.plane.offers().empty());
  // The slot stays in the file while the reader reads it.
  EXPECT_EQ(holder.transfer.open_leases(), 1u);
  holder.deliver(0, [](WireWriter& w) { w.put(MessageType::pull_done).put(7); });
  EXPECT_EQ(holder.transfer.open_leases(), 0u);
  holder.ctx.spill = nullptr;
  spill.stop();
}

// ---------------------------------------------------------------------------------------------
// The getter's side.

struct PullResult {
  bool called = false;
  SharedBuffer bytes;
  std::uint64_t tag = 0;
  std::shared_ptr<const ErrorInfo> error;
  std::uint64_t reserved = 0;
};

ObjectTransfer::PullDone record(PullResult& out) {
  return [&out](SharedBuffer bytes, std::uint64_t tag, std::shared_ptr<const ErrorInfo> error,
                std::uint64_t reserved, int /*in_place_of*/) {
    out = {true, std::move(bytes), tag, std::move(error), reserved};
  };
}

struct Request {
  ObjectId id;
  int tag = -1;
  bool may_read_file = false;
};

Request read_request(const SentMessage& m) {
  EXPECT_EQ(m.type, MessageType::pull_request);
  WireReader r = m.reader();
  Request q;
  q.id = r.get<ObjectId>();
  q.tag = r.get<int>();
  q.may_read_file = (r.get<std::uint8_t>() & 1) != 0;  // bit 0 of the flags
  return q;
}

void header(Rank& getter, int holder, int tag, Carrier carrier, std::uint64_t size,
            const std::vector<std::byte>& descriptor = {}) {
  getter.deliver(holder, [&](WireWriter& w) {
    w.put(MessageType::pull_header).put(tag).put<std::uint8_t>(1).put<std::uint64_t>(77);
    w.put(size).put(carrier).bytes(descriptor);
  });
}

TEST(ObjectTransferGetter, PullsByMessagesAndHandsOverTheReservation) {
  Rank getter(0, 2);
  const ObjectId id{0, 0, 4};
  PullResult got;
  getter.transfer.pull(id, 1, 300, record(got));
  const auto request = getter.outbox.pop(MessageType::pull_request);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->dest, 1);
  const Request q = read_request(*request);
  EXPECT_EQ(q.id, id);
  EXPECT_TRUE(q.may_read_file);

  header(getter, 1, q.tag, Carrier::messages, 300);
  ASSERT_EQ(getter.plane.open_receives(), 1u);
  const auto receive = getter.plane.open_receive();
  EXPECT_EQ(receive.holder, 1);
  EXPECT_EQ(receive.tag, q.tag);
  EXPECT_EQ(receive.carrier, Carrier::messages);
  EXPECT_EQ(receive.size, 300u);
  EXPECT_FALSE(got.called) << "the bytes have not come yet";

  const SharedBuffer bytes = bytes_of(300);
  getter.plane.complete_receive(bytes);
  ASSERT_TRUE(got.called);
  EXPECT_EQ(got.error, nullptr);
  EXPECT_EQ(got.bytes, bytes);
  EXPECT_EQ(got.tag, 77u);
  EXPECT_EQ(got.reserved, 300u);
  EXPECT_EQ(getter.outbox.count(MessageType::pull_done), 0u) << "nothing was leased";
  EXPECT_EQ(getter.transfer.stats().fetches, 1u);
}

TEST(ObjectTransferGetter, AnRmaReadEndsWithPullDone) {
  Rank getter(0, 2);
  PullResult got;
  getter.transfer.pull({0, 0, 4}, 1, 300, record(got));
  const Request q = read_request(getter.outbox.take(MessageType::pull_request));
  const auto descriptor = FakeDataPlane::rma_descriptor(5);
  header(getter, 1, q.tag, Carrier::rma, 300, descriptor);
  ASSERT_EQ(getter.plane.open_receives(), 1u);
  EXPECT_EQ(getter.plane.open_receive().descriptor, descriptor);
  EXPECT_EQ(getter.outbox.count(MessageType::pull_done), 0u);
  getter.plane.complete_receive(bytes_of(300));
  ASSERT_TRUE(got.called);
  EXPECT_EQ(got.error, nullptr);
  EXPECT_EQ(got.reserved, 300u);
  const auto done = getter.outbox.pop(MessageType::pull_done);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->dest, 1);
  EXPECT_EQ(done->reader().get<int>(), q.tag);
}

TEST(ObjectTransferGetter, AFailedRmaReadStillEndsTheLeaseAndLosesTheObject) {
  Rank getter(0, 2);
  getter.store.set_capacity(1000, 1000, nullptr);
  PullResult got;
  getter.transfer.pull({0, 0, 4}, 1, 600, record(got));
  const Request q = read_request(getter.outbox.take(MessageType::pull_request));
  EXPECT_FALSE(getter.store.reserve(600, 0ms).ok) << "the pull holds 600 of 1000 bytes";
  header(getter, 1, q.tag, Carrier::rma, 600, FakeDataPlane::rma_descriptor(5));
  getter.plane.fail_receive("remote key rejected");
  ASSERT_TRUE(got.called);
  ASSERT_NE(got.error, nullptr);
  EXPECT_EQ(got.error->kind, ErrorKind::object_lost);
  EXPECT_NE(got.error->message.find("remote key rejected"), std::string::npos);
  EXPECT_NE(got.error->message.find("from rank 1"), std::string::npos) << got.error->message;
  EXPECT_EQ(got.bytes, nullptr);
  EXPECT_EQ(getter.outbox.count(MessageType::pull_done), 1u);
  EXPECT_TRUE(getter.store.reserve(1000, 0ms).ok) << "the reservation was given back";
}

TEST(ObjectTransferGetter, ALostHeaderFailsThePullAndGivesBackItsRoom) {
  Rank getter(0, 2);
  getter.store.set_capacity(1000, 1000, nullptr);
  PullResult got;
  getter.transfer.pull({0, 0, 4}, 1, 600, record(got));
  const Request q = read_request(getter.outbox.take(MessageType::pull_request));
  getter.deliver(1, [&](WireWriter& w) {
    w.put(MessageType::pull_header).put(q.tag).put<std::uint8_t>(0);
    write_error(w, fakes::error_of(ErrorKind::object_lost, "no longer on rank 1"));
  });
  ASSERT_TRUE(got.called);
  ASSERT_NE(got.error, nullptr);
  EXPECT_EQ(got.error->kind, ErrorKind::object_lost);
  EXPECT_EQ(got.error->message, "no longer on rank 1");
  EXPECT_EQ(got.reserved, 0u);
  EXPECT_EQ(getter.plane.open_receives(), 0u);
  EXPECT_TRUE(getter.store.reserve(1000, 0ms).ok) << "the reservation was given back";
}

TEST(ObjectTransferGetter, AnUnreachableSpillFileIsAskedForAgainByMessages) {
  Rank getter(0, 2);
  PullResult got;
  getter.transfer.pull({0, 0, 4}, 1, 300, record(got));
  const Request first = read_request(getter.outbox.take(MessageType::pull_request));
  ASSERT_TRUE(first.may_read_file);
  header(getter, 1, first.tag, Carrier::file, 300, {std::byte{1}});
  getter.plane.unreachable_receive("no such file");
  EXPECT_FALSE(got.called);
  EXPECT_EQ(getter.outbox.count(MessageType::pull_done), 1u) << "the holder's slot is let go";
  const auto again = getter.outbox.pop(MessageType::pull_request);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->dest, 1);
  const Request second = read_request(*again);
  EXPECT_FALSE(second.may_read_file);
  EXPECT_NE(second.tag, first.tag);

  header(getter, 1, second.tag, Carrier::messages, 300);
  getter.plane.complete_receive(bytes_of(300));
  ASSERT_TRUE(got.called);
  EXPECT_EQ(got.error, nullptr);
  EXPECT_EQ(got.reserved, 300u) << "the room reserved at first carries over";
}

TEST(ObjectTransferGetter, AHeaderForNoOpenPullIsIgnored) {
  Rank getter(0, 2);
  header(getter, 1, 12345, Carrier::messages, 300);
  EXPECT_EQ(getter.plane.open_receives(), 0u);
}

TEST(ObjectTransferGetter, APullWaitsForRoomBeforeItAsks) {
  Rank getter(0, 2);
  getter.store.set_capacity(1000, 1000, nullptr);
  ASSERT_TRUE(getter.store.reserve(800, 0ms).ok);
  PullResult got;
  getter.transfer.pull({0, 0, 4}, 1, 600, record(got));
  EXPECT_EQ(getter.outbox.count(MessageType::pull_request), 0u) << "no room for 600 bytes yet";
  getter.store.unreserve(800);
  getter.store.serve_reservations();
  EXPECT_EQ(getter.outbox.count(MessageType::pull_request), 1u);
}

// ---------------------------------------------------------------------------------------------
// Copies and the owner's free.

// Delivers every message `from` has posted to `to`, oldest first.
void deliver_all(Rank& from, Rank& to) {
  for (const SentMessage& m : from.outbox.take_all()) {
    if (m.dest == to.ctx.rank) to.deliver(from.ctx.rank, m);
  }
}

// A getter asks for an object after its copy landed (it acted on an older look, or a task's
// argument landed meanwhile). The owner, which lists it as holding a copy, takes the question for
// a lost copy and drops it from its locations; the getter, answered with a read it does not
// need, must say it still holds the copy, or the owner's free never reaches it.
TEST(ObjectTransferCopies, AQuestionAfterTheCopyLandedLeavesTheCopyListedAndFreed) {
  Rank owner(0, 2);
  Rank getter(1, 2);
  owner.config.inline_limit = 100;
  const ObjectId id{0, 0, 4};
  const SharedBuffer bytes = bytes_of(4096);
  auto owned = owner.store.create_ready(id, bytes, 77);
  auto borrowed = getter.ownership.acquire(id);
  deliver_all(getter, owner);  // add_borrower
  deliver_all(owner, getter);  // borrow_ack

  // The getter asks, is told to read the owner's bytes, and reads them.
  getter.transfer.ask_owner(id, /*want_pull=*/true);
  deliver_all(getter, owner);  // resolve_object
  deliver_all(owner, getter);  // object_status: read rank 0
  deliver_all(getter, owner);  // pull_request
  deliver_all(owner, getter);  // pull_header
  getter.plane.complete_receive(bytes);
  ASSERT_EQ(getter.store.view(id).state, ObjectStore::State::ready);
  ASSERT_TRUE(getter.store.view(id).cached_copy);

  // copy_done, then the late question.
  getter.transfer.ask_owner(id, /*want_pull=*/true);
  deliver_all(getter, owner);
  EXPECT_FALSE(owner.store.lists_location(id, 1)) << "taken for a lost copy";
  deliver_all(owner, getter);  // object_status: read rank 0 again
  EXPECT_EQ(getter.plane.open_receives(), 0u) << "the bytes are here: no second read";
  EXPECT_EQ(getter.outbox.count(MessageType::pull_request), 0u);
  deliver_all(getter, owner);  // copy_done: no read, but a copy is held here
  EXPECT_TRUE(owner.store.lists_location(id, 1));

  // Every reference goes: the owner frees the object and the getter's copy with it.
  borrowed.reset();
  getter.ownership.release(id);
  deliver_all(getter, owner);  // remove_borrower
  owned.reset();
  owner.ownership.release(id);
  EXPECT_FALSE(owner.store.view(id).exists);
  const auto free = owner.outbox.pop(MessageType::free_object);
  ASSERT_TRUE(free) << "the owner must tell the rank holding the copy";
  EXPECT_EQ(free->dest, 1);
  getter.deliver(0, *free);
  EXPECT_FALSE(getter.store.view(id).exists);
  EXPECT_EQ(getter.store.stats().bytes, 0u);
}

}  // namespace
}  // namespace manta::engine
