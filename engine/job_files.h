// The job directory's JSON: one place that knows how statuses are written and read back, for the
// runtime (which writes them) and the tools of <manta/job.h> (which read them).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include <manta/job.h>

namespace manta::engine {

nlohmann::json to_json(const RankStatus& s);
RankStatus rank_status_from_json(const nlohmann::json& j);
nlohmann::json to_json(const JobStatus& s);
JobStatus job_status_from_json(const nlohmann::json& j);

/// Writes `text` to `path` through a temporary file and a rename, so a reader never sees half.
/// Throws std::runtime_error naming the file.
void write_file_atomically(const std::string& path, const std::string& text);

/// DIR/rank-N.exit: written by a rank as its process ends (atomically; never throws, since it runs
/// at exit). Launchers use it to tell ranks that ended from ranks still running.
void write_rank_exit(const std::string& dir, int rank, int world_size, int code) noexcept;

}  // namespace manta::engine
