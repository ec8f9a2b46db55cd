#include "gpu/assignment.h"

#include <hwloc.h>

#include <algorithm>
#include <climits>
#include <map>
#include <memory>
#include <numeric>
#include <tuple>

namespace manta::gpu {

namespace {

using Bitmap = std::unique_ptr<hwloc_bitmap_s, decltype(&hwloc_bitmap_free)>;

// Parses a list string; nullptr for "" or garbage, which then counts as "near nothing".
Bitmap parse(const std::string& list) {
  Bitmap set(hwloc_bitmap_alloc(), &hwloc_bitmap_free);
  if (list.empty() || hwloc_bitmap_list_sscanf(set.get(), list.c_str()) != 0 ||
      hwloc_bitmap_iszero(set.get())) {
    return Bitmap(nullptr, &hwloc_bitmap_free);
  }
  return set;
}

struct KeyInfo {
  std::tuple<int, int, std::string> order;  // node order: GPU index, MIG instance, key
  Bitmap near{nullptr, &hwloc_bitmap_free};
};

int find_root(std::vector<int>& parent, int i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

}  // namespace

LocalRankView local_view(const std::vector<GpuDevice>& visible, const std::string& process_cpuset) {
  std::vector<const GpuDevice*> by_ordinal;
  for (const auto& g : visible) by_ordinal.push_back(&g);
  std::stable_sort(by_ordinal.begin(), by_ordinal.end(),
                   [](const GpuDevice* a, const GpuDevice* b) { return a->ordinal < b->ordinal; });
  LocalRankView view;
  for (const GpuDevice* g : by_ordinal) view.gpu_keys.push_back(gpu_key(*g));
  view.cpuset = process_cpuset;
  return view;
}

std::vector<int> runtime_ordinals(const std::vector<GpuDevice>& visible, const RankGpus& grant) {
  std::vector<int> ordinals;
  for (const auto& g : visible) ordinals.push_back(g.ordinal);
  std::sort(ordinals.begin(), ordinals.end());
  std::vector<int> out;
  for (int position : grant.ordinals) {
    if (position >= 0 && position < static_cast<int>(ordinals.size())) {
      out.push_back(ordinals[static_cast<std::size_t>(position)]);
    }
  }
  return out;
}

std::vector<RankGpus> assign_gpus(const std::vector<LocalRankView>& ranks,
                                  const std::vector<GpuDevice>& node_gpus) {
  const int n = static_cast<int>(ranks.size());
  std::vector<RankGpus> result(ranks.size());

  // Every key the ranks name, with its place in node order and the PUs near it.
  std::map<std::string, KeyInfo> keys;
  for (const auto& view : ranks) {
    for (const auto& key : view.gpu_keys) keys[key].order = {INT_MAX, INT_MAX, key};
  }
  for (const auto& g : node_gpus) {
    auto whole = keys.find(gpu_key(g));
    if (whole != keys.end()) {
      whole->second.order = {g.node_index, -1, whole->first};
      whole->second.near = parse(g.cpuset);
    }
    for (int m = 0; m < static_cast<int>(g.mig_uuids.size()); ++m) {
      auto instance = keys.find(g.mig_uuids[m]);
      if (instance == keys.end()) continue;
      instance->second.order = {g.node_index, m, instance->first};
      instance->second.near = parse(g.cpuset);
    }
  }

  // Ranks that can see a common GPU compete for it; each such group is split on its own.
  std::vector<int> parent(ranks.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::map<std::string, int> first_viewer;
  for (int r = 0; r < n; ++r) {
    for (const auto& key : ranks[r].gpu_keys) {
      auto [it, fresh] = first_viewer.try_emplace(key, r);
      if (!fresh) parent[find_root(parent, r)] = find_root(parent, it->second);
    }
  }
  std::map<int, std::vector<int>> groups;  // root -> members in local rank order
  for (int r = 0; r < n; ++r) groups[find_root(parent, r)].push_back(r);

  auto node_order = [&](const std::string& a, const std::string& b) {
    return keys.at(a).order < keys.at(b).order;
  };
  std::map<std::string, int> load;  // ranks holding each key
  std::vector<std::vector<std::string>> granted(ranks.size());

  for (const auto& [root, members] : groups) {
    std::vector<std::string> pool;
    for (int r : members) {
      for (const auto& key : ranks[r].gpu_keys) {
        if (std::find(pool.begin(), pool.end(), key) == pool.end()) pool.push_back(key);
      }
    }
    std::sort(pool.begin(), pool.end(), node_order);
    if (members.size() == 1) {  // alone with what the launcher gave it
      for (const auto& key : pool) {
        granted[members[0]].push_back(key);
        load[key] = 1;
      }
      continue;
    }
    const int rank_count = static_cast<int>(members.size());
    const int gpu_count = static_cast<int>(pool.size());
    std::map<std::string, int> capacity;
    for (int j = 0; j < gpu_count; ++j) {
      capacity[pool[j]] = rank_count <= gpu_count
                              ? 1
                              : rank_count / gpu_count + (j < rank_count % gpu_count ? 1 : 0);
    }
    for (int i = 0; i < rank_count; ++i) {
      const int r = members[i];
      int quota = rank_count <= gpu_count
                      ? gpu_count / rank_count + (i < gpu_count % rank_count ? 1 : 0)
                      : 1;
      Bitmap mine = parse(ranks[r].cpuset);
      std::vector<std::string> preference;
      for (const auto& key : pool) {
        if (std::find(ranks[r].gpu_keys.begin(), ranks[r].gpu_keys.end(), key) !=
            ranks[r].gpu_keys.end()) {
          preference.push_back(key);
        }
      }
      auto near = [&](const std::string& key) {
        const KeyInfo& k = keys.at(key);
        return mine && k.near && hwloc_bitmap_intersects(mine.get(), k.near.get());
      };
      std::stable_sort(
          preference.begin(), preference.end(),
          [&](const std::string& a, const std::string& b) { return near(a) && !near(b); });
      for (const auto& key : preference) {
        if (quota == 0) break;
        if (load[key] >= capacity[key]) continue;
        ++load[key];
        granted[r].push_back(key);
        --quota;
      }
      if (granted[r].empty() && !preference.empty()) {
        // Overlapping but unequal views left it nothing free: share the least held GPU.
        auto least = std::min_element(
            preference.begin(), preference.end(),
            [&](const std::string& a, const std::string& b) { return load[a] < load[b]; });
        ++load[*least];
        granted[r].push_back(*least);
      }
    }
  }

  for (int r = 0; r < n; ++r) {
    const auto& visible = ranks[r].gpu_keys;
    for (const auto& key : granted[r]) {
      const auto at = std::find(visible.begin(), visible.end(), key) - visible.begin();
      result[r].ordinals.push_back(static_cast<int>(at));
      result[r].sharers = std::max(result[r].sharers, load[key]);
    }
    std::sort(result[r].ordinals.begin(), result[r].ordinals.end());
  }
  return result;
}

std::string describe_assignment(const std::vector<LocalRankView>& ranks,
                                const std::vector<RankGpus>& assignment) {
  std::string out;
  for (std::size_t r = 0; r < assignment.size() && r < ranks.size(); ++r) {
    const RankGpus& a = assignment[r];
    out += "local rank " + std::to_string(r) + ": ";
    if (a.ordinals.empty()) {
      out += "no GPU";
    } else {
      std::string ordinals;
      std::string names;
      for (int o : a.ordinals) {
        // Appended piece by piece: GCC 12 at -O3 takes `"," + std::to_string(o)` for an
        // overlapping copy (-Wrestrict), which a Release build with MANTA_WERROR stops at.
        if (!ordinals.empty()) ordinals += ',';
        ordinals += std::to_string(o);
        if (!names.empty()) names += ", ";
        names += ranks[r].gpu_keys.at(static_cast<std::size_t>(o));
      }
      out += (a.ordinals.size() == 1 ? "GPU " : "GPUs ") + ordinals + " (" + names + ")";
      if (a.sharers > 1) out += ", shared by " + std::to_string(a.sharers) + " ranks";
    }
    out += "\n";
  }
  return out;
}

}  // namespace manta::gpu
