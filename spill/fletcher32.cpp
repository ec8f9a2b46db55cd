#include "spill/fletcher32.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace manta::spill::detail {
namespace {

constexpr std::uint64_t kModulus = 65535;
// Words are summed in 32-bit lanes, folded into the true sums every kSteps steps of one word
// per lane: a lane's running total of running sums stays below 2^32 while
// steps * (steps + 1) / 2 * 65535 < 2^32, i.e. for steps <= 361.
constexpr std::size_t kSteps = 256;
constexpr std::size_t kLanes = 16;

// sum1 gains each word, sum2 gains sum1 after each word. A block of `count` words adds its
// plain sum to sum1, and to sum2 the sum of word i weighted (count - i) plus count * sum1.
struct Sums {
  std::uint64_t sum1 = 0;
  std::uint64_t sum2 = 0;
  bool nonzero = false;

  void add_block(std::uint64_t count, std::uint64_t plain, std::uint64_t weighted) {
    sum2 = (sum2 + count * sum1 + weighted) % kModulus;
    sum1 = (sum1 + plain) % kModulus;
    nonzero = nonzero || plain != 0;
  }

  // The last words one by one, a trailing odd byte as the high half of a word, and the fold.
  std::uint32_t finish(const unsigned char* p, std::size_t size_left) {
    for (; size_left >= 2; size_left -= 2, p += 2) add_word((std::uint32_t{p[0]} << 8) | p[1]);
    if (size_left == 1) add_word(std::uint32_t{p[0]} << 8);
    sum1 %= kModulus;
    sum2 %= kModulus;
    // HDF5 folds (x & 0xffff) + (x >> 16), which never turns a positive sum into 0.
    if (nonzero) {
      if (sum1 == 0) sum1 = kModulus;
      if (sum2 == 0) sum2 = kModulus;
    }
    return static_cast<std::uint32_t>((sum2 << 16) | sum1);
  }

  void add_word(std::uint32_t w) {
    sum1 += w;
    sum2 += sum1;
    nonzero = nonzero || w != 0;
  }
};

// Lane j holds words j, j + 16, j + 32, ... of the block: a[j] their sum, b[j] the sum of a[j]
// after each step, so word j of step k carries weight (steps - k) in b[j], and
// (steps - k) * kLanes - j in the block.
std::uint32_t sum_portable(const unsigned char* p, std::size_t size) {
  Sums s;
  std::size_t words = size / 2;
  while (words >= kLanes) {
    const std::size_t steps = std::min(words / kLanes, kSteps);
    std::uint32_t a[kLanes] = {};
    std::uint32_t b[kLanes] = {};
    for (std::size_t k = 0; k < steps; ++k) {
      for (std::size_t j = 0; j < kLanes; ++j) {
        a[j] += (std::uint32_t{p[2 * j]} << 8) | p[2 * j + 1];
        b[j] += a[j];
      }
      p += 2 * kLanes;
    }
    std::uint64_t plain = 0;
    std::uint64_t weighted = 0;
    for (std::size_t j = 0; j < kLanes; ++j) {
      plain += a[j];
      weighted += std::uint64_t{kLanes} * b[j] - std::uint64_t{j} * a[j];
    }
    s.add_block(steps * kLanes, plain, weighted);
    words -= steps * kLanes;
  }
  return s.finish(p, size - (size / 2 - words) * 2);
}

#if defined(__x86_64__)
// The same lanes, 16 words per 32-byte load: a byte shuffle makes the big-endian words native,
// unpacking widens them to 32 bits. Unpacking works within 128-bit halves, so the low vector
// holds words 0-3 and 8-11, the high one words 4-7 and 12-15.
__attribute__((target("avx2"))) std::uint32_t sum_avx2(const unsigned char* p, std::size_t size) {
  static constexpr std::uint32_t kLowWords[8] = {0, 1, 2, 3, 8, 9, 10, 11};
  static constexpr std::uint32_t kHighWords[8] = {4, 5, 6, 7, 12, 13, 14, 15};
  const __m256i swap = _mm256_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0,
                                        3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  const __m256i zero = _mm256_setzero_si256();
  Sums s;
  std::size_t words = size / 2;
  while (words >= kLanes) {
    const std::size_t steps = std::min(words / kLanes, kSteps);
    __m256i a_low = zero;
    __m256i a_high = zero;
    __m256i b_low = zero;
    __m256i b_high = zero;
    for (std::size_t k = 0; k < steps; ++k) {
      const __m256i x =
          _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), swap);
      a_low = _mm256_add_epi32(a_low, _mm256_unpacklo_epi16(x, zero));
      a_high = _mm256_add_epi32(a_high, _mm256_unpackhi_epi16(x, zero));
      b_low = _mm256_add_epi32(b_low, a_low);
      b_high = _mm256_add_epi32(b_high, a_high);
      p += 2 * kLanes;
    }
    alignas(32) std::uint32_t al[8];
    alignas(32) std::uint32_t ah[8];
    alignas(32) std::uint32_t bl[8];
    alignas(32) std::uint32_t bh[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(al), a_low);
    _mm256_store_si256(reinterpret_cast<__m256i*>(ah), a_high);
    _mm256_store_si256(reinterpret_cast<__m256i*>(bl), b_low);
    _mm256_store_si256(reinterpret_cast<__m256i*>(bh), b_high);
    std::uint64_t plain = 0;
    std::uint64_t weighted = 0;
    for (int i = 0; i < 8; ++i) {
      plain += std::uint64_t{al[i]} + ah[i];
      weighted += std::uint64_t{kLanes} * bl[i] - std::uint64_t{kLowWords[i]} * al[i];
      weighted += std::uint64_t{kLanes} * bh[i] - std::uint64_t{kHighWords[i]} * ah[i];
    }
    s.add_block(steps * kLanes, plain, weighted);
    words -= steps * kLanes;
  }
  return s.finish(p, size - (size / 2 - words) * 2);
}
#endif

}  // namespace

std::uint32_t fletcher32_portable(const std::byte* data, std::size_t size) {
  return sum_portable(reinterpret_cast<const unsigned char*>(data), size);
}

std::uint32_t fletcher32(const std::byte* data, std::size_t size) {
#if defined(__x86_64__)
  // Restoring a spilled object checks every byte: with AVX2 that runs several times faster than
  // the portable lanes once the chunk is in cache.
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  if (avx2) return sum_avx2(reinterpret_cast<const unsigned char*>(data), size);
#endif
  return fletcher32_portable(data, size);
}

}  // namespace manta::spill::detail
