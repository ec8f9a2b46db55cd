// Running a planned launch: the job directory's job.json, the launcher as a child process with
// signals passed on to it (so a batch system's checkpoint signal reaches the ranks), its exit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "launch/launch_plan.h"

namespace manta::launch {

/// <root>/<program>-<YYYYmmdd-HHMMSS>-<pid>: one directory a job, sorted by start time.
std::string default_job_dir(const std::string& root, const std::string& program);

/// Makes DIR private (0700) and writes DIR/job.json (0600: the command without the programs'
/// arguments unless `record_arguments`, launcher, ranks, start time), runs the plan, records the
/// exit code and the ranks that died there (from their crash reports and the launcher's error
/// output, which passes through) and returns the code (128 + N for a launcher killed by signal
/// N). With a job directory, a launcher still running `exit_grace` after every rank wrote its
/// exit record is stopped, and the code is the ranks' (the first non-zero one, else 0).
int run_job(const LaunchPlan& plan, const std::string& job_dir,
            std::chrono::seconds exit_grace = std::chrono::seconds(10),
            bool record_arguments = false);

}  // namespace manta::launch
