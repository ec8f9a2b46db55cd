// The UCX (ucp) data plane: one-sided RMA reads of memory that other ranks exposed, in pipelined
// chunks. A rank exposes a range and hands the descriptor to a reader through the control
// channel; the reader gets the bytes with ucp_get_nbx. UCX stays out of this header so that its
// users need not see ucp.h.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <manta/buffer.h>

namespace manta::transport {

/// RMA reads of other ranks' memory over UCX. All methods are thread-safe: one internal mutex
/// guards the ucp worker, which runs in UCS_THREAD_MODE_SERIALIZED.
///
/// In a job of at most Options::eager_endpoints ranks, create() connects to every rank. In a
/// larger one it connects to none: the endpoint to a peer is made by the first get from it, so
/// start-up and idle cost per rank do not grow with the job. A rank that only serves reads needs
/// no endpoint of its own: UCX answers on the one the reader's connection made.
///
/// Where no transport can read registered memory directly (UCX 1.13 within a node, and over
/// tcp), UCX emulates the read with messages that the owner's worker answers: every rank keeps
/// calling progress() while other ranks may read from it, not only while it reads itself.
class UcxDataPlane {
 public:
  struct Options {
    std::size_t chunk_size = std::size_t{4} << 20;  // bytes per ucp_get_nbx
    std::size_t chunks_in_flight = 8;               // per read
    // Jobs of up to this many ranks connect to every rank at start; larger ones on first use.
    int eager_endpoints = 64;
  };
  /// Endpoints this rank made and the addresses it keeps to make more, for tests and logs.
  struct Stats {
    std::uint64_t endpoints_eager = 0;         // at create()
    std::uint64_t endpoints_on_first_use = 0;  // by a get from a peer with none yet
    std::uint64_t address_bytes = 0;  // every rank's worker address, kept for later endpoints
  };
  using Done = std::function<void(std::string error)>;  // empty string on success

  /// Collective over `comm`: creates the ucp context (RMA) and one worker, exchanges worker
  /// addresses over `comm` and connects to every other rank (up to eager_endpoints ranks). If UCX
  /// cannot start on any rank, every rank returns nullptr with the reason in *why_not, so ranks
  /// agree on the transport. Init-time only: it calls MPI collectives on `comm`.
  static std::unique_ptr<UcxDataPlane> create(MPI_Comm comm, Options options, std::string* why_not);

  /// Not collective and bounded in time, even when peers are gone. Reads still in flight end
  /// with an error through their `done`.
  ~UcxDataPlane();
  UcxDataPlane(const UcxDataPlane&) = delete;
  UcxDataPlane& operator=(const UcxDataPlane&) = delete;

  /// Makes [data, data + size) readable by other ranks (registers the existing memory) and
  /// appends its descriptor to `descriptor`. Exposing the same range again while it is exposed
  /// reuses the registration and returns the same handle; each expose needs one unexpose. An
  /// empty range needs no registration and gives handle 0. Throws std::runtime_error if UCX
  /// cannot register the memory.
  std::uint64_t expose(const std::byte* data, std::size_t size, Buffer& descriptor);
  /// Drops one reference to the registration; unknown handles and 0 are ignored. The caller
  /// makes sure no peer still reads the range.
  void unexpose(std::uint64_t handle);

  /// Reads the first `size` bytes of the range that `descriptor` (exactly what expose appended)
  /// describes on rank `peer` into `dest`, which stays valid until `done` runs. `done` runs
  /// exactly once, from progress() and without the internal mutex, never inside get; on failure
  /// it gets a text naming the peer and the UCX status. A malformed descriptor or a size larger
  /// than the range is reported through `done`.
  void get(int peer, std::span<const std::byte> descriptor, std::byte* dest, std::size_t size,
           Done done);

  /// Progresses the worker, posts further chunks and runs the `done` of finished reads on the
  /// calling thread. Returns true if anything happened. Cheap when idle.
  bool progress();

  /// Reads whose `done` has not run yet (the caller keeps polling instead of sleeping).
  [[nodiscard]] bool busy() const;

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }

  /// The transports UCX uses to reach `peer`, for logs: e.g. "sysv/memory (am am_bw),
  /// posix/memory"; "memcpy" for this rank; empty if unknown or not connected yet (it makes no
  /// endpoint).
  [[nodiscard]] std::string transports(int peer) const;

  /// Whether this rank has an endpoint to `peer` (false for itself and for no such rank).
  [[nodiscard]] bool connected(int peer) const;
  [[nodiscard]] Stats stats() const;

 private:
  struct State;
  explicit UcxDataPlane(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace manta::transport
