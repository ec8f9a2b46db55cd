// MPI start-up and the collectives used once at init, before the progress thread owns MPI.
#pragma once

#include <mpi.h>

#include <span>
#include <string>
#include <vector>

#include <manta/buffer.h>

namespace manta::transport {

struct MpiWorld {
  MPI_Comm comm = MPI_COMM_NULL;  // Manta's own duplicate of MPI_COMM_WORLD
  // Another duplicate, the parent of the collective groups' communicators: their creation talks
  // only among a group's ranks, on a communicator that the control channel never probes.
  MPI_Comm groups = MPI_COMM_NULL;
  // A third, for checkpoints' parallel file I/O: all ranks at once, with MPI held throughout.
  MPI_Comm checkpoints = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // among the ranks on this node
  int local_size = 1;
  std::string hostname;
  bool initialized_mpi = false;  // Manta called MPI_Init (else the application did)
};

/// Initialises MPI at MPI_THREAD_SERIALIZED (one progress thread calls MPI at a time) unless
/// the application already did; then duplicates the world communicator.
MpiWorld start_mpi(int& argc, char**& argv);

/// Frees Manta's communicator and finalizes MPI, unless the application initialised MPI itself
/// and goes on running (`process_ends` false): then finalizing is the application's to do.
void finish_mpi(MpiWorld& world, bool process_ends = true);
/// Frees Manta's communicators only: MPI stays up (for another runtime in the same job).
void free_communicators(MpiWorld& world);

/// Every rank's bytes, in rank order (MPI_Allgatherv). Init-time only.
std::vector<Buffer> allgather_bytes(MPI_Comm comm, std::span<const std::byte> mine);

/// Logical AND of a flag over all ranks.
bool all_true(MPI_Comm comm, bool mine);

[[noreturn]] void abort_job(MPI_Comm comm, int code);

/// Whether the MPI library takes GPU memory in its calls (Open MPI's CUDA-aware build).
bool mpi_cuda_aware();

/// The MPI library's own version line (callable before MPI_Init).
std::string mpi_library_version();
/// UCX's version, or empty when Manta was built without it.
std::string ucx_version();

}  // namespace manta::transport
