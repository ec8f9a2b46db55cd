// The registry behind MANTA_REMOTE. Filled during static initialisation, sealed at init:
// entries are sorted by name so an index means the same function on every rank, and a hash of
// all names and signatures lets rank 0 catch ranks that run different binaries.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <manta/detail/function_registry.h>

namespace manta::engine {

struct FunctionKeyHash {
  std::size_t operator()(const detail::FunctionKey& k) const noexcept;
};

class FunctionTable {
 public:
  static FunctionTable& instance();

  void add(detail::FunctionEntry entry);
  /// Sorts, numbers and checks the entries; throws std::logic_error on conflicting names.
  void seal();
  [[nodiscard]] bool sealed() const noexcept { return sealed_; }

  [[nodiscard]] const detail::FunctionEntry* find(const detail::FunctionKey& key) const;
  [[nodiscard]] const detail::FunctionEntry* at(std::uint32_t index) const;
  /// The entry registered under `name` (after seal), or nullptr.
  [[nodiscard]] const detail::FunctionEntry* named(const std::string& name) const;
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// One "name signature" line per function, sorted; what ranks compare.
  [[nodiscard]] std::string listing() const;
  [[nodiscard]] std::uint64_t hash() const;

 private:
  mutable std::mutex mutex_;
  bool sealed_ = false;
  std::vector<detail::FunctionEntry> entries_;
  std::unordered_map<detail::FunctionKey, std::uint32_t, FunctionKeyHash> by_key_;
};

}  // namespace manta::engine
