// A collective group's MPI communicator over the ranks that host its members, and the
// non-blocking operations a group runs on it. Manta runs MPI at MPI_THREAD_SERIALIZED, so every
// call here is made with MPI held: from a ControlChannel extra progress, or ControlChannel::poll.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace manta::transport {

/// The element types a group reduces, and the reductions.
enum class Element : std::uint8_t { i8, u8, i16, u16, i32, u32, i64, u64, f32, f64 };
enum class Reduction : std::uint8_t { sum, prod, min, max };

[[nodiscard]] std::size_t element_size(Element e) noexcept;

class GroupCommunicator {
 public:
  /// MPI_Comm_create_group of `parent` over the world ranks `ranks` (their order numbers them
  /// here). Only those ranks take part, each with the same list and `tag`; it returns once all
  /// have called it. Throws std::runtime_error with MPI's message.
  GroupCommunicator(MPI_Comm parent, const std::vector<int>& ranks, int tag);
  ~GroupCommunicator();
  GroupCommunicator(const GroupCommunicator&) = delete;
  GroupCommunicator& operator=(const GroupCommunicator&) = delete;

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }
  /// The largest tag point-to-point messages may use.
  [[nodiscard]] int tag_limit() const noexcept { return tag_limit_; }

  // Each starts a non-blocking operation and returns its request; throws std::runtime_error
  // naming the operation when MPI refuses it, and std::length_error past 2^31-1 elements.
  MPI_Request allgather_bytes(const void* in, std::size_t bytes, void* out);
  MPI_Request allreduce(void* data, std::size_t count, Element e, Reduction op);
  /// The result lands in `data` on `root`; elsewhere `data` is only read.
  MPI_Request reduce(void* data, std::size_t count, Element e, Reduction op, int root);
  MPI_Request broadcast(void* data, std::size_t count, Element e, int root);
  /// `counts[r]` elements from rank r, placed one after another in `out`.
  MPI_Request allgatherv(const void* in, void* out, const std::vector<int>& counts, Element e);
  /// `in` holds sum(counts) elements; rank r receives the reduction of its `counts[r]`.
  MPI_Request reduce_scatter(const void* in, void* out, const std::vector<int>& counts, Element e,
                             Reduction op);
  MPI_Request send(const void* data, std::size_t count, Element e, int dest, int tag);
  MPI_Request recv(void* data, std::size_t count, Element e, int source, int tag);
  MPI_Request send_bytes(const void* data, std::size_t bytes, int dest, int tag);
  MPI_Request recv_bytes(void* data, std::size_t bytes, int source, int tag);

  /// True once `request` completed (it is then MPI_REQUEST_NULL). Throws on an MPI error.
  static bool test(MPI_Request& request);

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 0;
  int tag_limit_ = 32767;
};

}  // namespace manta::transport
