// One collective call as the members of a group compare it: its shape (kind, element type,
// reduction, root and counts), the fixed-size header each rank sends in the first step of every
// operation, the checks that find calls that differ, and the element-wise reductions used to
// combine the members that share a rank.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <manta/collective.h>
#include <manta/errors.h>
#include <manta/ids.h>

#include "transport/group_communicator.h"

namespace manta::engine {

using CollectiveKind = collective::detail::Kind;
using CollectiveElement = collective::detail::Element;

/// What one member asked for. Trivially copyable: it travels inside LegHeader.
struct CallShape {
  std::uint64_t in_count = 0;
  std::uint64_t out_count = 0;
  std::int32_t member = -1;  // group rank of the caller
  std::int32_t peer = -1;    // root, destination or source
  std::uint8_t kind = 0;
  std::uint8_t element = 0;
  std::uint8_t op = 0;     // the reduction; in a send/recv handshake's reply, its verdict
  std::uint8_t place = 0;  // 0: host memory, 1: GPU memory
};

CallShape shape_of(const collective::detail::Call& call, int member, bool on_gpu = false);

/// The first step of every operation: each rank taking part sends one of these (plus, for small
/// operations, its data) to all others, so that every rank sees every call before any data
/// moves, and all reach the same verdict.
struct LegHeader {
  std::uint64_t seq = 0;  // the operation's number in the group
  CallShape first;        // the call of the lowest-ranked member on this rank
  CallShape differing;    // a member on this rank whose call differs from `first` (member -1: none)
  std::uint32_t payload_bytes = 0;  // data after the header, when the operation goes inline
  std::uint32_t padding = 0;
};

/// Bytes each rank sends in the first step; operations whose data fits after the header finish
/// in that one step.
inline constexpr std::size_t kSlotBytes = 256;
inline constexpr std::size_t kInlineBytes = kSlotBytes - sizeof(LegHeader);

[[nodiscard]] const char* kind_name(CollectiveKind k) noexcept;
[[nodiscard]] const char* element_name(CollectiveElement e) noexcept;
[[nodiscard]] std::size_t element_bytes(CollectiveElement e) noexcept;
[[nodiscard]] transport::Element to_transport(CollectiveElement e) noexcept;
[[nodiscard]] transport::Reduction to_transport(collective::ReduceOp op) noexcept;

/// send or recv: between two members, not the whole group.
[[nodiscard]] inline bool is_p2p(const collective::detail::Call& c) noexcept {
  return c.kind == CollectiveKind::send || c.kind == CollectiveKind::recv;
}

/// "allreduce of 10 float (sum)", "broadcast of 4 int32 from member 1".
[[nodiscard]] std::string describe_call(const CallShape& s);
/// "member 1 (actor:0:5)".
[[nodiscard]] std::string describe_member(int member, const std::vector<ActorId>& members);

/// Why the call cannot be right on its own (sizes that do not fit the group size, a root that
/// is not a member), or nothing.
[[nodiscard]] std::optional<std::string> invalid_call(const CallShape& s, int group_size);
/// Whether two members' calls are the same operation (the fields that must agree do).
[[nodiscard]] bool same_call(const CallShape& a, const CallShape& b) noexcept;
/// The first problem among the ranks' headers of operation `seq`, in words naming the members
/// and their calls; every rank finds the same one.
[[nodiscard]] std::optional<std::string> check_headers(std::span<const LegHeader> headers,
                                                       std::uint64_t seq,
                                                       const std::vector<ActorId>& members);

/// Whether an operation of this shape carries its data in the first step (decided from the
/// shape alone, so every rank decides alike).
[[nodiscard]] bool goes_inline(const CallShape& s, int group_size) noexcept;

/// Throws `cause` as the calling member reports it: on its own rank and in its own method.
[[noreturn]] void throw_as_member(const ErrorInfo& cause, int rank);

/// dst[i] = dst[i] op src[i] for `count` elements.
void combine(CollectiveElement e, collective::ReduceOp op, void* dst, const void* src,
             std::size_t count);

}  // namespace manta::engine
