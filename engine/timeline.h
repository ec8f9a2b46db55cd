// Task timeline: each rank records when its workers ran which task; rank 0 writes all ranks'
// events as one Chrome trace (chrome://tracing, Perfetto) at shutdown.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
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
  std::string label;  // the task id as text, for events read back from a file
};

/// Writes `events` as one Chrome trace; rank r's lane is named after rank_hosts[r] when known.
void write_chrome_trace(const std::string& path, const std::vector<TimelineEvent>& events,
                        const std::vector<std::string>& rank_hosts);

/// One event as a line of JSON (the job directory's events/rank-N.jsonl), and back. A line that
/// is not an event (say, cut short by a crash) reads as nothing.
std::string event_to_json_line(const TimelineEvent& e);
void append_json_line(fmt::memory_buffer& out, const TimelineEvent& e);
std::optional<TimelineEvent> event_from_json_line(const std::string& line);

class Timeline {
 public:
  /// `keep`: hold every event until shutdown (for --manta-timeline); otherwise events leave
  /// memory once append_jsonl has written them.
  explicit Timeline(int rank, bool keep = true) : rank_(rank), keep_(keep) {}

  static std::int64_t now_us() noexcept;
  /// A small stable number for the calling thread, for the trace's thread lanes.
  static std::uint32_t thread_index() noexcept;

  void record(std::string name, TaskId task, std::int64_t start_us, std::int64_t end_us);
  /// An event on a lane of its own instead of the thread's (an actor's collective calls, which
  /// run on whichever pool thread serves it): `label` names the lane in the trace.
  void record_lane(std::string name, std::string label, std::uint32_t lane, std::int64_t start_us,
                   std::int64_t end_us);
  /// The lane of an actor's collective calls; above every thread index.
  static std::uint32_t lane_of(const ActorId& actor) noexcept;
  static constexpr std::uint32_t kFirstLane = 1u << 24;
  /// This rank's events, encoded for the trip to rank 0; clears them.
  Buffer take_encoded();
  void add_encoded(std::span<const std::byte> bytes);
  /// Writes every event collected here as Chrome trace JSON. Returns the number of events.
  std::size_t write_chrome_trace(const std::string& path,
                                 const std::vector<std::string>& rank_hosts);
  /// Writes the events recorded since the last call as JSON lines. Returns how many.
  std::size_t append_jsonl(std::ostream& out);

 private:
  int rank_;
  bool keep_;
  std::mutex mutex_;
  std::vector<TimelineEvent> events_;
  std::size_t written_ = 0;  // events_[0, written_) are in the JSON lines already
};

}  // namespace manta::engine
