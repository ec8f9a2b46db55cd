#include "engine/timeline.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <stdexcept>

#include "transport/wire.h"

namespace manta::engine {

std::int64_t Timeline::now_us() noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint32_t Timeline::thread_index() noexcept {
  static std::atomic<std::uint32_t> next{1};
  thread_local const std::uint32_t index = next.fetch_add(1);
  return index;
}

void Timeline::record(std::string name, TaskId task, std::int64_t start_us, std::int64_t end_us) {
  TimelineEvent e{std::move(name), task, rank_, thread_index(), start_us, end_us - start_us};
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(e));
}

Buffer Timeline::take_encoded() {
  std::vector<TimelineEvent> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(events_);
  }
  Buffer b;
  transport::WireWriter w(b);
  w.put(static_cast<std::uint64_t>(events.size()));
  for (const auto& e : events) {
    w.str(e.name).put(e.task).put(e.rank).put(e.worker).put(e.start_us).put(e.duration_us);
  }
  return b;
}

void Timeline::add_encoded(std::span<const std::byte> bytes) {
  transport::WireReader r(bytes);
  const auto n = r.get<std::uint64_t>();
  std::vector<TimelineEvent> events;
  events.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    TimelineEvent e;
    e.name = r.str();
    e.task = r.get<TaskId>();
    e.rank = r.get<std::int32_t>();
    e.worker = r.get<std::uint32_t>();
    e.start_us = r.get<std::int64_t>();
    e.duration_us = r.get<std::int64_t>();
    events.push_back(std::move(e));
  }
  std::lock_guard lock(mutex_);
  events_.insert(events_.end(), std::make_move_iterator(events.begin()),
                 std::make_move_iterator(events.end()));
}

std::size_t Timeline::write_chrome_trace(const std::string& path,
                                         const std::vector<std::string>& rank_hosts) {
  std::lock_guard lock(mutex_);
  std::int64_t origin = events_.empty() ? 0 : events_.front().start_us;
  for (const auto& e : events_) origin = std::min(origin, e.start_us);
  nlohmann::json trace = nlohmann::json::array();
  for (std::size_t r = 0; r < rank_hosts.size(); ++r) {
    trace.push_back(
        {{"name", "process_name"},
         {"ph", "M"},
         {"pid", r},
         {"args", {{"name", "rank " + std::to_string(r) + " (" + rank_hosts[r] + ")"}}}});
  }
  for (const auto& e : events_) {
    trace.push_back({{"name", e.name},
                     {"cat", "task"},
                     {"ph", "X"},
                     {"pid", e.rank},
                     {"tid", e.worker},
                     {"ts", e.start_us - origin},
                     {"dur", std::max<std::int64_t>(e.duration_us, 1)},
                     {"args", {{"task", e.task.to_string()}}}});
  }
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write the timeline to '" + path + "'");
  out << nlohmann::json{{"traceEvents", trace}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  return events_.size();
}

}  // namespace manta::engine
