// The segment files under a directory, read back from their names: what a later job lists to find
// and remove the segments of processes that ended without removing their own (killed, crashed).
#include <dirent.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "transport/shared_segments.h"

namespace manta::transport {
namespace {

/// The last three dot-separated fields of a segment's name: <pid>.<start ticks>.<seq>.
std::optional<SegmentName> parse_name(const std::string& file, std::size_t prefix_size) {
  std::string_view rest = std::string_view(file).substr(prefix_size);
  unsigned long long fields[3] = {};
  for (int i = 2; i >= 0; --i) {
    const std::size_t dot = rest.rfind('.');
    // The pid field may start right after the prefix; the others follow a dot.
    const std::string_view digits = dot == std::string_view::npos ? rest : rest.substr(dot + 1);
    if (dot == std::string_view::npos && i > 0) return std::nullopt;
    const char* last = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), last, fields[i]);
    if (digits.empty() || ec != std::errc() || ptr != last) return std::nullopt;
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(0, dot);
  }
  return SegmentName{file, static_cast<long>(fields[0]), fields[1]};
}

}  // namespace

std::optional<SpaceOf> space_of(const std::string& dir) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return std::nullopt;
  return SpaceOf{static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize,
                 static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize};
}

std::vector<SegmentName> list_segments(const std::string& dir, const std::string& prefix) {
  std::vector<SegmentName> found;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return found;
  while (const dirent* entry = ::readdir(d)) {
    const std::string file = entry->d_name;
    if (file.compare(0, prefix.size(), prefix) != 0 || file.size() <= prefix.size()) continue;
    if (auto name = parse_name(file, prefix.size())) found.push_back(std::move(*name));
  }
  ::closedir(d);
  std::sort(found.begin(), found.end(),
            [](const SegmentName& a, const SegmentName& b) { return a.file < b.file; });
  return found;
}

std::vector<std::string> remove_segments_of_ended(
    const std::string& dir, const std::vector<SegmentName>& found,
    const std::function<bool(const SegmentName&)>& ended) {
  std::vector<std::string> removed;
  for (const SegmentName& name : found) {
    try {
      if (name.file.find('/') == std::string::npos && ended(name) &&
          ::unlink((dir + "/" + name.file).c_str()) == 0) {
        removed.push_back(name.file);
      }
    } catch (...) {
      // A predicate that throws, or no memory: that file stays; the rest are still tried.
    }
  }
  return removed;
}

}  // namespace manta::transport
