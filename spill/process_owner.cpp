#include "spill/process_owner.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace manta::spill {
namespace {

struct ProcStat {
  char state = '?';
  unsigned long long start_ticks = 0;
};

/// Fields 3 (state) and 22 (start time) of /proc/PID/stat; they follow the command name, which
/// may hold spaces and parentheses.
ProcStat proc_stat(long pid) {
  ProcStat out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return out;
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return out;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return out;
    if (i == 3) out.state = field[0];
  }
  try {
    out.start_ticks = std::stoull(field);
  } catch (const std::exception&) {
    out.start_ticks = 0;
  }
  return out;
}

}  // namespace

std::string this_host() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

ProcessOwner current_process() {
  const long pid = static_cast<long>(::getpid());
  return {this_host(), pid, proc_stat(pid).start_ticks};
}

Liveness liveness(const ProcessOwner& owner) {
  if (owner.host != this_host()) return Liveness::unknown;
  if (owner.pid <= 0) return Liveness::unknown;
  if (::kill(static_cast<pid_t>(owner.pid), 0) != 0 && errno == ESRCH) return Liveness::ended;
  // The pid is in use: by the same process only if it started at the same time, and a zombie
  // (ended, not yet reaped) has ended.
  const ProcStat now = proc_stat(owner.pid);
  if (now.state == 'Z' || now.state == 'X') return Liveness::ended;
  if (owner.start_ticks != 0 && now.start_ticks != 0 && now.start_ticks != owner.start_ticks)
    return Liveness::ended;
  return Liveness::alive;
}

std::string format_owner(const ProcessOwner& o) {
  return "host=" + o.host + " pid=" + std::to_string(o.pid) +
         " start=" + std::to_string(o.start_ticks) + "\n";
}

std::optional<ProcessOwner> parse_owner(const std::string& text) {
  std::istringstream in(text);
  ProcessOwner o;
  bool host = false, pid = false;
  for (std::string word; in >> word;) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) return std::nullopt;
    const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    try {
      if (key == "host") {
        o.host = value;
        host = !value.empty();
      } else if (key == "pid") {
        o.pid = std::stol(value);
        pid = o.pid > 0;
      } else if (key == "start") {
        o.start_ticks = std::stoull(value);
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (!host || !pid) return std::nullopt;
  return o;
}

}  // namespace manta::spill
