// A progress line per operator of a running dataset, redrawn in place on standard error when it
// is a terminal (never into logs or pipes), and a one-line summary in the job's status (every
// second, through manta::set_progress).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace manta::data::detail {

struct ProgressLine {
  std::uint64_t blocks = 0;
  std::uint64_t rows = 0;
  std::size_t running = 0;
  std::uint64_t held = 0;
};

class Progress {
 public:
  explicit Progress(bool wanted);
  void start(std::vector<std::string> names);
  /// Redraws at most five times a second.
  void update(const std::vector<ProgressLine>& lines);
  /// Draws the last state once more and leaves it on the terminal.
  void stop();

 private:
  void draw(const std::vector<ProgressLine>& lines);
  void publish(const std::vector<ProgressLine>& lines);
  std::string key_;
  std::chrono::steady_clock::time_point last_publish_{};
  bool enabled_ = false;
  bool drawn_ = false;
  std::vector<std::string> names_;
  std::vector<ProgressLine> last_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::chrono::steady_clock::time_point started_{};
};

/// "1.5 GiB", "12.0 MiB", "800 B".
std::string human_bytes(std::uint64_t bytes);
/// "1.2M", "34.5k", "999".
std::string human_count(std::uint64_t n);

}  // namespace manta::data::detail
