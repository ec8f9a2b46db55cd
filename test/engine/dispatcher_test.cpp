// The dispatcher's table: one handler per message type, and messages it cannot handle are
// dropped with a log line, never thrown out of dispatch.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/dispatcher.h"
#include "engine/messages.h"
#include "fake_outbox.h"

namespace manta::engine {
namespace {

using fakes::deliver;
using fakes::encode;
using transport::WireReader;
using transport::WireWriter;

TEST(Dispatcher, RoutesEachTypeToItsHandlerWithTheSender) {
  Dispatcher d;
  std::vector<std::pair<int, std::uint64_t>> got;
  d.on(MessageType::spill_hint, [&](int source, WireReader& r, std::span<const std::byte> m) {
    EXPECT_EQ(static_cast<MessageType>(m[0]), MessageType::spill_hint);
    got.emplace_back(source, r.get<std::uint64_t>());
  });
  deliver(d, 3, [](WireWriter& w) { w.put(MessageType::spill_hint).put<std::uint64_t>(9); });
  deliver(d, 1, [](WireWriter& w) { w.put(MessageType::pull_done).put(4); });  // no handler
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (std::pair<int, std::uint64_t>{3, 9}));
}

TEST(Dispatcher, ASecondHandlerForATypeThrowsNamingIt) {
  Dispatcher d;
  d.on(MessageType::add_borrower, [](int, WireReader&, auto) {});
  try {
    d.on(MessageType::add_borrower, [](int, WireReader&, auto) {});
    FAIL() << "a second handler was accepted";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("add_borrower"), std::string::npos) << e.what();
  }
}

TEST(Dispatcher, UnknownTypesAndUndecodableMessagesAreDroppedNotThrown) {
  Dispatcher d;
  int calls = 0;
  d.on(MessageType::spill_hint, [&](int, WireReader& r, auto) {
    r.get<std::uint64_t>();  // throws on a short message
    ++calls;
  });
  const std::vector<std::byte> unknown{std::byte{250}, std::byte{1}, std::byte{2}};
  EXPECT_NO_THROW(d.dispatch(2, unknown));
  const std::vector<std::byte> zero{std::byte{0}};
  EXPECT_NO_THROW(d.dispatch(2, zero));
  EXPECT_NO_THROW(d.dispatch(2, std::vector<std::byte>{}));  // not even a type byte
  const auto truncated =
      encode([](WireWriter& w) { w.put(MessageType::spill_hint).put<std::uint8_t>(1); });
  EXPECT_NO_THROW(d.dispatch(2, truncated));
  EXPECT_EQ(calls, 0);
  // The table still works after all of that.
  deliver(d, 2, [](WireWriter& w) { w.put(MessageType::spill_hint).put<std::uint64_t>(1); });
  EXPECT_EQ(calls, 1);
}

TEST(Dispatcher, UnhandledListsEveryProtocolTypeWithoutAHandler) {
  Dispatcher d;
  const auto all = d.unhandled();
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kLastMessageType) -
                            static_cast<std::size_t>(kFirstMessageType) + 1);
  EXPECT_EQ(all.front(), kFirstMessageType);
  EXPECT_EQ(all.back(), kLastMessageType);
  d.on(MessageType::task_done, [](int, WireReader&, auto) {});
  EXPECT_TRUE(d.handles(MessageType::task_done));
  const auto rest = d.unhandled();
  EXPECT_EQ(rest.size(), all.size() - 1);
  EXPECT_EQ(std::find(rest.begin(), rest.end(), MessageType::task_done), rest.end());
}

}  // namespace
}  // namespace manta::engine
