#include "transport/group_communicator.h"

#include <climits>
#include <stdexcept>

namespace manta::transport {
namespace {

MPI_Datatype datatype(Element e) {
  switch (e) {
    case Element::i8:
      return MPI_INT8_T;
    case Element::u8:
      return MPI_UINT8_T;
    case Element::i16:
      return MPI_INT16_T;
    case Element::u16:
      return MPI_UINT16_T;
    case Element::i32:
      return MPI_INT32_T;
    case Element::u32:
      return MPI_UINT32_T;
    case Element::i64:
      return MPI_INT64_T;
    case Element::u64:
      return MPI_UINT64_T;
    case Element::f32:
      return MPI_FLOAT;
    case Element::f64:
      return MPI_DOUBLE;
  }
  return MPI_BYTE;
}

MPI_Op mpi_op(Reduction op) {
  switch (op) {
    case Reduction::sum:
      return MPI_SUM;
    case Reduction::prod:
      return MPI_PROD;
    case Reduction::min:
      return MPI_MIN;
    case Reduction::max:
      return MPI_MAX;
  }
  return MPI_SUM;
}

int checked_count(std::size_t count) {
  if (count > static_cast<std::size_t>(INT_MAX)) {
    throw std::length_error("a collective call of " + std::to_string(count) +
                            " elements: MPI counts stop at 2^31-1; split the buffer");
  }
  return static_cast<int>(count);
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw std::runtime_error(std::string(what) + " failed: " + std::string(text, length));
}

}  // namespace

std::size_t element_size(Element e) noexcept {
  switch (e) {
    case Element::i8:
    case Element::u8:
      return 1;
    case Element::i16:
    case Element::u16:
      return 2;
    case Element::i32:
    case Element::u32:
    case Element::f32:
      return 4;
    case Element::i64:
    case Element::u64:
    case Element::f64:
      return 8;
  }
  return 1;
}

GroupCommunicator::GroupCommunicator(MPI_Comm parent, const std::vector<int>& ranks, int tag) {
  MPI_Group world_group = MPI_GROUP_NULL;
  MPI_Group members = MPI_GROUP_NULL;
  MPI_Comm_group(parent, &world_group);
  MPI_Group_incl(world_group, static_cast<int>(ranks.size()), ranks.data(), &members);
  const int rc = MPI_Comm_create_group(parent, members, tag, &comm_);
  MPI_Group_free(&members);
  MPI_Group_free(&world_group);
  check(rc, "MPI_Comm_create_group");
  // An error in a group's call is the group's to report, not a reason to end the job.
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  int* limit = nullptr;
  int found = 0;
  MPI_Comm_get_attr(comm_, MPI_TAG_UB, &limit, &found);
  if (found && limit) tag_limit_ = *limit;
}

GroupCommunicator::~GroupCommunicator() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

MPI_Request GroupCommunicator::allgather_bytes(const void* in, std::size_t bytes, void* out) {
  MPI_Request r = MPI_REQUEST_NULL;
  const int n = checked_count(bytes);
  check(MPI_Iallgather(in, n, MPI_BYTE, out, n, MPI_BYTE, comm_, &r), "MPI_Iallgather");
  return r;
}

MPI_Request GroupCommunicator::allreduce(void* data, std::size_t count, Element e, Reduction op) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(
      MPI_Iallreduce(MPI_IN_PLACE, data, checked_count(count), datatype(e), mpi_op(op), comm_, &r),
      "MPI_Iallreduce");
  return r;
}

MPI_Request GroupCommunicator::reduce(void* data, std::size_t count, Element e, Reduction op,
                                      int root) {
  MPI_Request r = MPI_REQUEST_NULL;
  const int n = checked_count(count);
  if (rank_ == root) {
    check(MPI_Ireduce(MPI_IN_PLACE, data, n, datatype(e), mpi_op(op), root, comm_, &r),
          "MPI_Ireduce");
  } else {
    check(MPI_Ireduce(data, nullptr, n, datatype(e), mpi_op(op), root, comm_, &r), "MPI_Ireduce");
  }
  return r;
}

MPI_Request GroupCommunicator::broadcast(void* data, std::size_t count, Element e, int root) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Ibcast(data, checked_count(count), datatype(e), root, comm_, &r), "MPI_Ibcast");
  return r;
}

MPI_Request GroupCommunicator::allgatherv(const void* in, void* out, const std::vector<int>& counts,
                                          Element e) {
  std::vector<int> displs(counts.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    displs[i] = checked_count(at);
    at += static_cast<std::size_t>(counts[i]);
  }
  checked_count(at);
  MPI_Request r = MPI_REQUEST_NULL;
  // Open MPI reads the count and displacement arrays when the operation starts, so they may go.
  check(MPI_Iallgatherv(in, counts[static_cast<std::size_t>(rank_)], datatype(e), out,
                        counts.data(), displs.data(), datatype(e), comm_, &r),
        "MPI_Iallgatherv");
  return r;
}

MPI_Request GroupCommunicator::reduce_scatter(const void* in, void* out,
                                              const std::vector<int>& counts, Element e,
                                              Reduction op) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Ireduce_scatter(in, out, counts.data(), datatype(e), mpi_op(op), comm_, &r),
        "MPI_Ireduce_scatter");
  return r;
}

MPI_Request GroupCommunicator::send(const void* data, std::size_t count, Element e, int dest,
                                    int tag) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Isend(data, checked_count(count), datatype(e), dest, tag, comm_, &r), "MPI_Isend");
  return r;
}

MPI_Request GroupCommunicator::recv(void* data, std::size_t count, Element e, int source, int tag) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Irecv(data, checked_count(count), datatype(e), source, tag, comm_, &r), "MPI_Irecv");
  return r;
}

MPI_Request GroupCommunicator::send_bytes(const void* data, std::size_t bytes, int dest, int tag) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Isend(data, checked_count(bytes), MPI_BYTE, dest, tag, comm_, &r), "MPI_Isend");
  return r;
}

MPI_Request GroupCommunicator::recv_bytes(void* data, std::size_t bytes, int source, int tag) {
  MPI_Request r = MPI_REQUEST_NULL;
  check(MPI_Irecv(data, checked_count(bytes), MPI_BYTE, source, tag, comm_, &r), "MPI_Irecv");
  return r;
}

bool GroupCommunicator::test(MPI_Request& request) {
  if (request == MPI_REQUEST_NULL) return true;
  int done = 0;
  check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
  return done != 0;
}

}  // namespace manta::transport
