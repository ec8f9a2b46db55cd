// The public hardware API: the running task's GPUs and the rank's hardware.
#include <manta/errors.h>
#include <manta/hardware.h>
#include <manta/init.h>

#include <fmt/format.h>

#include <stdexcept>

#include "engine/config.h"
#include "engine/gpu_grant.h"
#include "engine/rank_hardware.h"
#include "engine/runtime.h"
#include "engine/text.h"

namespace manta {

std::string describe_gpus(const std::vector<GpuInfo>& gpus) {
  if (gpus.empty()) return "none";
  std::string out;
  for (const GpuInfo& g : gpus) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} {}", g.ordinal, g.name.empty() ? "GPU" : g.name);
    std::string detail = g.pci_bus_id;
    if (g.memory_bytes > 0) {
      detail += (detail.empty() ? "" : ", ") + engine::human_bytes(g.memory_bytes);
    }
    if (!g.uuid.empty() && g.uuid.starts_with("MIG-"))
      detail += (detail.empty() ? "" : ", ") + g.uuid;
    if (!detail.empty()) out += " (" + detail + ")";
  }
  return out;
}

std::string describe(const RankHardware& hw) {
  std::string out = fmt::format("cores:   {} (cpuset {}, NUMA node {})\n", hw.cores,
                                hw.cpuset.empty() ? "?" : hw.cpuset,
                                hw.numa_node >= 0 ? std::to_string(hw.numa_node) : "several");
  out += fmt::format("binding: {}\n", hw.binding);
  out += fmt::format("GPUs:    {}{}\n", describe_gpus(hw.gpus),
                     hw.gpu_sharers > 1 ? fmt::format(" (each shared by {} ranks)", hw.gpu_sharers)
                                        : std::string());
  out += fmt::format("         chosen from {}\n", hw.gpu_source);
  out += fmt::format("CUDA:    {}\n", hw.cuda);
  for (const std::string& note : hw.notes) out += fmt::format("note:    {}\n", note);
  return out;
}

std::vector<int> gpu_ids() { return engine::GpuGrantScope::current(); }

RankHardware rank_hardware() {
  engine::Runtime* r = engine::Runtime::instance();
  if (!r || !r->is_open()) {
    throw std::logic_error("manta::rank_hardware: call manta::init first");
  }
  return r->hardware().describe(r->rank(), r->host());
}

std::vector<RankHardware> preview_node_hardware(const std::vector<std::string>& args,
                                                int local_ranks) {
  if (local_ranks < 1) {
    throw std::invalid_argument("preview_node_hardware: local_ranks must be at least 1");
  }
  const engine::Config config = engine::config_from_words(args);
  std::vector<RankHardware> out;
  const auto plans = engine::preview_node(config, local_ranks);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (!plans[i].error.empty()) throw std::invalid_argument(plans[i].error);
    out.push_back(plans[i].describe(static_cast<int>(i), "this node"));
  }
  return out;
}

}  // namespace manta
