// Fuzz target: the decoders of control messages (engine/messages.*, transport/wire.h and the
// timeline events ranks send at shutdown). Any bytes must decode or fail with the wire's clean
// error (std::runtime_error); never crash, read outside the message or size an allocation from a
// damaged count. What decodes must encode and decode again to the same thing.
//
// Input: one byte choosing the decoder, then the message body.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <manta/init.h>

#include "engine/messages.h"
#include "engine/timeline.h"
#include "transport/wire.h"

namespace {

using manta::Buffer;
using manta::ErrorInfo;
using manta::SharedBuffer;
using manta::engine::ResourceSet;
using manta::engine::TaskPtr;
using manta::engine::TaskSpec;
using manta::transport::WireReader;
using manta::transport::WireWriter;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "message decoder fuzz: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

// Amounts compare by their bits: a NaN amount must survive the round trip too.
bool same_amount(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same(const ResourceSet& a, const ResourceSet& b) {
  if (a.items().size() != b.items().size()) return false;
  for (std::size_t i = 0; i < a.items().size(); ++i) {
    if (a.items()[i].first != b.items()[i].first ||
        !same_amount(a.items()[i].second, b.items()[i].second)) {
      return false;
    }
  }
  return true;
}

bool same(const ErrorInfo& a, const ErrorInfo& b) {
  return a.kind == b.kind && a.rank == b.rank && a.task_name == b.task_name &&
         a.exception_type == b.exception_type && a.message == b.message &&
         a.requested_bytes == b.requested_bytes && a.capacity_bytes == b.capacity_bytes &&
         a.pinned_bytes == b.pinned_bytes;
}

// The value bytes of argument `i`, wherever they live.
std::span<const std::byte> arg_bytes(const TaskSpec& t, std::size_t i) {
  const auto& a = t.args[i];
  return {a.buffer->data() + a.offset, a.size};
}

bool same(const TaskSpec& a, const TaskSpec& b) {
  bool ok = a.id == b.id && a.kind == b.kind && a.actor == b.actor && a.actor_seq == b.actor_seq &&
            a.caller == b.caller && a.function == b.function && a.name == b.name &&
            same(*a.resources, *b.resources) && a.on_rank == b.on_rank &&
            a.max_retries == b.max_retries && a.retry_exceptions == b.retry_exceptions &&
            a.attempt == b.attempt && a.hand_ons == b.hand_ons && a.args.size() == b.args.size() &&
            (a.env == b.env || (a.env && b.env && *a.env == *b.env));
  if (ok && a.kind == manta::engine::TaskKind::actor_creation) {
    ok = a.actor_name == b.actor_name && a.actor_namespace == b.actor_namespace &&
         a.max_restarts_actor == b.max_restarts_actor && a.max_concurrency == b.max_concurrency &&
         a.class_tag == b.class_tag;
  }
  for (std::size_t i = 0; ok && i < a.args.size(); ++i) {
    const auto& x = a.args[i];
    const auto& y = b.args[i];
    ok = x.is_ref == y.is_ref && x.tag == y.tag && x.size == y.size;
    if (ok && x.is_ref) ok = x.ref == y.ref && x.location == y.location;
    if (ok && !x.is_ref) {
      const auto bx = arg_bytes(a, i);
      const auto by = arg_bytes(b, i);
      ok = bx.size() == by.size() &&
           (bx.empty() || std::memcmp(bx.data(), by.data(), bx.size()) == 0);
    }
  }
  return ok;
}

void decode_task(const SharedBuffer& message) {
  WireReader r(message->span());
  const TaskPtr t = manta::engine::read_task(r, message);
  // Value arguments point into the message, inside it.
  const auto* begin = message->data();
  const auto* end = begin + message->size();
  for (std::size_t i = 0; i < t->args.size(); ++i) {
    const auto& a = t->args[i];
    if (a.is_ref) continue;
    require(a.buffer == message, "a value argument does not point into its message");
    require(a.offset <= message->size() && a.size <= message->size() - a.offset,
            "a value argument lies outside its message");
    require(arg_bytes(*t, i).data() >= begin && arg_bytes(*t, i).data() + a.size <= end,
            "a value argument lies outside its message");
  }
  // Encoded again with every value inline, it decodes to the same spec.
  Buffer again;
  WireWriter w(again);
  manta::engine::write_task(w, *t, std::numeric_limits<std::uint64_t>::max(), 0);
  auto shared = std::make_shared<const Buffer>(std::move(again));
  WireReader r2(shared->span());
  const TaskPtr t2 = manta::engine::read_task(r2, shared);
  require(r2.done(), "a re-encoded task has bytes left over");
  require(same(*t, *t2), "a task decodes differently after encoding it again");
}

void decode_error(const SharedBuffer& message) {
  WireReader r(message->span());
  const ErrorInfo e = manta::engine::read_error(r);
  Buffer again;
  WireWriter w(again);
  manta::engine::write_error(w, e);
  WireReader r2(again.span());
  require(same(e, manta::engine::read_error(r2)) && r2.done(),
          "an error record decodes differently after encoding it again");
}

void decode_resources(const SharedBuffer& message) {
  WireReader r(message->span());
  const ResourceSet s = manta::engine::read_resources(r);
  Buffer again;
  WireWriter w(again);
  manta::engine::write_resources(w, s);
  WireReader r2(again.span());
  require(same(s, manta::engine::read_resources(r2)) && r2.done(),
          "a resource set decodes differently after encoding it again");
}

void decode_timeline(const SharedBuffer& message) {
  manta::engine::Timeline timeline(0);
  timeline.add_encoded(message->span());
  std::ostringstream first;
  timeline.append_jsonl(first);
  // What was added encodes and decodes again to the same events (compared as their JSON lines:
  // the encoding copies ids with their padding bytes).
  const Buffer encoded = timeline.take_encoded();
  manta::engine::Timeline again(0);
  again.add_encoded(encoded.span());
  std::ostringstream second;
  again.append_jsonl(second);
  require(first.str() == second.str(),
          "timeline events decode differently after encoding them again");
}

}  // namespace

// errors.cpp (ids as text, which timeline events use) asks which rank it runs on; the decoders
// run here without a runtime, as rank 0 would before init.
int manta::rank() noexcept { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto message = std::make_shared<const Buffer>(data + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0:
        decode_task(message);
        break;
      case 1:
        decode_error(message);
        break;
      case 2:
        decode_resources(message);
        break;
      default:
        decode_timeline(message);
        break;
    }
  } catch (const std::runtime_error&) {
    // The wire's error for a message that ends early or holds impossible counts: the clean end.
  }
  // Anything else (std::bad_alloc, std::length_error, ...) escapes and is reported as a crash.
  return 0;
}
