// This machine's hwloc topology, with I/O discovery, loaded once and kept for the process.
// Only gpu/ sources include this header (it exposes hwloc).
#pragma once

#include <hwloc.h>

#include <string>

namespace manta::gpu {

/// The loaded topology, or nullptr when hwloc cannot read this machine. Loading once saves
/// each caller the sysfs walk, and keeping it keeps hwloc's PCI plugin loaded, so what that
/// plugin's libraries keep until exit stays attributable to them. Read-only use is thread-safe.
hwloc_topology_t this_machine();

/// Loads a topology: this machine's when `xml_path` is empty, else the XML file, with I/O
/// discovery (PCI and OS devices, from sysfs without root). Throws std::runtime_error naming
/// the file when it cannot be read or parsed. The caller destroys it.
hwloc_topology_t load_topology(const char* xml_path);

/// A bitmap as hwloc's list string ("0-11,24-35"); "" when it cannot be printed.
std::string list_string(hwloc_const_bitmap_t set);

}  // namespace manta::gpu
