// A job's directory, as the runtime writes it and tools read it back: per-rank logs, a status file
// refreshed while the job runs, a summary at exit and the tasks each rank ran (for a timeline).
//
//   DIR/status.json        rank 0, every --manta-status-interval seconds, and at exit
//   DIR/summary.json/.txt  rank 0, when the job ends (with the memory summary when it ended well)
//   DIR/rank-N.log         each rank's runtime log
//   DIR/events/rank-N.jsonl  each rank's finished tasks, one JSON object a line
//   DIR/rank-N.exit        each rank as its process ends: its exit code; after a fatal signal
//                          also the signal and the task or actor call that was running
//   DIR/job.json           the `manta run` command that started the job (the program and the
//                          number of its arguments), its exit code and the ranks that died
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace manta {

/// One rank as its latest report describes it.
struct RankStatus {
  int rank = 0;
  std::string host;
  int pid = 0;
  double cpus = 0;            // the CPU resource
  double cpus_free = 0;       // not held by running tasks or actors
  std::string resources;      // all resources, e.g. "CPU=2, memory=...", as total
  std::uint64_t queued = 0;   // tasks waiting for resources or inputs on this rank
  std::uint64_t running = 0;  // tasks running on this rank's workers
  std::uint64_t tasks_submitted = 0;
  std::uint64_t tasks_executed = 0;
  std::uint64_t actors = 0;  // actors alive on this rank
  std::uint64_t objects = 0;
  std::uint64_t object_bytes = 0;  // bytes in memory
  std::uint64_t capacity_bytes = 0;
  std::uint64_t spilled_objects = 0;
  std::uint64_t spilled_bytes = 0;
  std::int64_t reported_ms = 0;  // wall clock of the report, ms since the epoch
  // Hardware, as decided at start (see manta::RankHardware).
  std::string cpuset;   // PUs the rank may run on ("0-11")
  int numa_node = -1;   // -1: several or unknown
  std::string binding;  // "none" or how threads are bound
  std::string gpus;     // describe_gpus(): "0 NVIDIA A100 (0000:07:00.0, 80.0 GiB); ..." or "none"
  double gpus_total = 0;              // the GPU resource
  double gpus_free = 0;               // not held by running tasks or actors
  std::vector<std::string> progress;  // long work running here (set_progress), one line each
};

/// A rank that died of a signal: from its own crash report (rank-N.exit) or, for a signal no
/// handler sees (SIGKILL), from the launcher's output and the rank's last status report.
struct RankDeath {
  int rank = -1;
  std::string host;    // "" when unknown
  int pid = 0;         // 0 when unknown
  int signal = 0;      // 0: ended by an exit code
  std::string how;     // e.g. "signal SIGSEGV in task f (task:0:3)", "killed by SIGKILL"
  std::string source;  // who said so: "the rank", "mpirun", "srun"
};

struct JobStatus {
  std::string job_id;
  std::string program;
  std::string state;                  // "running", "finished" or "failed"
  std::string error;                  // why it failed
  bool checkpoint_requested = false;  // the checkpoint signal arrived
  int world_size = 0;
  double status_interval_s = 0;
  std::int64_t started_ms = 0;
  std::int64_t updated_ms = 0;
  std::vector<RankStatus> ranks;  // by rank; a rank that has not reported yet has only its number
  // From job.json, when `manta run` started the job: the command and, once it ended, its exit code.
  std::string launch_command;
  bool launcher_exited = false;
  int launcher_exit_code = 0;
  // From summary.json: the memory summary at exit, as text.
  std::string memory_summary;
  // From job.json (or, without it, the ranks' exit records): the ranks that died.
  std::vector<RankDeath> deaths;
};

/// A rank whose process has ended, from DIR/rank-N.exit.
struct RankExit {
  int rank = 0;
  int code = 0;
  int world_size = 0;         // ranks in the job, as this rank saw it
  std::int64_t ended_ms = 0;  // wall clock, ms since the epoch
  // Set when a fatal signal ended the rank (its crash report).
  int signal = 0;
  std::string host;
  int pid = 0;
  std::string running;  // the task or actor call on the crashing thread, or ""
};

/// "SIGSEGV" for 11, and so on; "signal N" for numbers without a name.
std::string signal_name(int sig);

/// "rank 1 on host h (pid 42) died: killed by SIGKILL (reported by mpirun)".
std::string describe_death(const RankDeath& death);

/// The deaths that the ranks reported themselves (exit records with a signal).
std::vector<RankDeath> reported_deaths(const std::vector<RankExit>& exits);

/// The ranks whose processes have ended, by rank (none when DIR has no exit records).
std::vector<RankExit> read_rank_exits(const std::string& dir);

/// Makes a job directory and its missing parents, each private to this user (0700); directories
/// that exist are left as they are. Throws std::runtime_error naming the one that failed.
void make_job_directory(const std::string& dir);

/// What `clean_ended_jobs` found: removed, or kept with the reason.
struct CleanedPath {
  std::string path;
  std::uint64_t bytes = 0;
  bool removed = false;
  std::string why;
};

/// Removes what jobs that ended without cleaning up (a rank killed) left in DIR: spill
/// directories (DIR/manta-*) whose processes all ran on this host and have ended, and temporary
/// files in DIR's job directories (DIR itself or its subdirectories) whose job ended. Running
/// jobs' files, and those of jobs on other hosts, are kept and listed with the reason. With
/// `dry_run` nothing is removed. Never throws for a missing or unreadable DIR (lists nothing).
std::vector<CleanedPath> clean_ended_jobs(const std::string& dir, bool dry_run = false);

/// Publishes one line of progress of long work on this rank (a dataset's operators, a training
/// loop) under `key`, replacing that key's previous line; an empty line removes it. The job's
/// status (DIR/status.json, `manta status`) shows every rank's lines.
void set_progress(const std::string& key, const std::string& line);
/// This rank's progress lines, ordered by key.
std::vector<std::string> progress_lines();

/// Reads DIR/summary.json when the job has ended, else DIR/status.json, plus DIR/job.json.
/// Throws std::runtime_error naming the directory and what is missing.
JobStatus read_job_status(const std::string& dir);

/// The status as a table: one line a rank, then totals. `now_ms` tells how stale it is.
std::string format_job_status(const JobStatus& status, std::int64_t now_ms);

/// Merges DIR/events/rank-*.jsonl into one Chrome trace (chrome://tracing, Perfetto) at
/// `out` (default DIR/timeline.json). Returns the number of task events written.
struct TimelineWritten {
  std::string path;
  std::size_t events = 0;
  std::size_t ranks = 0;
};
TimelineWritten write_job_timeline(const std::string& dir, const std::string& out = {});

}  // namespace manta
