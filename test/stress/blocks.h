// The stress test's data: blocks of 64-bit words whose every value follows from a seed and a
// position, so a block can be made anywhere and checked anywhere, and a misplaced, stale or
// zeroed byte shows.
#pragma once

#include <cstddef>
#include <cstdint>

#include <manta/manta.h>

namespace stress {

using Words = manta::Array<std::uint64_t>;

/// A bijective 64-bit mixer (splitmix64's finaliser).
inline std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Word i of the block made from `seed`.
inline std::uint64_t word(std::uint64_t seed, std::uint64_t i) {
  return mix(seed * 0x9e3779b97f4a7c15ull + i + 1);
}

inline Words make_words(std::uint64_t seed, std::uint64_t count) {
  Words w = Words::uninitialized(count);
  std::uint64_t* p = w.mutable_data();
  for (std::uint64_t i = 0; i < count; ++i) p[i] = word(seed, i);
  return w;
}

/// Words of `data` that differ from the block of `seed` and `count` words (a wrong length
/// counts as all of them wrong).
inline std::uint64_t count_bad(const std::uint64_t* data, std::size_t size, std::uint64_t seed,
                               std::uint64_t count) {
  if (size != count) return count == 0 ? 1 : count;
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < count; ++i) bad += data[i] != word(seed, i);
  return bad;
}
inline std::uint64_t count_bad(const Words& w, std::uint64_t seed, std::uint64_t count) {
  return count_bad(w.data(), w.size(), seed, count);
}

/// The wrapping sum of a block's words: what an actor folds into its state.
inline std::uint64_t sum(const std::uint64_t* data, std::size_t size) {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < size; ++i) s += data[i];
  return s;
}
inline std::uint64_t sum_of_block(std::uint64_t seed, std::uint64_t count) {
  std::uint64_t s = 0;
  for (std::uint64_t i = 0; i < count; ++i) s += word(seed, i);
  return s;
}

}  // namespace stress
