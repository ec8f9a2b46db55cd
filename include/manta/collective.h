// Collective groups of actors: allreduce, broadcast and friends among actors that name a group.
//   manta::collective::create_group("learners", {a, b, c});      // from the driver or any task
//   // inside a member's method:
//   manta::collective::allreduce("learners", gradients);          // sum, in place
// Each rank that hosts members takes part once over an MPI communicator of those ranks (made
// without the other ranks); members that share a rank are combined in memory first. Device
// buffers go over NCCL when Manta was built with it. A call blocks only the calling actor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <manta/actor.h>
#include <manta/array.h>
#include <manta/ids.h>

namespace manta::collective {

enum class ReduceOp : std::uint8_t { sum, prod, min, max };

namespace detail {

enum class Kind : std::uint8_t {
  allreduce,
  reduce,
  broadcast,
  allgather,
  reduce_scatter,
  barrier,
  send,
  recv
};
enum class Element : std::uint8_t { i8, u8, i16, u16, i32, u32, i64, u64, f32, f64, none };

template <class T>
constexpr Element element_of() {
  using U = std::remove_cv_t<T>;
  static_assert(std::is_arithmetic_v<U> && !std::is_same_v<U, bool>,
                "collective calls take buffers of numbers (integers, float, double)");
  static_assert(!std::is_same_v<U, long double>, "long double has no MPI reduction here");
  if constexpr (std::is_floating_point_v<U>) {
    return sizeof(U) == 4 ? Element::f32 : Element::f64;
  } else if constexpr (std::is_signed_v<U>) {
    return sizeof(U) == 1   ? Element::i8
           : sizeof(U) == 2 ? Element::i16
           : sizeof(U) == 4 ? Element::i32
                            : Element::i64;
  } else {
    return sizeof(U) == 1   ? Element::u8
           : sizeof(U) == 2 ? Element::u16
           : sizeof(U) == 4 ? Element::u32
                            : Element::u64;
  }
}

/// One call, type-erased. `in` and `out` may be the same memory (in place). Counts are elements.
/// `peer`: the root of reduce and broadcast, the destination of send, the source of recv.
struct Call {
  Kind kind = Kind::barrier;
  Element element = Element::none;
  ReduceOp op = ReduceOp::sum;
  const void* in = nullptr;
  std::size_t in_count = 0;
  void* out = nullptr;
  std::size_t out_count = 0;
  int peer = -1;
};

void run(std::string_view group, const Call& call);
void create_group(const std::string& name, const std::vector<ActorId>& members);

template <class T>
std::span<T> writable(std::span<T> s) {
  return s;
}
template <class T>
std::span<T> writable(std::vector<T>& v) {
  return {v.data(), v.size()};
}
template <class T>
std::span<T> writable(Array<T>& a) {
  return a.mutable_span();
}
template <class T>
std::span<const T> readable(std::span<T> s) {
  return s;
}
template <class T>
std::span<const T> readable(const std::vector<T>& v) {
  return {v.data(), v.size()};
}
template <class T>
std::span<const T> readable(const Array<T>& a) {
  return {a.data(), a.size()};
}

template <class T>
Call make_call(Kind kind, std::span<const T> in, std::span<T> out, ReduceOp op = ReduceOp::sum,
               int peer = -1) {
  Call c;
  c.kind = kind;
  c.element = element_of<T>();
  c.op = op;
  c.in = in.data();
  c.in_count = in.size();
  c.out = out.data();
  c.out_count = out.size();
  c.peer = peer;
  return c;
}

}  // namespace detail

// ---- Groups ----------------------------------------------------------------------------------

/// Makes group `name` of `members`, in this order (their ranks in the group are 0..n-1). Waits
/// until every member exists (its creation has been placed); fails with ActorDiedError when one
/// is dead, and with CollectiveError when the name is taken, the list is empty or names an actor
/// twice. Callable from the driver or any task or actor.
template <class T>
void create_group(const std::string& name, const std::vector<ActorHandle<T>>& members) {
  std::vector<ActorId> ids;
  ids.reserve(members.size());
  for (const auto& m : members) ids.push_back(m.id());
  detail::create_group(name, ids);
}
inline void create_group(const std::string& name, const std::vector<ActorId>& members) {
  detail::create_group(name, members);
}

/// Ends group `name` everywhere and frees its name; calls on it then fail. A group broken by a
/// member's death is destroyed the same way, and can then be made again.
void destroy_group(const std::string& name);

/// Inside a member's method: this actor's rank in the group (0..size-1), and the group's size.
int rank(std::string_view group);
int size(std::string_view group);

/// Whether group `name` exists now (from anywhere).
bool group_exists(const std::string& name);

// ---- Operations, inside a member's methods ---------------------------------------------------
// Buffers are std::span<T>, std::vector<T> or manta::Array<T> of numbers, on the host or (when
// built with CUDA and NCCL) on a GPU. Every member makes the same calls in the same order with
// the same sizes; a member whose call differs gets CollectiveError naming both calls, as does
// every other member. A member that dies makes the others' calls fail with ActorDiedError; a call
// that waits longer than --manta-collective-timeout for the others fails with CollectiveError.

/// Element-wise reduction of every member's `data` into every member's `data`.
template <class B>
void allreduce(std::string_view group, B&& data, ReduceOp op = ReduceOp::sum) {
  auto out = detail::writable(data);
  detail::run(group, detail::make_call(detail::Kind::allreduce, detail::readable(out), out, op));
}
/// The same, into `out` (same size as `in`), leaving `in` unchanged.
template <class I, class O>
void allreduce(std::string_view group, const I& in, O&& out, ReduceOp op = ReduceOp::sum) {
  detail::run(group, detail::make_call(detail::Kind::allreduce, detail::readable(in),
                                       detail::writable(out), op));
}

/// The reduction lands in member `root`'s `data` only; the others' buffers are unchanged.
template <class B>
void reduce(std::string_view group, B&& data, int root, ReduceOp op = ReduceOp::sum) {
  auto out = detail::writable(data);
  detail::run(group, detail::make_call(detail::Kind::reduce, detail::readable(out), out, op, root));
}
/// The same, into root's `out` (same size as `in`; the others' `out` is not written).
template <class I, class O>
void reduce(std::string_view group, const I& in, O&& out, int root, ReduceOp op = ReduceOp::sum) {
  detail::run(group, detail::make_call(detail::Kind::reduce, detail::readable(in),
                                       detail::writable(out), op, root));
}

/// Member `root`'s `data` is copied into every member's `data`.
template <class B>
void broadcast(std::string_view group, B&& data, int root) {
  auto out = detail::writable(data);
  detail::run(group, detail::make_call(detail::Kind::broadcast, detail::readable(out), out,
                                       ReduceOp::sum, root));
}

/// Every member's `in`, concatenated in group-rank order, into every member's `out`
/// (out.size() == size * in.size()).
template <class I, class O>
void allgather(std::string_view group, const I& in, O&& out) {
  detail::run(group, detail::make_call(detail::Kind::allgather, detail::readable(in),
                                       detail::writable(out)));
}
template <class T>
std::vector<T> allgather(std::string_view group, std::span<const T> in) {
  std::vector<T> out(in.size() * static_cast<std::size_t>(size(group)));
  allgather(group, in, out);
  return out;
}
template <class T>
std::vector<T> allgather(std::string_view group, const std::vector<T>& in) {
  return allgather(group, std::span<const T>(in));
}

/// The element-wise reduction of every member's `in` (size * n elements), of which member i
/// receives elements [i*n, (i+1)*n) in `out` (n elements).
template <class I, class O>
void reduce_scatter(std::string_view group, const I& in, O&& out, ReduceOp op = ReduceOp::sum) {
  detail::run(group, detail::make_call(detail::Kind::reduce_scatter, detail::readable(in),
                                       detail::writable(out), op));
}
template <class T>
std::vector<T> reduce_scatter(std::string_view group, std::span<const T> in,
                              ReduceOp op = ReduceOp::sum) {
  const auto n = static_cast<std::size_t>(size(group));
  std::vector<T> out(n ? in.size() / n : 0);
  reduce_scatter(group, in, out, op);
  return out;
}
template <class T>
std::vector<T> reduce_scatter(std::string_view group, const std::vector<T>& in,
                              ReduceOp op = ReduceOp::sum) {
  return reduce_scatter(group, std::span<const T>(in), op);
}

/// Returns once every member has called it.
inline void barrier(std::string_view group) {
  detail::Call c;
  c.kind = detail::Kind::barrier;
  detail::run(group, c);
}

/// `data` to member `dest`, which receives it with recv(group, buffer, source) into a buffer of
/// the same size and type. Messages from one member to another arrive in order.
template <class B>
void send(std::string_view group, const B& data, int dest) {
  auto in = detail::readable(data);
  using T = typename decltype(in)::element_type;
  detail::run(group, detail::make_call<std::remove_const_t<T>>(detail::Kind::send, in, {},
                                                               ReduceOp::sum, dest));
}
template <class B>
void recv(std::string_view group, B&& data, int source) {
  auto out = detail::writable(data);
  using T = typename decltype(out)::element_type;
  detail::run(group, detail::make_call<T>(detail::Kind::recv, {}, out, ReduceOp::sum, source));
}

}  // namespace manta::collective
