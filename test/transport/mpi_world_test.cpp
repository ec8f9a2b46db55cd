// transport/mpi_world: start_mpi's world and the init-time collectives, on 1, 2 and 4 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "harness.h"

namespace manta::transport::testing {
namespace {

using MpiWorldTest = TransportTest;

TEST_F(MpiWorldTest, StartMpiDuplicatesTheWorld) {
  const MpiWorld& w = world();
  int world_rank = -1, world_size = -1, result = MPI_UNEQUAL;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_compare(w.comm, MPI_COMM_WORLD, &result);
  EXPECT_EQ(result, MPI_CONGRUENT) << "Manta's communicator is a duplicate of the world";
  EXPECT_EQ(w.rank, world_rank);
  EXPECT_EQ(w.size, world_size);
  EXPECT_TRUE(w.initialized_mpi);
  EXPECT_GE(w.local_rank, 0);
  EXPECT_LT(w.local_rank, w.local_size);
  EXPECT_LE(w.local_size, w.size);
  EXPECT_FALSE(w.hostname.empty());
  int provided = 0;
  MPI_Query_thread(&provided);
  EXPECT_GE(provided, MPI_THREAD_SERIALIZED);
}

/// `n` bytes that depend on the rank that owns them.
std::vector<std::byte> bytes_of(int rank, std::size_t n) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((rank * 37 + i * 11) & 0xff);
  return b;
}

void expect_gathered(const std::vector<Buffer>& got, int size,
                     const std::function<std::size_t(int)>& size_of) {
  ASSERT_EQ(got.size(), static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    const auto want = bytes_of(r, size_of(r));
    const Buffer& b = got[static_cast<std::size_t>(r)];
    ASSERT_EQ(b.size(), want.size()) << "from rank " << r;
    const bool same = want.empty() || std::memcmp(b.data(), want.data(), want.size()) == 0;
    EXPECT_TRUE(same) << "the bytes from rank " << r << " differ";
  }
}

TEST_F(MpiWorldTest, AllgatherBytesWithDifferentSizesPerRank) {
  // Rank 0 gives nothing; the others give sizes that differ and are not aligned.
  const auto varied = [](int r) -> std::size_t {
    return r == 0 ? 0 : static_cast<std::size_t>(r) * 1000 + 3;
  };
  auto mine = bytes_of(rank_, varied(rank_));
  expect_gathered(allgather_bytes(comm_, mine), size_, varied);

  // Only the last rank gives anything (on one rank: a single non-empty contribution).
  const int last = size_ - 1;
  const auto only_last = [last](int r) -> std::size_t { return r == last ? 70001 : 0; };
  mine = bytes_of(rank_, only_last(rank_));
  expect_gathered(allgather_bytes(comm_, mine), size_, only_last);

  // Nobody gives anything.
  const auto none = [](int) -> std::size_t { return 0; };
  expect_gathered(allgather_bytes(comm_, {}), size_, none);

  // Large and equal.
  const auto large = [](int) -> std::size_t { return std::size_t{1} << 20; };
  mine = bytes_of(rank_, large(rank_));
  expect_gathered(allgather_bytes(comm_, mine), size_, large);
}

TEST_F(MpiWorldTest, AllTrueIsALogicalAndOverRanks) {
  EXPECT_TRUE(all_true(comm_, true));
  EXPECT_FALSE(all_true(comm_, false));
  EXPECT_FALSE(all_true(comm_, rank_ != size_ - 1)) << "false on the last rank only";
  EXPECT_FALSE(all_true(comm_, rank_ != 0)) << "false on rank 0 only";
  EXPECT_EQ(all_true(comm_, rank_ % 2 == 0), size_ == 1) << "false on odd ranks";
  EXPECT_TRUE(all_true(comm_, true)) << "no state left from the previous calls";
}

}  // namespace
}  // namespace manta::transport::testing
