// Runtimes one after another in one MPI job: the driver may call init again after shutdown (as
// Ray's Init after Shutdown). Open MPI cannot start again once finalized, so MPI stays up between
// runtimes: after a runtime stops, the other ranks wait here (asleep, not polling a core) for rank
// 0's word, either "again" with the driver's new arguments or "end" when the driver exits, and MPI
// ends with the driver's process.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace manta::engine::sessions {

/// What rank 0 told a waiting rank: another runtime, with these arguments (argv as the driver's
/// init saw them), or the end of the job.
struct Next {
  bool again = false;
  std::vector<std::string> args;
};

/// Collective, at the first init: the communicator the word travels on, kept for the process's
/// life (the runtimes' own are freed at each shutdown).
MPI_Comm open_channel();

/// Ranks other than 0, once their runtime stopped: waits for rank 0's word. Sleeps between
/// looks (1 ms, growing to 50 ms), so that waiting ranks leave the cores to others.
Next wait_for_driver(MPI_Comm channel);

/// Rank 0: tells every other rank that another runtime starts with `args`.
void announce_again(MPI_Comm channel, int size, const std::vector<std::string>& args);

/// Rank 0: tells every other rank that the job ends (they finalize MPI and exit 0).
void announce_end(MPI_Comm channel, int size);

/// The argument vector of a message, as init takes it: `storage` owns the strings, `pointers`
/// (null-terminated, as argv is) points into them.
struct Argv {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  int argc = 0;
  char** argv = nullptr;
};
Argv make_argv(std::vector<std::string> args);

}  // namespace manta::engine::sessions
