#include "launch/run_job.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <manta/job.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

namespace manta::launch {
namespace {

volatile sig_atomic_t g_child = 0;

extern "C" void pass_on(int sig) {
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), sig);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void write_json(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out)
      throw std::runtime_error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    out << j.dump(2) << "\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Waits for the launcher. With a job directory it also watches the ranks' exit records: a
/// launcher still running `grace` after every rank ended is stuck (srun can be, after
/// heterogeneous steps), so it is stopped and the job's code is the ranks' own.
int wait_for_launcher(pid_t child, const LaunchPlan& plan, const std::string& job_dir,
                      std::chrono::seconds grace, std::string& stopped) {
  using Clock = std::chrono::steady_clock;
  int status = 0;
  if (job_dir.empty()) {
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return exit_code_of(status);
  }
  std::optional<Clock::time_point> all_ended, term_sent;
  auto next_look = Clock::now();
  int ranks_code = 0;
  for (;;) {
    const pid_t r = ::waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return 1;
    const auto now = Clock::now();
    if (now >= next_look) {
      next_look = now + std::chrono::milliseconds(500);
      if (!all_ended) {
        const auto exits = manta::read_rank_exits(job_dir);
        // srun may start the allocation's tasks without a count here: the ranks know it.
        const int expected = plan.total_ranks > 0 ? plan.total_ranks
                             : exits.empty()      ? 1
                                                  : exits.front().world_size;
        if (expected > 0 && static_cast<int>(exits.size()) >= expected) {
          all_ended = now;
          for (const auto& e : exits) {
            if (e.code != 0 && ranks_code == 0) ranks_code = e.code;
          }
        }
      } else if (!term_sent && now - *all_ended >= grace) {
        stopped = fmt::format("every rank ended {} s ago but {} had not exited; it was stopped",
                              grace.count(), plan.launcher);
        std::fprintf(stderr, "manta run: %s (SIGTERM, then SIGKILL after 5 s)\n", stopped.c_str());
        ::kill(child, SIGTERM);
        term_sent = now;
      } else if (term_sent && now - *term_sent >= std::chrono::seconds(5)) {
        ::kill(child, SIGKILL);
      }
    }
    ::usleep(50'000);  // a signal to pass on interrupts it
  }
  return stopped.empty() ? exit_code_of(status) : ranks_code;
}

}  // namespace

std::string default_job_dir(const std::string& root, const std::string& program) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return fmt::format("{}/{}-{:%Y%m%d-%H%M%S}-{}", root,
                     std::filesystem::path(program).filename().string(), tm, ::getpid());
}

int run_job(const LaunchPlan& plan, const std::string& job_dir, std::chrono::seconds exit_grace) {
  nlohmann::json record;
  if (!job_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(job_dir, ec);
    if (ec) {
      throw LaunchError(
          fmt::format("cannot create the job directory {} ({}); pick another with --job-dir",
                      job_dir, ec.message()));
    }
    record = {{"command", plan.argv},      {"command_line", shell_quote(plan.argv)},
              {"launcher", plan.launcher}, {"why", plan.why},
              {"ranks", plan.total_ranks}, {"cwd", std::filesystem::current_path().string()},
              {"started_ms", now_ms()}};
    write_json(job_dir + "/job.json", record);
    // Exit records of an earlier job in this directory would read as this job's ranks ending.
    for (const auto& e : manta::read_rank_exits(job_dir)) {
      std::filesystem::remove(fmt::format("{}/rank-{}.exit", job_dir, e.rank), ec);
    }
  }
  for (const auto& [name, value] : plan.env) ::setenv(name.c_str(), value.c_str(), 1);
  std::fflush(stdout);
  std::fflush(stderr);

  const pid_t child = ::fork();
  if (child < 0)
    throw LaunchError(fmt::format("cannot start {}: {}", plan.argv[0], std::strerror(errno)));
  if (child == 0) {
    std::vector<char*> args;
    for (const auto& a : plan.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "manta: cannot run %s: %s\n", args[0], std::strerror(errno));
    std::_Exit(127);
  }
  g_child = child;
  // The launcher passes these on to the ranks: a batch system's signal to this process reaches
  // them.
  struct sigaction sa {};
  sa.sa_handler = pass_on;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT}) sigaction(sig, &sa, nullptr);

  std::string stopped;  // why the launcher was stopped, if it was
  const int code = wait_for_launcher(child, plan, job_dir, exit_grace, stopped);
  g_child = 0;
  if (!job_dir.empty()) {
    record["exit_code"] = code;
    if (!stopped.empty()) record["launcher_stopped"] = stopped;
    record["ended_ms"] = now_ms();
    try {
      write_json(job_dir + "/job.json", record);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "manta: %s\n", e.what());
    }
  }
  return code;
}

}  // namespace manta::launch
