#include "spill/checkpoint_checksum.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "spill/checkpoint_file.h"

namespace manta::spill::detail {
namespace {

// Odd, so multiplying by them is a bijection modulo 2^64.
constexpr std::uint64_t kWordFactor = 0xea06e9ab85a0bcc1ULL;
constexpr std::uint64_t kLaneFactor = 0xcdad2986ce834961ULL;
constexpr std::uint64_t kFoldFactor = 0xdd998017f5e2fc57ULL;
constexpr std::uint64_t kStart[4] = {0xacb85f3f4a24e39bULL, 0xb48438b5c41f9dfdULL,
                                     0x8a4996efb447c0cfULL, 0xc73d212ba950666dULL};

inline std::uint64_t load_word(const unsigned char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

inline std::uint64_t step(std::uint64_t lane, std::uint64_t word) {
  return std::rotl(lane + word * kWordFactor, 31) * kLaneFactor;
}

// Whole stripes: the four lanes are independent chains, so the processor runs them side by side.
inline void stripes(std::uint64_t (&lanes)[4], const unsigned char* p, std::size_t count) {
  std::uint64_t a = lanes[0], b = lanes[1], c = lanes[2], d = lanes[3];
  for (std::size_t i = 0; i < count; ++i, p += 32) {
    a = step(a, load_word(p));
    b = step(b, load_word(p + 8));
    c = step(c, load_word(p + 16));
    d = step(d, load_word(p + 24));
  }
  lanes[0] = a;
  lanes[1] = b;
  lanes[2] = c;
  lanes[3] = d;
}

}  // namespace

CheckpointHasher::CheckpointHasher() { std::memcpy(lanes_, kStart, sizeof lanes_); }

void CheckpointHasher::update(const std::byte* data, std::size_t size) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  length_ += size;
  if (pending_size_ > 0) {
    const std::size_t take = std::min(size, kStripe - pending_size_);
    std::memcpy(pending_ + pending_size_, p, take);
    pending_size_ += take;
    p += take;
    size -= take;
    if (pending_size_ < kStripe) return;
    stripes(lanes_, pending_, 1);
    pending_size_ = 0;
  }
  stripes(lanes_, p, size / kStripe);
  pending_size_ = size % kStripe;
  if (pending_size_ > 0) std::memcpy(pending_, p + size - pending_size_, pending_size_);
}

std::uint64_t CheckpointHasher::finish() const {
  std::uint64_t lanes[4];
  std::memcpy(lanes, lanes_, sizeof lanes);
  // The last words go to the next lanes in turn; a last partial word is padded with zeros, which
  // the length tells apart from real zero bytes.
  std::size_t at = 0;
  int lane = 0;
  for (; at + 8 <= pending_size_; at += 8, ++lane)
    lanes[lane] = step(lanes[lane], load_word(pending_ + at));
  if (at < pending_size_) {
    unsigned char last[8] = {};
    std::memcpy(last, pending_ + at, pending_size_ - at);
    lanes[lane] = step(lanes[lane], load_word(last));
  }
  // Each fold is a bijection of the lane folded in, given the value so far.
  std::uint64_t h = length_ * kFoldFactor;
  for (const std::uint64_t l : lanes) {
    h ^= std::rotl(l * kLaneFactor, 29);
    h = std::rotl(h, 27) * kFoldFactor + kWordFactor;
  }
  // Spread every bit over the whole result (also a bijection).
  h ^= h >> 32;
  h *= kWordFactor;
  h ^= h >> 29;
  h *= kLaneFactor;
  h ^= h >> 32;
  return h;
}

}  // namespace manta::spill::detail

namespace manta::spill {

std::uint64_t checkpoint_checksum(std::span<const std::byte> bytes) {
  detail::CheckpointHasher h;
  h.update(bytes.data(), bytes.size());
  return h.finish();
}

}  // namespace manta::spill
