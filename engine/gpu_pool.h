// Which of the rank's GPUs each running task or actor holds. The scheduler counts the "GPU"
// resource; this pool turns a granted amount into device ordinals, so concurrent holders of
// whole GPUs get distinct devices and fractional holders (0.25: four share one device) are packed
// onto as few devices as possible. Not locked: the local scheduler owns it under its lock.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "engine/resources.h"

namespace manta::engine {

class GpuPool {
 public:
  GpuPool() = default;
  /// `ordinals`: the devices this rank was given, as the CUDA runtime numbers them here.
  explicit GpuPool(std::vector<int> ordinals);

  /// Whether a resource name is GPUs: "GPU", or a placement group's name for its GPUs.
  static bool is_gpu(const std::string& name);
  /// The GPU amount a request asks for: "GPU", or what it asks of a placement group's GPUs.
  static double amount(const ResourceSet& request);
  /// Why a GPU amount can never be granted as asked ("" when it can): above 1, only whole GPUs.
  static std::string invalid_amount(double amount);

  [[nodiscard]] bool empty() const noexcept { return devices_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return devices_.size(); }
  [[nodiscard]] std::vector<int> ordinals() const;

  /// Whether `amount` can be placed on devices now (whole GPUs free, or room on one device).
  [[nodiscard]] bool can_grant(double amount) const;
  /// Takes `amount`: whole GPUs are the lowest free devices; a fraction goes to the device with
  /// the least room that still holds it (best fit). Empty when nothing fits or amount is 0.
  std::vector<int> grant(double amount);
  /// Takes `amount` on the given devices again, whatever their room: an actor keeps the devices
  /// its creation task ran on after that task returns its own grant.
  void hold(const std::vector<int>& ordinals, double amount);
  /// Returns what grant or hold took.
  void give_back(const std::vector<int>& ordinals, double amount);

  /// Fraction of each device in use, in ordinal order (for status and tests).
  [[nodiscard]] std::vector<double> used() const;

 private:
  struct Device {
    int ordinal = 0;
    double used = 0;  // 0 free .. 1 full
  };
  Device* find(int ordinal);
  static double per_device(double amount, std::size_t devices);

  std::vector<Device> devices_;
};

}  // namespace manta::engine
