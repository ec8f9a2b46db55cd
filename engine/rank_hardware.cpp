#include "engine/rank_hardware.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>

#include "engine/log.h"
#include "gpu/assignment.h"
#include "gpu/cuda_crosscheck.h"
#include "gpu/cuda_runtime.h"
#include "gpu/visible_devices.h"

namespace manta::engine {
namespace {

// A rank's view for the node-wide split, as text: keys, then its cpuset.
std::string encode_view(const gpu::LocalRankView& v) {
  std::string s;
  for (const auto& key : v.gpu_keys) s += key + ',';
  return s + '|' + v.cpuset;
}

gpu::LocalRankView decode_view(const std::string& s) {
  gpu::LocalRankView v;
  const auto bar = s.rfind('|');
  std::string keys = s.substr(0, bar);
  v.cpuset = bar == std::string::npos ? std::string() : s.substr(bar + 1);
  std::size_t start = 0;
  for (std::size_t comma; (comma = keys.find(',', start)) != std::string::npos; start = comma + 1) {
    v.gpu_keys.push_back(keys.substr(start, comma - start));
  }
  return v;
}

std::string cuda_state(const gpu::CudaProbe& p) {
  if (p.usable) return fmt::format("usable, {} device(s)", p.devices.size());
  return p.error;
}

// The GPUs this rank may see, before the node's split.
std::vector<gpu::GpuDevice> visible_gpus(const Config& config, HardwarePlan& plan) {
  const gpu::VisibleDevices vis = gpu::visible_devices(gpu::process_environment(), config.gpus);
  plan.gpu_source = vis.source.empty() ? "all GPUs of the node" : vis.source;
  std::string warning;
  std::vector<gpu::GpuDevice> gpus = gpu::select_visible(plan.topology.gpus, vis, &warning);
  if (!warning.empty()) plan.notes.push_back(warning);
  // A stand-in topology describes another machine: this one's CUDA runtime has no say in it.
  if (config.topology_xml.empty()) {
    gpu::CrossChecked checked = gpu::cross_check(gpus, gpu::probe_cuda());
    if (!checked.note.empty()) plan.notes.push_back(checked.note);
    gpus = std::move(checked.gpus);
  }
  return gpus;
}

}  // namespace

std::vector<int> HardwarePlan::gpu_ordinals() const {
  std::vector<int> out;
  for (const auto& g : gpus) out.push_back(g.ordinal);
  return out;
}

RankHardware HardwarePlan::describe(int rank, const std::string& host) const {
  RankHardware h;
  h.rank = rank;
  h.host = host;
  h.cores = cpus;
  h.cpuset = topology.process_cpuset;
  h.numa_node = topology.numa_node;
  h.binding = bind == gpu::BindMode::none || threads.summary.empty() ? "none" : threads.summary;
  for (const auto& g : gpus) {
    h.gpus.push_back(
        {g.ordinal, g.node_index, g.name, g.pci_bus_id, g.uuid, g.memory_bytes, g.numa_node});
  }
  h.gpu_sharers = gpu_sharers;
  h.gpu_source = gpu_source;
  h.built_with_cuda = gpu::built_with_cuda();
  h.cuda = cuda_state(gpu::probe_cuda());
  h.notes = notes;
  return h;
}

HardwarePlan plan_rank(const Config& config, int local_rank, int local_size,
                       std::vector<gpu::GpuDevice>& visible) {
  HardwarePlan plan;
  visible.clear();
  try {
    plan.topology = gpu::discover_topology(config.topology_xml);
    plan.cpus =
        config.num_cpus > 0 ? config.num_cpus : gpu::cores_for_rank(plan.topology, local_size);
    visible = visible_gpus(config, plan);
    plan.bind = gpu::resolve_bind_mode(config.bind, plan.topology);
    plan.threads = gpu::plan_threads(plan.topology, local_rank, local_size, plan.cpus, plan.bind);
  } catch (const std::exception& e) {
    plan.error = e.what();
    visible.clear();
  }
  return plan;
}

std::string node_view(const HardwarePlan& plan, const std::vector<gpu::GpuDevice>& visible) {
  return encode_view(gpu::local_view(visible, plan.topology.process_cpuset));
}

void take_share(HardwarePlan& plan, const std::vector<gpu::GpuDevice>& visible,
                const std::vector<std::string>& node_views, int local_rank) {
  if (!plan.error.empty()) return;
  std::vector<gpu::LocalRankView> views;
  views.reserve(node_views.size());
  for (const std::string& v : node_views) views.push_back(decode_view(v));
  const std::vector<gpu::RankGpus> split = gpu::assign_gpus(views, plan.topology.gpus);
  const gpu::RankGpus& own = split.at(static_cast<std::size_t>(local_rank));
  for (int ordinal : gpu::runtime_ordinals(visible, own)) {
    plan.gpus.push_back(*std::find_if(visible.begin(), visible.end(), [&](const gpu::GpuDevice& g) {
      return g.ordinal == ordinal;
    }));
  }
  plan.gpu_sharers = own.sharers;
  if (own.sharers > 1) {
    plan.notes.push_back(fmt::format(
        "{} ranks on this node share each of its GPUs: more ranks than GPUs (give fewer ranks "
        "per node, or --manta-gpus=none on the ranks that need none)",
        own.sharers));
  }
  if (local_rank == 0 && views.size() > 1 && !plan.topology.gpus.empty()) {
    plan.assignment = gpu::describe_assignment(views, split);
  }
}

HardwarePlan plan_hardware(const Config& config, const transport::MpiWorld& world) {
  std::vector<gpu::GpuDevice> visible;
  HardwarePlan plan = plan_rank(config, world.local_rank, world.local_size, visible);
  // Every rank of the node joins the split, failed or not, so none waits for another.
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(world.comm, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &node);
  const std::string mine = node_view(plan, visible);
  std::vector<std::string> views;
  for (const Buffer& b : transport::allgather_bytes(
           node, std::as_bytes(std::span<const char>(mine.data(), mine.size())))) {
    views.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  }
  MPI_Comm_free(&node);
  take_share(plan, visible, views, world.local_rank);
  return plan;
}

std::vector<HardwarePlan> preview_node(const Config& config, int local_ranks) {
  std::vector<HardwarePlan> plans;
  std::vector<std::vector<gpu::GpuDevice>> visible(static_cast<std::size_t>(local_ranks));
  std::vector<std::string> views;
  for (int i = 0; i < local_ranks; ++i) {
    plans.push_back(plan_rank(config, i, local_ranks, visible[static_cast<std::size_t>(i)]));
    views.push_back(node_view(plans.back(), visible[static_cast<std::size_t>(i)]));
  }
  for (int i = 0; i < local_ranks; ++i) {
    take_share(plans[static_cast<std::size_t>(i)], visible[static_cast<std::size_t>(i)], views, i);
  }
  return plans;
}

std::vector<int> gpu_pool_ordinals(const HardwarePlan& plan, double gpu_resource) {
  const auto wanted = static_cast<std::size_t>(std::ceil(std::max(0.0, gpu_resource)));
  std::vector<int> found = plan.gpu_ordinals();
  if (wanted <= found.size()) {
    found.resize(wanted);
    return found;
  }
  std::vector<int> logical(wanted);
  for (std::size_t i = 0; i < wanted; ++i) logical[i] = static_cast<int>(i);
  if (!found.empty()) {
    log().warn(
        "--manta-resources declares GPU={} but this rank was given {} GPU(s); gpu_ids() then "
        "numbers {} devices that do not all exist",
        gpu_resource, found.size(), wanted);
  }
  return logical;
}

namespace {
std::atomic<int> g_buffer_numa{-1};
void bind_fresh_block(void* p, std::size_t n) {
  gpu::bind_memory_to_numa(p, n, g_buffer_numa.load(std::memory_order_relaxed));
}
}  // namespace

void place_large_buffers_on(int numa_node) {
  g_buffer_numa.store(numa_node, std::memory_order_relaxed);
  detail::set_fresh_block_hook(numa_node >= 0 ? &bind_fresh_block : nullptr);
}

void bind_thread(const HardwarePlan& plan, int index) {
  if (plan.bind == gpu::BindMode::none) return;
  const std::string& cpuset =
      index < 0 ? plan.threads.progress
      : plan.threads.workers.empty()
          ? std::string()
          : plan.threads.workers[static_cast<std::size_t>(index) % plan.threads.workers.size()];
  if (cpuset.empty()) return;
  std::string error;
  if (!gpu::bind_current_thread(cpuset, &error)) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) log().warn("cannot bind threads to cores {}: {}", cpuset, error);
  }
}

}  // namespace manta::engine
