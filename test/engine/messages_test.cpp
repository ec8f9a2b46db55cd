// Control message encoding: task specs, errors, resources, and the wire reader's bounds checks.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <manta/buffer.h>
#include <manta/errors.h>
#include <manta/ids.h>
#include <manta/serialization.h>

#include "engine/messages.h"
#include "engine/resources.h"
#include "engine/task_spec.h"
#include "transport/wire.h"

namespace {

using manta::ActorId;
using manta::Buffer;
using manta::ErrorInfo;
using manta::ErrorKind;
using manta::ObjectId;
using manta::SharedBuffer;
using manta::TaskId;
using manta::engine::ResourceSet;
using manta::engine::TaskArg;
using manta::engine::TaskKind;
using manta::engine::TaskPtr;
using manta::engine::TaskSpec;
using manta::transport::WireReader;
using manta::transport::WireWriter;

/// A value argument whose bytes sit at some offset inside a shared buffer.
TaskArg value_arg(const SharedBuffer& buffer, std::uint64_t offset, std::uint64_t size,
                  std::uint64_t tag) {
  TaskArg a;
  a.tag = tag;
  a.buffer = buffer;
  a.offset = offset;
  a.size = size;
  return a;
}

SharedBuffer encode_task(const TaskSpec& spec, std::uint64_t inline_limit, int self) {
  Buffer out;
  WireWriter w(out);
  manta::engine::write_task(w, spec, inline_limit, self);
  return std::make_shared<const Buffer>(std::move(out));
}

TaskPtr decode_task(const SharedBuffer& message) {
  WireReader r(message->span());
  TaskPtr t = manta::engine::read_task(r, message);
  EXPECT_TRUE(r.done()) << "bytes left after the task";
  return t;
}

template <class T>
T arg_value(const TaskArg& a) {
  return manta::decode_tagged<T>(a.tag, a.buffer->data() + a.offset, a.size);
}

/// Spec with an int and a string argument sharing one buffer, and a reference argument.
TaskPtr sample_spec() {
  auto sp = std::make_shared<TaskSpec>();
  TaskSpec& s = *sp;
  s.id = TaskId{3, 1001};
  s.function = 17;
  s.name = "simulate step";
  s.resources = std::make_shared<const ResourceSet>(
      ResourceSet::from_map({{"CPU", 2}, {"GPU", 1}, {"ssd", 0.5}}));
  s.on_rank = 2;
  s.max_retries = 4;
  s.retry_exceptions = true;
  s.attempt = 1;

  Buffer inline_bytes;
  manta::Codec<int>::encode(42, inline_bytes);
  const std::uint64_t str_offset = inline_bytes.size();
  manta::Codec<std::string>::encode("hello, wire", inline_bytes);
  const std::uint64_t str_size = inline_bytes.size() - str_offset;
  auto shared = std::make_shared<const Buffer>(std::move(inline_bytes));
  s.args.push_back(value_arg(shared, 0, sizeof(int), manta::detail::type_tag<int>()));
  s.args.push_back(value_arg(shared, str_offset, str_size, manta::detail::type_tag<std::string>()));

  TaskArg ref;
  ref.is_ref = true;
  ref.tag = manta::detail::type_tag<std::vector<double>>();
  ref.ref = ObjectId{1, 0, 99};
  ref.location = 3;
  ref.size = 123456;
  s.args.push_back(ref);
  return sp;
}

TEST(TaskMessage, RoundTripKeepsEveryField) {
  const TaskPtr spec = sample_spec();
  const TaskSpec& s = *spec;
  const SharedBuffer message = encode_task(s, /*inline_limit=*/1024, /*self=*/3);
  const TaskPtr t = decode_task(message);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->id, (TaskId{3, 1001}));
  EXPECT_EQ(t->return_object(), (ObjectId{3, 0, 1001}));
  EXPECT_EQ(t->function, 17u);
  EXPECT_EQ(t->name, "simulate step");
  ASSERT_NE(t->resources, nullptr);
  EXPECT_EQ(*t->resources, *s.resources);
  EXPECT_EQ(t->resources->get("ssd"), 0.5);
  EXPECT_EQ(t->on_rank, 2);
  EXPECT_EQ(t->max_retries, 4);
  EXPECT_TRUE(t->retry_exceptions);
  EXPECT_EQ(t->attempt, 1);
  ASSERT_EQ(t->args.size(), 3u);

  const TaskArg& i = t->args[0];
  EXPECT_FALSE(i.is_ref);
  EXPECT_EQ(i.tag, manta::detail::type_tag<int>());
  EXPECT_EQ(i.size, sizeof(int));
  EXPECT_EQ(i.buffer, message) << "value bytes point into the message, not a copy";
  EXPECT_EQ(arg_value<int>(i), 42);

  const TaskArg& str = t->args[1];
  EXPECT_FALSE(str.is_ref);
  EXPECT_EQ(str.buffer, message);
  EXPECT_EQ(arg_value<std::string>(str), "hello, wire");

  const TaskArg& ref = t->args[2];
  EXPECT_TRUE(ref.is_ref);
  EXPECT_EQ(ref.tag, manta::detail::type_tag<std::vector<double>>());
  EXPECT_EQ(ref.ref, (ObjectId{1, 0, 99}));
  EXPECT_EQ(ref.location, 3);
  EXPECT_EQ(ref.size, 123456u);
}

TEST(TaskMessage, DefaultsRoundTrip) {
  TaskSpec s;
  s.id = TaskId{0, 1};
  s.resources = std::make_shared<const ResourceSet>(ResourceSet::cpus(1));
  const TaskPtr t = decode_task(encode_task(s, 1024, 0));
  EXPECT_EQ(t->name, "");
  EXPECT_EQ(t->on_rank, -1);
  EXPECT_FALSE(t->retry_exceptions);
  EXPECT_TRUE(t->args.empty());
  EXPECT_EQ(*t->resources, ResourceSet::cpus(1));
  EXPECT_EQ(t->env, nullptr) << "no variables: nothing allocated on the reader either";
}

TEST(TaskMessage, EnvRoundTripsAndIsOneCountWhenEmpty) {
  TaskPtr spec = sample_spec();
  const SharedBuffer plain = encode_task(*spec, 1024, 3);
  spec->env = std::make_shared<const manta::EnvVars>();
  const SharedBuffer empty = encode_task(*spec, 1024, 3);
  ASSERT_EQ(plain->size(), empty->size());
  EXPECT_EQ(std::memcmp(plain->data(), empty->data(), plain->size()), 0);
  EXPECT_EQ(decode_task(empty)->env, nullptr) << "an empty map reads back as none";

  spec->env = std::make_shared<const manta::EnvVars>(
      manta::EnvVars{{"OMP_NUM_THREADS", "4"}, {"EMPTY", ""}, {"WITH_EQ", "a=b"}});
  const TaskPtr t = decode_task(encode_task(*spec, 1024, 3));
  ASSERT_NE(t->env, nullptr);
  EXPECT_EQ(*t->env, *spec->env);
  EXPECT_EQ(t->args.size(), 3u) << "the fields after it still line up";
  EXPECT_EQ(arg_value<std::string>(t->args[1]), "hello, wire");
}

TEST(TaskMessage, ActorCreationCarriesNameNamespaceAndEnv) {
  TaskPtr spec = sample_spec();
  spec->kind = TaskKind::actor_creation;
  spec->actor = ActorId{3, 0, 7};
  spec->actor_name = "counter";
  spec->actor_namespace = "team_a";
  spec->max_restarts_actor = 2;
  spec->max_concurrency = 3;
  spec->class_tag = 99;
  spec->env = std::make_shared<const manta::EnvVars>(manta::EnvVars{{"ACTOR_VAR", "x"}});
  const TaskPtr t = decode_task(encode_task(*spec, 1024, 3));
  EXPECT_EQ(t->kind, TaskKind::actor_creation);
  EXPECT_EQ(t->actor_name, "counter");
  EXPECT_EQ(t->actor_namespace, "team_a");
  EXPECT_EQ(t->max_restarts_actor, 2);
  EXPECT_EQ(t->max_concurrency, 3);
  EXPECT_EQ(t->class_tag, 99u);
  ASSERT_NE(t->env, nullptr);
  EXPECT_EQ(t->env->at("ACTOR_VAR"), "x");
  EXPECT_EQ(t->args.size(), 3u);
}

TEST(TaskMessage, LargeValueFromAnObjectTravelsAsReferenceToSelf) {
  TaskSpec s;
  s.id = TaskId{0, 7};
  s.resources = std::make_shared<const ResourceSet>(ResourceSet::cpus(1));
  std::vector<double> big(256, 1.25);  // 2048 bytes
  auto bytes = std::make_shared<const Buffer>(manta::encode_value(big));
  const std::uint64_t tag = manta::detail::type_tag<std::vector<double>>();

  TaskArg from_object = value_arg(bytes, 0, bytes->size(), tag);
  from_object.ref = ObjectId{0, 0, 5};  // these bytes are object 5 in the sender's store
  s.args.push_back(from_object);

  TaskArg plain = value_arg(bytes, 0, bytes->size(), tag);  // large, but no object behind it
  s.args.push_back(plain);

  TaskArg at_limit = value_arg(bytes, 0, 1024, tag);  // not over the limit
  at_limit.ref = ObjectId{0, 0, 6};
  s.args.push_back(at_limit);

  const SharedBuffer message = encode_task(s, /*inline_limit=*/1024, /*self=*/4);
  EXPECT_LT(message->size(), 2 * bytes->size()) << "the large object was copied into the message";
  const TaskPtr t = decode_task(message);
  ASSERT_EQ(t->args.size(), 3u);

  EXPECT_TRUE(t->args[0].is_ref);
  EXPECT_EQ(t->args[0].ref, (ObjectId{0, 0, 5}));
  EXPECT_EQ(t->args[0].location, 4) << "the reference points at the sender";
  EXPECT_EQ(t->args[0].size, 2048u);
  EXPECT_EQ(t->args[0].tag, tag);

  EXPECT_FALSE(t->args[1].is_ref);
  EXPECT_EQ(arg_value<std::vector<double>>(t->args[1]), big);

  EXPECT_FALSE(t->args[2].is_ref);
  EXPECT_EQ(t->args[2].size, 1024u);
  EXPECT_EQ(arg_value<std::vector<double>>(t->args[2]), std::vector<double>(128, 1.25));
}

TEST(ErrorMessage, RoundTrip) {
  ErrorInfo e;
  e.kind = ErrorKind::object_lost;
  e.rank = 3;
  e.task_name = "ns::load_chunk";
  e.exception_type = "std::out_of_range";
  e.message = std::string("line one\nline two \xe2\x9c\x93 ") + std::string(5000, 'x');
  Buffer out;
  WireWriter w(out);
  manta::engine::write_error(w, e);
  WireReader r(out.span());
  const ErrorInfo back = manta::engine::read_error(r);
  EXPECT_TRUE(r.done());
  EXPECT_EQ(back.kind, ErrorKind::object_lost);
  EXPECT_EQ(back.rank, 3);
  EXPECT_EQ(back.task_name, e.task_name);
  EXPECT_EQ(back.exception_type, e.exception_type);
  EXPECT_EQ(back.message, e.message);
}

TEST(ResourcesMessage, RoundTrip) {
  const ResourceSet r = ResourceSet::from_map({{"CPU", 1.5}, {"GPU", 4}, {"custom", 0.25}});
  Buffer out;
  WireWriter w(out);
  manta::engine::write_resources(w, r);
  manta::engine::write_resources(w, ResourceSet());
  WireReader reader(out.span());
  EXPECT_EQ(manta::engine::read_resources(reader), r);
  EXPECT_EQ(manta::engine::read_resources(reader), ResourceSet());
  EXPECT_TRUE(reader.done());
}

TEST(WireReader, ReadsBackWhatWasWritten) {
  Buffer out;
  WireWriter w(out);
  w.put(std::uint8_t{7}).put(std::int32_t{-5}).str("abc").put(2.5);
  WireReader r(out.span());
  EXPECT_EQ(r.get<std::uint8_t>(), 7);
  EXPECT_EQ(r.get<std::int32_t>(), -5);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(r.str(), "abc");
  EXPECT_EQ(r.get<double>(), 2.5);
  EXPECT_TRUE(r.done());
  EXPECT_THROW((void)r.get<std::uint8_t>(), std::runtime_error);
}

TEST(WireReader, TruncatedInputThrows) {
  Buffer out;
  WireWriter w(out);
  w.put(std::uint64_t{1});
  w.str("some text");
  {
    WireReader r(std::span<const std::byte>(out.data(), 4));
    EXPECT_THROW((void)r.get<std::uint64_t>(), std::runtime_error);
  }
  {
    WireReader r(std::span<const std::byte>(out.data(), out.size() - 1));
    (void)r.get<std::uint64_t>();
    EXPECT_THROW((void)r.str(), std::runtime_error);
  }
}

TEST(WireReader, EveryTruncationOfATaskMessageThrows) {
  const SharedBuffer message = encode_task(*sample_spec(), 1024, 3);
  for (std::size_t n = 0; n < message->size(); ++n) {
    auto prefix = std::make_shared<const Buffer>(message->data(), n);
    WireReader r(prefix->span());
    EXPECT_THROW((void)manta::engine::read_task(r, prefix), std::runtime_error)
        << "prefix of " << n << " of " << message->size() << " bytes";
  }
}

// BUG (transport/wire.h WireReader::need): `pos_ + n > in_.size()` wraps around for a length
// prefix near 2^64, so a corrupt length is accepted and bytes() returns a span past the end.
TEST(WireReader, HugeLengthPrefixThrows) {
  Buffer out;
  WireWriter w(out);
  w.put(std::numeric_limits<std::uint64_t>::max());
  w.put(std::uint64_t{0});
  WireReader r(out.span());
  EXPECT_THROW((void)r.bytes(), std::runtime_error);
}

// A damaged count must not size an allocation (found by test/fuzz/message_decoder_fuzz): four
// billion arguments in a message of a few bytes are a truncated message, not 350 GB to reserve.
TEST(WireReader, CountLargerThanTheMessageThrows) {
  Buffer task_bytes;
  WireWriter w(task_bytes);
  manta::engine::TaskSpec spec;
  spec.resources = std::make_shared<const manta::engine::ResourceSet>();
  manta::engine::write_task(w, spec, 1024, 0);
  // The argument count is the last field of a task without arguments.
  std::uint32_t huge = std::numeric_limits<std::uint32_t>::max();
  std::memcpy(task_bytes.data() + task_bytes.size() - sizeof huge, &huge, sizeof huge);
  auto message = std::make_shared<const Buffer>(task_bytes.data(), task_bytes.size());
  WireReader r(message->span());
  EXPECT_THROW((void)manta::engine::read_task(r, message), std::runtime_error);

  Buffer counts;
  WireWriter c(counts);
  c.put(std::uint64_t{1} << 40).put(std::uint64_t{0});
  WireReader rc(counts.span());
  EXPECT_THROW((void)rc.count<std::uint64_t>(8), std::runtime_error);
  // A count the message can hold is read as it is.
  Buffer fits;
  WireWriter f(fits);
  f.put(std::uint64_t{2}).put(std::uint64_t{7}).put(std::uint64_t{9});
  WireReader rf(fits.span());
  EXPECT_EQ(rf.count<std::uint64_t>(8), 2u);
}

// A NaN amount (found by test/fuzz/message_decoder_fuzz) was kept when it replaced an amount of
// the same name and dropped otherwise, so a set did not survive encoding; no sender makes one.
TEST(ResourcesMessage, AmountThatIsNotFiniteThrows) {
  for (const double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    Buffer out;
    WireWriter w(out);
    w.put(std::uint32_t{2}).str("GPU").put(1.0).str("GPU").put(bad);
    WireReader r(out.span());
    EXPECT_THROW((void)manta::engine::read_resources(r), std::runtime_error) << bad;
  }
}

// task_results: added after copy_lost, so the types before it keep their numbers; a count,
// then each task_done body framed by its length.
TEST(TaskResultsMessage, CarriesTaskDoneBodiesInOrder) {
  using manta::engine::MessageType;
  EXPECT_EQ(static_cast<int>(MessageType::task_done), 3);
  EXPECT_EQ(static_cast<int>(MessageType::copy_lost) + 1,
            static_cast<int>(MessageType::task_results));
  EXPECT_EQ(manta::engine::kLastMessageType, MessageType::task_refused);
  EXPECT_STREQ(manta::engine::message_name(MessageType::lease_grant), "lease_grant");
  EXPECT_STREQ(manta::engine::message_name(MessageType::task_results), "task_results");

  Buffer bodies;
  for (std::uint64_t seq = 0; seq < 3; ++seq) {
    manta::engine::append_framed_body(bodies, [&](WireWriter& w) {
      w.put(TaskId{2, seq}).put(manta::engine::ResultKind::value).put<std::uint64_t>(seq);
      w.str(std::string(seq, 'x'));
    });
  }
  Buffer message;
  WireWriter w(message);
  manta::engine::write_task_results(w, 3, bodies.span());
  WireReader r(message.span());
  EXPECT_EQ(r.get<MessageType>(), MessageType::task_results);
  const auto read = manta::engine::read_task_results(r);
  ASSERT_EQ(read.size(), 3u);
  for (std::uint64_t seq = 0; seq < 3; ++seq) {
    WireReader body(read[seq]);
    EXPECT_EQ(body.get<TaskId>(), (TaskId{2, seq}));
    EXPECT_EQ(body.get<manta::engine::ResultKind>(), manta::engine::ResultKind::value);
    EXPECT_EQ(body.get<std::uint64_t>(), seq);
    EXPECT_EQ(body.str(), std::string(seq, 'x'));
    EXPECT_TRUE(body.done()) << "body " << seq << " ends where its frame says";
  }
}

TEST(TaskResultsMessage, ACountItDoesNotHoldOrBytesPastTheLastResultThrow) {
  Buffer body;
  manta::engine::append_framed_body(body, [](WireWriter& w) { w.put(std::uint64_t{1}); });
  for (const std::uint32_t count : {0u, 2u}) {
    Buffer message;
    WireWriter w(message);
    manta::engine::write_task_results(w, count, body.span());
    WireReader r(message.span());
    r.get<manta::engine::MessageType>();
    EXPECT_THROW((void)manta::engine::read_task_results(r), std::runtime_error) << count;
  }
}

}  // namespace
