#include "engine/gpu_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include "engine/bundle_resources.h"

namespace manta::engine {
namespace {
// Fractions like 0.1 + 0.2 do not sum exactly; room this small counts as none.
constexpr double kEpsilon = 1e-9;

bool is_whole(double x) { return std::fabs(x - std::round(x)) < kEpsilon; }
}  // namespace

GpuPool::GpuPool(std::vector<int> ordinals) {
  devices_.reserve(ordinals.size());
  for (int o : ordinals) devices_.push_back({o, 0});
}

bool GpuPool::is_gpu(const std::string& name) {
  return name == "GPU" || (name.starts_with("GPU_") && base_resource(name) == "GPU");
}

double GpuPool::amount(const ResourceSet& request) {
  double gpus = 0;
  for (const auto& [name, value] : request.items()) {
    // In a placement group a request names the group's GPUs, the bundle's, or both, with the
    // same amount.
    if (is_gpu(name)) gpus = std::max(gpus, value);
  }
  return gpus;
}

std::string GpuPool::invalid_amount(double amount) {
  if (amount < 0) return fmt::format("GPU={} is negative", amount);
  if (amount > 1 && !is_whole(amount)) {
    return fmt::format(
        "GPU={} is a fraction above 1: ask for a fraction of one GPU (e.g. 0.5) or whole GPUs "
        "(e.g. 2)",
        amount);
  }
  return {};
}

std::vector<int> GpuPool::ordinals() const {
  std::vector<int> out;
  out.reserve(devices_.size());
  for (const Device& d : devices_) out.push_back(d.ordinal);
  return out;
}

bool GpuPool::can_grant(double amount) const {
  if (amount <= kEpsilon || devices_.empty()) return true;  // nothing to place, or counted only
  if (amount < 1 - kEpsilon) {
    return std::any_of(devices_.begin(), devices_.end(),
                       [&](const Device& d) { return 1 - d.used >= amount - kEpsilon; });
  }
  const auto free = std::count_if(devices_.begin(), devices_.end(),
                                  [](const Device& d) { return d.used < kEpsilon; });
  return static_cast<double>(free) >= std::round(amount);
}

std::vector<int> GpuPool::grant(double amount) {
  std::vector<int> ids;
  if (amount <= kEpsilon || !can_grant(amount) || devices_.empty()) return ids;
  if (amount < 1 - kEpsilon) {
    Device* best = nullptr;
    for (Device& d : devices_) {
      const double room = 1 - d.used;
      if (room >= amount - kEpsilon && (!best || room < 1 - best->used)) best = &d;
    }
    best->used += amount;
    ids.push_back(best->ordinal);
    return ids;
  }
  const auto want = static_cast<std::size_t>(std::round(amount));
  for (Device& d : devices_) {
    if (ids.size() == want) break;
    if (d.used < kEpsilon) {
      d.used = 1;
      ids.push_back(d.ordinal);
    }
  }
  return ids;
}

double GpuPool::per_device(double amount, std::size_t devices) {
  return devices == 0 ? 0 : std::min(1.0, amount / static_cast<double>(devices));
}

GpuPool::Device* GpuPool::find(int ordinal) {
  auto it = std::find_if(devices_.begin(), devices_.end(),
                         [&](const Device& d) { return d.ordinal == ordinal; });
  return it == devices_.end() ? nullptr : &*it;
}

void GpuPool::hold(const std::vector<int>& ordinals, double amount) {
  const double each = per_device(amount, ordinals.size());
  for (int o : ordinals) {
    if (Device* d = find(o)) d->used += each;
  }
}

void GpuPool::give_back(const std::vector<int>& ordinals, double amount) {
  const double each = per_device(amount, ordinals.size());
  for (int o : ordinals) {
    if (Device* d = find(o)) d->used = std::max(0.0, d->used - each);
  }
}

std::vector<double> GpuPool::used() const {
  std::vector<double> out;
  out.reserve(devices_.size());
  for (const Device& d : devices_) out.push_back(d.used);
  return out;
}

}  // namespace manta::engine
