#include "engine/collective_call.h"

#include "engine/crash_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace manta::engine {

using collective::ReduceOp;
using collective::detail::Call;

static_assert(std::is_trivially_copyable_v<LegHeader> && sizeof(LegHeader) < kSlotBytes);
static_assert(static_cast<int>(CollectiveElement::f64) ==
              static_cast<int>(transport::Element::f64));
static_assert(static_cast<int>(ReduceOp::max) == static_cast<int>(transport::Reduction::max));

CallShape shape_of(const Call& call, int member, bool on_gpu) {
  CallShape s;
  s.place = on_gpu ? 1 : 0;
  s.kind = static_cast<std::uint8_t>(call.kind);
  s.element = static_cast<std::uint8_t>(call.element);
  s.op = static_cast<std::uint8_t>(call.op);
  s.peer = call.peer;
  s.in_count = call.in_count;
  s.out_count = call.out_count;
  s.member = member;
  return s;
}

const char* kind_name(CollectiveKind k) noexcept {
  switch (k) {
    case CollectiveKind::allreduce:
      return "allreduce";
    case CollectiveKind::reduce:
      return "reduce";
    case CollectiveKind::broadcast:
      return "broadcast";
    case CollectiveKind::allgather:
      return "allgather";
    case CollectiveKind::reduce_scatter:
      return "reduce_scatter";
    case CollectiveKind::barrier:
      return "barrier";
    case CollectiveKind::send:
      return "send";
    case CollectiveKind::recv:
      return "recv";
  }
  return "unknown";
}

const char* element_name(CollectiveElement e) noexcept {
  static constexpr const char* kNames[] = {"int8",   "uint8", "int16",  "uint16", "int32",
                                           "uint32", "int64", "uint64", "float",  "double"};
  const auto i = static_cast<std::size_t>(e);
  return i < std::size(kNames) ? kNames[i] : "none";
}

std::size_t element_bytes(CollectiveElement e) noexcept {
  return e == CollectiveElement::none ? 0 : transport::element_size(to_transport(e));
}

transport::Element to_transport(CollectiveElement e) noexcept {
  return static_cast<transport::Element>(e);
}

transport::Reduction to_transport(ReduceOp op) noexcept {
  return static_cast<transport::Reduction>(op);
}

namespace {

const char* op_name(std::uint8_t op) noexcept {
  static constexpr const char* kNames[] = {"sum", "prod", "min", "max"};
  return op < std::size(kNames) ? kNames[op] : "unknown";
}

bool reduces(CollectiveKind k) noexcept {
  return k == CollectiveKind::allreduce || k == CollectiveKind::reduce ||
         k == CollectiveKind::reduce_scatter;
}

bool rooted(CollectiveKind k) noexcept {
  return k == CollectiveKind::reduce || k == CollectiveKind::broadcast;
}

}  // namespace

namespace {
std::string describe_kind(const CallShape& s);
}  // namespace

std::string describe_call(const CallShape& s) {
  std::string text = describe_kind(s);
  if (s.place == 1) text += " in GPU memory";
  return text;
}

namespace {

std::string describe_kind(const CallShape& s) {
  const auto kind = static_cast<CollectiveKind>(s.kind);
  const char* type = element_name(static_cast<CollectiveElement>(s.element));
  switch (kind) {
    case CollectiveKind::barrier:
      return "barrier";
    case CollectiveKind::allgather:
      return fmt::format("allgather of {} {} into {}", s.in_count, type, s.out_count);
    case CollectiveKind::reduce_scatter:
      return fmt::format("reduce_scatter of {} {} into {} ({})", s.in_count, type, s.out_count,
                         op_name(s.op));
    case CollectiveKind::reduce:
      return fmt::format("reduce of {} {} to member {} ({})", s.in_count, type, s.peer,
                         op_name(s.op));
    case CollectiveKind::broadcast:
      return fmt::format("broadcast of {} {} from member {}", s.in_count, type, s.peer);
    case CollectiveKind::allreduce:
      return s.in_count == s.out_count
                 ? fmt::format("allreduce of {} {} ({})", s.in_count, type, op_name(s.op))
                 : fmt::format("allreduce of {} {} into {} ({})", s.in_count, type, s.out_count,
                               op_name(s.op));
    case CollectiveKind::send:
      return fmt::format("send of {} {} to member {}", s.in_count, type, s.peer);
    case CollectiveKind::recv:
      return fmt::format("recv of {} {} from member {}", s.out_count, type, s.peer);
  }
  return "an unknown call";
}

}  // namespace

std::string describe_member(int member, const std::vector<ActorId>& members) {
  if (member < 0 || static_cast<std::size_t>(member) >= members.size()) {
    return fmt::format("member {}", member);
  }
  return fmt::format("member {} ({})", member,
                     members[static_cast<std::size_t>(member)].to_string());
}

std::optional<std::string> invalid_call(const CallShape& s, int group_size) {
  const auto kind = static_cast<CollectiveKind>(s.kind);
  const auto n = static_cast<std::uint64_t>(group_size);
  if (kind != CollectiveKind::barrier &&
      s.element > static_cast<std::uint8_t>(CollectiveElement::f64))
    return "an unknown element type";
  if (reduces(kind) && s.op > static_cast<std::uint8_t>(ReduceOp::max))
    return "an unknown reduction";
  if ((rooted(kind) || kind == CollectiveKind::send || kind == CollectiveKind::recv) &&
      (s.peer < 0 || s.peer >= group_size)) {
    return fmt::format("{}: member {} is not in the group (members 0 to {})", describe_call(s),
                       s.peer, group_size - 1);
  }
  switch (kind) {
    case CollectiveKind::allreduce:
    case CollectiveKind::broadcast:
      if (s.in_count != s.out_count)
        return fmt::format("{}: the result buffer holds {}, not {}", describe_call(s), s.out_count,
                           s.in_count);
      break;
    case CollectiveKind::reduce:
      if (s.peer == s.member && s.in_count != s.out_count)
        return fmt::format("{}: the root's result buffer holds {}, not {}", describe_call(s),
                           s.out_count, s.in_count);
      break;
    case CollectiveKind::allgather:
      if (s.out_count != s.in_count * n)
        return fmt::format("{}: the result must hold size x input = {} x {} = {}", describe_call(s),
                           n, s.in_count, s.in_count * n);
      break;
    case CollectiveKind::reduce_scatter:
      if (s.in_count != s.out_count * n)
        return fmt::format("{}: the input must hold size x result = {} x {} = {}", describe_call(s),
                           n, s.out_count, s.out_count * n);
      break;
    case CollectiveKind::send:
      if (s.peer == s.member)
        return fmt::format("{}: a member cannot send to itself", describe_call(s));
      break;
    case CollectiveKind::recv:
      if (s.peer == s.member)
        return fmt::format("{}: a member cannot receive from itself", describe_call(s));
      break;
    case CollectiveKind::barrier:
      break;
  }
  return std::nullopt;
}

bool same_call(const CallShape& a, const CallShape& b) noexcept {
  if (a.kind != b.kind || a.place != b.place) return false;
  const auto kind = static_cast<CollectiveKind>(a.kind);
  if (kind == CollectiveKind::barrier) return true;
  if (a.element != b.element) return false;
  if (reduces(kind) && a.op != b.op) return false;
  if (rooted(kind) && a.peer != b.peer) return false;
  switch (kind) {
    case CollectiveKind::reduce_scatter:
      return a.out_count == b.out_count && a.in_count == b.in_count;
    case CollectiveKind::reduce:
      return a.in_count == b.in_count;
    default:
      return a.in_count == b.in_count && a.out_count == b.out_count;
  }
}

std::optional<std::string> check_headers(std::span<const LegHeader> headers, std::uint64_t seq,
                                         const std::vector<ActorId>& members) {
  const int n = static_cast<int>(members.size());
  auto differ = [&](const CallShape& a, const CallShape& b) {
    return fmt::format("{} called {}, but {} called {}", describe_member(a.member, members),
                       describe_call(a), describe_member(b.member, members), describe_call(b));
  };
  for (const LegHeader& h : headers) {
    if (h.seq != seq) {
      return fmt::format("ranks disagree on the operation's number ({} here, {} on the rank of {})",
                         seq, h.seq, describe_member(h.first.member, members));
    }
  }
  for (const LegHeader& h : headers) {
    if (auto why = invalid_call(h.first, n))
      return describe_member(h.first.member, members) + " called " + *why;
    if (h.differing.member >= 0) {
      if (auto why = invalid_call(h.differing, n))
        return describe_member(h.differing.member, members) + " called " + *why;
      return differ(h.first, h.differing);
    }
  }
  for (const LegHeader& h : headers) {
    if (!same_call(headers[0].first, h.first)) return differ(headers[0].first, h.first);
  }
  return std::nullopt;
}

void throw_as_member(const ErrorInfo& cause, int rank) {
  ErrorInfo e = cause;
  e.rank = rank;
  e.task_name = RunningCallScope::current_function();
  throw_error(e);
}

bool goes_inline(const CallShape& s, int group_size) noexcept {
  const auto kind = static_cast<CollectiveKind>(s.kind);
  const std::size_t e = element_bytes(static_cast<CollectiveElement>(s.element));
  switch (kind) {
    case CollectiveKind::barrier:
      return true;
    case CollectiveKind::allgather:
      return s.in_count * static_cast<std::uint64_t>(group_size) * e <= kInlineBytes;
    default:
      return s.in_count * e <= kInlineBytes;
  }
}

namespace {

template <class T>
void combine_as(ReduceOp op, void* dst, const void* src, std::size_t count) {
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  switch (op) {
    case ReduceOp::sum:
      for (std::size_t i = 0; i < count; ++i) d[i] = static_cast<T>(d[i] + s[i]);
      break;
    case ReduceOp::prod:
      for (std::size_t i = 0; i < count; ++i) d[i] = static_cast<T>(d[i] * s[i]);
      break;
    case ReduceOp::min:
      for (std::size_t i = 0; i < count; ++i) d[i] = std::min(d[i], s[i]);
      break;
    case ReduceOp::max:
      for (std::size_t i = 0; i < count; ++i) d[i] = std::max(d[i], s[i]);
      break;
  }
}

}  // namespace

void combine(CollectiveElement e, ReduceOp op, void* dst, const void* src, std::size_t count) {
  switch (e) {
    case CollectiveElement::i8:
      return combine_as<std::int8_t>(op, dst, src, count);
    case CollectiveElement::u8:
      return combine_as<std::uint8_t>(op, dst, src, count);
    case CollectiveElement::i16:
      return combine_as<std::int16_t>(op, dst, src, count);
    case CollectiveElement::u16:
      return combine_as<std::uint16_t>(op, dst, src, count);
    case CollectiveElement::i32:
      return combine_as<std::int32_t>(op, dst, src, count);
    case CollectiveElement::u32:
      return combine_as<std::uint32_t>(op, dst, src, count);
    case CollectiveElement::i64:
      return combine_as<std::int64_t>(op, dst, src, count);
    case CollectiveElement::u64:
      return combine_as<std::uint64_t>(op, dst, src, count);
    case CollectiveElement::f32:
      return combine_as<float>(op, dst, src, count);
    case CollectiveElement::f64:
      return combine_as<double>(op, dst, src, count);
    case CollectiveElement::none:
      return;
  }
}

}  // namespace manta::engine
