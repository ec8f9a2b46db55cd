#include "spill/fletcher32.h"

#include <algorithm>

namespace manta::spill::detail {
namespace {

constexpr std::uint64_t kModulus = 65535;

std::uint32_t word_at(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 8) | std::to_integer<std::uint32_t>(p[1]);
}

}  // namespace

std::uint32_t fletcher32(const std::byte* data, std::size_t size) {
  // Restoring a spilled object checks every byte, so this runs at memory speed: words are summed
  // in kLanes independent 32-bit lanes that the compiler vectorises, and every kSteps steps the
  // lanes are folded into the true sums. sum1 gains the word, sum2 gains the running sum1;
  // within a block, lane j's word at step k enters sum2 with weight (steps - k) * kLanes - j.
  constexpr std::size_t kLanes = 16;
  // b[j] stays below 2^32: steps * (steps + 1) / 2 * 65535 < 2^32 for steps <= 361.
  constexpr std::size_t kSteps = 256;
  std::uint64_t sum1 = 0;
  std::uint64_t sum2 = 0;
  bool nonzero = false;
  const std::byte* p = data;
  std::size_t words = size / 2;
  while (words >= kLanes) {
    const std::size_t steps = std::min(words / kLanes, kSteps);
    std::uint32_t a[kLanes] = {};
    std::uint32_t b[kLanes] = {};
    for (std::size_t k = 0; k < steps; ++k) {
      for (std::size_t j = 0; j < kLanes; ++j) {
        a[j] += word_at(p + 2 * j);
        b[j] += a[j];
      }
      p += 2 * kLanes;
    }
    std::uint64_t block1 = 0;
    std::uint64_t block2 = 0;
    for (std::size_t j = 0; j < kLanes; ++j) {
      block1 += a[j];
      block2 += std::uint64_t{kLanes} * b[j] - std::uint64_t{j} * a[j];
    }
    const std::uint64_t count = steps * kLanes;
    sum2 = (sum2 + count * sum1 + block2) % kModulus;
    sum1 = (sum1 + block1) % kModulus;
    nonzero = nonzero || block1 != 0;
    words -= count;
  }
  for (; words > 0; --words, p += 2) {
    const std::uint32_t w = word_at(p);
    sum1 += w;
    sum2 += sum1;
    nonzero = nonzero || w != 0;
  }
  if (size % 2 != 0) {
    const std::uint32_t w = std::to_integer<std::uint32_t>(p[0]) << 8;
    sum1 += w;
    sum2 += sum1;
    nonzero = nonzero || w != 0;
  }
  sum1 %= kModulus;
  sum2 %= kModulus;
  // HDF5 folds (x & 0xffff) + (x >> 16), which never turns a positive sum into 0.
  if (nonzero) {
    if (sum1 == 0) sum1 = kModulus;
    if (sum2 == 0) sum2 = kModulus;
  }
  return static_cast<std::uint32_t>((sum2 << 16) | sum1);
}

}  // namespace manta::spill::detail
