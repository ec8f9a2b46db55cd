#include "spill/stale_spill.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "spill/process_owner.h"

namespace manta::spill {
namespace {

namespace fs = std::filesystem;

std::uint64_t bytes_under(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto n = it->file_size(size_ec);
      if (!size_ec) total += n;
    }
  }
  return total;
}

std::string join_pids(const std::vector<ProcessOwner>& owners) {
  std::string out;
  for (const auto& o : owners) out += (out.empty() ? "" : ", ") + std::to_string(o.pid);
  return out;
}

}  // namespace

std::vector<StaleSpill> find_stale_spill_directories(const std::string& root, bool remove) {
  std::vector<StaleSpill> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    std::error_code type_ec;
    if (name.rfind("manta-", 0) != 0 || !entry.is_directory(type_ec) || entry.is_symlink(type_ec))
      continue;
    StaleSpill s;
    s.path = entry.path().string();
    std::vector<ProcessOwner> owners;
    bool unreadable = false;
    std::error_code list_ec;
    for (const auto& f : fs::directory_iterator(entry.path(), list_ec)) {
      if (f.path().filename().string().rfind("owner-", 0) != 0) continue;
      std::ifstream in(f.path());
      std::stringstream text;
      text << in.rdbuf();
      if (auto o = parse_owner(text.str())) {
        owners.push_back(*o);
      } else {
        unreadable = true;
      }
    }
    if (list_ec) continue;  // not ours to read
    std::vector<ProcessOwner> alive, elsewhere;
    for (const auto& o : owners) {
      const Liveness l = liveness(o);
      if (l == Liveness::alive) alive.push_back(o);
      if (l == Liveness::unknown) elsewhere.push_back(o);
    }
    if (owners.empty()) {
      s.why = unreadable ? "its owner records cannot be read"
                         : "it has no owner record (not made by this Manta version, or its job "
                           "is starting): remove it by hand if no job uses it";
    } else if (!alive.empty()) {
      s.why = fmt::format("its job is running (pid {} on this host)", join_pids(alive));
    } else if (!elsewhere.empty()) {
      s.why = fmt::format(
          "its job ran on host {} (pid {}), which cannot be checked from here; "
          "run manta clean there",
          elsewhere.front().host, join_pids(elsewhere));
    } else {
      s.bytes = bytes_under(entry.path());
      s.why = fmt::format("its job's processes ({} on host {}) have ended", join_pids(owners),
                          owners.front().host);
      if (remove) {
        std::error_code rm_ec;
        const auto n = fs::remove_all(entry.path(), rm_ec);
        // Another rank of a new job on this host may have removed it first: that one says so.
        if (n == 0 && !fs::exists(entry.path())) continue;
        s.removed = !fs::exists(entry.path());
        if (!s.removed) s.why += fmt::format(", but it could not be removed: {}", rm_ec.message());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace manta::spill
