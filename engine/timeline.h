// Task timeline: each rank records when its workers ran which task; rank 0 writes all ranks'
// events as one Chrome trace (chrome://tracing, Perfetto) at shutdown.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <manta/buffer.h>
#include <manta/ids.h>

namespace manta::engine {

struct TimelineEvent {
  std::string name;
  TaskId task;
  std::int32_t rank = 0;
  std::uint32_t worker = 0;   // thread index within the rank
  std::int64_t start_us = 0;  // wall clock, microseconds since the epoch
  std::int64_t duration_us = 0;
};

class Timeline {
 public:
  explicit Timeline(int rank) : rank_(rank) {}

  static std::int64_t now_us() noexcept;
  /// A small stable number for the calling thread, for the trace's thread lanes.
  static std::uint32_t thread_index() noexcept;

  void record(std::string name, TaskId task, std::int64_t start_us, std::int64_t end_us);
  /// This rank's events, encoded for the trip to rank 0; clears them.
  Buffer take_encoded();
  void add_encoded(std::span<const std::byte> bytes);
  /// Writes every event collected here as Chrome trace JSON. Returns the number of events.
  std::size_t write_chrome_trace(const std::string& path,
                                 const std::vector<std::string>& rank_hosts);

 private:
  int rank_;
  std::mutex mutex_;
  std::vector<TimelineEvent> events_;
};

}  // namespace manta::engine
