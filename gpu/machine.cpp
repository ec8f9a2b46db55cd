#include "gpu/machine.h"

#include <cstdlib>

#include <mutex>
#include <stdexcept>
#include <string>

namespace manta::gpu {

hwloc_topology_t load_topology(const char* xml_path) {
  const std::string path = xml_path == nullptr ? std::string() : std::string(xml_path);
  hwloc_topology_t topo = nullptr;
  if (hwloc_topology_init(&topo) != 0) throw std::runtime_error("manta: hwloc cannot start");
  hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (!path.empty() && hwloc_topology_set_xml(topo, path.c_str()) != 0) {
    hwloc_topology_destroy(topo);
    throw std::runtime_error("manta: cannot read hwloc topology XML '" + path + "'");
  }
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    throw std::runtime_error("manta: cannot load hwloc topology" +
                             (path.empty() ? std::string(" of this machine")
                                           : " XML '" + path + "' (not a valid hwloc XML)"));
  }
  return topo;
}

hwloc_topology_t this_machine() {
  static std::once_flag once;
  static hwloc_topology_t topo = nullptr;
  std::call_once(once, [] {
    try {
      topo = load_topology(nullptr);  // kept until exit: threads bind through it until then
    } catch (const std::runtime_error&) {
      topo = nullptr;
    }
  });
  return topo;
}

std::string list_string(hwloc_const_bitmap_t set) {
  char* text = nullptr;
  if (hwloc_bitmap_list_asprintf(&text, set) < 0 || text == nullptr) return {};
  std::string out(text);
  std::free(text);
  return out;
}

}  // namespace manta::gpu
