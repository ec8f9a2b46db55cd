#include "engine/timeline.h"

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
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

void Timeline::record_lane(std::string name, std::string label, std::uint32_t lane,
                           std::int64_t start_us, std::int64_t end_us) {
  TimelineEvent e{std::move(name), TaskId{},          rank_,           lane,
                  start_us,        end_us - start_us, std::move(label)};
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(e));
}

std::uint32_t Timeline::lane_of(const ActorId& actor) noexcept {
  return kFirstLane +
         static_cast<std::uint32_t>((actor.creator * 1000003ull + actor.seq) % kFirstLane);
}

Buffer Timeline::take_encoded() {
  std::vector<TimelineEvent> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(events_);
    written_ = 0;
  }
  Buffer b;
  transport::WireWriter w(b);
  w.put(static_cast<std::uint64_t>(events.size()));
  for (const auto& e : events) {
    w.str(e.name)
        .put(e.task)
        .put(e.rank)
        .put(e.worker)
        .put(e.start_us)
        .put(e.duration_us)
        .str(e.label);
  }
  return b;
}

void Timeline::add_encoded(std::span<const std::byte> bytes) {
  transport::WireReader r(bytes);
  // Each event: a name (its length at least), the task id, rank, worker, start, duration and
  // label (its length at least).
  const std::size_t n =
      r.count<std::uint64_t>(2 * sizeof(std::uint64_t) + sizeof(TaskId) +
                             2 * sizeof(std::uint32_t) + 2 * sizeof(std::int64_t));
  std::vector<TimelineEvent> events;
  events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    TimelineEvent e;
    e.name = r.str();
    e.task = r.get<TaskId>();
    e.rank = r.get<std::int32_t>();
    e.worker = r.get<std::uint32_t>();
    e.start_us = r.get<std::int64_t>();
    e.duration_us = r.get<std::int64_t>();
    e.label = r.str();
    events.push_back(std::move(e));
  }
  std::lock_guard lock(mutex_);
  events_.insert(events_.end(), std::make_move_iterator(events.begin()),
                 std::make_move_iterator(events.end()));
}

std::size_t Timeline::write_chrome_trace(const std::string& path,
                                         const std::vector<std::string>& rank_hosts) {
  std::lock_guard lock(mutex_);
  engine::write_chrome_trace(path, events_, rank_hosts);
  return events_.size();
}

std::size_t Timeline::append_jsonl(std::ostream& out) {
  std::vector<TimelineEvent> fresh;
  {
    std::lock_guard lock(mutex_);
    if (keep_) {
      fresh.assign(events_.begin() + static_cast<std::ptrdiff_t>(written_), events_.end());
      written_ = events_.size();
    } else {
      fresh.reserve(events_.size());  // what events_ keeps: about one interval's worth
      fresh.swap(events_);
    }
  }
  // Formatting happens outside the lock, so workers recording tasks never wait for it; fmt, not a
  // JSON tree per event, because a busy rank records hundreds of thousands a second.
  fmt::memory_buffer text;
  for (const auto& e : fresh) {
    append_json_line(text, e);
    text.push_back('\n');
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  return fresh.size();
}

void append_json_line(fmt::memory_buffer& out, const TimelineEvent& e) {
  fmt::format_to(std::back_inserter(out), "{{\"name\":\"");
  for (const char c : e.name) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out.push_back(c);
    }
  }
  fmt::format_to(std::back_inserter(out),
                 "\",\"task\":\"{}\",\"rank\":{},\"worker\":{},\"start_us\":{},\"dur_us\":{}}}",
                 e.label.empty() ? e.task.to_string() : e.label, e.rank, e.worker, e.start_us,
                 e.duration_us);
}

std::string event_to_json_line(const TimelineEvent& e) {
  fmt::memory_buffer out;
  append_json_line(out, e);
  return fmt::to_string(out);
}

std::optional<TimelineEvent> event_from_json_line(const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("name") || !j.contains("start_us") || !j.contains("dur_us") ||
      !j.contains("rank")) {
    return std::nullopt;
  }
  try {
    TimelineEvent e;
    e.name = j.at("name").get<std::string>();
    e.rank = j.at("rank").get<std::int32_t>();
    e.worker = j.value("worker", 0u);
    e.start_us = j.at("start_us").get<std::int64_t>();
    e.duration_us = j.at("dur_us").get<std::int64_t>();
    e.label = j.value("task", std::string());
    return e;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void write_chrome_trace(const std::string& path, const std::vector<TimelineEvent>& events,
                        const std::vector<std::string>& rank_hosts) {
  std::int64_t origin = events.empty() ? 0 : events.front().start_us;
  int max_rank = static_cast<int>(rank_hosts.size()) - 1;
  for (const auto& e : events) {
    origin = std::min(origin, e.start_us);
    max_rank = std::max(max_rank, e.rank);
  }
  nlohmann::json trace = nlohmann::json::array();
  for (int r = 0; r <= max_rank; ++r) {
    const std::string host = static_cast<std::size_t>(r) < rank_hosts.size() ? rank_hosts[r] : "";
    trace.push_back(
        {{"name", "process_name"},
         {"ph", "M"},
         {"pid", r},
         {"args",
          {{"name", "rank " + std::to_string(r) + (host.empty() ? "" : " (" + host + ")")}}}});
  }
  std::set<std::pair<int, std::uint32_t>> named_lanes;
  for (const auto& e : events) {
    if (e.worker < Timeline::kFirstLane || !named_lanes.emplace(e.rank, e.worker).second) continue;
    trace.push_back({{"name", "thread_name"},
                     {"ph", "M"},
                     {"pid", e.rank},
                     {"tid", e.worker},
                     {"args", {{"name", "collectives of " + e.label}}}});
  }
  for (const auto& e : events) {
    trace.push_back({{"name", e.name},
                     {"cat", "task"},
                     {"ph", "X"},
                     {"pid", e.rank},
                     {"tid", e.worker},
                     {"ts", e.start_us - origin},
                     {"dur", std::max<std::int64_t>(e.duration_us, 1)},
                     {"args", {{"task", e.label.empty() ? e.task.to_string() : e.label}}}});
  }
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write the timeline to '" + path + "'");
  out << nlohmann::json{{"traceEvents", trace}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  if (!out.flush()) throw std::runtime_error("writing the timeline to '" + path + "' failed");
}

}  // namespace manta::engine
