// The runtime's logger: spdlog, every line tagged with the rank.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace manta::engine {

void setup_logging(int rank, const std::string& level);
spdlog::logger& log();

}  // namespace manta::engine
