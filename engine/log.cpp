#include "engine/log.h"

#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <algorithm>

namespace manta::engine {
namespace {
std::shared_ptr<spdlog::logger>& logger_slot() {
  static std::shared_ptr<spdlog::logger> l = spdlog::stderr_color_mt("manta");
  return l;
}
}  // namespace

void setup_logging(int rank, const std::string& level, const std::string& file) {
  auto& l = logger_slot();
  const auto console_level = spdlog::level::from_str(level);
  const std::string tag = "[manta r" + std::to_string(rank) + " %l] %v";
  l->set_pattern(tag);
  for (auto& sink : l->sinks()) sink->set_level(console_level);
  auto lowest = console_level;
  // Set again by a later runtime of the same process (init after shutdown): one file sink.
  std::erase_if(l->sinks(), [](const spdlog::sink_ptr& sink) {
    return std::dynamic_pointer_cast<spdlog::sinks::basic_file_sink_mt>(sink) != nullptr;
  });
  if (!file.empty()) {
    // Private, as the rest of the job directory: fopen would make it as the umask says.
    if (const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        fd >= 0) {
      ::close(fd);
    }
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    const auto file_level = std::min(console_level, spdlog::level::info);
    sink->set_level(file_level);
    sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] " + tag);
    l->sinks().push_back(std::move(sink));
    lowest = file_level;
  }
  l->set_level(lowest);
  l->flush_on(spdlog::level::warn);
}

spdlog::logger& log() { return *logger_slot(); }

}  // namespace manta::engine
