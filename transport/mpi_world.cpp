#include "transport/mpi_world.h"

#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // MPIX_CUDA_AWARE_SUPPORT, where the library has it
#endif

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#if MANTA_HAVE_UCX
#include <ucp/api/ucp.h>
#endif

namespace manta::transport {

namespace {

bool env_is(const char* name, const char*(&value)) {
  value = std::getenv(name);
  return value && *value;
}

/// Open MPI's TCP transport listens on every interface of every rank. When the launcher says
/// that all ranks share this node (Open MPI's mpirun and Slurm's srun tell each rank), shared
/// memory carries everything and the TCP transport is left out, unless the user chose the
/// transports. It must be decided before MPI_Init, hence from the launcher's variables.
void keep_single_node_jobs_off_the_network() {
#if defined(OPEN_MPI)
  const char* v = nullptr;
  if (env_is("OMPI_MCA_btl", v)) return;  // the user's choice
  bool one_node = false;
  const char *size = nullptr, *local = nullptr;
  if (env_is("OMPI_COMM_WORLD_SIZE", size) && env_is("OMPI_COMM_WORLD_LOCAL_SIZE", local)) {
    one_node = std::strcmp(size, local) == 0;
  } else if (env_is("SLURM_STEP_NUM_NODES", v)) {
    one_node = std::strcmp(v, "1") == 0;
  }
#if OMPI_MAJOR_VERSION >= 5
  if (one_node) ::setenv("OMPI_MCA_btl", "self,sm", 0);
#else
  if (one_node) ::setenv("OMPI_MCA_btl", "self,vader", 0);
#endif
#endif
}

}  // namespace

MpiWorld start_mpi(int& argc, char**& argv) {
  MpiWorld w;
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = 0;
  if (initialized) {
    MPI_Query_thread(&provided);
  } else {
    keep_single_node_jobs_off_the_network();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    w.initialized_mpi = true;
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    std::fprintf(stderr,
                 "manta: MPI provides thread level %d, Manta needs MPI_THREAD_SERIALIZED (%d); "
                 "initialise MPI with MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...) or let "
                 "manta::init do it\n",
                 provided, MPI_THREAD_SERIALIZED);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &w.comm);
  MPI_Comm_dup(MPI_COMM_WORLD, &w.groups);
  MPI_Comm_dup(MPI_COMM_WORLD, &w.checkpoints);
  MPI_Comm_rank(w.comm, &w.rank);
  MPI_Comm_size(w.comm, &w.size);
  MPI_Comm node;
  MPI_Comm_split_type(w.comm, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &w.local_rank);
  MPI_Comm_size(node, &w.local_size);
  MPI_Comm_free(&node);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  w.hostname = host;
  return w;
}

void free_communicators(MpiWorld& world) {
  if (world.groups != MPI_COMM_NULL) MPI_Comm_free(&world.groups);
  if (world.checkpoints != MPI_COMM_NULL) MPI_Comm_free(&world.checkpoints);
  if (world.comm != MPI_COMM_NULL) MPI_Comm_free(&world.comm);
}

void finish_mpi(MpiWorld& world, bool process_ends) {
  free_communicators(world);
  if (!process_ends && !world.initialized_mpi) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool mpi_cuda_aware() {
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  return MPIX_Query_cuda_support() == 1;
#else
  return false;
#endif
}

std::vector<Buffer> allgather_bytes(MPI_Comm comm, std::span<const std::byte> mine) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  int my_count = static_cast<int>(mine.size());
  std::vector<int> counts(size), displs(size);
  MPI_Allgather(&my_count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = total;
    total += counts[r];
  }
  Buffer all(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), my_count, MPI_BYTE, all.data(), counts.data(), displs.data(),
                 MPI_BYTE, comm);
  std::vector<Buffer> out;
  out.reserve(size);
  for (int r = 0; r < size; ++r) out.emplace_back(all.data() + displs[r], counts[r]);
  return out;
}

bool all_true(MPI_Comm comm, bool mine) {
  int in = mine ? 1 : 0, out = 0;
  MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, comm);
  return out != 0;
}

void abort_job(MPI_Comm comm, int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(comm == MPI_COMM_NULL ? MPI_COMM_WORLD : comm, code);
  std::_Exit(code);
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string v(text, static_cast<std::size_t>(len));
  // Open MPI appends its release date and repository details after a comma; keep the name.
  if (const auto comma = v.find(','); comma != std::string::npos) v.resize(comma);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\0')) v.pop_back();
  return v;
}

std::string ucx_version() {
#if MANTA_HAVE_UCX
  return ucp_get_version_string();
#else
  return {};
#endif
}

}  // namespace manta::transport
