// Progress lines of running datasets (see progress.h), and the stats table.
#include "data/progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include <manta/data/stats.h>
#include <manta/job.h>

namespace manta::data::detail {

std::string human_bytes(std::uint64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1ull << 20));
  } else if (bytes >= (1ull << 10)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / (1ull << 10));
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string human_count(std::uint64_t n) {
  char buf[32];
  const double d = static_cast<double>(n);
  if (n >= 1000000000ull) {
    std::snprintf(buf, sizeof buf, "%.2fG", d / 1e9);
  } else if (n >= 1000000ull) {
    std::snprintf(buf, sizeof buf, "%.2fM", d / 1e6);
  } else if (n >= 10000ull) {
    std::snprintf(buf, sizeof buf, "%.1fk", d / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  }
  return buf;
}

Progress::Progress(bool wanted) : enabled_(wanted && isatty(STDERR_FILENO) == 1) {
  static std::atomic<std::uint64_t> next{0};
  key_ = "dataset " + std::to_string(next++);
}

void Progress::start(std::vector<std::string> names) {
  names_ = std::move(names);
  started_ = std::chrono::steady_clock::now();
}

void Progress::publish(const std::vector<ProgressLine>& lines) {
  std::string line = "dataset:";
  for (std::size_t i = 0; i < names_.size() && i < lines.size(); ++i) {
    std::string name = names_[i];
    if (name.size() > 40) name = name.substr(0, 37) + "...";
    line += (i ? "; " : " ") + name + " " + human_count(lines[i].blocks) + " blocks " +
            human_count(lines[i].rows) + " rows";
  }
  manta::set_progress(key_, line);
}

void Progress::update(const std::vector<ProgressLine>& lines) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_publish_ >= std::chrono::seconds(1)) {
    last_publish_ = now;
    publish(lines);
  }
  if (!enabled_) return;
  last_ = lines;
  // Short runs print nothing; long ones redraw five times a second.
  if (now - started_ < std::chrono::milliseconds(500)) return;
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  draw(lines);
}

void Progress::stop() {
  manta::set_progress(key_, "");
  if (enabled_ && drawn_) draw(last_);
  drawn_ = false;
  enabled_ = false;
}

void Progress::draw(const std::vector<ProgressLine>& lines) {
  std::string text;
  if (drawn_) text += "\033[" + std::to_string(names_.size()) + "A";
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const ProgressLine p = i < lines.size() ? lines[i] : ProgressLine{};
    std::string name = names_[i];
    if (name.size() > 48) name = name.substr(0, 45) + "...";
    char buf[256];
    std::snprintf(buf, sizeof buf, "\r\033[K%-48s %8s blocks %10s rows %3zu running %10s held\n",
                  name.c_str(), human_count(p.blocks).c_str(), human_count(p.rows).c_str(),
                  p.running, human_bytes(p.held).c_str());
    text += buf;
  }
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace manta::data::detail

namespace manta::data {

std::string DatasetStats::to_string() const {
  using detail::human_bytes;
  using detail::human_count;
  if (!ran) return "not run yet: stats() describes the last time the dataset was consumed\n";
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-44s %6s %7s %9s %10s %8s %8s %8s %10s\n", "operator", "tasks",
                "blocks", "rows", "bytes", "wall s", "task s", "cpu s", "peak held");
  out += buf;
  for (const OperatorStats& op : operators) {
    std::string name = op.name;
    if (name.size() > 44) name = name.substr(0, 41) + "...";
    std::snprintf(buf, sizeof buf, "%-44s %6llu %7llu %9s %10s %8.2f %8.2f %8.2f %10s",
                  name.c_str(), static_cast<unsigned long long>(op.tasks),
                  static_cast<unsigned long long>(op.blocks), human_count(op.rows).c_str(),
                  human_bytes(op.bytes).c_str(), op.wall_s, op.task_wall_s, op.cpu_s,
                  human_bytes(op.peak_bytes).c_str());
    out += buf;
    if (op.ranks) out += " on " + std::to_string(op.ranks) + (op.ranks == 1 ? " rank" : " ranks");
    if (op.actors) out += " (" + std::to_string(op.actors) + " actors)";
    out += "\n";
  }
  std::snprintf(buf, sizeof buf,
                "total: %.2f s, %s rows out; store budget %s, peak held by operators %s, peak in "
                "all stores %s; spilled %s, restored %s\n",
                wall_s, human_count(output_rows).c_str(), human_bytes(budget_bytes).c_str(),
                human_bytes(peak_pipeline_bytes).c_str(), human_bytes(peak_store_bytes).c_str(),
                human_bytes(spilled_bytes).c_str(), human_bytes(restored_bytes).c_str());
  out += buf;
  return out;
}

}  // namespace manta::data
