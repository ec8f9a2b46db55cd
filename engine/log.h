// The runtime's logger: spdlog, every line tagged with the rank.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace manta::engine {

/// Lines at `level` and above go to stderr. With a `file`, lines at info and above (or `level`,
/// when lower) also go there, with the time, so a job's log keeps what the console leaves out.
void setup_logging(int rank, const std::string& level, const std::string& file = {});
spdlog::logger& log();

}  // namespace manta::engine
