#include "spill/hdf5_lock.h"

namespace manta::spill {

std::unique_lock<std::recursive_mutex> hdf5_lock() {
  // A function-local static: constructed on first use, so a lock taken during another static's
  // construction finds it ready.
  static std::recursive_mutex mutex;
  return std::unique_lock<std::recursive_mutex>(mutex);
}

}  // namespace manta::spill
