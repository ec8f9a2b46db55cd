// This rank's part of one collective group: the members, which ranks host them, the group's
// MPI communicator, and the operations under way. CollectiveGroups owns these and guards them
// with its mutex; collective_op.cpp and collective_p2p.cpp run the operations.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <manta/collective.h>
#include <manta/errors.h>
#include <manta/ids.h>

#include "engine/collective_call.h"
#include "gpu/nccl_communicator.h"
#include "transport/group_communicator.h"

namespace manta::engine {

/// A member's call, waiting for the others on its rank.
struct Arrival {
  int member = -1;
  collective::detail::Call call;
};

/// Memory an operation hands to MPI: the user's, or the operation's own (`owned`).
struct OpBuffer {
  std::byte* data = nullptr;
  std::size_t bytes = 0;
  std::vector<std::byte> owned;
  void own(std::size_t n) {
    owned.resize(n);
    data = owned.data();
    bytes = n;
  }
  void use(void* p, std::size_t n) {
    data = static_cast<std::byte*>(p);
    bytes = n;
  }
  [[nodiscard]] bool is_owned() const noexcept { return !owned.empty() && data == owned.data(); }
};

/// One collective operation as this rank runs it. The members on this rank arrive; the last
/// combines their data (prepare); MPI moves it in two steps (headers, then data unless it went
/// inline); the preparing member copies the result to the others (distribute).
struct CollectiveOp {
  enum class State { collecting, preparing, queued, exchanging, moving, moved, distributing, done };
  /// host: MPI moves host memory; gpu_mpi: a CUDA-aware MPI moves GPU memory (one member per
  /// rank); check_only: only the headers go, NCCL moves the data afterwards.
  enum class Mode { host, gpu_mpi, check_only };
  Mode mode = Mode::host;
  std::uint64_t seq = 0;
  std::vector<Arrival> arrivals;  // sorted by member once all are here
  State state = State::collecting;
  std::shared_ptr<const ErrorInfo> error;
  int left = 0;            // members that have returned
  bool abandoned = false;  // its members left (timeout, broken group): MPI finishes it alone
  CallShape shape;         // the first member's call
  bool goes_inline = false;
  std::int64_t start_us = 0;

  std::vector<std::byte> slot;   // this rank's header (and inline data)
  std::vector<std::byte> slots;  // every rank's, after the exchange
  MPI_Request request = MPI_REQUEST_NULL;

  OpBuffer work;      // this rank's combined data (reductions, broadcast)
  OpBuffer send;      // what this rank contributes to allgather / reduce_scatter
  OpBuffer gathered;  // allgather: all members' data; reduce_scatter: this rank's members' parts
  bool gathered_in_member_order = false;
};

/// One send or recv between two members.
struct P2pTransfer {
  enum class State { matching, queued, waiting_peer, moving, done };
  bool sending = false;
  int src = -1;
  int dst = -1;
  CallShape shape;
  const void* in = nullptr;
  void* out = nullptr;
  State state = State::matching;
  std::shared_ptr<const ErrorInfo> error;
  bool abandoned = false;
  CallShape mine;    // sent to the peer rank (header or reply)
  CallShape theirs;  // received from it
  MPI_Request header = MPI_REQUEST_NULL;
  MPI_Request reply = MPI_REQUEST_NULL;
  MPI_Request data = MPI_REQUEST_NULL;
  std::vector<std::byte> scratch;  // the data, once its sender left

  /// Its member leaves with `why` before MPI is done: what MPI may still send moves into
  /// `scratch`, so the other side gets the right data.
  void abandon(std::shared_ptr<const ErrorInfo> why) {
    if (sending && in && shape.in_count) {
      const auto* p = static_cast<const std::byte*>(in);
      scratch.assign(
          p, p + shape.in_count * element_bytes(static_cast<CollectiveElement>(shape.element)));
      in = scratch.data();
    }
    abandoned = true;
    error = std::move(why);
  }
};

struct CollectiveGroup {
  std::string name;
  std::uint64_t generation = 0;
  std::vector<ActorId> members;      // by group rank
  std::vector<int> member_rank;      // world rank of each member
  std::vector<int> member_leg;       // index of that rank among the legs
  std::vector<int> member_pos;       // position among the members on that rank
  std::vector<int> legs;             // world ranks that host members, in order of first member
  std::vector<int> leg_sizes;        // members on each
  int leg = -1;                      // this rank's index among legs
  std::vector<int> local;            // members on this rank, by group rank
  bool legs_in_member_order = true;  // members sorted by leg: gathers need no reordering

  std::unique_ptr<transport::GroupCommunicator> comm;  // null when one rank hosts everyone
  bool ready = false;
  std::shared_ptr<const ErrorInfo> broken;
  std::vector<std::uint64_t> next_seq;  // per member: its next operation
  std::map<std::uint64_t, std::shared_ptr<CollectiveOp>> ops;
  // Point to point: per (source, destination), transfers in the order they were called.
  std::map<std::pair<int, int>, std::deque<std::shared_ptr<P2pTransfer>>> unmatched_sends;
  std::map<std::pair<int, int>, std::deque<std::shared_ptr<P2pTransfer>>> unmatched_recvs;
  std::vector<std::shared_ptr<P2pTransfer>> transfers;         // with the other rank, under way
  std::map<int, std::shared_ptr<gpu::NcclCommunicator>> nccl;  // per member here, once used

  [[nodiscard]] int member_of(const ActorId& actor) const noexcept {
    for (std::size_t i = 0; i < members.size(); ++i)
      if (members[i] == actor) return static_cast<int>(i);
    return -1;
  }
  [[nodiscard]] int size() const noexcept { return static_cast<int>(members.size()); }
  [[nodiscard]] bool in_flight() const noexcept {
    for (const auto& [seq, op] : ops)
      if (op->request != MPI_REQUEST_NULL) return true;
    for (const auto& t : transfers)
      if (t->header != MPI_REQUEST_NULL || t->reply != MPI_REQUEST_NULL ||
          t->data != MPI_REQUEST_NULL)
        return true;
    return false;
  }
};

/// Builds the member layout (legs, positions) of a group from its members' ranks.
void lay_out(CollectiveGroup& g, const std::vector<int>& member_ranks, int this_rank);

}  // namespace manta::engine
