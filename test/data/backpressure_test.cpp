// Backpressure: a pipeline that makes 8 times the stores' total capacity, with a slow last
// operator, completes without holding more than the store budget and without spilling (a
// pipeline with no budget would pile the fast operator's output up in the stores and spill
// most of it). Run with small stores: --manta-object-store-memory=16M.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include <manta/data.h>
#include <manta/manta.h>

namespace data = manta::data;

namespace {

/// 8 KiB rows: 128 make a 1 MiB block.
struct Chunk {
  std::array<double, 1024> values{};
};

Chunk make_chunk(std::int64_t i) {
  Chunk c;
  c.values.fill(static_cast<double>(i));
  return c;
}

/// The slow consumer: an actor that takes 5 ms a block (think of a model on a device).
struct SlowSum {
  std::vector<double> operator()(std::span<const Chunk> batch) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<double> out;
    for (const Chunk& c : batch)
      out.push_back(std::accumulate(c.values.begin(), c.values.end(), 0.0));
    return out;
  }
};

}  // namespace

MANTA_REMOTE(make_chunk);

TEST(Backpressure, SlowLastOperatorHoldsTheFastOnesBack) {
  const manta::RankMemory before = manta::memory_summary(0).total();
  ASSERT_GT(before.capacity_bytes, 0u) << "run with --manta-object-store-memory";
  data::DataContext& context = data::DataContext::current();
  context.target_block_bytes = 1 << 20;
  const std::uint64_t data_bytes = 8 * before.capacity_bytes;
  const std::int64_t rows = static_cast<std::int64_t>(data_bytes / sizeof(Chunk));
  const std::uint64_t blocks = data_bytes >> 20;

  data::MapBatchesOptions slow;
  slow.compute = data::ActorPool{1, 1};
  auto ds = data::range(rows, blocks).map(make_chunk).map_batches(SlowSum{}, slow);
  double total = 0;
  std::uint64_t n = 0;
  for (const auto& batch : ds.iter_batches(4096)) {
    for (double v : batch) total += v;
    n += batch.size();
  }
  EXPECT_EQ(n, static_cast<std::uint64_t>(rows));
  // sum over i of 1024 * i
  const double want = 1024.0 * static_cast<double>(rows) * static_cast<double>(rows - 1) / 2.0;
  EXPECT_DOUBLE_EQ(total, want);

  const data::DatasetStats stats = ds.stats();
  std::printf("%s", stats.to_string().c_str());
  ASSERT_TRUE(stats.ran);
  EXPECT_EQ(stats.budget_bytes, before.capacity_bytes / 2);
  EXPECT_LE(stats.peak_pipeline_bytes, stats.budget_bytes);
  EXPECT_LE(stats.peak_store_bytes, stats.budget_bytes + before.bytes) << stats.to_string();
  EXPECT_LT(static_cast<double>(stats.spilled_bytes), 0.1 * static_cast<double>(data_bytes));
  ASSERT_EQ(stats.operators.size(), 2u);
  EXPECT_EQ(stats.operators[0].bytes, data_bytes);
}
