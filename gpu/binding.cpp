#include "gpu/binding.h"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "gpu/machine.h"

namespace manta::gpu {

namespace {

// Compresses ascending numbers into a list string: {0,1,2,5} -> "0-2,5".
std::string ranges(std::vector<int> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::string out;
  for (std::size_t i = 0; i < values.size();) {
    std::size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(values[i]);
    if (j > i) {
      out += '-';  // not "-" + to_string: GCC 12 -O3 -Wrestrict false positive
      out += std::to_string(values[j]);
    }
    i = j + 1;
  }
  return out;
}

std::vector<CoreInfo> rank_cores(const Topology& t, int local_rank, int local_size) {
  const auto& all = t.cores_in_cpuset;
  if (t.launcher_bound || all.empty()) return all;
  const int count = static_cast<int>(all.size());
  const int share = cores_for_rank(t, local_size);
  // More ranks than cores wrap around; a remainder of cores stays unused, as cores_for_rank
  // sized the worker pools without it.
  const int start = (std::max(0, local_rank) * share) % count;
  std::vector<CoreInfo> out;
  for (int i = 0; i < share && i < count; ++i) out.push_back(all[(start + i) % count]);
  return out;
}

}  // namespace

BindMode parse_bind_mode(const std::string& text) {
  if (text == "none") return BindMode::none;
  if (text == "cores") return BindMode::cores;
  throw std::invalid_argument("--manta-bind: '" + text +
                              "' is not a binding mode; use none or cores (or auto, the default: "
                              "cores when the launcher bound the process, else none)");
}

BindMode default_bind_mode(const Topology& t) {
  return t.launcher_bound ? BindMode::cores : BindMode::none;
}

BindMode resolve_bind_mode(const std::string& option, const Topology& t) {
  if (option.empty() || option == "auto") return default_bind_mode(t);
  return parse_bind_mode(option);
}

ThreadPlan plan_threads(const Topology& t, int local_rank, int local_size, int workers,
                        BindMode mode) {
  ThreadPlan plan;
  const std::size_t worker_count = static_cast<std::size_t>(std::max(0, workers));
  const std::vector<CoreInfo> cores =
      mode == BindMode::cores ? rank_cores(t, local_rank, local_size) : std::vector<CoreInfo>{};
  if (cores.empty() || cores.front().pus.empty()) {
    plan.workers.assign(worker_count, "");
    plan.summary = "unbound";
    return plan;
  }
  const std::size_t core_count = cores.size();
  const CoreInfo& last = cores.back();
  const bool smt = last.pus.size() > 1;
  std::size_t worker_cores = core_count;
  std::string progress_note;
  if (smt) {
    plan.progress = std::to_string(last.pus[1]);
    progress_note = "progress on PU " + plan.progress + " (SMT sibling)";
  } else if (core_count >= 2 && worker_count <= core_count - 1) {
    worker_cores = core_count - 1;
    plan.progress = std::to_string(last.pus[0]);
    progress_note = "progress on PU " + plan.progress + " (own core)";
  } else if (core_count >= 2) {
    std::vector<int> firsts;
    for (const auto& c : cores) firsts.push_back(c.pus[0]);
    plan.progress = ranges(firsts);
    progress_note = "progress floating over PUs " + plan.progress + " (no free core)";
  } else {
    plan.progress = std::to_string(last.pus[0]);
    progress_note = "progress shares PU " + plan.progress + " (one core)";
  }
  std::vector<int> used;
  for (std::size_t w = 0; w < worker_count; ++w) {
    const int pu = cores[w % worker_cores].pus[0];
    plan.workers.push_back(std::to_string(pu));
    used.push_back(pu);
  }
  const std::string pus = ranges(used);
  const bool one_pu = pus.find_first_of(",-") == std::string::npos;
  const std::string placed = worker_count == 0
                                 ? "no workers"
                                 : std::to_string(worker_count) +
                                       (worker_count == 1 ? " worker" : " workers") +
                                       (one_pu ? " on PU " : " on PUs ") + pus +
                                       (worker_count > worker_cores ? " (round-robin)" : "");
  plan.summary = "bound: " + placed + ", " + progress_note;
  return plan;
}

bool bind_current_thread(const std::string& cpuset, std::string* error) {
  if (cpuset.empty()) return true;
  hwloc_topology_t topo = this_machine();
  if (topo == nullptr) {
    if (error != nullptr) *error = "hwloc cannot load this machine's topology";
    return false;
  }
  std::unique_ptr<hwloc_bitmap_s, decltype(&hwloc_bitmap_free)> set(hwloc_bitmap_alloc(),
                                                                    &hwloc_bitmap_free);
  if (hwloc_bitmap_list_sscanf(set.get(), cpuset.c_str()) != 0 || hwloc_bitmap_iszero(set.get())) {
    if (error != nullptr) *error = "bad cpuset '" + cpuset + "'";
    return false;
  }
  if (hwloc_set_cpubind(topo, set.get(), HWLOC_CPUBIND_THREAD) != 0) {
    if (error != nullptr) *error = "cannot bind to PUs " + cpuset + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void bind_memory_to_numa(void* addr, std::size_t len, int numa_node) {
  if (numa_node < 0 || addr == nullptr || len == 0) return;
  hwloc_topology_t topo = this_machine();
  if (topo == nullptr) return;
  hwloc_obj_t node = nullptr;
  while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)) != nullptr) {
    if (static_cast<int>(node->os_index) != numa_node) continue;
    // Failure (no NUMA support, a container policy) only costs locality, never correctness.
    (void)hwloc_set_area_membind(topo, addr, len, node->nodeset, HWLOC_MEMBIND_BIND,
                                 HWLOC_MEMBIND_BYNODESET);
    return;
  }
}

}  // namespace manta::gpu
