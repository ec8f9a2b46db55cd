// The checksum of checkpoint records (checkpoint_checksum in checkpoint_file.h), also in pieces:
// a record read in blocks is checked without holding it whole.
//
// Four lanes take the 8-byte little-endian words in turn (word i goes to lane i % 4); a lane
// takes a word w as lane = rotl(lane + w * A, 31) * B with odd A and B. Every step is a
// bijection of the word and of the lane, and the final fold is a bijection of each lane with
// the others fixed, so:
//   - any change confined to one 8-byte word (a flipped bit, a damaged byte) always changes the
//     sum, however many bits of the word change;
//   - the length is folded in, so a truncated or extended record (also by zero bytes) differs;
//   - changes to several words (swapped or reordered words, a block written at the wrong
//     place) are missed only by chance, about one in 2^64 for unrelated damage.
// It guards against damage, not against a forger. Around 10 GB/s on one core.
#pragma once

#include <cstddef>
#include <cstdint>

namespace manta::spill::detail {

/// The checksum of bytes given in pieces of any sizes: the result depends only on the
/// concatenation.
class CheckpointHasher {
 public:
  CheckpointHasher();
  void update(const std::byte* data, std::size_t size);
  /// The checksum of everything given so far (the hasher may take more afterwards).
  [[nodiscard]] std::uint64_t finish() const;

 private:
  static constexpr std::size_t kStripe = 32;  // one word per lane
  std::uint64_t lanes_[4];
  std::uint64_t length_ = 0;
  unsigned char pending_[kStripe];  // the start of an incomplete stripe
  std::size_t pending_size_ = 0;
};

}  // namespace manta::spill::detail
