// Opening the data plane every rank agrees on, at start (collective over MPI).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <memory>
#include <string>

#include "transport/data_plane.h"

namespace manta::transport {

class ControlChannel;

struct DataPlaneOptions {
  std::size_t chunk_size = 4u << 20;
  bool want_ucx = true;      // false: every rank moves bytes over MPI
  int eager_endpoints = 64;  // UCX connects to every rank at start in jobs up to this size
};

/// Collective. UCX RMA when it is built in, wanted by every rank and starts on every rank;
/// otherwise MPI messages, with `why_not` saying why (for the log and for a required UCX).
/// Sets the channel's extra progress while RMA is in use (its reads are served by progress).
std::unique_ptr<DataPlane> open_data_plane(MPI_Comm comm, ControlChannel& channel,
                                           const DataPlaneOptions& options,
                                           DataPlane::FileReader files, std::string* why_not);

}  // namespace manta::transport
