#include "engine/job_directory.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "engine/job_files.h"
#include "engine/log.h"

namespace manta::engine {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void JobDirectory::prepare(const std::string& path) {
  std::error_code ec;
  try {
    make_private_directories((std::filesystem::path(path) / "events").string());
  } catch (const std::system_error& e) {
    throw std::runtime_error(fmt::format(
        "--manta-job-dir={}: cannot create the job directory ({}); pick a writable directory", path,
        e.what()));
  }
  // Probe with a real file: a directory can exist and still refuse writes.
  const std::string probe = path + "/.manta-write-test." + std::to_string(::getpid());
  std::ofstream f(probe);
  if (!f) {
    throw std::runtime_error(
        fmt::format("--manta-job-dir={}: cannot write there ({}); pick a writable directory", path,
                    std::strerror(errno)));
  }
  f.close();
  std::filesystem::remove(probe, ec);
}

std::string JobDirectory::log_path(const std::string& dir, int rank) {
  return fmt::format("{}/rank-{}.log", dir, rank);
}

JobDirectory::JobDirectory(Settings settings, Hooks hooks, Timeline* timeline)
    : settings_(std::move(settings)),
      hooks_(std::move(hooks)),
      timeline_(timeline),
      started_ms_(now_ms()) {
  if (timeline_) {
    const std::string path = fmt::format("{}/events/rank-{}.jsonl", settings_.path, settings_.rank);
    create_private_file(path);
    events_.open(path, std::ios::app);
    if (!events_) log().error("cannot write task events to {}: {}", path, std::strerror(errno));
  }
  if (settings_.rank == 0) {
    ranks_.resize(static_cast<std::size_t>(settings_.world_size));
    for (int r = 0; r < settings_.world_size; ++r) ranks_[r].rank = r;
  }
}

JobDirectory::~JobDirectory() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobDirectory::start() {
  round();  // the status file exists as soon as the job does
  thread_ = std::thread([this] { run(); });
}

void JobDirectory::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    cv_.wait_for(lock, settings_.interval, [&] { return stop_ || all_reported_now_; });
    if (stop_) break;
    all_reported_now_ = false;
    lock.unlock();
    try {
      round();
    } catch (const std::exception& e) {
      log().error("job directory {}: {}", settings_.path, e.what());
    }
    lock.lock();
  }
}

void JobDirectory::note_checkpoint() {
  if (hooks_.checkpoint_requested && hooks_.checkpoint_requested() && !checkpoint_logged_) {
    checkpoint_logged_ = true;
    log().warn("the checkpoint signal arrived: manta::checkpoint_requested() is now true");
  }
}

void JobDirectory::round() {
  flush_events();
  note_checkpoint();
  RankStatus mine = hooks_.sample();
  if (settings_.rank != 0) {
    hooks_.report(to_json(mine).dump());
  } else {
    {
      std::lock_guard lock(mutex_);
      ranks_[0] = std::move(mine);
    }
    write_file_atomically(settings_.path + "/status.json",
                          to_json(status("running", "")).dump(2) + "\n");
  }
  log().flush();
}

void JobDirectory::flush_events() {
  if (!timeline_ || !events_) return;
  if (timeline_->append_jsonl(events_) > 0) events_.flush();
}

void JobDirectory::update(const std::string& json) {
  RankStatus s = rank_status_from_json(nlohmann::json::parse(json));
  std::lock_guard lock(mutex_);
  if (s.rank < 0 || static_cast<std::size_t>(s.rank) >= ranks_.size()) return;
  // Once every rank has reported, the status file names all their hosts and pids at once, not
  // a round later: a rank that dies early is then known by where it ran.
  if (ranks_[s.rank].reported_ms == 0 && ++first_reports_ == settings_.world_size - 1) {
    all_reported_now_ = true;
    cv_.notify_all();
  }
  ranks_[s.rank] = std::move(s);
}

JobStatus JobDirectory::status(const std::string& state, const std::string& error) {
  JobStatus s;
  s.job_id = settings_.job_id;
  s.program = settings_.program;
  s.state = state;
  s.error = error;
  s.checkpoint_requested = hooks_.checkpoint_requested && hooks_.checkpoint_requested();
  s.world_size = settings_.world_size;
  s.status_interval_s = static_cast<double>(settings_.interval.count()) / 1000.0;
  s.started_ms = started_ms_;
  s.updated_ms = now_ms();
  std::lock_guard lock(mutex_);
  s.ranks = ranks_;
  return s;
}

void JobDirectory::finish(const std::string& state, const std::string& error,
                          const std::string& memory_summary) {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  flush_events();
  note_checkpoint();
  RankStatus mine = hooks_.sample();
  if (settings_.rank != 0) {
    hooks_.report(to_json(mine).dump());
    log().info("rank {} stopped", settings_.rank);
    log().flush();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    ranks_[0] = std::move(mine);
  }
  JobStatus s = status(state, error);
  s.memory_summary = memory_summary;
  const std::string json = to_json(s).dump(2) + "\n";
  try {
    write_file_atomically(settings_.path + "/status.json", json);
    write_file_atomically(settings_.path + "/summary.json", json);
    std::string text = format_job_status(s, s.updated_ms);
    if (!memory_summary.empty()) text += "\n" + memory_summary;
    write_file_atomically(settings_.path + "/summary.txt", text);
  } catch (const std::exception& e) {
    log().error("job directory {}: {}", settings_.path, e.what());
  }
  log().info("job {} {}; summary in {}/summary.txt", settings_.job_id, state, settings_.path);
  log().flush();
}

}  // namespace manta::engine
