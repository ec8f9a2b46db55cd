#include "engine/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace manta::engine {
namespace {
std::shared_ptr<spdlog::logger>& logger_slot() {
  static std::shared_ptr<spdlog::logger> l = spdlog::stderr_color_mt("manta");
  return l;
}
}  // namespace

void setup_logging(int rank, const std::string& level) {
  auto& l = logger_slot();
  l->set_pattern("[manta r" + std::to_string(rank) + " %l] %v");
  l->set_level(spdlog::level::from_str(level));
  l->flush_on(spdlog::level::warn);
}

spdlog::logger& log() { return *logger_slot(); }

}  // namespace manta::engine
