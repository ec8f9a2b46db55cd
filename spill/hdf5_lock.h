// The one lock every HDF5 call of a process is made under.
//
// The Debian HDF5 this project builds with (the parallel, OpenMPI one) is not built thread-safe:
// the library keeps global state (open identifiers, the error stack, caches) that two threads
// calling it at once corrupt. Several threads of a rank do call it: the I/O thread for spill
// files and checkpoints, and workers running dataset tasks that read and write HDF5 files. So
// every sequence of HDF5 calls, including the closing of identifiers and the reading of the
// error stack after a failure, is made holding this lock. Raw data that is read or written with
// positioned reads and writes on a plain descriptor needs no lock: that is why datasets use them.
//
// The mutex is recursive so that a function holding it may call another that takes it too.
// Whoever holds it must never wait for another thread of the same process (that thread may be
// waiting for the lock): a collective checkpoint write holds it while waiting for other ranks,
// which are other processes with locks of their own.
#pragma once

#include <mutex>

namespace manta::spill {

/// Takes the process-wide HDF5 lock; it is released when the returned lock is destroyed.
[[nodiscard]] std::unique_lock<std::recursive_mutex> hdf5_lock();

}  // namespace manta::spill
