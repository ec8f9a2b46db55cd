// Control: the engine sees its own folder, the layers below it and the public API.
#include <manta/manta.h>

#include "engine/object_store.h"
#include "gpu/topology.h"
#include "spill/spill_file.h"
#include "transport/wire.h"

std::size_t probe_engine_uses(manta::Buffer& out) {
  manta::transport::WireWriter(out).put<int>(1);
  return out.size();
}
