// set_progress / progress_lines: the lines of long work a rank shows in the job's status.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <manta/job.h>

namespace manta {
namespace {

struct Lines {
  std::mutex mutex;
  std::map<std::string, std::string> by_key;
};

Lines& lines() {
  static Lines l;
  return l;
}

}  // namespace

void set_progress(const std::string& key, const std::string& line) {
  Lines& l = lines();
  std::lock_guard lock(l.mutex);
  if (line.empty()) {
    l.by_key.erase(key);
  } else {
    l.by_key[key] = line;
  }
}

std::vector<std::string> progress_lines() {
  Lines& l = lines();
  std::lock_guard lock(l.mutex);
  std::vector<std::string> out;
  out.reserve(l.by_key.size());
  for (const auto& [key, line] : l.by_key) out.push_back(line);
  return out;
}

}  // namespace manta
