// Must compile: data/ sees the public API, its own folder and spill/'s HDF5 lock.
#include <manta/data.h>
#include <manta/manta.h>

#include "data/block_tasks.h"
#include "spill/hdf5_lock.h"

int data_probe() { return manta::data::is_plain_row<double> ? 1 : 0; }
