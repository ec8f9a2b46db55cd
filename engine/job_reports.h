// What ranks report to rank 0 for the job's files: the tasks each ran, for the timeline
// written at shutdown (timeline), and each rank's periodic state for the job directory
// (status_report). Rank 0 merges them; the other ranks send theirs.
//
// Handles: timeline, status_report.
#pragma once

#include <atomic>

#include "engine/rank_context.h"

namespace manta::engine {

class Dispatcher;
class JobDirectory;
class Timeline;

class JobReports {
 public:
  /// `timeline`: this rank's events (null without --manta-timeline or --manta-job-dir).
  JobReports(RankContext& ctx, Timeline* timeline) : ctx_(ctx), timeline_(timeline) {}

  void register_handlers(Dispatcher& d);

  /// The job directory, once it exists (rank 0 records the others' reports there).
  void set_job_directory(JobDirectory* dir) noexcept { job_dir_.store(dir); }
  /// Ranks > 0 at shutdown: their events go to rank 0 for the trace.
  void send_timeline();

 private:
  RankContext& ctx_;
  Timeline* timeline_;
  std::atomic<JobDirectory*> job_dir_{nullptr};
};

}  // namespace manta::engine
