// Options that chain before .remote(...).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace manta {

/// Resource amounts by name: "CPU", "GPU" and any custom resource a rank declares.
using ResourceMap = std::map<std::string, double>;

struct TaskOptions {
  std::string name;               // shown in errors and timelines instead of the function name
  ResourceMap resources;          // default {"CPU": 1}
  std::uint64_t memory = 0;       // bytes the task needs beyond its inputs
  int max_retries = 3;            // retries after a failure of the system (as in Ray)
  bool retry_exceptions = false;  // also retry when the function throws
  int on_rank = -1;               // run on this rank (affinity); -1 lets the scheduler choose
};

}  // namespace manta
