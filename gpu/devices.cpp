#include "gpu/devices.h"

#include <hwloc.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

#include "gpu/machine.h"

namespace manta::gpu {

namespace {

// Backends in the order their view of a device is preferred when several report it.
constexpr std::array<const char*, 5> kBackends = {"NVML", "CUDA", "RSMI", "LevelZero", "OpenCL"};

int backend_rank(const std::string& backend) {
  for (std::size_t i = 0; i < kBackends.size(); ++i) {
    if (backend == kBackends[i]) return static_cast<int>(i);
  }
  return -1;
}

// hwloc 2.x names the backend in the "Backend" info; some backends also set the subtype.
std::string backend_of(hwloc_obj_t osdev) {
  const char* info = hwloc_obj_get_info_by_name(osdev, "Backend");
  if (info != nullptr && backend_rank(info) >= 0) return info;
  if (osdev->subtype != nullptr && backend_rank(osdev->subtype) >= 0) return osdev->subtype;
  return {};
}

std::string info(hwloc_obj_t obj, const char* name) {
  const char* value = hwloc_obj_get_info_by_name(obj, name);
  return value == nullptr ? std::string() : std::string(value);
}

std::uint64_t kib_info(hwloc_obj_t obj, const char* name) {
  const std::string text = info(obj, name);
  if (text.empty()) return 0;
  return std::strtoull(text.c_str(), nullptr, 10) * 1024;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

hwloc_obj_t pci_parent(hwloc_obj_t osdev) {
  for (hwloc_obj_t p = osdev->parent; p != nullptr; p = p->parent) {
    if (p->type == HWLOC_OBJ_PCI_DEVICE) return p;
    if (p->type != HWLOC_OBJ_OS_DEVICE) return nullptr;
  }
  return nullptr;
}

struct Found {
  GpuDevice gpu;
  unsigned domain = 0, bus = 0, dev = 0, func = 0;  // the PCI address, for node order
};

std::string bus_id(const hwloc_obj_attr_u::hwloc_pcidev_attr_s& a) {
  char text[32];
  std::snprintf(text, sizeof(text), "%04x:%02x:%02x.%01x", static_cast<unsigned>(a.domain),
                static_cast<unsigned>(a.bus), static_cast<unsigned>(a.dev),
                static_cast<unsigned>(a.func));
  return text;
}

// NVIDIA or AMD VGA, 3D or display controller: what CUDA or ROCm could run on.
bool is_pci_gpu(hwloc_obj_t pci) {
  const auto& a = pci->attr->pcidev;
  const bool vendor = a.vendor_id == 0x10de || a.vendor_id == 0x1002;
  const bool gpu_class = a.class_id == 0x0300 || a.class_id == 0x0302 || a.class_id == 0x0380;
  return vendor && gpu_class;
}

// The PUs near an I/O object: those of its first non-I/O ancestor.
void locate(GpuDevice& gpu, hwloc_topology_t topo, hwloc_obj_t io) {
  if (!gpu.cpuset.empty()) return;
  hwloc_obj_t near = hwloc_get_non_io_ancestor_obj(topo, io);
  if (near == nullptr || near->cpuset == nullptr) return;
  gpu.cpuset = list_string(near->cpuset);
  // One NUMA node in its nodeset names where the device's memory traffic is cheapest.
  if (near->nodeset != nullptr && hwloc_bitmap_weight(near->nodeset) == 1) {
    gpu.numa_node = hwloc_bitmap_first(near->nodeset);
  }
}

// The device record of a PCI object, made with its address on first use.
Found& entry(std::map<hwloc_obj_t, Found>& by_pci, hwloc_obj_t pci) {
  auto [it, fresh] = by_pci.try_emplace(pci);
  Found& f = it->second;
  if (fresh) {
    const auto& a = pci->attr->pcidev;
    f.domain = a.domain;
    f.bus = a.bus;
    f.dev = a.dev;
    f.func = a.func;
    f.gpu.pci_bus_id = bus_id(a);
  }
  return f;
}

// Fills what `osdev` knows into `gpu`, keeping values a preferred backend already gave.
void merge(GpuDevice& gpu, hwloc_topology_t topo, hwloc_obj_t osdev, const std::string& backend) {
  if (std::find(gpu.backends.begin(), gpu.backends.end(), backend) == gpu.backends.end()) {
    gpu.backends.push_back(backend);
    std::sort(gpu.backends.begin(), gpu.backends.end(),
              [](const std::string& a, const std::string& b) {
                return backend_rank(a) < backend_rank(b);
              });
    gpu.backend = gpu.backends.front();
  }
  if (gpu.name.empty()) gpu.name = info(osdev, "GPUModel");
  if (gpu.uuid.empty()) {
    for (const char* key : {"NVIDIAUUID", "AMDUUID", "LevelZeroUUID"}) {
      gpu.uuid = info(osdev, key);
      if (!gpu.uuid.empty()) break;
    }
  }
  if (gpu.memory_bytes == 0) gpu.memory_bytes = kib_info(osdev, "CUDAGlobalMemorySize");
  if (gpu.memory_bytes == 0) gpu.memory_bytes = kib_info(osdev, "OpenCLGlobalMemorySize");
  for (unsigned i = 0; i < osdev->infos_count; ++i) {
    const hwloc_info_s& entry = osdev->infos[i];
    if (entry.name == nullptr || entry.value == nullptr) continue;
    if (std::string(entry.name) != "NVIDIAMIGUUID") continue;
    if (std::find(gpu.mig_uuids.begin(), gpu.mig_uuids.end(), entry.value) == gpu.mig_uuids.end()) {
      gpu.mig_uuids.emplace_back(entry.value);
    }
  }
  locate(gpu, topo, osdev);
}

}  // namespace

std::string gpu_key(const GpuDevice& gpu) {
  if (gpu.mig_instance) return gpu.uuid;
  return gpu.pci_bus_id.empty() ? gpu.uuid : gpu.pci_bus_id;
}

std::vector<GpuDevice> read_gpus(hwloc_topology* topology) {
  hwloc_topology_t topo = topology;
  std::map<hwloc_obj_t, Found> by_pci;               // PCI object -> the device it holds
  std::vector<std::pair<Found, std::string>> loose;  // OS devices with no PCI parent
  hwloc_obj_t osdev = nullptr;
  while ((osdev = hwloc_get_next_osdev(topo, osdev)) != nullptr) {
    if (osdev->attr == nullptr) continue;
    const auto kind = osdev->attr->osdev.type;
    if (kind != HWLOC_OBJ_OSDEV_GPU && kind != HWLOC_OBJ_OSDEV_COPROC) continue;
    const std::string backend = backend_of(osdev);
    if (backend.empty()) continue;  // DRM cards, GL displays: not compute devices
    hwloc_obj_t pci = pci_parent(osdev);
    if (pci == nullptr) {
      Found f;
      merge(f.gpu, topo, osdev, backend);
      loose.emplace_back(std::move(f), backend);
      continue;
    }
    Found& f = entry(by_pci, pci);
    merge(f.gpu, topo, osdev, backend);
    if (f.gpu.name.empty()) f.gpu.name = info(pci, "PCIDevice");
  }

  // hwloc builds without the NVML/CUDA/RSMI plugins (Debian's, for one) show a GPU only as
  // its PCI device: count NVIDIA and AMD display/3D controllers that no backend reported.
  hwloc_obj_t pci = nullptr;
  while ((pci = hwloc_get_next_pcidev(topo, pci)) != nullptr) {
    if (!is_pci_gpu(pci) || by_pci.count(pci) != 0) continue;
    Found& f = entry(by_pci, pci);
    f.gpu.name = info(pci, "PCIDevice");
    f.gpu.backend = "PCI";
    f.gpu.backends = {"PCI"};
    locate(f.gpu, topo, pci);
  }

  std::vector<Found> all;
  for (auto& [obj, f] : by_pci) all.push_back(std::move(f));
  std::sort(all.begin(), all.end(), [](const Found& a, const Found& b) {
    return std::tie(a.domain, a.bus, a.dev, a.func) < std::tie(b.domain, b.bus, b.dev, b.func);
  });
  // Without a PCI parent nothing joins nvml0 to cuda0: keep one backend's view (OpenCL's can
  // be a CPU device and never counts alone).
  int best = -1;
  for (const auto& [f, backend] : loose) {
    const int rank = backend_rank(backend);
    if (backend != "OpenCL" && (best < 0 || rank < best)) best = rank;
  }
  for (auto& [f, backend] : loose) {
    if (backend_rank(backend) == best) all.push_back(std::move(f));
  }
  std::vector<GpuDevice> out;
  for (auto& f : all) {
    f.gpu.node_index = static_cast<int>(out.size());
    f.gpu.ordinal = f.gpu.node_index;
    out.push_back(std::move(f.gpu));
  }
  return out;
}

std::vector<GpuDevice> select_visible(const std::vector<GpuDevice>& node_gpus,
                                      const VisibleDevices& visible, std::string* warning) {
  if (warning != nullptr) warning->clear();
  std::vector<GpuDevice> out;
  if (visible.all) {
    out = node_gpus;
    for (auto& g : out) g.ordinal = g.node_index;
    return out;
  }
  std::set<std::string> taken;
  auto complain = [&](const std::string& entry, const std::string& why) {
    if (warning == nullptr) return;
    if (!warning->empty()) *warning += "; ";
    *warning += visible.source + ": entry '" + entry + "' " + why;
  };
  for (std::size_t i = 0; i < visible.selectors.size(); ++i) {
    const DeviceSelector& sel = visible.selectors[i];
    const std::string entry = sel.uuid.empty() ? std::to_string(sel.index) : sel.uuid;
    std::vector<GpuDevice> matches;
    if (sel.uuid.empty()) {
      for (const auto& g : node_gpus) {
        if (g.node_index == sel.index) matches.push_back(g);
      }
    } else {
      const std::string want = lower(sel.uuid);
      const bool mig = want.rfind("mig-", 0) == 0;
      for (const auto& g : node_gpus) {
        if (!mig) {
          if (!g.uuid.empty() && lower(g.uuid).rfind(want, 0) == 0) matches.push_back(g);
          continue;
        }
        for (const auto& m : g.mig_uuids) {
          if (lower(m).rfind(want, 0) != 0) continue;
          GpuDevice instance = g;
          instance.uuid = m;
          instance.mig_uuids = {m};
          instance.mig_instance = true;
          instance.memory_bytes = 0;  // a slice of the GPU; its size is not in the topology
          matches.push_back(std::move(instance));
        }
      }
    }
    std::string why;
    if (matches.empty()) {
      why = "names no GPU on this node (it has " + std::to_string(node_gpus.size()) + ")";
    } else if (matches.size() > 1) {
      why = "matches " + std::to_string(matches.size()) + " devices; give more of the UUID";
    } else if (!taken.insert(gpu_key(matches.front())).second) {
      why = "names a GPU the list already selected";
    }
    if (why.empty()) {
      out.push_back(std::move(matches.front()));
      continue;
    }
    if (visible.renumbered) {
      const std::size_t rest = visible.selectors.size() - i - 1;
      complain(entry, why + (rest == 0   ? "; the runtime ignores it"
                             : rest == 1 ? "; the runtime ignores it and the entry after it"
                                         : "; the runtime ignores it and the " +
                                               std::to_string(rest) + " entries after it"));
      break;
    }
    complain(entry, why + "; it is skipped");
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].ordinal = visible.renumbered ? static_cast<int>(i) : out[i].node_index;
  }
  return out;
}

}  // namespace manta::gpu
