// <manta/job.h>'s clean_ended_jobs: what dead jobs left in a spill root or a job root.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <manta/job.h>

#include "engine/shared_store.h"
#include "spill/process_owner.h"
#include "spill/stale_spill.h"
#include "transport/shared_segments.h"

namespace manta {
namespace {

namespace fs = std::filesystem;

bool is_job_directory(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "job.json", ec) || fs::exists(dir / "status.json", ec);
}

/// Whether a job directory's job has ended, and why one may say so.
bool job_ended(const fs::path& dir, std::string& why) {
  std::error_code ec;
  if (fs::exists(dir / "summary.json", ec)) {
    why = "its job wrote its summary";
    return true;
  }
  std::ifstream in(dir / "job.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (j.contains("exit_code")) {
      why = fmt::format("its job ended (exit code {})", j.value("exit_code", 0));
      return true;
    }
    spill::ProcessOwner launcher{j.value("host", std::string()), j.value("pid", 0L), 0};
    if (!launcher.host.empty() && spill::liveness(launcher) == spill::Liveness::ended) {
      why = fmt::format("the manta run that started it (pid {}) has ended", launcher.pid);
      return true;
    }
  }
  return false;
}

bool is_temporary(const std::string& name) {
  return name.find(".tmp.") != std::string::npos || name.ends_with(".tmp") ||
         name.rfind(".manta-write-test.", 0) == 0;
}

void clean_job_directory(const fs::path& dir, bool dry_run, std::vector<CleanedPath>& out) {
  std::string why;
  std::vector<fs::path> temporary;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code type_ec;
    if (e.is_regular_file(type_ec) && is_temporary(e.path().filename().string()))
      temporary.push_back(e.path());
  }
  if (temporary.empty() || !job_ended(dir, why)) return;
  for (const auto& t : temporary) {
    CleanedPath c;
    c.path = t.string();
    std::error_code size_ec;
    c.bytes = fs::file_size(t, size_ec);
    c.why = "a temporary file of a job directory: " + why;
    if (!dry_run) {
      std::error_code rm_ec;
      c.removed = fs::remove(t, rm_ec);
      if (!c.removed) c.why += ", but it could not be removed: " + rm_ec.message();
    }
    out.push_back(std::move(c));
  }
}

/// Node-shared store segments (under /dev/shm) of processes on this host that have ended.
void clean_segments(const std::string& dir, bool dry_run, std::vector<CleanedPath>& out) {
  const std::string host = spill::this_host();
  for (const auto& seg : transport::list_segments(dir, engine::kSegmentPrefix)) {
    CleanedPath c;
    c.path = (fs::path(dir) / seg.file).string();
    std::error_code ec;
    c.bytes = fs::file_size(c.path, ec);
    if (spill::liveness({host, seg.pid, seg.start_ticks}) != spill::Liveness::ended) {
      c.why = fmt::format("a shared memory segment of process {}, which still runs", seg.pid);
    } else {
      c.why = fmt::format("a shared memory segment of process {}, which has ended", seg.pid);
      if (!dry_run) {
        c.removed = fs::remove(c.path, ec);
        if (!c.removed) c.why += ", but it could not be removed: " + ec.message();
      }
    }
    out.push_back(std::move(c));
  }
}

}  // namespace

std::vector<CleanedPath> clean_ended_jobs(const std::string& dir, bool dry_run) {
  std::vector<CleanedPath> out;
  clean_segments(dir, dry_run, out);
  for (auto& s : spill::find_stale_spill_directories(dir, !dry_run)) {
    out.push_back({std::move(s.path), s.bytes, s.removed, "spill files: " + s.why});
  }
  const fs::path root(dir);
  if (is_job_directory(root)) clean_job_directory(root, dry_run, out);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::error_code type_ec;
    if (e.is_directory(type_ec) && !e.is_symlink(type_ec) && is_job_directory(e.path()))
      clean_job_directory(e.path(), dry_run, out);
  }
  return out;
}

}  // namespace manta
