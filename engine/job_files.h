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
/// The file is private (0600): a job's records name its program, hosts and files.
/// Throws std::runtime_error naming the file.
void write_file_atomically(const std::string& path, const std::string& text);

/// Creates `path` empty and private (0600) unless it exists, so that a writer that opens it later
/// (a logger, a stream) does not make it readable by others. Never throws.
void create_private_file(const std::string& path) noexcept;

/// mkdir -p in which every directory made is private (0700, whatever the umask); directories
/// that exist are left as they are. Throws std::system_error naming the one that failed.
void make_private_directories(const std::string& path);

/// DIR/rank-N.exit: written by a rank as its process ends (atomically; never throws, since it runs
/// at exit). Launchers use it to tell ranks that ended from ranks still running.
void write_rank_exit(const std::string& dir, int rank, int world_size, int code) noexcept;

}  // namespace manta::engine
