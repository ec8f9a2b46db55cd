// manta::version() and build_info(): what this build is and the libraries it runs on.
#include <fmt/format.h>

#include <manta/settings.h>

#include "spill/hdf5_support.h"
#include "transport/mpi_world.h"

namespace manta {

std::string version() { return MANTA_VERSION; }

std::string build_info() {
  const std::string ucx = transport::ucx_version();
  return fmt::format("MPI: {}; UCX: {}; HDF5: {}; C++ {}", transport::mpi_library_version(),
                     ucx.empty() ? "not built in (objects move over MPI)" : ucx,
                     spill::hdf5_version(), __cplusplus);
}

}  // namespace manta
