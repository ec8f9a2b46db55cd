// The runtime's side of the job directory (see <manta/job.h> for its layout): every rank appends
// the tasks it ran to its events file and reports its state to rank 0 every status interval; rank 0
// keeps the latest report of each rank and rewrites status.json, and writes the summary at exit.
// All of it happens on one thread per rank that sleeps between rounds, off the task path.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <manta/job.h>

#include "engine/timeline.h"

namespace manta::engine {

class JobDirectory {
 public:
  struct Settings {
    std::string path;
    int rank = 0;
    int world_size = 1;
    std::chrono::milliseconds interval{2000};
    std::string job_id;
    std::string program;
  };
  struct Hooks {
    std::function<RankStatus()> sample;                   // this rank's state now
    std::function<void(const std::string& json)> report;  // ranks > 0: send it to rank 0
    std::function<bool()> checkpoint_requested;
  };

  /// Makes the directory and its events/ folder. Throws std::runtime_error naming the path and
  /// the fix. Called on every rank at init, before anything is written there.
  static void prepare(const std::string& path);
  static std::string log_path(const std::string& dir, int rank);

  /// `timeline` (may be null) holds the tasks this rank ran.
  JobDirectory(Settings settings, Hooks hooks, Timeline* timeline);
  ~JobDirectory();
  JobDirectory(const JobDirectory&) = delete;
  JobDirectory& operator=(const JobDirectory&) = delete;

  void start();
  /// Rank 0: the latest report of a rank (a JSON RankStatus).
  void update(const std::string& json);
  /// Stops the thread and writes the last events. Ranks > 0 send their last report; rank 0
  /// writes status.json and the summary with the job's final `state` ("finished" or "failed").
  void finish(const std::string& state, const std::string& error,
              const std::string& memory_summary);

 private:
  void run();
  void round();
  void flush_events();
  void note_checkpoint();  // logs the checkpoint signal's arrival, once
  [[nodiscard]] JobStatus status(const std::string& state, const std::string& error);

  Settings settings_;
  Hooks hooks_;
  Timeline* timeline_;
  std::int64_t started_ms_;
  std::ofstream events_;
  bool checkpoint_logged_ = false;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<RankStatus> ranks_;  // rank 0: latest report of each
  int first_reports_ = 0;          // rank 0: ranks that have reported at least once
  bool all_reported_now_ = false;  // rank 0: write the status file now
  std::thread thread_;
};

}  // namespace manta::engine
