// The keys the out-of-core sorts make, and the checks that no key was lost: shared by the sort on
// the datasets library (examples/out_of_core_sort.cpp) and the hand-written one
// (examples/sort_tasks.h, run by bench/spill_bench.cpp), so both sort the same data set.
#pragma once

#include <cstdint>

namespace sort_keys {

/// splitmix64: key j of the data set is the j-th output of the generator seeded with kSeed, so
/// any block can make its keys alone and the data set does not depend on the number of blocks.
inline constexpr std::uint64_t kSeed = 0x5eed5eed5eed5eedull;
inline constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;
inline std::uint64_t splitmix64_mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline std::uint64_t key_at(std::uint64_t j) noexcept {
  return splitmix64_mix(kSeed + (j + 1) * kGolden);
}

/// Order-independent checks of a multiset of keys: equal for the input and the sorted output
/// exactly when no key was lost, duplicated or changed (with overwhelming probability).
struct Checks {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;  // modulo 2^64
  std::uint64_t xor_all = 0;

  void add(std::uint64_t key) noexcept {
    ++count;
    sum += key;
    xor_all ^= key;
  }
  void add(const Checks& o) noexcept {
    count += o.count;
    sum += o.sum;
    xor_all ^= o.xor_all;
  }
  friend bool operator==(const Checks&, const Checks&) = default;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& count& sum& xor_all;
  }
};

}  // namespace sort_keys
