#include "launch/run_job.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
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
#include <regex>
#include <sstream>
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
  // Private: the record names the program and where it ran.
  const std::string tmp = path + ".tmp";
  const std::string text = j.dump(2) + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok) throw std::runtime_error(fmt::format("cannot write {}: {}", tmp, std::strerror(err)));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

/// The signal a launcher names in words ("Killed", "Segmentation fault (core dumped)"), or 0.
int signal_from_words(std::string words) {
  if (const auto p = words.find(" (core dumped)"); p != std::string::npos) words.resize(p);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (const char* d = ::strsignal(sig); d && words == d) return sig;
  }
  return 0;
}

/// Reads the launcher's error output as it passes through and keeps what it says about ranks
/// that died: Open MPI's "process rank N with PID P on node H exited on signal S", srun's
/// "srun: error: H: task N: Killed", MPICH's "PID P RUNNING AT H" ... "KILLED BY SIGNAL: S".
class LauncherOutput {
 public:
  explicit LauncherOutput(std::string launcher) : launcher_(std::move(launcher)) {}

  void feed(const char* p, std::size_t n) {
    partial_.append(p, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      line(partial_.substr(start, nl - start));
    }
    partial_.erase(0, start);
    if (partial_.size() > 64 * 1024) partial_.clear();  // no line is that long
  }
  [[nodiscard]] const std::vector<RankDeath>& deaths() const { return deaths_; }

 private:
  void add(int rank, const std::string& host, int pid, int sig) {
    for (const auto& d : deaths_) {
      if (d.rank == rank && d.pid == pid) return;
    }
    RankDeath d;
    d.rank = rank;
    d.host = host;
    d.pid = pid;
    d.signal = sig;
    d.how = "killed by " + signal_name(sig);
    d.source = launcher_;
    deaths_.push_back(std::move(d));
  }
  void line(const std::string& l) {
    static const std::regex openmpi(
        R"(noticed that process rank (\d+) with PID (\d+) on node (\S+) exited on signal (\d+))");
    static const std::regex srun(R"(srun: error: (\S+): tasks? ([0-9,-]+): (.*))");
    static const std::regex mpich_where(R"(PID (\d+) RUNNING AT (\S+))");
    static const std::regex mpich_signal(R"(KILLED BY SIGNAL: (\d+))");
    std::smatch m;
    if (std::regex_search(l, m, openmpi)) {
      add(std::stoi(m[1]), m[3], std::stoi(m[2]), std::stoi(m[4]));
    } else if (std::regex_search(l, m, srun)) {
      const int sig = signal_from_words(m[3]);
      if (sig == 0) return;  // "Exited with exit code N": not a death by signal
      // "0-2,5": each task of the list.
      std::stringstream list(m[2]);
      for (std::string item; std::getline(list, item, ',');) {
        const auto dash = item.find('-');
        const int lo = std::stoi(item.substr(0, dash));
        const int hi = dash == std::string::npos ? lo : std::stoi(item.substr(dash + 1));
        for (int r = lo; r <= hi && r - lo < 100000; ++r) add(r, m[1], 0, sig);
      }
    } else if (std::regex_search(l, m, mpich_where)) {
      mpich_pid_ = std::stoi(m[1]);
      mpich_host_ = m[2];
    } else if (std::regex_search(l, m, mpich_signal) && mpich_pid_ > 0) {
      add(-1, mpich_host_, mpich_pid_, std::stoi(m[1]));
    }
  }

  std::string launcher_;
  std::string partial_;
  std::vector<RankDeath> deaths_;
  int mpich_pid_ = 0;
  std::string mpich_host_;
};

/// The ranks that died: each rank's own crash report first, then what the launcher said about
/// the others, completed with host and pid from the ranks' last status reports.
std::vector<RankDeath> ranks_died(const std::string& job_dir, const LauncherOutput& launcher) {
  std::vector<RankDeath> out;
  std::vector<RankStatus> ranks;
  if (!job_dir.empty()) {
    out = reported_deaths(read_rank_exits(job_dir));
    try {
      ranks = read_job_status(job_dir).ranks;
    } catch (const std::exception&) {
      // No status yet: the launcher's words are all there is.
    }
  }
  for (RankDeath d : launcher.deaths()) {
    for (const auto& r : ranks) {
      if (r.reported_ms == 0) continue;
      if (d.rank < 0 && d.pid > 0 && r.pid == d.pid && (d.host.empty() || d.host == r.host)) {
        d.rank = r.rank;
      }
      if (r.rank == d.rank) {
        if (d.pid <= 0) d.pid = r.pid;  // Open MPI 4 writes "PID 0"
        if (d.host.empty()) d.host = r.host;
      }
    }
    if (d.rank < 0) continue;
    const bool known =
        std::any_of(out.begin(), out.end(), [&](const RankDeath& x) { return x.rank == d.rank; });
    if (known) continue;
    // The launcher ends the others when one dies: name the cause, not just the signal.
    if (d.signal == SIGTERM && !out.empty()) {
      d.how = fmt::format("stopped by {} (SIGTERM) after rank {} died", d.source, out.front().rank);
    }
    out.push_back(std::move(d));
  }
  return out;  // in the order they were told: the first is most likely the cause
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Passes on what the launcher wrote to its error output (`fd`, non-blocking) and reads it.
void forward(int fd, LauncherOutput& out) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    write_all(2, buf, static_cast<std::size_t>(n));
    out.feed(buf, static_cast<std::size_t>(n));
  }
}

/// Waits for the launcher, passing its error output on. With a job directory it also watches the
/// ranks' exit records: a launcher still running `grace` after every rank ended is stuck (srun
/// can be, after heterogeneous steps), so it is stopped and the job's code is the ranks' own.
int wait_for_launcher(pid_t child, int err_fd, LauncherOutput& output, const LaunchPlan& plan,
                      const std::string& job_dir, std::chrono::seconds grace,
                      std::string& stopped) {
  using Clock = std::chrono::steady_clock;
  int status = 0;
  std::optional<Clock::time_point> all_ended, term_sent, death_seen;
  auto next_look = Clock::now();
  int ranks_code = 0;
  int death_code = 0;  // 128 + the signal of the first rank that died
  for (;;) {
    const pid_t r = ::waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return 1;
    const auto now = Clock::now();
    // A rank that died ends the job under mpirun (and srun --kill-on-bad-exit); a launcher that
    // lets the others wait for it `grace` later is stopped, or the job would hang.
    if (!death_seen && !output.deaths().empty()) {
      death_seen = now;
      death_code = 128 + output.deaths().front().signal;
    }
    if (death_seen && !all_ended && !term_sent && now - *death_seen >= grace) {
      stopped = fmt::format("a rank died and {} had not ended the job {} s later; it was stopped",
                            plan.launcher, grace.count());
      std::fprintf(stderr, "manta run: %s (SIGTERM, then SIGKILL after 5 s)\n", stopped.c_str());
      ::kill(child, SIGTERM);
      term_sent = now;
      ranks_code = death_code;
    }
    if (!job_dir.empty() && now >= next_look) {
      next_look = now + std::chrono::milliseconds(500);
      if (!all_ended) {
        const auto exits = manta::read_rank_exits(job_dir);
        for (const auto& e : exits) {
          if (e.signal != 0 && !death_seen) {
            death_seen = now;  // its crash report
            death_code = 128 + e.signal;
          }
        }
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
      }
    }
    if (term_sent && now - *term_sent >= std::chrono::seconds(5)) ::kill(child, SIGKILL);
    // Wakes for the launcher's output; a signal to pass on interrupts it.
    pollfd p{err_fd, POLLIN, 0};
    if (err_fd >= 0 && ::poll(&p, 1, 50) > 0) {
      if (p.revents & POLLIN) {
        forward(err_fd, output);
      } else if (p.revents & (POLLHUP | POLLERR)) {
        ::usleep(50'000);  // every writer closed it; the launcher is about to end
      }
    } else if (err_fd < 0) {
      ::usleep(50'000);
    }
  }
  if (err_fd >= 0) forward(err_fd, output);  // what is left in the pipe
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

int run_job(const LaunchPlan& plan, const std::string& job_dir, std::chrono::seconds exit_grace,
            bool record_arguments) {
  nlohmann::json record;
  if (!job_dir.empty()) {
    try {
      manta::make_job_directory(job_dir);
    } catch (const std::exception& e) {
      throw LaunchError(
          fmt::format("cannot create the job directory {} ({}); pick another with --job-dir",
                      job_dir, e.what()));
    }
    const std::vector<std::string> recorded =
        record_arguments ? plan.argv : argv_without_arguments(plan);
    nlohmann::json programs = nlohmann::json::array();
    for (const auto& [first, count] : plan.argument_ranges) {
      programs.push_back({{"program", plan.argv[first - 1]}, {"arguments", count}});
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    record = {{"command", recorded},
              {"command_line", shell_quote(recorded)},
              {"programs", programs},
              {"arguments_recorded", record_arguments},
              {"launcher", plan.launcher},
              {"why", plan.why},
              {"ranks", plan.total_ranks},
              {"cwd", std::filesystem::current_path().string()},
              {"host", host},
              {"pid", ::getpid()},
              {"started_ms", now_ms()}};
    write_json(job_dir + "/job.json", record);
    // Exit records of an earlier job in this directory would read as this job's ranks ending.
    std::error_code ec;
    for (const auto& e : manta::read_rank_exits(job_dir)) {
      std::filesystem::remove(fmt::format("{}/rank-{}.exit", job_dir, e.rank), ec);
    }
  }
  for (const auto& [name, value] : plan.env) ::setenv(name.c_str(), value.c_str(), 1);
  std::fflush(stdout);
  std::fflush(stderr);

  // The launcher's error output passes through this process, which reads what it says about
  // ranks that died (a rank killed by SIGKILL cannot say so itself).
  int err_pipe[2] = {-1, -1};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) err_pipe[0] = err_pipe[1] = -1;
  const pid_t child = ::fork();
  if (child < 0)
    throw LaunchError(fmt::format("cannot start {}: {}", plan.argv[0], std::strerror(errno)));
  if (child == 0) {
    if (err_pipe[1] >= 0) ::dup2(err_pipe[1], 2);  // dup2 clears close-on-exec
    std::vector<char*> args;
    for (const auto& a : plan.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "manta: cannot run %s: %s\n", args[0], std::strerror(errno));
    std::_Exit(127);
  }
  // Passing the launcher's output on must not end this process when our own stderr is gone (a
  // closed terminal): the write fails instead. Blocked here only, after the launcher started.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::sigprocmask(SIG_BLOCK, &pipe_signal, nullptr);
  if (err_pipe[1] >= 0) {
    ::close(err_pipe[1]);
    ::fcntl(err_pipe[0], F_SETFL, ::fcntl(err_pipe[0], F_GETFL) | O_NONBLOCK);
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
  LauncherOutput output(plan.launcher);
  int code = wait_for_launcher(child, err_pipe[0], output, plan, job_dir, exit_grace, stopped);
  g_child = 0;
  if (err_pipe[0] >= 0) ::close(err_pipe[0]);
  const std::vector<RankDeath> deaths = ranks_died(job_dir, output);
  for (const auto& d : deaths) std::fprintf(stderr, "manta run: %s\n", describe_death(d).c_str());
  // The job's code is the first death's (srun returns the last task's, often the SIGTERM it sent).
  if (!deaths.empty() && deaths.front().signal > 0) code = 128 + deaths.front().signal;
  if (!job_dir.empty()) {
    record["exit_code"] = code;
    if (!stopped.empty()) record["launcher_stopped"] = stopped;
    record["ended_ms"] = now_ms();
    if (!deaths.empty()) {
      nlohmann::json died = nlohmann::json::array();
      for (const auto& d : deaths) {
        died.push_back({{"rank", d.rank},
                        {"host", d.host},
                        {"pid", d.pid},
                        {"signal", d.signal},
                        {"signal_name", signal_name(d.signal)},
                        {"how", d.how},
                        {"source", d.source}});
      }
      record["ranks_died"] = died;
    }
    try {
      write_json(job_dir + "/job.json", record);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "manta: %s\n", e.what());
    }
  }
  return code;
}

}  // namespace manta::launch
