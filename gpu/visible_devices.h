// Which GPUs this process may use, as narrowed by the user or the launcher through the
// environment. Pure functions over an environment lookup, so tests need no setenv.
//
// Precedence (first that applies wins):
//   1. the --manta-gpus override: "auto" (fall through to 2-4), "none" (no GPUs), or a LIST;
//   2. CUDA_VISIBLE_DEVICES, else ROCR_VISIBLE_DEVICES (set: the runtime renumbers 0..n-1);
//   3. Slurm: SLURM_STEP_GPUS, else SLURM_JOB_GPUS, else GPU_DEVICE_ORDINAL;
//   4. nothing set: every GPU on the node.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace manta::gpu {

/// Returns the value of an environment variable or nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

/// One entry of a device list: a physical index, or a "GPU-..."/"MIG-..." UUID.
struct DeviceSelector {
  int index = -1;    // >= 0 when the entry is an index
  std::string uuid;  // full entry ("GPU-..." or "MIG-...") when it is a UUID
  bool operator==(const DeviceSelector&) const = default;
};

struct VisibleDevices {
  bool all = true;                        // no restriction
  std::vector<DeviceSelector> selectors;  // in the order given; empty with all=false: no GPUs
  std::string source;                     // the variable (or option) that decided, for logs
  bool renumbered = false;                // the runtime renumbers the selected devices 0..n-1
};

/// Thrown for a malformed list; the message names the variable, the bad entry and the fix.
struct VisibleDevicesError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses one comma list (spaces allowed, duplicates and negatives rejected) read from `source`.
std::vector<DeviceSelector> parse_device_list(const std::string& list, const std::string& source);

/// Applies the precedence above. `override_option` is the --manta-gpus value ("" = not given).
VisibleDevices visible_devices(const EnvLookup& env, const std::string& override_option = {});

/// Reads the process environment (getenv).
EnvLookup process_environment();

}  // namespace manta::gpu
