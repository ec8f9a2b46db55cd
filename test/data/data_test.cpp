// Every dataset operation against the same computation done serially on the driver, for plain
// rows and for rows with strings, on 1, 2 and 4 ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <manta/data.h>
#include <manta/job.h>
#include <manta/manta.h>

namespace data = manta::data;

namespace {

std::int64_t square(std::int64_t x) { return x * x; }
bool is_even(std::int64_t x) { return x % 2 == 0; }
std::int64_t fails_at_500(std::int64_t x) {
  if (x == 500) throw std::invalid_argument("row 500 is bad");
  return x;
}

/// A transform with state: it travels in its Boost encoding.
struct AddK {
  std::int64_t k = 0;
  std::int64_t operator()(std::int64_t x) const { return x + k; }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& k;
  }
};

/// A row with a string: stored through Boost, not as memory.
struct Named {
  std::string name;
  std::int64_t value = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& name& value;
  }
  friend bool operator==(const Named&, const Named&) = default;
};

Named upper(const Named& n) {
  Named out = n;
  for (char& c : out.name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}
std::string name_of(const Named& n) { return n.name; }
std::int64_t value_of(const Named& n) { return n.value; }

/// A plain struct row.
struct Particle {
  double x = 0;
  std::int32_t id = 0;
  friend bool operator==(const Particle&, const Particle&) = default;
};

/// Sum of squares: a custom aggregation.
struct SumSquares {
  using Acc = double;
  using Result = double;
  Acc init() const { return 0; }
  void add(Acc& a, std::int64_t x) const { a += static_cast<double>(x) * static_cast<double>(x); }
  void merge(Acc& a, const Acc& b) const { a += b; }
  Result finish(const Acc& a) const { return a; }
};

/// The batch-inference shape: a "model" built once per actor.
struct Model {
  double scale = 0;
  int setups = 0;
  void setup() {
    scale = 3.0;  // stands for loading weights
    ++setups;
  }
  std::vector<double> operator()(std::span<const std::int64_t> batch) const {
    if (setups != 1) throw std::logic_error("setup ran " + std::to_string(setups) + " times");
    std::vector<double> out;
    for (std::int64_t x : batch) out.push_back(scale * static_cast<double>(x));
    return out;
  }
  // Nothing to send: the actor builds its state in setup().
  template <class A>
  void serialize(A&, unsigned) {}
};

/// An actor-pool function that reports the GPUs its actor was granted.
struct GpuModel {
  std::vector<std::vector<int>> operator()(std::span<const std::int64_t> batch) const {
    return std::vector<std::vector<int>>(batch.size(), manta::gpu_ids());
  }
};

/// A consumer of streaming_split on another rank.
struct Trainer {
  static Trainer* create() { return new Trainer(); }
  std::vector<std::int64_t> consume(data::DataIterator<std::int64_t> it) {
    std::vector<std::int64_t> seen;
    auto batches = it.iter_batches(10);
    while (auto b = batches.next()) seen.insert(seen.end(), b->begin(), b->end());
    return seen;
  }
};

std::vector<Named> named_rows(int n) {
  const char* names[] = {"ada", "bob", "cy", "dee", "eve"};
  std::vector<Named> rows;
  for (int i = 0; i < n; ++i) rows.push_back(Named{names[i % 5], (i * 37) % 101});
  return rows;
}

}  // namespace

MANTA_REMOTE(square, is_even, fails_at_500, upper, name_of, value_of, Trainer::create,
             &Trainer::consume);

TEST(Dataset, MapAndFilterMatchSerial) {
  auto rows = data::range(1000, 7).map(square).filter([](std::int64_t x) { return x % 3 == 0; });
  std::vector<std::int64_t> want;
  for (std::int64_t i = 0; i < 1000; ++i) {
    if ((i * i) % 3 == 0) want.push_back(i * i);
  }
  EXPECT_EQ(rows.take_all(), want);
  EXPECT_EQ(rows.count(), want.size());
}

TEST(Dataset, FunctionObjectWithState) {
  EXPECT_EQ(data::range(5, 2).map(AddK{100}).take_all(),
            (std::vector<std::int64_t>{100, 101, 102, 103, 104}));
}

TEST(Dataset, ConsecutiveTransformsFuseIntoTheRead) {
  auto ds = data::range(100, 4).map(square).filter(is_even).map(AddK{1});
  const std::string plan = ds.explain();
  EXPECT_NE(plan.find("read Read[range 100]->Map(square)->Filter(is_even)->Map("),
            std::string::npos)
      << plan;
  EXPECT_EQ(ds.take_all().size(), 50u);
  const auto stats = ds.stats();
  ASSERT_EQ(stats.operators.size(), 1u) << stats.to_string();
  EXPECT_EQ(stats.operators[0].tasks, 4u);
  EXPECT_EQ(stats.operators[0].rows, 50u);
}

TEST(Dataset, FlatMapAndMapBatches) {
  auto ds = data::range(50, 3)
                .flat_map([](std::int64_t x) { return std::vector<std::int64_t>(x % 3, x); })
                .map_batches(
                    [](std::span<const std::int64_t> b) {
                      return std::vector<std::int64_t>{
                          std::accumulate(b.begin(), b.end(), std::int64_t{0})};
                    },
                    {.batch_size = 4});
  // Serially: the same blocks (range splits 50 rows into 3 blocks), the same batches.
  std::vector<std::int64_t> want;
  for (int b = 0; b < 3; ++b) {
    std::vector<std::int64_t> block;
    for (std::int64_t x = 50 * b / 3; x < 50 * (b + 1) / 3; ++x) {
      for (int k = 0; k < x % 3; ++k) block.push_back(x);
    }
    for (std::size_t i = 0; i < block.size(); i += 4) {
      want.push_back(std::accumulate(
          block.begin() + static_cast<std::ptrdiff_t>(i),
          block.begin() + static_cast<std::ptrdiff_t>(std::min(i + 4, block.size())),
          std::int64_t{0}));
    }
  }
  EXPECT_EQ(ds.take_all(), want);
}

TEST(Dataset, RowsWithStrings) {
  const auto rows = named_rows(200);
  auto ds =
      data::from_vector(rows, 6).map(upper).filter([](const Named& n) { return n.value > 20; });
  std::vector<Named> want;
  for (const Named& n : rows) {
    if (n.value > 20) want.push_back(upper(n));
  }
  EXPECT_EQ(ds.take_all(), want);

  auto sorted = ds.sort(value_of).take_all();
  std::vector<std::int64_t> got_values, want_values;
  for (const Named& n : sorted) got_values.push_back(n.value);
  for (const Named& n : want) want_values.push_back(n.value);
  std::sort(want_values.begin(), want_values.end());
  EXPECT_EQ(got_values, want_values);

  auto counts = ds.groupby(name_of).count().take_all();
  std::map<std::string, std::uint64_t> want_counts;
  for (const Named& n : want) want_counts[n.name]++;
  ASSERT_EQ(counts.size(), want_counts.size());
  for (const auto& [name, c] : counts) EXPECT_EQ(c, want_counts[name]) << name;
}

TEST(Dataset, PlainStructRows) {
  std::vector<Particle> ps;
  for (int i = 0; i < 300; ++i) ps.push_back(Particle{std::sin(i) * 10, i});
  auto sorted =
      data::from_vector(ps, 5).sort([](const Particle& p) { return p.x; }, true).take_all();
  auto want = ps;
  std::stable_sort(want.begin(), want.end(),
                   [](const Particle& a, const Particle& b) { return a.x > b.x; });
  EXPECT_EQ(sorted, want);
}

TEST(Dataset, EmptyDatasetsAndEmptyBlocks) {
  EXPECT_TRUE(data::range(0).map(square).take_all().empty());
  EXPECT_EQ(data::range(0).count(), 0u);
  auto empty = data::from_vector(std::vector<std::int64_t>{});
  EXPECT_TRUE(empty.sort(square).take_all().empty());
  EXPECT_TRUE(empty.random_shuffle(3).take_all().empty());
  EXPECT_TRUE(empty.repartition(3).take_all().empty());
  EXPECT_TRUE(empty.groupby(square).count().take_all().empty());
  EXPECT_TRUE(empty.limit(5).take_all().empty());
  // Blocks that a filter empties: the rest still come out in order.
  auto some = data::range(100, 10).filter([](std::int64_t x) { return x < 15 || x >= 90; });
  std::vector<std::int64_t> want;
  for (std::int64_t i = 0; i < 100; ++i) {
    if (i < 15 || i >= 90) want.push_back(i);
  }
  EXPECT_EQ(some.take_all(), want);
  EXPECT_EQ(some.count(), want.size());
  EXPECT_EQ(some.repartition(4).take_all(), want);
  EXPECT_EQ(some.sort([](std::int64_t x) { return -x; }).take_all(),
            std::vector<std::int64_t>(want.rbegin(), want.rend()));
}

TEST(Dataset, LimitIsPushedIntoTheRead) {
  auto ds = data::range(100000, 20).map(square).limit(25);
  EXPECT_NE(ds.explain().find("[limit 25 pushed down]"), std::string::npos) << ds.explain();
  std::vector<std::int64_t> want;
  for (std::int64_t i = 0; i < 25; ++i) want.push_back(i * i);
  EXPECT_EQ(ds.take_all(), want);
  // Only the first part was read: 25 rows, not 100000.
  const auto stats = ds.stats();
  ASSERT_FALSE(stats.operators.empty());
  EXPECT_LE(stats.operators[0].rows, 25u) << stats.to_string();
  EXPECT_EQ(data::range(100, 3).take(5), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(data::range(100, 3).limit(0).take_all().empty());
  // A limit after a filter cannot be pushed: the filter decides which rows count.
  auto filtered = data::range(1000, 5).filter(is_even).limit(7);
  EXPECT_EQ(filtered.explain().find("pushed down"), std::string::npos);
  EXPECT_EQ(filtered.take_all(), (std::vector<std::int64_t>{0, 2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(data::range(10, 2).limit(100).count(), 10u);
}

TEST(Dataset, UnionKeepsOrder) {
  auto a = data::range(10, 2);
  auto b = data::range(5, 2).map(AddK{100});
  std::vector<std::int64_t> want;
  for (int i = 0; i < 10; ++i) want.push_back(i);
  for (int i = 0; i < 5; ++i) want.push_back(100 + i);
  for (int i = 0; i < 10; ++i) want.push_back(i);
  EXPECT_EQ(a.union_(b, a).take_all(), want);
  EXPECT_EQ(a.union_(b, a).count(), 25u);
}

TEST(Dataset, RepartitionMakesEqualBlocksInOrder) {
  auto ds = data::range(100, 3).repartition(7).materialize();
  ASSERT_EQ(ds.blocks().size(), 7u);
  for (const auto& b : ds.blocks()) EXPECT_TRUE(b.rows == 14 || b.rows == 15) << b.rows;
  std::vector<std::int64_t> want(100);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(ds.take_all(), want);
}

TEST(Dataset, RandomShuffleIsAPermutationFixedBySeed) {
  auto ds = data::range(1000, 8);
  auto a = ds.random_shuffle(7).take_all();
  auto b = ds.random_shuffle(7).take_all();
  auto c = ds.random_shuffle(8).take_all();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<std::int64_t> want(1000);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_NE(a, want);
  std::sort(a.begin(), a.end());
  EXPECT_EQ(a, want);
}

TEST(Dataset, SortMatchesStdSort) {
  std::mt19937_64 rng(42);
  std::vector<std::int64_t> values(5000);
  for (auto& v : values) v = static_cast<std::int64_t>(rng() % 300);  // many equal keys
  auto ds = data::from_vector(values, 9);
  auto want = values;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ds.sort([](std::int64_t x) { return x; }).take_all(), want);
  std::reverse(want.begin(), want.end());
  EXPECT_EQ(ds.sort([](std::int64_t x) { return x; }, true).take_all(), want);
  // Sorted output keeps the input's block count.
  EXPECT_EQ(ds.sort(square).materialize().blocks().size() > 1, true);
}

TEST(Dataset, GroupByAggregationsMatchSerial) {
  std::mt19937_64 rng(7);
  std::vector<std::int64_t> values(4000);
  for (auto& v : values) v = static_cast<std::int64_t>(rng() % 1000) - 500;
  auto key = [](std::int64_t x) { return ((x % 13) + 13) % 13; };
  auto ds = data::from_vector(values, 7);
  std::map<std::int64_t, std::vector<std::int64_t>> groups;
  for (auto v : values) groups[key(v)].push_back(v);

  auto counts = ds.groupby(key).count().take_all();
  auto sums = ds.groupby(key).sum([](std::int64_t x) { return x; }).take_all();
  auto means = ds.groupby(key).mean([](std::int64_t x) { return x; }).take_all();
  auto mins = ds.groupby(key).min([](std::int64_t x) { return x; }).take_all();
  auto maxs = ds.groupby(key).max([](std::int64_t x) { return x; }).take_all();
  auto squares = ds.groupby(key).aggregate(SumSquares{}).take_all();
  auto all =
      ds.groupby(key).aggregate(data::Count{}, data::Sum{square}, data::Mean{square}).take_all();
  // Hash partitions: each output block is sorted by key, the whole is not.
  auto by_key = [](auto& rows) {
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  };
  by_key(counts);
  by_key(sums);
  by_key(means);
  by_key(mins);
  by_key(maxs);
  by_key(squares);
  by_key(all);
  ASSERT_EQ(counts.size(), groups.size());
  ASSERT_EQ(all.size(), groups.size());
  std::size_t i = 0;
  for (const auto& [k, g] : groups) {
    const std::int64_t sum = std::accumulate(g.begin(), g.end(), std::int64_t{0});
    double sq = 0;
    std::int64_t sum_sq = 0;
    for (auto v : g) {
      sq += static_cast<double>(v) * static_cast<double>(v);
      sum_sq += v * v;
    }
    EXPECT_EQ(counts[i], std::make_pair(k, static_cast<std::uint64_t>(g.size())));
    EXPECT_EQ(sums[i], std::make_pair(k, sum));
    EXPECT_EQ(means[i].first, k);
    EXPECT_NEAR(means[i].second, static_cast<double>(sum) / static_cast<double>(g.size()), 1e-9);
    EXPECT_EQ(mins[i].second, *std::min_element(g.begin(), g.end()));
    EXPECT_EQ(maxs[i].second, *std::max_element(g.begin(), g.end()));
    EXPECT_DOUBLE_EQ(squares[i].second, sq);
    EXPECT_EQ(std::get<0>(all[i].second), g.size());
    EXPECT_EQ(std::get<1>(all[i].second), sum_sq);
    EXPECT_NEAR(std::get<2>(all[i].second),
                static_cast<double>(sum_sq) / static_cast<double>(g.size()), 1e-6);
    ++i;
  }
}

TEST(Dataset, MapGroupsSeesWholeGroupsInOrder) {
  auto rows = named_rows(100);
  auto ds = data::from_vector(rows, 4).groupby(name_of).map_groups(
      [](const std::string& name, std::span<const Named> group) {
        std::vector<std::string> out;
        std::string values;
        for (const Named& n : group) values += std::to_string(n.value) + ",";
        out.push_back(name + ":" + values);
        return out;
      });
  std::map<std::string, std::string> want;
  for (const Named& n : rows) want[n.name] += std::to_string(n.value) + ",";
  std::vector<std::string> want_rows;
  for (const auto& [name, values] : want) want_rows.push_back(name + ":" + values);
  auto got = ds.take_all();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want_rows);
}

TEST(Dataset, TransformErrorNamesOperatorAndBlock) {
  auto ds = data::range(1000, 4).map(fails_at_500);
  try {
    ds.take_all();
    FAIL() << "expected a TaskError";
  } catch (const manta::TaskError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Map(fails_at_500) failed on block 2"), std::string::npos) << what;
    EXPECT_NE(what.find("row 500 is bad"), std::string::npos) << what;
    EXPECT_NE(what.find("std::invalid_argument"), std::string::npos) << what;
  }
  // The failure leaves nothing running: the next dataset works.
  EXPECT_EQ(data::range(10, 2).count(), 10u);
}

TEST(Dataset, IterBatchesStreamsFixedSizeBatches) {
  std::vector<std::size_t> sizes;
  std::vector<std::int64_t> seen;
  for (const auto& batch : data::range(1000, 6).map(square).iter_batches(64)) {
    sizes.push_back(batch.size());
    seen.insert(seen.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(sizes.size(), 16u);
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) EXPECT_EQ(sizes[i], 64u);
  EXPECT_EQ(sizes.back(), 1000u - 15 * 64);
  for (std::int64_t i = 0; i < 1000; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], i * i);
  EXPECT_THROW(data::range(10).iter_batches(0), data::DataError);
}

TEST(Dataset, MaterializeKeepsBlocksAndCountNeedsNoRows) {
  auto ds = data::range(300, 5).filter(is_even).materialize();
  EXPECT_EQ(ds.blocks().size(), 5u);
  EXPECT_EQ(ds.count(), 150u);  // from the blocks' metadata
  EXPECT_EQ(ds.map(square).take(2), (std::vector<std::int64_t>{0, 4}));
  EXPECT_NE(ds.explain().find("Materialized(5 blocks)"), std::string::npos);
}

TEST(Dataset, ActorPoolBuildsTheModelOncePerActor) {
  data::MapBatchesOptions options;
  options.batch_size = 16;
  options.compute = data::ActorPool{1, 2};
  auto ds = data::range(400, 8).map_batches(Model{}, options);
  EXPECT_NE(ds.explain().find("[actor pool 1..2]"), std::string::npos) << ds.explain();
  auto got = ds.take_all();
  ASSERT_EQ(got.size(), 400u);
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_DOUBLE_EQ(got[i], 3.0 * static_cast<double>(i));
  const auto stats = ds.stats();
  ASSERT_EQ(stats.operators.size(), 2u) << stats.to_string();
  EXPECT_GE(stats.operators[1].actors, 1u);
  EXPECT_LE(stats.operators[1].actors, 2u);
  data::MapBatchesOptions bad;
  bad.compute = data::ActorPool{3, 2};
  EXPECT_THROW(data::range(10).map_batches(Model{}, bad), data::DataError);
}

TEST(Dataset, StreamingSplitGivesDisjointStreams) {
  const int n = 2;
  auto splits = data::range(500, 10).map(square).streaming_split(n);
  std::vector<manta::ObjectRef<std::vector<std::int64_t>>> parts;
  std::vector<manta::ActorHandle<Trainer>> trainers;
  for (int i = 0; i < n; ++i) {
    trainers.push_back(manta::actor(Trainer::create).on_rank(i % manta::world_size()).remote());
    parts.push_back(
        trainers.back().task(&Trainer::consume).remote(splits[static_cast<std::size_t>(i)]));
  }
  std::vector<std::int64_t> all;
  for (auto& p : parts) {
    auto v = manta::get(p);
    all.insert(all.end(), v->begin(), v->end());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::int64_t> want;
  for (std::int64_t i = 0; i < 500; ++i) want.push_back(i * i);
  EXPECT_EQ(all, want);
  EXPECT_NE(splits[0].stats().find("Read[range 500]"), std::string::npos);
}

TEST(Dataset, BlocksRunOnEveryRank) {
  // Enough slow blocks that one rank's workers cannot take them all.
  auto ds = data::range(64, 32).map([](std::int64_t x) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return x;
  });
  EXPECT_EQ(ds.count(), 64u);  // known from the plan: nothing ran
  EXPECT_EQ(ds.take_all().size(), 64u);
  const auto stats = ds.stats();
  ASSERT_EQ(stats.operators.size(), 1u);
  EXPECT_EQ(stats.operators[0].ranks, static_cast<std::uint32_t>(manta::world_size()))
      << stats.to_string();
}

TEST(Dataset, ProgressShowsInTheJobStatusWhileItRuns) {
  auto shows = [] {
    for (const std::string& line : manta::progress_lines()) {
      if (line.find("dataset: Read[range 100]") != std::string::npos) return true;
    }
    return false;
  };
  auto batches = data::range(100, 4).iter_batches(10);
  ASSERT_TRUE(batches.next());
  EXPECT_TRUE(shows());
  while (batches.next()) {
  }
  EXPECT_FALSE(shows());
}

TEST(Dataset, EveryOperationOnRowsWithStrings) {
  const auto rows = named_rows(120);
  auto ds = data::from_vector(rows, 5);
  auto serial_upper = rows;
  for (auto& n : serial_upper) n = upper(n);
  EXPECT_EQ(ds.map(upper).take_all(), serial_upper);
  std::vector<Named> doubled;
  for (const Named& n : rows) {
    if (n.value % 2 == 0) {
      doubled.push_back(n);
      doubled.push_back(n);
    }
  }
  EXPECT_EQ(ds.flat_map([](const Named& n) {
                return n.value % 2 == 0 ? std::vector<Named>{n, n} : std::vector<Named>{};
              }).take_all(),
            doubled);
  EXPECT_EQ(ds.map_batches(
                  [](std::span<const Named> b) { return std::vector<Named>(b.begin(), b.end()); },
                  {.batch_size = 7})
                .take_all(),
            rows);
  EXPECT_EQ(ds.repartition(3).take_all(), rows);
  EXPECT_EQ(ds.limit(11).take_all(), std::vector<Named>(rows.begin(), rows.begin() + 11));
  auto twice = rows;
  twice.insert(twice.end(), rows.begin(), rows.end());
  EXPECT_EQ(ds.union_(ds).take_all(), twice);
  auto shuffled = ds.random_shuffle(5).take_all();
  EXPECT_NE(shuffled, rows);
  auto by_value = [](const Named& a, const Named& b) {
    return std::tie(a.value, a.name) < std::tie(b.value, b.name);
  };
  auto sorted_rows = rows;
  std::sort(sorted_rows.begin(), sorted_rows.end(), by_value);
  std::sort(shuffled.begin(), shuffled.end(), by_value);
  EXPECT_EQ(shuffled, sorted_rows);
  std::vector<Named> streamed;
  for (const auto& batch : ds.iter_batches(13))
    streamed.insert(streamed.end(), batch.begin(), batch.end());
  EXPECT_EQ(streamed, rows);
  auto sums = ds.groupby(name_of).sum(value_of).take_all();
  std::map<std::string, std::int64_t> want;
  for (const Named& n : rows) want[n.name] += n.value;
  std::map<std::string, std::int64_t> got(sums.begin(), sums.end());
  EXPECT_EQ(got, want);
}

TEST(Dataset, ActorPoolActorsGetTheGpusTheyAskFor) {
  if (manta::rank_hardware().gpus.empty()) {
    GTEST_SKIP()
        << "no GPUs on rank 0 (the data_test.gpus variant runs with a stand-in 8-GPU node)";
  }
  data::MapBatchesOptions options;
  options.compute = data::ActorPool{2, 2};
  options.resources = {{"GPU", 1}};
  auto got = data::range(64, 8).map_batches(GpuModel{}, options).take_all();
  ASSERT_EQ(got.size(), 64u);
  for (const auto& ids : got) EXPECT_EQ(ids.size(), 1u);
}

TEST(Dataset, AStreamDroppedMidwayLeavesTheJobWorking) {
  {
    data::MapBatchesOptions pool;
    pool.compute = data::ActorPool{1, 2};
    auto batches = data::range(1000, 10).map_batches(Model{}, pool).iter_batches(10);
    ASSERT_TRUE(batches.next());
  }  // dropped with blocks still to come
  EXPECT_EQ(data::range(10, 2).map(square).take(3), (std::vector<std::int64_t>{0, 1, 4}));
}

TEST(Dataset, BadArgumentsAreRefused) {
  EXPECT_THROW(data::range(-1), data::DataError);
  EXPECT_THROW(data::range(10).repartition(0), data::DataError);
  EXPECT_THROW(data::range(10).streaming_split(0), data::DataError);
  data::DataContext& context = data::DataContext::current();
  const data::DataContext saved = context;
  context.target_block_bytes = 0;
  EXPECT_THROW(data::range(10).map(square).take_all(), data::DataError);
  context = saved;
  // A budget of one byte still moves: an operator that holds nothing may always launch.
  context.store_budget_bytes = 1;
  EXPECT_EQ(data::range(1000, 10).map(square).take(3), (std::vector<std::int64_t>{0, 1, 4}));
  context = saved;
}
