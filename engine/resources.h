// Amounts of CPU, GPU, memory and custom resources, as requested by tasks and offered by ranks.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <manta/options.h>

namespace manta::engine {

/// A small sorted list of (name, amount); CPU first-class because nearly every task asks for it.
class ResourceSet {
 public:
  ResourceSet() = default;
  static ResourceSet from_map(const ResourceMap& m);  // missing CPU means 1 CPU
  static ResourceSet cpus(double n);

  [[nodiscard]] double get(const std::string& name) const;
  void set(const std::string& name, double amount);
  /// True when every amount here is at most the same amount in `available`.
  [[nodiscard]] bool fits_in(const ResourceSet& available) const;
  void add(const ResourceSet& other);
  void subtract(const ResourceSet& other);
  [[nodiscard]] const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const ResourceSet&, const ResourceSet&) = default;

 private:
  std::vector<std::pair<std::string, double>> items_;  // sorted by name, no zero amounts
};

}  // namespace manta::engine
