#include "engine/collective_op.h"

#include <algorithm>
#include <cstring>

#include "gpu/device_memory.h"

namespace manta::engine::collective_op {
namespace {

using collective::ReduceOp;

struct Sizes {
  std::size_t in;   // bytes of one member's input
  std::size_t out;  // bytes of one member's output
};

Sizes sizes_of(const CallShape& s) {
  const std::size_t e = element_bytes(static_cast<CollectiveElement>(s.element));
  return {s.in_count * e, s.out_count * e};
}

void copy_bytes(void* dst, const void* src, std::size_t bytes) {
  if (bytes && dst != src) std::memcpy(dst, src, bytes);
}

CollectiveKind kind_of(const CollectiveOp& op) {
  return static_cast<CollectiveKind>(op.shape.kind);
}
CollectiveElement element_of(const CollectiveOp& op) {
  return static_cast<CollectiveElement>(op.shape.element);
}
ReduceOp reduction_of(const CollectiveOp& op) { return static_cast<ReduceOp>(op.shape.op); }

const Arrival* arrival_of(const CollectiveOp& op, int member) {
  for (const Arrival& a : op.arrivals)
    if (a.member == member) return &a;
  return nullptr;
}

/// Bytes before leg `leg`'s part in a layout where each leg holds `per_member` per member.
std::size_t leg_offset(const CollectiveGroup& g, int leg, std::size_t per_member) {
  std::size_t at = 0;
  for (int l = 0; l < leg; ++l)
    at += static_cast<std::size_t>(g.leg_sizes[static_cast<std::size_t>(l)]) * per_member;
  return at;
}

/// The members' inputs, reduced element-wise into `dst` (which may be the first one's).
void reduce_local(const CollectiveOp& op, std::byte* dst, std::size_t bytes) {
  copy_bytes(dst, op.arrivals[0].call.in, bytes);
  for (std::size_t i = 1; i < op.arrivals.size(); ++i)
    combine(element_of(op), reduction_of(op), dst, op.arrivals[i].call.in, op.shape.in_count);
}

/// Sets up the buffers of a valid call and returns the data that goes inline (may be empty).
std::pair<const std::byte*, std::size_t> set_up(const CollectiveGroup& g, CollectiveOp& op) {
  const Sizes z = sizes_of(op.shape);
  const Arrival& first = op.arrivals[0];
  const std::size_t k = op.arrivals.size();
  switch (kind_of(op)) {
    case CollectiveKind::allreduce:
      op.work.use(first.call.out, z.in);
      if (k == 1) {
        // MPI reads the input where it is: copying it first costs as much as a step of MPI.
        op.send.use(const_cast<void*>(first.call.in), z.in);
        return {op.send.data, z.in};
      }
      reduce_local(op, op.work.data, z.in);
      return {op.work.data, z.in};
    case CollectiveKind::reduce:
      op.work.own(z.in);
      reduce_local(op, op.work.data, z.in);
      return {op.work.data, z.in};
    case CollectiveKind::broadcast: {
      const Arrival* root = arrival_of(op, op.shape.peer);
      if (!root) {
        op.work.use(first.call.out, z.in);
        return {nullptr, 0};
      }
      op.work.use(root->call.out, z.in);
      copy_bytes(op.work.data, root->call.in, z.in);
      return {op.work.data, z.in};
    }
    case CollectiveKind::allgather: {
      if (k == 1) {
        op.send.use(const_cast<void*>(first.call.in), z.in);
      } else {
        op.send.own(k * z.in);
        for (std::size_t i = 0; i < k; ++i)
          copy_bytes(op.send.data + i * z.in, op.arrivals[i].call.in, z.in);
      }
      op.gathered_in_member_order = op.goes_inline || g.legs_in_member_order;
      if (op.gathered_in_member_order) {
        op.gathered.use(first.call.out, z.out);
      } else {
        op.gathered.own(z.out);
      }
      return {op.send.data, op.send.bytes};
    }
    case CollectiveKind::reduce_scatter: {
      if (k == 1) {
        op.work.use(const_cast<void*>(first.call.in), z.in);  // only read
      } else {
        op.work.own(z.in);
        reduce_local(op, op.work.data, z.in);
      }
      if (k == 1) {
        op.gathered.use(first.call.out, z.out);
      } else {
        op.gathered.own(k * z.out);
      }
      if (op.goes_inline || g.legs_in_member_order) {
        op.send.use(op.work.data, z.in);
      } else {
        // MPI scatters by rank: order the members' parts by the rank that receives them.
        op.send.own(z.in);
        for (int m = 0; m < g.size(); ++m) {
          const auto i = static_cast<std::size_t>(m);
          copy_bytes(op.send.data + leg_offset(g, g.member_leg[i], z.out) +
                         static_cast<std::size_t>(g.member_pos[i]) * z.out,
                     op.work.data + i * z.out, z.out);
        }
      }
      return {op.work.data, z.in};
    }
    case CollectiveKind::barrier:
    case CollectiveKind::send:
    case CollectiveKind::recv:
      break;
  }
  return {nullptr, 0};
}

/// One member on this rank, its buffers in GPU memory, moved by a CUDA-aware MPI: the results
/// land in place, so only an input that is not the output is copied first.
void set_up_gpu(CollectiveOp& op) {
  const Sizes z = sizes_of(op.shape);
  const Arrival& a = op.arrivals[0];
  switch (kind_of(op)) {
    case CollectiveKind::allreduce:
    case CollectiveKind::broadcast:
      gpu::copy_memory(a.call.out, a.call.in, z.in);
      op.work.use(a.call.out, z.in);
      break;
    case CollectiveKind::reduce:
      if (a.member == op.shape.peer) {
        gpu::copy_memory(a.call.out, a.call.in, z.in);
        op.work.use(a.call.out, z.in);
      } else {
        op.work.use(const_cast<void*>(a.call.in), z.in);  // only read off the root
      }
      break;
    case CollectiveKind::allgather:
    case CollectiveKind::reduce_scatter:
      op.send.use(const_cast<void*>(a.call.in), z.in);
      op.gathered.use(a.call.out, z.out);
      op.gathered_in_member_order = true;
      break;
    default:
      break;
  }
}

const std::byte* payload(const CollectiveOp& op, int leg) {
  return op.slots.data() + static_cast<std::size_t>(leg) * kSlotBytes + sizeof(LegHeader);
}

/// Every rank's data came with the headers: compute this rank's result from them.
void finish_inline(const CollectiveGroup& g, CollectiveOp& op) {
  const Sizes z = sizes_of(op.shape);
  const int legs = static_cast<int>(g.legs.size());
  auto fold = [&](std::byte* dst) {
    copy_bytes(dst, payload(op, 0), z.in);
    for (int l = 1; l < legs; ++l)
      combine(element_of(op), reduction_of(op), dst, payload(op, l), op.shape.in_count);
  };
  switch (kind_of(op)) {
    case CollectiveKind::allreduce:
      fold(op.work.data);
      break;
    case CollectiveKind::reduce:
      if (arrival_of(op, op.shape.peer)) fold(op.work.data);
      break;
    case CollectiveKind::broadcast:
      copy_bytes(op.work.data, payload(op, g.member_leg[static_cast<std::size_t>(op.shape.peer)]),
                 z.in);
      break;
    case CollectiveKind::allgather:
      for (int m = 0; m < g.size(); ++m) {
        const auto i = static_cast<std::size_t>(m);
        copy_bytes(op.gathered.data + i * z.in,
                   payload(op, g.member_leg[i]) + static_cast<std::size_t>(g.member_pos[i]) * z.in,
                   z.in);
      }
      break;
    case CollectiveKind::reduce_scatter: {
      std::vector<std::byte> full(z.in);
      fold(full.data());
      for (std::size_t p = 0; p < op.arrivals.size(); ++p)
        copy_bytes(op.gathered.data + p * z.out,
                   full.data() + static_cast<std::size_t>(op.arrivals[p].member) * z.out, z.out);
      break;
    }
    case CollectiveKind::barrier:
    case CollectiveKind::send:
    case CollectiveKind::recv:
      break;
  }
}

/// Every member is on this rank and the data did not go in the header: the result is what
/// prepare combined here.
void finish_local(CollectiveOp& op) {
  const Sizes z = sizes_of(op.shape);
  switch (kind_of(op)) {
    case CollectiveKind::allreduce:
      if (op.send.data) copy_bytes(op.work.data, op.send.data, z.in);
      break;
    case CollectiveKind::allgather:
      copy_bytes(op.gathered.data, op.send.data, z.out);
      break;
    case CollectiveKind::reduce_scatter:
      copy_bytes(op.gathered.data, op.work.data, z.in);
      break;
    default:
      break;  // reduce and broadcast: the result is in `work` already
  }
}

void start_data_step(const CollectiveGroup& g, CollectiveOp& op) {
  const int root_leg = op.shape.peer >= 0 && op.shape.peer < g.size()
                           ? g.member_leg[static_cast<std::size_t>(op.shape.peer)]
                           : 0;
  const auto e = to_transport(element_of(op));
  const auto r = to_transport(reduction_of(op));
  auto counts = [&](std::uint64_t per_member) {
    std::vector<int> c;
    for (int n : g.leg_sizes)
      c.push_back(static_cast<int>(static_cast<std::uint64_t>(n) * per_member));
    return c;
  };
  transport::GroupCommunicator& comm = *g.comm;
  switch (kind_of(op)) {
    case CollectiveKind::allreduce:
      op.request = comm.allreduce(op.send.data ? op.send.data : op.work.data, op.work.data,
                                  op.shape.in_count, e, r);
      break;
    case CollectiveKind::reduce:
      op.request = comm.reduce(op.work.data, op.shape.in_count, e, r, root_leg);
      break;
    case CollectiveKind::broadcast:
      op.request = comm.broadcast(op.work.data, op.shape.in_count, e, root_leg);
      break;
    case CollectiveKind::allgather:
      op.request = comm.allgatherv(op.send.data, op.gathered.data, counts(op.shape.in_count), e);
      break;
    case CollectiveKind::reduce_scatter:
      op.request =
          comm.reduce_scatter(op.send.data, op.gathered.data, counts(op.shape.out_count), e, r);
      break;
    case CollectiveKind::barrier:
    case CollectiveKind::send:
    case CollectiveKind::recv:
      break;
  }
}

/// Reads the headers; returns what is wrong with the calls, or finishes inline, or starts the
/// data step.
std::optional<std::string> evaluate(CollectiveGroup& g, CollectiveOp& op) {
  std::vector<LegHeader> headers(op.slots.size() / kSlotBytes);
  for (std::size_t l = 0; l < headers.size(); ++l)
    std::memcpy(&headers[l], op.slots.data() + l * kSlotBytes, sizeof(LegHeader));
  if (auto problem = check_headers(headers, op.seq, g.members)) {
    op.state = CollectiveOp::State::moved;
    return problem;
  }
  if (op.mode == CollectiveOp::Mode::check_only ||
      (op.mode == CollectiveOp::Mode::gpu_mpi && !g.comm)) {
    op.state = CollectiveOp::State::moved;  // nothing to move here
    return std::nullopt;
  }
  if (!g.comm && !op.goes_inline) {
    if (!op.abandoned) finish_local(op);
    op.state = CollectiveOp::State::moved;
    return std::nullopt;
  }
  if (op.goes_inline) {
    if (!op.abandoned) finish_inline(g, op);
    op.state = CollectiveOp::State::moved;
    return std::nullopt;
  }
  start_data_step(g, op);
  op.state = CollectiveOp::State::moving;
  return std::nullopt;
}

}  // namespace

void prepare(const CollectiveGroup& g, CollectiveOp& op) {
  std::sort(op.arrivals.begin(), op.arrivals.end(),
            [](const Arrival& a, const Arrival& b) { return a.member < b.member; });
  const bool on_gpu = op.mode != CollectiveOp::Mode::host;
  LegHeader h;
  h.seq = op.seq;
  h.first = shape_of(op.arrivals[0].call, op.arrivals[0].member, on_gpu);
  for (const Arrival& a : op.arrivals) {
    const CallShape s = shape_of(a.call, a.member, on_gpu);
    if (h.differing.member < 0 && (!same_call(h.first, s) || invalid_call(s, g.size())))
      h.differing = s;
  }
  op.shape = h.first;
  op.goes_inline = !on_gpu && goes_inline(h.first, g.size());
  op.slot.assign(kSlotBytes, std::byte{0});
  // Calls that differ or cannot be right move no data: every rank reports them from the headers.
  const bool valid = h.differing.member < 0 && !invalid_call(h.first, g.size());
  if (valid && op.mode == CollectiveOp::Mode::gpu_mpi) {
    set_up_gpu(op);
  } else if (valid && !on_gpu) {
    const auto [data, bytes] = set_up(g, op);
    if (op.goes_inline && data) h.payload_bytes = static_cast<std::uint32_t>(bytes);
    if (h.payload_bytes) std::memcpy(op.slot.data() + sizeof(LegHeader), data, h.payload_bytes);
  }
  std::memcpy(op.slot.data(), &h, sizeof h);
}

std::optional<std::string> start(CollectiveGroup& g, CollectiveOp& op) {
  if (!g.comm) {
    op.slots = op.slot;
    return evaluate(g, op);
  }
  op.slots.assign(kSlotBytes * g.legs.size(), std::byte{0});
  op.request = g.comm->allgather_bytes(op.slot.data(), kSlotBytes, op.slots.data());
  op.state = CollectiveOp::State::exchanging;
  return std::nullopt;
}

bool advance(CollectiveGroup& g, CollectiveOp& op, std::optional<std::string>& problem) {
  switch (op.state) {
    case CollectiveOp::State::exchanging:
      if (!transport::GroupCommunicator::test(op.request)) return false;
      problem = evaluate(g, op);
      return true;
    case CollectiveOp::State::moving:
      if (!transport::GroupCommunicator::test(op.request)) return false;
      op.state = CollectiveOp::State::moved;
      return true;
    default:
      return false;
  }
}

void distribute(const CollectiveGroup& g, CollectiveOp& op) {
  if (op.mode != CollectiveOp::Mode::host) return;  // in place, or NCCL's to move
  const Sizes z = sizes_of(op.shape);
  switch (kind_of(op)) {
    case CollectiveKind::allreduce:
    case CollectiveKind::broadcast:
      for (const Arrival& a : op.arrivals) copy_bytes(a.call.out, op.work.data, z.in);
      break;
    case CollectiveKind::reduce:
      if (const Arrival* root = arrival_of(op, op.shape.peer))
        copy_bytes(root->call.out, op.work.data, z.in);
      break;
    case CollectiveKind::allgather:
      for (const Arrival& a : op.arrivals) {
        auto* out = static_cast<std::byte*>(a.call.out);
        if (op.gathered_in_member_order) {
          copy_bytes(out, op.gathered.data, z.out);
          continue;
        }
        for (int m = 0; m < g.size(); ++m) {
          const auto i = static_cast<std::size_t>(m);
          copy_bytes(out + i * z.in,
                     op.gathered.data + leg_offset(g, g.member_leg[i], z.in) +
                         static_cast<std::size_t>(g.member_pos[i]) * z.in,
                     z.in);
        }
      }
      break;
    case CollectiveKind::reduce_scatter:
      for (std::size_t p = 0; p < op.arrivals.size(); ++p)
        copy_bytes(op.arrivals[p].call.out, op.gathered.data + p * z.out, z.out);
      break;
    case CollectiveKind::barrier:
    case CollectiveKind::send:
    case CollectiveKind::recv:
      break;
  }
}

void abandon(CollectiveOp& op) {
  op.abandoned = true;
  auto keep = [](OpBuffer& b, const std::byte* outer_begin, const std::byte* outer_end,
                 bool contents) {
    if (!b.data || b.bytes == 0 || b.is_owned()) return;
    if (outer_begin && b.data >= outer_begin && b.data < outer_end) return;  // inside another owned
    std::vector<std::byte> own(b.bytes);
    if (contents) gpu::copy_memory(own.data(), b.data, b.bytes);  // GPU memory too
    b.owned = std::move(own);
    b.data = b.owned.data();
  };
  const std::byte* wb = op.work.is_owned() ? op.work.data : nullptr;
  const std::byte* we = wb ? wb + op.work.bytes : nullptr;
  keep(op.work, nullptr, nullptr, true);
  keep(op.send, wb, we, true);
  keep(op.gathered, nullptr, nullptr, false);
}

}  // namespace manta::engine::collective_op
