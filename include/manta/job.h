// A job's directory, as the runtime writes it and tools read it back: per-rank logs, a status file
// refreshed while the job runs, a summary at exit and the tasks each rank ran (for a timeline).
//
//   DIR/status.json        rank 0, every --manta-status-interval seconds, and at exit
//   DIR/summary.json/.txt  rank 0, when the job ends (with the memory summary when it ended well)
//   DIR/rank-N.log         each rank's runtime log
//   DIR/events/rank-N.jsonl  each rank's finished tasks, one JSON object a line
//   DIR/rank-N.exit        each rank as its process ends: its exit code
//   DIR/job.json           the `manta run` command that started the job, and its exit code
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
};

/// A rank whose process has ended, from DIR/rank-N.exit.
struct RankExit {
  int rank = 0;
  int code = 0;
  int world_size = 0;         // ranks in the job, as this rank saw it
  std::int64_t ended_ms = 0;  // wall clock, ms since the epoch
};

/// The ranks whose processes have ended, by rank (none when DIR has no exit records).
std::vector<RankExit> read_rank_exits(const std::string& dir);

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
