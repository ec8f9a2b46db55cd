// Control: what a transport/ source may include compiles (its own folder, manta/buffer.h).
#include <manta/buffer.h>

#include "transport/mpi_world.h"
#include "transport/wire.h"

std::size_t probe_transport_own(manta::Buffer& out) {
  manta::transport::WireWriter(out).put<int>(1);
  return out.size();
}
