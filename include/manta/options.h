// Options that chain before .remote(...).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace manta {

/// Resource amounts by name: "CPU", "GPU" and any custom resource a rank declares.
using ResourceMap = std::map<std::string, double>;

/// Environment variables of one task or actor, by name (see manta::getenv in env.h).
using EnvVars = std::map<std::string, std::string>;

/// Names one placement group: the rank that created it and a number unique on that rank.
struct PlacementGroupId {
  std::int32_t creator = -1;
  std::uint64_t seq = 0;

  [[nodiscard]] bool valid() const noexcept { return creator >= 0; }
  [[nodiscard]] std::string to_string() const {
    return "pg" + std::to_string(creator) + "." + std::to_string(seq);
  }
  friend bool operator==(const PlacementGroupId&, const PlacementGroupId&) = default;
};

/// The bundle of a placement group a task or actor runs in (set by .placement_group(pg, i)).
struct BundleTarget {
  PlacementGroupId group;                                   // invalid: not in a group
  std::shared_ptr<const std::vector<ResourceMap>> bundles;  // what each bundle of it holds
  int bundle_index = -1;                                    // -1: any bundle with room
};

struct TaskOptions {
  std::string name;               // shown in errors and timelines instead of the function name
  ResourceMap resources;          // default {"CPU": 1}
  std::uint64_t memory = 0;       // bytes the task needs beyond its inputs
  int max_retries = 3;            // retries after a failure of the system (as in Ray)
  bool retry_exceptions = false;  // also retry when the function throws
  int on_rank = -1;               // run on this rank (affinity); -1 lets the scheduler choose
  BundleTarget placement_group;   // run in this bundle's reserved resources, on its rank
  EnvVars env;                    // seen by manta::getenv while it runs (env.h)
};

}  // namespace manta
