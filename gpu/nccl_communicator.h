// One member's end of an NCCL communicator: collectives and point-to-point transfers on device
// memory among the members of a collective group. Plain types only, so code built without the
// CUDA and NCCL headers includes it. Built without NCCL, making an id or a communicator throws
// std::runtime_error saying how to rebuild; gpu/device_memory.h says which build this is.
//
//   NcclId id = nccl_new_id();                      // on one member's process, sent to the rest
//   NcclCommunicator comm(id, size, rank, device);  // every member, each on its own thread
//   comm.allreduce(in, out, n, NcclElement::f32, NcclReduction::sum, deadline);
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>

namespace manta::gpu {

/// The rendezvous of one communicator (ncclUniqueId). The process that made it runs the
/// rendezvous the members connect to, so it must live until every member has joined: make it on
/// a member's process.
using NcclId = std::array<std::byte, 128>;

/// A new id (ncclGetUniqueId). Throws std::runtime_error when NCCL fails or is not built in.
NcclId nccl_new_id();

/// The element types NCCL carries (no 16-bit integers).
enum class NcclElement { i8, u8, i32, u32, i64, u64, f32, f64 };
enum class NcclReduction { sum, prod, min, max };

/// An operation (or the set-up) that the other members did not take part in before its deadline.
/// The communicator is aborted by then: later calls on it throw.
class NcclTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One member of an NCCL communicator, on one CUDA device with its own stream. Every operation
/// is enqueued on that stream and waited for before it returns, polling without holding a core
/// (yields, then sleeps growing to 1 ms), so several members may share a process and its cores.
/// Buffers are device memory on the communicator's device (gpu::where_is); `in` and `out` may be
/// the same buffer. Every member calls the same operations in the same order with matching
/// counts. Past its deadline an operation aborts the communicator and throws NcclTimeout; an
/// error NCCL reports aborts it and throws std::runtime_error with NCCL's words. Wrong arguments
/// (a rank out of range, a host buffer) throw std::invalid_argument and leave it usable. A zero
/// count returns at once. One caller at a time (cancel() aside): the object is not thread-safe.
class NcclCommunicator {
 public:
  using Clock = std::chrono::steady_clock;

  /// Joins communicator `id` as `rank` of `nranks` on CUDA `device` (ncclCommInitRankConfig,
  /// with the device current for the call and the thread's device restored after). Members in
  /// one process call this concurrently from their own threads: it returns once all have joined.
  /// Throws NcclTimeout past `deadline`, std::runtime_error naming NCCL's error and the ranks
  /// when NCCL or CUDA fails or no CUDA device is usable, and std::invalid_argument for a rank
  /// or device out of range.
  NcclCommunicator(const NcclId& id, int nranks, int rank, int device,
                   Clock::time_point deadline = Clock::time_point::max());
  /// Ends the communicator (finalized when healthy, else aborted) and destroys its stream.
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  NcclCommunicator(NcclCommunicator&&) = delete;
  NcclCommunicator& operator=(NcclCommunicator&&) = delete;

  /// Every member's `out` (count elements) is the element-wise reduction of all members' `in`.
  void allreduce(const void* in, void* out, std::size_t count, NcclElement element,
                 NcclReduction op, Clock::time_point deadline);
  /// The reduction lands in `root`'s `out` only; the others' `out` is not written (may be null).
  void reduce(const void* in, void* out, std::size_t count, NcclElement element, NcclReduction op,
              int root, Clock::time_point deadline);
  /// `root`'s `in` into every member's `out` (the others' `in` is not read and may be null).
  void broadcast(const void* in, void* out, std::size_t count, NcclElement element, int root,
                 Clock::time_point deadline);
  /// Every member's `in` (count_per_rank elements), in rank order, into every member's `out`
  /// (size() * count_per_rank elements).
  void allgather(const void* in, void* out, std::size_t count_per_rank, NcclElement element,
                 Clock::time_point deadline);
  /// The reduction of all members' `in` (size() * count_per_rank elements), of which rank r's
  /// `out` receives block r (count_per_rank elements).
  void reduce_scatter(const void* in, void* out, std::size_t count_per_rank, NcclElement element,
                      NcclReduction op, Clock::time_point deadline);
  /// `in` to member `peer`, which calls recv with this rank and the same count and element.
  void send(const void* in, std::size_t count, NcclElement element, int peer,
            Clock::time_point deadline);
  void recv(void* out, std::size_t count, NcclElement element, int peer,
            Clock::time_point deadline);

  /// Ends the communicator without waiting for the others (one of them died), from any thread:
  /// the operation in flight on the owning thread, if any, aborts the communicator within about
  /// a millisecond and throws std::runtime_error, as does every later one. The destructor then
  /// aborts instead of finalizing.
  void cancel() noexcept;

  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  [[nodiscard]] int device() const { return device_; }

 private:
  struct State;  // the NCCL communicator and the CUDA stream, in the .cpp

  int rank_ = -1;
  int size_ = 0;
  int device_ = -1;
  std::unique_ptr<State> state_;
};

}  // namespace manta::gpu
