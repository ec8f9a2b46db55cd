// Starting and stopping the runtime, and where code runs.
#pragma once

namespace manta {

/// Every rank calls this first. Rank 0 returns and runs the rest of main as the driver; the other
/// ranks serve tasks until the driver shuts down, then wait: when the driver calls init again
/// they serve its new runtime (with the driver's settings), and when it exits they finalize MPI
/// and exit 0. Removes the --manta-* flags it reads from argv. Fails with a clear message when
/// ranks run different binaries (their registered functions differ) or a setting is invalid.
void init(int& argc, char**& argv);

/// Stops every rank's runtime: what it held (objects, actors, placement groups) is gone, and
/// refs to it fail with a message. init may start a new runtime on the same ranks afterwards.
/// Implied at the end of the driver's main.
void shutdown();

/// True between init and shutdown.
bool is_initialized() noexcept;

/// This process's rank and the number of ranks.
int rank() noexcept;
int world_size() noexcept;

/// True once the checkpoint signal (--manta-checkpoint-signal, SIGUSR1 by default) reached this
/// process: the batch system asks the job to save its state and stop before its time limit
/// (`sbatch --signal=B:USR1@120` with a job script that forwards it, or `--signal=USR1@120`).
/// The driver polls it between steps.
bool checkpoint_requested() noexcept;

}  // namespace manta
