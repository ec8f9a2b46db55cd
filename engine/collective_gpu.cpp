// Collective calls on GPU memory. With NCCL, every member's call is first compared over MPI
// (headers only, so a wrong size fails on every member), then NCCL moves the data between the
// members' GPUs on a communicator per member, bootstrapped at the group's first GPU call with
// an id that member 0 makes and the group broadcasts. Without NCCL, a CUDA-aware MPI takes the
// GPU buffers itself when each rank hosts one member. send and recv of GPU buffers go through
// host memory.
#include <fmt/format.h>

#include <vector>

#include "engine/collective_groups.h"
#include "engine/timeline.h"
#include "gpu/device_memory.h"
#include "transport/mpi_world.h"

namespace manta::engine {

using collective::detail::Call;
using collective::detail::Kind;

namespace {

std::optional<gpu::NcclElement> nccl_element(CollectiveElement e) {
  switch (e) {
    case CollectiveElement::i8:
      return gpu::NcclElement::i8;
    case CollectiveElement::u8:
      return gpu::NcclElement::u8;
    case CollectiveElement::i32:
      return gpu::NcclElement::i32;
    case CollectiveElement::u32:
      return gpu::NcclElement::u32;
    case CollectiveElement::i64:
      return gpu::NcclElement::i64;
    case CollectiveElement::u64:
      return gpu::NcclElement::u64;
    case CollectiveElement::f32:
      return gpu::NcclElement::f32;
    case CollectiveElement::f64:
      return gpu::NcclElement::f64;
    default:
      return std::nullopt;
  }
}

gpu::NcclReduction nccl_reduction(collective::ReduceOp op) {
  return static_cast<gpu::NcclReduction>(static_cast<int>(op));
}

}  // namespace

void CollectiveGroups::run_gpu(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
                               const Call& call, int device) {
  const char* what = kind_name(call.kind);
  const bool in_gpu = call.in_count && gpu::where_is(call.in).device;
  const bool out_gpu = call.out_count && gpu::where_is(call.out).device;
  if (call.in_count && call.out_count && in_gpu != out_gpu) {
    throw_as_member(
        *error(ErrorKind::collective,
               fmt::format("collective::{} in group '{}': the input is in {} memory "
                           "and the result in {} memory; use one kind for both",
                           what, g->name, in_gpu ? "GPU" : "host", out_gpu ? "GPU" : "host")),
        ctx_.rank);
  }
  if (is_p2p(call)) {
    // Through host memory: the handshake and the data go over MPI like any other.
    const std::size_t bytes =
        (call.kind == Kind::send ? call.in_count : call.out_count) * element_bytes(call.element);
    std::vector<std::byte> host(bytes);
    Call staged = call;
    if (call.kind == Kind::send) {
      lock.unlock();
      gpu::copy_memory(host.data(), call.in, bytes);
      lock.lock();
      staged.in = host.data();
      run_p2p(lock, g, member, staged);
    } else {
      staged.out = host.data();
      run_p2p(lock, g, member, staged);
      gpu::copy_memory(call.out, host.data(), bytes);
    }
    return;
  }
  if (gpu::built_with_nccl()) {
    run_nccl(lock, g, member, call, device);
    return;
  }
  if (transport::mpi_cuda_aware()) {
    if (g->legs.size() != g->members.size()) {
      throw_as_member(
          *error(ErrorKind::collective,
                 fmt::format("collective::{} on GPU memory in group '{}': members share a rank, "
                             "and without NCCL only a CUDA-aware MPI moves GPU memory, one member "
                             "per rank; rebuild Manta with NCCL, or place members on their own "
                             "ranks",
                             what, g->name)),
          ctx_.rank);
    }
    run_collective(lock, g, member, call, CollectiveOp::Mode::gpu_mpi);
    return;
  }
  throw_as_member(
      *error(ErrorKind::collective,
             fmt::format("collective::{} on GPU memory (device {}) in group '{}': Manta was built "
                         "without NCCL and this MPI library is not CUDA-aware; rebuild Manta "
                         "with NCCL (nccl.h and libnccl under the CUDA root, or NCCL_ROOT), use a "
                         "CUDA-aware MPI, or copy the data to host memory",
                         what, device, g->name)),
      ctx_.rank);
}

std::shared_ptr<const ErrorInfo> CollectiveGroups::nccl_failed(CollectiveGroup& g, const char* what,
                                                               const std::string& why) {
  std::lock_guard lock(mutex_);
  if (g.broken) return g.broken;  // a member's death cancelled the call
  auto cause = error(ErrorKind::collective,
                     fmt::format("collective {} over NCCL in group '{}': {}", what, g.name, why));
  break_everywhere(g, cause);
  return cause;
}

std::shared_ptr<gpu::NcclCommunicator> CollectiveGroups::nccl_of(const GroupPtr& g, int member,
                                                                 int device,
                                                                 Clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = g->nccl.find(member); it != g->nccl.end()) {
      if (it->second->device() != device) {
        throw_as_member(*error(ErrorKind::collective,
                               fmt::format("collective group '{}': {}'s NCCL communicator is on "
                                           "GPU {}, and this buffer is on GPU {}",
                                           g->name, describe_member(member, g->members),
                                           it->second->device(), device)),
                        ctx_.rank);
      }
      return it->second;
    }
  }
  // Every member reaches its first GPU call at the same operation: member 0 makes the id and
  // the group broadcasts it over MPI, then each member joins the NCCL communicator.
  gpu::NcclId id{};
  if (member == 0) id = gpu::nccl_new_id();
  Call share;
  share.kind = Kind::broadcast;
  share.element = CollectiveElement::u8;
  share.in = id.data();
  share.out = id.data();
  share.in_count = share.out_count = id.size();
  share.peer = 0;
  {
    std::unique_lock lock(mutex_);
    run_collective(lock, g, member, share);
  }
  std::shared_ptr<gpu::NcclCommunicator> comm;
  try {
    comm = std::make_shared<gpu::NcclCommunicator>(id, g->size(), member, device, deadline);
  } catch (const std::exception& e) {
    throw_as_member(*nccl_failed(*g, "set-up", e.what()), ctx_.rank);
  }
  std::lock_guard lock(mutex_);
  if (g->broken) {
    comm->cancel();
    throw_as_member(*g->broken, ctx_.rank);
  }
  g->nccl[member] = comm;
  return comm;
}

void CollectiveGroups::run_nccl(std::unique_lock<std::mutex>& lock, const GroupPtr& g, int member,
                                const Call& call, int device) {
  const std::int64_t start_us = Timeline::now_us();
  const auto deadline = Clock::now() + timeout_;
  const char* what = kind_name(call.kind);
  run_collective(lock, g, member, call, CollectiveOp::Mode::check_only);  // unlocks
  const auto element = nccl_element(call.element);
  if (!element) {
    throw_as_member(*error(ErrorKind::collective,
                           fmt::format("collective::{} on GPU memory: NCCL has no {} type; use "
                                       "int32, int64, float or double",
                                       what, element_name(call.element))),
                    ctx_.rank);
  }
  const std::shared_ptr<gpu::NcclCommunicator> comm = nccl_of(g, member, device, deadline);
  const auto op = nccl_reduction(call.op);
  const int peer = call.peer;
  try {
    switch (call.kind) {
      case Kind::allreduce:
        comm->allreduce(call.in, call.out, call.in_count, *element, op, deadline);
        break;
      case Kind::reduce:
        comm->reduce(call.in, call.out, call.in_count, *element, op, peer, deadline);
        break;
      case Kind::broadcast:
        comm->broadcast(call.in, call.out, call.in_count, *element, peer, deadline);
        break;
      case Kind::allgather:
        comm->allgather(call.in, call.out, call.in_count, *element, deadline);
        break;
      case Kind::reduce_scatter:
        comm->reduce_scatter(call.in, call.out, call.out_count, *element, op, deadline);
        break;
      case Kind::barrier:
      case Kind::send:
      case Kind::recv:
        break;
    }
  } catch (const std::exception& e) {
    throw_as_member(*nccl_failed(*g, what, e.what()), ctx_.rank);
  }
  record(*g, member, what, start_us);
}

}  // namespace manta::engine
