// <manta/job.h>: reading a job directory back (status, summary, launch record, task events).
#include "engine/job_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "engine/text.h"
#include "engine/timeline.h"

namespace manta::engine {

using nlohmann::json;

json to_json(const RankStatus& s) {
  return {{"rank", s.rank},
          {"host", s.host},
          {"pid", s.pid},
          {"cpus", s.cpus},
          {"cpus_free", s.cpus_free},
          {"resources", s.resources},
          {"queued", s.queued},
          {"running", s.running},
          {"tasks_submitted", s.tasks_submitted},
          {"tasks_executed", s.tasks_executed},
          {"actors", s.actors},
          {"objects", s.objects},
          {"object_bytes", s.object_bytes},
          {"capacity_bytes", s.capacity_bytes},
          {"spilled_objects", s.spilled_objects},
          {"spilled_bytes", s.spilled_bytes},
          {"reported_ms", s.reported_ms},
          {"cpuset", s.cpuset},
          {"numa_node", s.numa_node},
          {"binding", s.binding},
          {"gpus", s.gpus},
          {"gpus_total", s.gpus_total},
          {"gpus_free", s.gpus_free},
          {"progress", s.progress}};
}

RankStatus rank_status_from_json(const json& j) {
  RankStatus s;
  s.rank = j.value("rank", 0);
  s.host = j.value("host", std::string());
  s.pid = j.value("pid", 0);
  s.cpus = j.value("cpus", 0.0);
  s.cpus_free = j.value("cpus_free", 0.0);
  s.resources = j.value("resources", std::string());
  s.queued = j.value("queued", std::uint64_t{0});
  s.running = j.value("running", std::uint64_t{0});
  s.tasks_submitted = j.value("tasks_submitted", std::uint64_t{0});
  s.tasks_executed = j.value("tasks_executed", std::uint64_t{0});
  s.actors = j.value("actors", std::uint64_t{0});
  s.objects = j.value("objects", std::uint64_t{0});
  s.object_bytes = j.value("object_bytes", std::uint64_t{0});
  s.capacity_bytes = j.value("capacity_bytes", std::uint64_t{0});
  s.spilled_objects = j.value("spilled_objects", std::uint64_t{0});
  s.spilled_bytes = j.value("spilled_bytes", std::uint64_t{0});
  s.reported_ms = j.value("reported_ms", std::int64_t{0});
  s.cpuset = j.value("cpuset", std::string());
  s.numa_node = j.value("numa_node", -1);
  s.binding = j.value("binding", std::string());
  s.gpus = j.value("gpus", std::string());
  s.gpus_total = j.value("gpus_total", 0.0);
  s.gpus_free = j.value("gpus_free", 0.0);
  s.progress = j.value("progress", std::vector<std::string>{});
  return s;
}

json to_json(const JobStatus& s) {
  json ranks = json::array();
  for (const auto& r : s.ranks) ranks.push_back(to_json(r));
  json j{{"job_id", s.job_id},
         {"program", s.program},
         {"state", s.state},
         {"checkpoint_requested", s.checkpoint_requested},
         {"world_size", s.world_size},
         {"status_interval_s", s.status_interval_s},
         {"started_ms", s.started_ms},
         {"updated_ms", s.updated_ms},
         {"ranks", ranks}};
  if (!s.error.empty()) j["error"] = s.error;
  if (!s.memory_summary.empty()) j["memory_summary"] = s.memory_summary;
  return j;
}

JobStatus job_status_from_json(const json& j) {
  JobStatus s;
  s.job_id = j.value("job_id", std::string());
  s.program = j.value("program", std::string());
  s.state = j.value("state", std::string("unknown"));
  s.error = j.value("error", std::string());
  s.checkpoint_requested = j.value("checkpoint_requested", false);
  s.world_size = j.value("world_size", 0);
  s.status_interval_s = j.value("status_interval_s", 0.0);
  s.started_ms = j.value("started_ms", std::int64_t{0});
  s.updated_ms = j.value("updated_ms", std::int64_t{0});
  s.memory_summary = j.value("memory_summary", std::string());
  if (j.contains("ranks") && j["ranks"].is_array()) {
    for (const auto& r : j["ranks"]) s.ranks.push_back(rank_status_from_json(r));
  }
  return s;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      throw std::runtime_error(fmt::format("writing {} failed: {}", tmp, why));
    }
    done += static_cast<std::size_t>(w);
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot replace {}: {}", path, why));
  }
}

void create_private_file(const std::string& path) noexcept {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

void make_private_directories(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path partial;
  for (const auto& part : fs::absolute(path).lexically_normal()) {
    partial /= part;
    if (part.empty() || fs::is_directory(partial)) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      throw std::system_error(errno, std::generic_category(), "mkdir " + partial.string());
    }
    ::chmod(partial.c_str(), 0700);  // whatever the umask took away
  }
}

void write_rank_exit(const std::string& dir, int rank, int world_size, int code) noexcept {
  try {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    write_file_atomically(
        fmt::format("{}/rank-{}.exit", dir, rank),
        json{{"rank", rank}, {"code", code}, {"world_size", world_size}, {"ended_ms", ms}}.dump() +
            "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "manta: rank %d: %s\n", rank, e.what());
  }
}

namespace {

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    throw std::runtime_error(fmt::format("{} is not a JSON object (damaged, or cut short)", path));
  }
  return j;
}

std::string number_text(double x) {
  return x == static_cast<double>(static_cast<long long>(x)) ? fmt::format("{}", x)
                                                             : fmt::format("{:.1f}", x);
}

}  // namespace

}  // namespace manta::engine

namespace manta {

using engine::number_text;

std::vector<RankExit> read_rank_exits(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<RankExit> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("rank-") || !name.ends_with(".exit")) continue;
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;  // not written by a rank
    RankExit e{j.value("rank", -1), j.value("code", 0), j.value("world_size", 0),
               j.value("ended_ms", std::int64_t{0})};
    e.signal = j.value("signal", 0);
    e.host = j.value("host", std::string());
    e.pid = j.value("pid", 0);
    e.running = j.value("running", std::string());
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(),
            [](const RankExit& a, const RankExit& b) { return a.rank < b.rank; });
  return out;
}

void make_job_directory(const std::string& dir) {
  try {
    engine::make_private_directories(dir);
  } catch (const std::system_error& e) {
    throw std::runtime_error(e.what());
  }
}

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return fmt::format("signal {}", sig);
}

std::vector<RankDeath> reported_deaths(const std::vector<RankExit>& exits) {
  std::vector<RankDeath> out;
  for (const auto& e : exits) {
    if (e.signal == 0) continue;
    RankDeath d;
    d.rank = e.rank;
    d.host = e.host;
    d.pid = e.pid;
    d.signal = e.signal;
    d.how = "signal " + signal_name(e.signal) +
            (e.running.empty() ? std::string(" (no task or actor call was running)")
                               : " in " + e.running);
    d.source = "the rank";
    out.push_back(std::move(d));
  }
  return out;
}

JobStatus read_job_status(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    throw std::runtime_error(fmt::format("{}: no such job directory", dir));
  }
  const std::string summary = dir + "/summary.json", status = dir + "/status.json";
  JobStatus s;
  if (fs::exists(summary)) {
    s = engine::job_status_from_json(engine::read_json_file(summary));
  } else if (fs::exists(status)) {
    s = engine::job_status_from_json(engine::read_json_file(status));
  } else if (!fs::exists(dir + "/job.json")) {
    throw std::runtime_error(fmt::format(
        "{} has no status.json: it is not a Manta job directory, or its job has not started", dir));
  } else {
    s.state = "starting";
  }
  if (fs::exists(dir + "/job.json")) {
    const auto j = engine::read_json_file(dir + "/job.json");
    s.launch_command = j.value("command_line", std::string());
    if (j.contains("exit_code")) {
      s.launcher_exited = true;
      s.launcher_exit_code = j.value("exit_code", 0);
    }
    if (j.contains("ranks_died") && j["ranks_died"].is_array()) {
      for (const auto& d : j["ranks_died"]) {
        if (!d.is_object()) continue;
        s.deaths.push_back({d.value("rank", -1), d.value("host", std::string()), d.value("pid", 0),
                            d.value("signal", 0), d.value("how", std::string()),
                            d.value("source", std::string())});
      }
    }
  }
  // Without manta run (mpirun or srun directly), the ranks' own crash reports still tell.
  if (s.deaths.empty()) s.deaths = reported_deaths(read_rank_exits(dir));
  return s;
}

std::string describe_death(const RankDeath& d) {
  std::string where = d.host.empty() ? std::string() : " on host " + d.host;
  if (d.pid > 0) where += fmt::format(" (pid {})", d.pid);
  return fmt::format("rank {}{} died: {}{}", d.rank, where, d.how,
                     d.source.empty() || d.source == "the rank"
                         ? std::string()
                         : fmt::format(" (reported by {})", d.source));
}

namespace {
// Each rank's cores, NUMA node, binding and GPUs, below the load table.
std::string hardware_table(const std::vector<RankStatus>& ranks) {
  std::string out;
  for (const auto& r : ranks) {
    if (r.reported_ms == 0 || (r.cpuset.empty() && r.gpus.empty())) continue;
    if (out.empty()) out = "\nhardware:\n";
    out += fmt::format("{:>4}  cpuset {} (NUMA {}), {}; GPU free {}/{}: {}\n", r.rank, r.cpuset,
                       r.numa_node >= 0 ? std::to_string(r.numa_node) : "several",
                       r.binding.empty() ? "unbound" : r.binding, number_text(r.gpus_free),
                       number_text(r.gpus_total), r.gpus.empty() ? "none" : r.gpus);
  }
  return out;
}
// The ranks' lines of long work in progress (manta::set_progress), under a heading; "" if none.
std::string progress_table(const std::vector<RankStatus>& ranks) {
  std::string out;
  for (const auto& r : ranks) {
    for (const auto& line : r.progress) out += fmt::format("  rank {}: {}\n", r.rank, line);
  }
  return out.empty() ? out : "in progress:\n" + out;
}

}  // namespace

std::string format_job_status(const JobStatus& s, std::int64_t now_ms) {
  std::string out;
  const double ran_s =
      static_cast<double>(std::max<std::int64_t>(s.updated_ms - s.started_ms, 0)) / 1e3;
  const double age_s = static_cast<double>(std::max<std::int64_t>(now_ms - s.updated_ms, 0)) / 1e3;
  std::string state = s.state;
  // A job whose launcher ended while its status still says running never wrote its summary.
  if (!s.deaths.empty() && (s.state == "running" || s.state == "starting")) {
    state = fmt::format("failed: rank {} died ({})", s.deaths.front().rank, s.deaths.front().how);
  } else if (s.launcher_exited && (s.state == "running" || s.state == "starting")) {
    state = fmt::format("ended without a summary (launcher exit code {}): see the rank-*.log files",
                        s.launcher_exit_code);
  } else if (s.state == "running" && s.status_interval_s > 0 &&
             age_s > 3 * s.status_interval_s + 1) {
    state = fmt::format("running? no update for {:.0f} s (the job may have died)", age_s);
  }
  out += fmt::format("job {}  {}  {}  {} ranks  ran {:.1f} s", s.job_id.empty() ? "?" : s.job_id,
                     s.program.empty() ? "?" : s.program, state, s.world_size, ran_s);
  if (s.state == "running") out += fmt::format("  (updated {:.1f} s ago)", age_s);
  out += "\n";
  if (!s.error.empty()) out += "error: " + s.error + "\n";
  for (const auto& d : s.deaths) out += describe_death(d) + "\n";
  if (s.checkpoint_requested) out += "checkpoint requested: the checkpoint signal arrived\n";
  if (!s.launch_command.empty()) {
    out += "launched: " + s.launch_command;
    if (s.launcher_exited) out += fmt::format("  (exit code {})", s.launcher_exit_code);
    out += "\n";
  }
  out += fmt::format(
      "{:>4}  {:<12} {:>8}  {:>9}  {:>6}  {:>7}  {:>9}  {:>9}  {:>6}  {:>7}  {:>10}  {:>10}  "
      "{:>10}\n",
      "rank", "host", "pid", "CPU free", "queued", "running", "tasks run", "submitted", "actors",
      "objects", "in memory", "capacity", "spilled");
  RankStatus total;
  for (const auto& r : s.ranks) {
    if (r.reported_ms == 0) {
      const bool died = std::any_of(s.deaths.begin(), s.deaths.end(),
                                    [&](const RankDeath& d) { return d.rank == r.rank; });
      out += fmt::format("{:>4}  {}\n", r.rank, died ? "(no report; died)" : "(no report yet)");
      continue;
    }
    out += fmt::format(
        "{:>4}  {:<12} {:>8}  {:>9}  {:>6}  {:>7}  {:>9}  {:>9}  {:>6}  {:>7}  {:>10}  {:>10}  "
        "{:>10}",
        r.rank, r.host, r.pid, number_text(r.cpus_free) + "/" + number_text(r.cpus), r.queued,
        r.running, r.tasks_executed, r.tasks_submitted, r.actors, r.objects,
        engine::human_bytes(r.object_bytes), engine::human_bytes(r.capacity_bytes),
        engine::human_bytes(r.spilled_bytes));
    const double report_age = static_cast<double>(now_ms - r.reported_ms) / 1e3;
    const auto death = std::find_if(s.deaths.begin(), s.deaths.end(),
                                    [&](const RankDeath& d) { return d.rank == r.rank; });
    if (death != s.deaths.end()) {
      out += death->signal ? "  (died: " + signal_name(death->signal) + ")" : "  (died)";
    } else if (s.state == "running" && !s.launcher_exited && s.deaths.empty() &&
               s.status_interval_s > 0 && report_age > 3 * s.status_interval_s + 1) {
      out += fmt::format("  (no report for {:.0f} s)", report_age);
    }
    out += "\n";
    total.cpus += r.cpus;
    total.cpus_free += r.cpus_free;
    total.queued += r.queued;
    total.running += r.running;
    total.tasks_executed += r.tasks_executed;
    total.tasks_submitted += r.tasks_submitted;
    total.actors += r.actors;
    total.objects += r.objects;
    total.object_bytes += r.object_bytes;
    total.capacity_bytes += r.capacity_bytes;
    total.spilled_bytes += r.spilled_bytes;
    total.spilled_objects += r.spilled_objects;
  }
  out += fmt::format(
      "{:>4}  {:<12} {:>8}  {:>9}  {:>6}  {:>7}  {:>9}  {:>9}  {:>6}  {:>7}  {:>10}  {:>10}  "
      "{:>10}\n",
      "all", "", "", number_text(total.cpus_free) + "/" + number_text(total.cpus), total.queued,
      total.running, total.tasks_executed, total.tasks_submitted, total.actors, total.objects,
      engine::human_bytes(total.object_bytes), engine::human_bytes(total.capacity_bytes),
      engine::human_bytes(total.spilled_bytes));
  return out + progress_table(s.ranks) + hardware_table(s.ranks);
}

TimelineWritten write_job_timeline(const std::string& dir, const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path events_dir = fs::path(dir) / "events";
  if (!fs::is_directory(events_dir)) {
    throw std::runtime_error(fmt::format(
        "{} has no events/ folder: it is not a Manta job directory (start the job with manta run "
        "or --manta-job-dir)",
        dir));
  }
  std::vector<engine::TimelineEvent> events;
  std::size_t ranks = 0;
  for (const auto& entry : fs::directory_iterator(events_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("rank-", 0) != 0 || entry.path().extension() != ".jsonl") continue;
    ++ranks;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (auto e = engine::event_from_json_line(line)) events.push_back(std::move(*e));
    }
  }
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a.start_us < b.start_us; });
  std::vector<std::string> hosts;
  try {
    for (const auto& r : read_job_status(dir).ranks) hosts.push_back(r.host);
  } catch (const std::exception&) {
    // Lanes are named by rank alone when the status file is missing.
  }
  TimelineWritten w;
  w.path = out.empty() ? (fs::path(dir) / "timeline.json").string() : out;
  if (out.empty()) engine::create_private_file(w.path);  // as private as the rest of the job's
  engine::write_chrome_trace(w.path, events, hosts);
  w.events = events.size();
  w.ranks = ranks;
  return w;
}

}  // namespace manta
