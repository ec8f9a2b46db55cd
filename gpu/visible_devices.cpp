#include "gpu/visible_devices.h"

#include <cstdlib>
#include <set>

namespace manta::gpu {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

[[noreturn]] void fail(const std::string& source, const std::string& entry,
                       const std::string& why) {
  throw VisibleDevicesError(source + ": bad entry '" + entry + "' (" + why +
                            "); use a comma list of device indices (0,1,...) or GPU-/MIG- UUIDs");
}

DeviceSelector parse_entry(const std::string& entry, const std::string& source) {
  if (entry.empty()) fail(source, entry, "empty entry");
  if (entry.rfind("GPU-", 0) == 0 || entry.rfind("MIG-", 0) == 0) {
    if (entry.size() == 4) fail(source, entry, "UUID missing after the prefix");
    return DeviceSelector{-1, entry};
  }
  if (entry[0] == '-') fail(source, entry, "negative index");
  long value = 0;
  for (char c : entry) {
    if (c < '0' || c > '9') fail(source, entry, "not an index or a GPU-/MIG- UUID");
    value = value * 10 + (c - '0');
    if (value > 1'000'000) fail(source, entry, "index too large");
  }
  return DeviceSelector{static_cast<int>(value), {}};
}

}  // namespace

std::vector<DeviceSelector> parse_device_list(const std::string& list, const std::string& source) {
  std::vector<DeviceSelector> out;
  std::set<std::string> seen;
  const std::string whole = trim(list);
  if (whole.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const auto comma = whole.find(',', start);
    const std::string entry =
        trim(whole.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    DeviceSelector sel = parse_entry(entry, source);
    const std::string key = sel.uuid.empty() ? std::to_string(sel.index) : sel.uuid;
    if (!seen.insert(key).second) fail(source, entry, "listed twice");
    out.push_back(std::move(sel));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

VisibleDevices visible_devices(const EnvLookup& env, const std::string& override_option) {
  const std::string option = trim(override_option);
  if (option == "none") return VisibleDevices{false, {}, "--manta-gpus", false};
  if (!option.empty() && option != "auto") {
    auto list = parse_device_list(option, "--manta-gpus");
    if (list.empty()) fail("--manta-gpus", option, "empty list");
    return VisibleDevices{false, std::move(list), "--manta-gpus", false};
  }
  // The vendor runtimes hide the other devices and renumber the rest 0..n-1.
  for (const char* name : {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}) {
    const char* value = env(name);
    if (value == nullptr) continue;
    // CUDA's "NoDevFiles" (and an empty string) hides every device.
    if (trim(value) == "NoDevFiles") return VisibleDevices{false, {}, name, true};
    return VisibleDevices{false, parse_device_list(value, name), name, true};
  }
  // Slurm's GRES variables name physical indices and do not renumber.
  for (const char* name : {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL"}) {
    const char* value = env(name);
    if (value == nullptr) continue;
    return VisibleDevices{false, parse_device_list(value, name), name, false};
  }
  return VisibleDevices{};
}

EnvLookup process_environment() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

}  // namespace manta::gpu
