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

}  // namespace manta::engine
