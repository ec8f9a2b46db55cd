#include "engine/shared_store.h"

#include <algorithm>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "engine/text.h"
#include "spill/process_owner.h"
#include "transport/shared_segments.h"

namespace manta::engine {

std::vector<int> node_map(const std::vector<std::string>& hosts, int node_size) {
  std::map<std::pair<std::string, int>, int> index;
  std::map<std::string, int> seen_on_host;
  std::vector<int> nodes;
  nodes.reserve(hosts.size());
  for (const auto& host : hosts) {
    const int nth = seen_on_host[host]++;
    const int group = node_size > 0 ? nth / node_size : 0;
    auto [it, fresh] = index.try_emplace({host, group}, static_cast<int>(index.size()));
    nodes.push_back(it->second);
  }
  return nodes;
}

namespace {

std::vector<std::string> remove_ended(const std::string& dir) {
  const std::string host = spill::this_host();
  const auto found = transport::list_segments(dir, kSegmentPrefix);
  return transport::remove_segments_of_ended(dir, found, [&host](const transport::SegmentName& s) {
    return spill::liveness({host, s.pid, s.start_ticks}) == spill::Liveness::ended;
  });
}

}  // namespace

SharedStoreStart start_shared_store(const Config& config, const std::string& job_id, int rank,
                                    int host_ranks, std::uint64_t capacity, bool clean) {
  SharedStoreStart out;
  if (config.shared_memory == "off") return out;
  const bool require = config.shared_memory == "require";
  const std::string& dir = config.shm_dir;
  if (clean) out.removed = remove_ended(dir);
  const auto space = transport::space_of(dir);
  const std::uint64_t need = capacity * static_cast<std::uint64_t>(std::max(1, host_ranks));
  std::string problem;
  if (!space) {
    problem = fmt::format("the shared memory directory {} cannot be read", dir);
  } else if (space->available < need) {
    problem = fmt::format(
        "{} has {} free of {}, but the {} rank{} on this host need{} {} for {} object store{} of "
        "{}",
        dir, human_bytes(space->available), human_bytes(space->total), host_ranks,
        host_ranks == 1 ? "" : "s", host_ranks == 1 ? "s" : "", human_bytes(need),
        host_ranks == 1 ? "its" : "their", host_ranks == 1 ? "" : "s", human_bytes(capacity));
  }
  if (problem.empty()) {
    try {
      transport::enable_shared_segments(
          {dir, fmt::format("{}{}.r{}.", kSegmentPrefix, job_id, rank), kSharedMinBytes});
      out.enabled = true;
      return out;
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  const std::string fixes =
      "give the node more shared memory (a larger /dev/shm, e.g. docker --shm-size, or a larger "
      "tmpfs named by --manta-shm-dir), or lower --manta-object-store-memory";
  if (require) {
    out.error = fmt::format(
        "the node-shared object store does not fit: {}; {}, or set "
        "--manta-shared-memory=auto to fall back to private memory",
        problem, fixes);
  } else {
    out.warning = fmt::format(
        "the node-shared object store does not fit, so large objects stay "
        "in private memory and ranks of a node copy them: {}; {} "
        "(--manta-shared-memory=off silences this)",
        problem, fixes);
  }
  return out;
}

void stop_shared_store() { transport::disable_shared_segments(); }

}  // namespace manta::engine
