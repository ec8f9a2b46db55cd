#include "engine/resources.h"

#include <fmt/format.h>

#include <algorithm>

namespace manta::engine {
namespace {
constexpr double kEpsilon = 1e-9;
}

ResourceSet ResourceSet::from_map(const ResourceMap& m) {
  ResourceSet r;
  if (!m.contains("CPU")) r.set("CPU", 1);
  for (const auto& [k, v] : m) r.set(k, v);
  return r;
}

ResourceSet ResourceSet::cpus(double n) {
  ResourceSet r;
  r.set("CPU", n);
  return r;
}

double ResourceSet::get(const std::string& name) const {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& p, const std::string& n) { return p.first < n; });
  return it != items_.end() && it->first == name ? it->second : 0.0;
}

void ResourceSet::set(const std::string& name, double amount) {
  auto it = std::lower_bound(items_.begin(), items_.end(), name,
                             [](const auto& p, const std::string& n) { return p.first < n; });
  if (it != items_.end() && it->first == name) {
    if (std::abs(amount) < kEpsilon) {
      items_.erase(it);
    } else {
      it->second = amount;
    }
  } else if (std::abs(amount) >= kEpsilon) {
    items_.insert(it, {name, amount});
  }
}

bool ResourceSet::fits_in(const ResourceSet& available) const {
  return std::all_of(items_.begin(), items_.end(),
                     [&](const auto& p) { return p.second <= available.get(p.first) + kEpsilon; });
}

void ResourceSet::add(const ResourceSet& other) {
  for (const auto& [k, v] : other.items_) set(k, get(k) + v);
}

void ResourceSet::subtract(const ResourceSet& other) {
  for (const auto& [k, v] : other.items_) set(k, get(k) - v);
}

std::string ResourceSet::to_string() const {
  std::string s = "{";
  for (const auto& [k, v] : items_) s += fmt::format("{}{}: {:g}", s.size() > 1 ? ", " : "", k, v);
  return s + "}";
}

}  // namespace manta::engine
