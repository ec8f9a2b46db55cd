// The checksum of checkpoint records: any change to one 8-byte word changes it (every bit of
// every position tried), swapped words and other lengths change it, and it is the same however
// the bytes are split into pieces.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "spill/checkpoint_checksum.h"
#include "spill/checkpoint_file.h"
#include "spill_test_support.h"

namespace {

using manta::spill::checkpoint_checksum;
using manta::spill::detail::CheckpointHasher;
using spill_test::pattern;

std::uint64_t sum(const std::vector<std::byte>& b) { return checkpoint_checksum(b); }

TEST(CheckpointChecksum, EmptyInputHasAFixedSumUnlikeZeroBytes) {
  const std::vector<std::byte> empty;
  EXPECT_EQ(sum(empty), sum(empty));
  EXPECT_EQ(checkpoint_checksum({}), sum(empty));
  EXPECT_NE(sum(empty), sum(std::vector<std::byte>(1)));
  EXPECT_NE(sum(empty), sum(std::vector<std::byte>(8)));
  EXPECT_NE(sum(empty), sum(std::vector<std::byte>(32)));
}

TEST(CheckpointChecksum, EveryFlippedBitChangesIt) {
  // Sizes around the word (8) and stripe (32) boundaries and a longer one.
  for (const std::size_t size : {1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 257}) {
    std::vector<std::byte> b = pattern(size, size);
    const std::uint64_t original = sum(b);
    for (std::size_t bit = 0; bit < size * 8; ++bit) {
      b[bit / 8] ^= std::byte{1} << (bit % 8);
      EXPECT_NE(sum(b), original) << "size " << size << ", bit " << bit;
      b[bit / 8] ^= std::byte{1} << (bit % 8);
    }
    EXPECT_EQ(sum(b), original);
  }
  // Far into a large buffer, and all bits of one word at once.
  std::vector<std::byte> big = pattern(5, (std::size_t{1} << 20) + 13);
  const std::uint64_t original = sum(big);
  for (const std::size_t at : {std::size_t{0}, std::size_t{4096}, big.size() / 2, big.size() - 1}) {
    big[at] ^= std::byte{0x80};
    EXPECT_NE(sum(big), original) << at;
    big[at] ^= std::byte{0x80};
  }
  for (std::size_t i = 0; i < 8; ++i) big[65536 + i] = ~big[65536 + i];
  EXPECT_NE(sum(big), original);
}

TEST(CheckpointChecksum, SwappedWordsChangeIt) {
  std::vector<std::byte> b = pattern(11, 40 * 8);
  const std::uint64_t original = sum(b);
  for (std::size_t i = 0; i < 40; ++i) {
    for (std::size_t j = i + 1; j < 40; ++j) {
      std::swap_ranges(b.begin() + i * 8, b.begin() + i * 8 + 8, b.begin() + j * 8);
      EXPECT_NE(sum(b), original) << "words " << i << " and " << j;
      std::swap_ranges(b.begin() + i * 8, b.begin() + i * 8 + 8, b.begin() + j * 8);
    }
  }
  EXPECT_EQ(sum(b), original);
}

TEST(CheckpointChecksum, EveryLengthGivesAnotherSum) {
  // Zero bytes of every length from 0 to 300, and a pattern cut at every length: all distinct.
  std::set<std::uint64_t> seen;
  const std::vector<std::byte> p = pattern(3, 300);
  for (std::size_t n = 0; n <= 300; ++n) {
    EXPECT_TRUE(seen.insert(sum(std::vector<std::byte>(n))).second) << "zeros, length " << n;
    EXPECT_TRUE(seen.insert(sum(std::vector<std::byte>(p.begin(), p.begin() + n))).second || n == 0)
        << "pattern, length " << n;
  }
}

TEST(CheckpointChecksum, PiecesGiveTheSameSumAsTheWhole) {
  const std::vector<std::byte> b = pattern(21, 100000);
  const std::uint64_t whole = sum(b);
  for (const std::size_t piece : {1, 3, 8, 31, 32, 33, 1000, 65536}) {
    CheckpointHasher h;
    for (std::size_t at = 0; at < b.size(); at += piece) {
      h.update(b.data() + at, std::min(piece, b.size() - at));
    }
    EXPECT_EQ(h.finish(), whole) << "pieces of " << piece;
  }
  // Uneven pieces, and finish() asked for midway does not disturb the rest.
  CheckpointHasher h;
  std::size_t at = 0;
  for (std::size_t k = 1; at < b.size(); ++k) {
    const std::size_t n = std::min((k * 7919) % 5000, b.size() - at);
    h.update(b.data() + at, n);
    at += n;
    if (k == 10) {
      EXPECT_EQ(h.finish(), checkpoint_checksum(std::span(b).first(at)));
    }
  }
  EXPECT_EQ(h.finish(), whole);
}

}  // namespace
