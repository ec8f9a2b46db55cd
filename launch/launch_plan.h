// How `manta run` turns a request into a launcher command line: srun inside a Slurm allocation
// (when Slurm can start MPI programs through PMIx), mpirun elsewhere or when asked. Pure logic over
// a description of the environment, so every choice is testable without a cluster.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace manta::launch {

/// A mistake in the request or a missing launcher; the message names the problem and the fix.
class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One program and the ranks that run it; several make one MPI world (MPMD, `a : b`).
struct Segment {
  int ranks = -1;  // -1: the default (the allocation's tasks, or this machine's cores)
  std::vector<std::string> command;  // program, then its arguments
};

struct LaunchRequest {
  std::vector<Segment> segments;
  std::string launcher = "auto";  // auto, srun or mpirun
  bool oversubscribe = false;
  std::vector<std::string> launcher_args;  // passed to the launcher before the program
  std::string job_dir;                     // passed to every rank as MANTA_JOB_DIR
};

/// What the machine offers. probe_environment() fills it from the real one.
struct Environment {
  std::map<std::string, std::string> vars;
  /// The full path of an executable found on PATH, or of `name` itself if it is a path.
  std::function<std::optional<std::string>(const std::string& name)> find_program;
  bool is_root = false;
  int cores = 1;
  std::string mpirun_flavor;  // "openmpi", "mpich" or "" (unknown)
  bool srun_pmix = false;     // `srun --mpi=list` offers pmix
};

struct LaunchPlan {
  std::string launcher;  // "srun" or "mpirun"
  std::string why;       // why that launcher
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // set for the launcher and the ranks
  std::vector<std::string> notes;                        // advice shown before the run
  int total_ranks = 0;
  /// The programs' arguments within argv: [first, first + count) for each program. The job
  /// directory records the command without them (they may hold secrets), unless asked to.
  std::vector<std::pair<std::size_t, std::size_t>> argument_ranges;
};

/// argv with each program's arguments replaced by one word, "[N arguments]".
std::vector<std::string> argv_without_arguments(const LaunchPlan& plan);

/// Throws LaunchError for -n 0, a missing program, an unknown launcher, or no launcher at all.
/// With a job directory, the ranks get MANTA_JOB_DIR.
LaunchPlan plan_launch(const LaunchRequest& request, const Environment& env);

/// The real environment: variables, PATH, root, cores, mpirun's flavour and srun's PMIx support
/// (asked only inside a Slurm allocation).
Environment probe_environment();

/// The command as a shell would read it back (quoted where needed).
std::string shell_quote(const std::vector<std::string>& words);

}  // namespace manta::launch
