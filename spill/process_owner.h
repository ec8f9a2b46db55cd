// Who owns a file or directory of a job: a process, named by host, pid and start time, so that
// a later job or `manta clean` can tell a job that ended (its files are garbage) from one that
// still runs (they are not), and a reused pid from the process that wrote the record.
#pragma once

#include <optional>
#include <string>

namespace manta::spill {

struct ProcessOwner {
  std::string host;
  long pid = 0;
  unsigned long long start_ticks = 0;  // /proc/PID/stat's start time; 0 when unknown
};

/// This process.
ProcessOwner current_process();

/// This machine's host name.
std::string this_host();

enum class Liveness { alive, ended, unknown };
/// `unknown` for a process on another host (it cannot be asked from here).
Liveness liveness(const ProcessOwner& owner);

/// "host=H pid=P start=T", one line; parse() reads it back (nullopt for anything else).
std::string format_owner(const ProcessOwner& owner);
std::optional<ProcessOwner> parse_owner(const std::string& text);

}  // namespace manta::spill
