// Running a planned launch: the job directory's job.json, the launcher as a child process with
// signals passed on to it (so a batch system's checkpoint signal reaches the ranks), its exit code.
#pragma once

#include <cstdint>
#include <string>

#include "launch/launch_plan.h"

namespace manta::launch {

/// <root>/<program>-<YYYYmmdd-HHMMSS>-<pid>: one directory a job, sorted by start time.
std::string default_job_dir(const std::string& root, const std::string& program);

/// Writes DIR/job.json (command, launcher, ranks, start time), runs the plan, records the exit
/// code there and returns it (128 + N for a launcher killed by signal N).
int run_job(const LaunchPlan& plan, const std::string& job_dir);

}  // namespace manta::launch
