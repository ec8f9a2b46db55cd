// manta::data::Dataset<T>: rows of type T split into blocks in the object store, transformed
// lazily. Each transformation returns a new Dataset whose plan has one more operation; nothing
// runs until the data is consumed (take, count, materialize, iter_batches, streaming_split, a
// write), and then the plan is optimised (transforms fused into one task per block) and
// streamed through the job's ranks within a store budget.
//
//   auto ds = manta::data::range(1'000'000).map(square).filter(is_odd);
//   std::uint64_t n = ds.count();
//   for (const auto& batch : ds.iter_batches(4096)) use(batch);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <manta/actor.h>
#include <manta/data/aggregate.h>
#include <manta/data/block.h>
#include <manta/data/callable.h>
#include <manta/data/context.h>
#include <manta/data/errors.h>
#include <manta/data/execution.h>
#include <manta/data/kernels.h>
#include <manta/data/plan.h>
#include <manta/data/shuffle_kernels.h>
#include <manta/data/stats.h>
#include <manta/objects.h>

namespace manta::data {

/// map_batches over actors: between `min` and `max` actors, each building the function object
/// once (its default constructor or state, then setup() if it has one) and taking blocks as
/// they free up; the pool grows while blocks wait and every actor is busy.
struct ActorPool {
  std::uint32_t min = 1;
  std::uint32_t max = 1;
};

struct MapBatchesOptions {
  std::uint64_t batch_size = 0;      // rows per call; 0: a whole block per call
  std::optional<ActorPool> compute;  // run on an actor pool instead of tasks
  ResourceMap resources;             // per task or per actor, e.g. {{"GPU", 1}}
};

template <class T>
class Dataset;
template <class T, class KeyF>
class GroupedDataset;

namespace detail {

using LogicalPtr = std::shared_ptr<const LogicalOp>;

/// The stats of the last run, shared by copies of a Dataset.
struct LastRun {
  DatasetStats stats;
};

/// Rows of a block as a vector (fetching the block if it is on another rank).
template <class T>
std::vector<T> block_rows(const BlockMeta& b) {
  auto bytes = manta::get(b.block);
  const Rows rows = decode_rows<T>(*bytes);  // holds what the span below reads
  auto span = rows.template as<T>();
  return std::vector<T>(span.begin(), span.end());
}

/// Batches of a fixed number of rows from a stream of blocks; the last one may be short.
template <class T>
class BatchStream {
 public:
  using NextBlock = std::function<std::optional<BlockMeta>()>;
  BatchStream(NextBlock next, std::uint64_t batch_size)
      : next_(std::move(next)), batch_size_(batch_size) {}

  std::optional<std::vector<T>> next() {
    if (batch_size_ == 0) throw DataError("iter_batches: batch_size must be at least 1");
    std::vector<T> batch;
    while (batch.size() < batch_size_) {
      if (pos_ == current_.size()) {
        if (done_) break;
        std::optional<BlockMeta> b = next_();
        if (!b) {
          done_ = true;
          break;
        }
        auto bytes = manta::get(b->block);
        current_rows_ = decode_rows<T>(*bytes);
        current_ = current_rows_.template as<T>();
        held_ = std::move(bytes);
        pos_ = 0;
        continue;
      }
      const std::size_t take =
          std::min<std::size_t>(batch_size_ - batch.size(), current_.size() - pos_);
      batch.insert(batch.end(), current_.begin() + static_cast<std::ptrdiff_t>(pos_),
                   current_.begin() + static_cast<std::ptrdiff_t>(pos_ + take));
      pos_ += take;
    }
    if (batch.empty()) return std::nullopt;
    return batch;
  }

 private:
  NextBlock next_;
  std::uint64_t batch_size_;
  std::shared_ptr<const BlockBytes> held_;
  Rows current_rows_;
  std::span<const T> current_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

}  // namespace detail

/// What iter_batches returns: call next() until it returns nothing, or use it in a range-for.
template <class T>
class BatchIterator {
 public:
  BatchIterator(std::shared_ptr<detail::Execution> run, std::shared_ptr<detail::LastRun> last,
                std::uint64_t batch_size)
      : run_(run), last_(std::move(last)), stream_([run] { return run->next(); }, batch_size) {}
  ~BatchIterator() {
    if (run_ && last_) last_->stats = run_->stats();
  }
  BatchIterator(BatchIterator&&) noexcept = default;
  BatchIterator& operator=(BatchIterator&&) noexcept = default;

  /// The next batch, or nothing at the end.
  std::optional<std::vector<T>> next() {
    auto b = stream_.next();
    if (!b && last_) last_->stats = run_->stats();
    return b;
  }

  class iterator {
   public:
    using value_type = std::vector<T>;
    using difference_type = std::ptrdiff_t;
    explicit iterator(BatchIterator* owner) : owner_(owner) { ++*this; }
    iterator() = default;
    const std::vector<T>& operator*() const { return *batch_; }
    const std::vector<T>* operator->() const { return &*batch_; }
    iterator& operator++() {
      batch_ = owner_->next();
      if (!batch_) owner_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.owner_ == b.owner_; }

   private:
    BatchIterator* owner_ = nullptr;
    std::optional<std::vector<T>> batch_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::shared_ptr<detail::Execution> run_;
  std::shared_ptr<detail::LastRun> last_;
  detail::BatchStream<T> stream_;
};

namespace detail {

/// Hands out the blocks of one execution to the consumers of streaming_split, as they ask.
class SplitCoordinator {
 public:
  static SplitCoordinator* create(PhysicalPlan plan, DataContext context, std::uint32_t n);
  /// The next block for consumer `i` (empty at the end of the data).
  std::vector<BlockMeta> next(std::uint32_t consumer);
  /// The execution's stats table.
  std::string stats();

 private:
  std::unique_ptr<Execution> run_;
  std::uint32_t consumers_ = 0;
};

}  // namespace detail

/// One consumer's share of a streaming_split: send it to an actor or task, then iterate.
template <class T>
class DataIterator {
 public:
  DataIterator() = default;
  DataIterator(ActorHandle<detail::SplitCoordinator> coordinator, std::uint32_t index)
      : coordinator_(std::move(coordinator)), index_(index) {}

  /// Batches of this consumer's blocks, pulled from the shared execution as it goes.
  detail::BatchStream<T> iter_batches(std::uint64_t batch_size) const {
    auto coordinator = coordinator_;
    const std::uint32_t index = index_;
    return detail::BatchStream<T>(
        [coordinator, index]() -> std::optional<BlockMeta> {
          auto blocks = manta::get(coordinator.task(&detail::SplitCoordinator::next).remote(index));
          if (blocks->empty()) return std::nullopt;
          return blocks->front();
        },
        batch_size);
  }
  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  /// The shared execution's stats table.
  [[nodiscard]] std::string stats() const {
    return *manta::get(coordinator_.task(&detail::SplitCoordinator::stats).remote());
  }

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& coordinator_& index_;
  }

 private:
  ActorHandle<detail::SplitCoordinator> coordinator_;
  std::uint32_t index_ = 0;
};

template <class T>
class Dataset {
  static_assert(std::is_default_constructible_v<T>, "dataset rows need a default constructor");

 public:
  using row_type = T;

  explicit Dataset(detail::LogicalPtr op)
      : op_(std::move(op)), last_(std::make_shared<detail::LastRun>()) {}

  // ----- transformations (lazy) -----

  /// One row out per row: f(const T&) -> U.
  template <class F>
  auto map(F f) const {
    using K = detail::MapKernel<T, F>;
    return Dataset<typename K::Out>(stage<K, typename K::Out>(f, "Map", true, 0));
  }
  /// The rows for which f(const T&) is true.
  template <class F>
  Dataset<T> filter(F f) const {
    return Dataset<T>(stage<detail::FilterKernel<T, F>, T>(f, "Filter", false, 0));
  }
  /// f(const T&) returns a container of rows; all of them, in order.
  template <class F>
  auto flat_map(F f) const {
    using K = detail::FlatMapKernel<T, F>;
    return Dataset<typename K::Out>(stage<K, typename K::Out>(f, "FlatMap", false, 0));
  }
  /// f(std::span<const T>) -> std::vector<U>, over batches of options.batch_size rows (a whole
  /// block when 0), in tasks or on an actor pool (options.compute).
  template <class F>
  auto map_batches(F f, MapBatchesOptions options = {}) const {
    using K = detail::MapBatchesKernel<T, F>;
    using U = typename K::Out;
    detail::ComputeSpec compute;
    compute.resources = options.resources;
    if (options.compute) {
      if (options.compute->min < 1 || options.compute->max < options.compute->min) {
        throw DataError("map_batches: ActorPool{min, max} needs 1 <= min <= max, got {" +
                        std::to_string(options.compute->min) + ", " +
                        std::to_string(options.compute->max) + "}");
      }
      compute.min_actors = options.compute->min;
      compute.max_actors = options.compute->max;
      compute.actor_kernel = detail::actor_kernel<detail::ActorBatchesKernel<T, F>>();
    }
    return Dataset<U>(stage<K, U>(f, "MapBatches", false, options.batch_size, compute));
  }
  /// The same rows in order, in `blocks` blocks of (nearly) equal row counts.
  Dataset<T> repartition(std::uint32_t blocks) const {
    if (blocks == 0) throw DataError("repartition: the number of blocks must be at least 1");
    auto op = node(detail::OpKind::repartition, "Repartition(" + std::to_string(blocks) + ")");
    op->count = blocks;
    return Dataset<T>(op);
  }
  /// The rows in a random order that depends only on `seed` (and the input's blocks).
  Dataset<T> random_shuffle(std::uint64_t seed = 0) const {
    auto op = node(detail::OpKind::shuffle, "RandomShuffle(seed " + std::to_string(seed) + ")");
    op->shuffle.kind = detail::ShuffleSpec::Kind::random;
    op->shuffle.kernel = detail::shuffle_kernel<detail::RandomShuffleKernel<T>>();
    op->shuffle.seed = seed;
    op->shuffle.piece_type = detail::row_type<T>();
    return Dataset<T>(op);
  }
  /// The rows sorted by key(const T&) (ascending, or descending), by sampled key ranges.
  template <class F>
  Dataset<T> sort(F key, bool descending = false) const {
    using K = detail::SortKernel<T, F>;
    auto op = node(detail::OpKind::shuffle, std::string(descending ? "SortDescending(" : "Sort(") +
                                                detail::function_label(key) + ")");
    op->shuffle.kind = detail::ShuffleSpec::Kind::sort;
    op->shuffle.kernel = detail::shuffle_kernel<K>();
    op->shuffle.function = detail::save_function(key);
    op->shuffle.piece_type = detail::row_type<T>();
    op->shuffle.descending = descending;
    return Dataset<T>(op);
  }
  /// Groups by key(const T&) (hashable and ordered); then count, sum, ... or map_groups.
  template <class F>
  GroupedDataset<T, F> groupby(F key) const {
    detail::check_portable<F>();
    return GroupedDataset<T, F>(*this, key);
  }
  /// This dataset's rows, then each other's.
  template <class... D>
  Dataset<T> union_(const D&... others) const {
    static_assert((std::is_same_v<D, Dataset<T>> && ...), "union_ takes datasets of the same rows");
    auto op = node(detail::OpKind::union_, "Union");
    (op->inputs.push_back(others.op_), ...);
    return Dataset<T>(op);
  }
  /// The first n rows.
  Dataset<T> limit(std::uint64_t n) const {
    auto op = node(detail::OpKind::limit, "Limit(" + std::to_string(n) + ")");
    op->count = n;
    return Dataset<T>(op);
  }

  // ----- consumption (runs the plan) -----

  /// The first n rows.
  std::vector<T> take(std::uint64_t n = 20) const {
    if (n == 0) return {};
    return limit(n).take_all_into(last_);
  }
  /// Every row, in order.
  std::vector<T> take_all() const { return take_all_into(last_); }
  /// The number of rows: from the plan when it knows, else by running it (no rows are fetched).
  std::uint64_t count() const {
    if (auto n = detail::known_rows(*op_)) return *n;
    auto run = execute();
    std::uint64_t n = 0;
    while (auto b = run->next()) n += b->rows;
    last_->stats = run->stats();
    return n;
  }
  /// Runs the plan and keeps its blocks: a dataset that reading again does not recompute.
  Dataset<T> materialize() const {
    auto run = execute();
    auto op = std::make_shared<detail::LogicalOp>();
    op->kind = detail::OpKind::blocks;
    op->row_type = detail::row_type<T>();
    while (auto b = run->next()) op->blocks.push_back(std::move(*b));
    op->label = "Materialized(" + std::to_string(op->blocks.size()) + " blocks)";
    last_->stats = run->stats();
    Dataset<T> out(op);
    out.last_->stats = last_->stats;
    return out;
  }
  /// Batches of batch_size rows, streamed: the plan runs as the caller reads.
  BatchIterator<T> iter_batches(std::uint64_t batch_size = 256) const {
    if (batch_size == 0) throw DataError("iter_batches: batch_size must be at least 1");
    return BatchIterator<T>(execute(), last_, batch_size);
  }
  /// n disjoint streams of this dataset's blocks for n consumers (actors on other ranks): one
  /// execution, its blocks handed to whichever consumer asks next, under the same budget.
  std::vector<DataIterator<T>> streaming_split(std::uint32_t n) const {
    if (n == 0) throw DataError("streaming_split: the number of consumers must be at least 1");
    auto coordinator = manta::actor(&detail::SplitCoordinator::create)
                           .remote(detail::plan_physical(*op_), DataContext::current(), n);
    std::vector<DataIterator<T>> out;
    for (std::uint32_t i = 0; i < n; ++i) out.emplace_back(coordinator, i);
    return out;
  }

  // ----- inspection -----

  /// The logical plan and the physical plan it runs as (fused operators, pushed-down limits).
  [[nodiscard]] std::string explain() const {
    return "logical plan:\n" + detail::describe_logical(*op_) + "physical plan:\n" +
           detail::plan_physical(*op_).to_string();
  }
  /// Per-operator figures of the last time this dataset (or a copy) was consumed.
  [[nodiscard]] DatasetStats stats() const { return last_->stats; }
  /// The blocks, when the dataset is materialized (or made from a vector); else empty.
  [[nodiscard]] std::vector<BlockMeta> blocks() const {
    return op_->kind == detail::OpKind::blocks ? op_->blocks : std::vector<BlockMeta>{};
  }
  [[nodiscard]] const detail::LogicalPtr& logical_plan() const noexcept { return op_; }

 private:
  template <class>
  friend class Dataset;
  template <class, class>
  friend class GroupedDataset;

  std::shared_ptr<detail::LogicalOp> node(detail::OpKind kind, std::string label) const {
    auto op = std::make_shared<detail::LogicalOp>();
    op->kind = kind;
    op->label = std::move(label);
    op->row_type = detail::row_type<T>();
    op->inputs = {op_};
    return op;
  }

  template <class K, class U, class F>
  detail::LogicalPtr stage(const F& f, const char* what, bool keeps_rows, std::uint64_t batch_size,
                           detail::ComputeSpec compute = {}) const {
    detail::check_portable<F>();
    auto op = std::make_shared<detail::LogicalOp>();
    op->kind = detail::OpKind::stage;
    op->label = std::string(what) + "(" + detail::function_label(f) + ")";
    op->row_type = detail::row_type<U>();
    op->inputs = {op_};
    op->stage.kernel = detail::stage_kernel<K>();
    op->stage.function = detail::save_function(f);
    op->stage.batch_size = batch_size;
    op->stage.label = op->label;
    op->stage.out_type = op->row_type;
    op->stage.keeps_rows = keeps_rows;
    op->compute = std::move(compute);
    return op;
  }

  std::shared_ptr<detail::Execution> execute() const {
    return std::make_shared<detail::Execution>(detail::plan_physical(*op_), DataContext::current());
  }

  std::vector<T> take_all_into(const std::shared_ptr<detail::LastRun>& last) const {
    auto run = execute();
    std::vector<T> rows;
    while (auto b = run->next()) {
      auto part = detail::block_rows<T>(*b);
      rows.insert(rows.end(), std::make_move_iterator(part.begin()),
                  std::make_move_iterator(part.end()));
    }
    last->stats = run->stats();
    return rows;
  }

  detail::LogicalPtr op_;
  std::shared_ptr<detail::LastRun> last_;
};

/// ds.groupby(key): aggregations per key, or a function per group.
template <class T, class KeyF>
class GroupedDataset {
 public:
  using Key = std::decay_t<std::invoke_result_t<KeyF&, const T&>>;

  GroupedDataset(Dataset<T> ds, KeyF key) : ds_(std::move(ds)), key_(key) {}

  /// (key, rows in the group): one row per key, each output block sorted by key.
  Dataset<std::pair<Key, std::uint64_t>> count() const { return aggregate(Count{}); }
  /// (key, sum of value(row)).
  template <class F>
  auto sum(F value) const {
    return aggregate(Sum<F>{value});
  }
  /// (key, mean of value(row)) as doubles.
  template <class F>
  auto mean(F value) const {
    return aggregate(Mean<F>{value});
  }
  template <class F>
  auto min(F value) const {
    return aggregate(Min<F>{value});
  }
  template <class F>
  auto max(F value) const {
    return aggregate(Max<F>{value});
  }
  /// One pass, several aggregations (Count{}, Sum{f}, Mean{f}, Min{f}, Max{f} or custom ones):
  /// (key, result) for one, (key, std::tuple of results) for several.
  template <class... Aggs>
  auto aggregate(Aggs... aggs) const {
    static_assert(sizeof...(Aggs) >= 1, "aggregate needs at least one aggregation");
    using K = detail::GroupAggregateKernel<T, KeyF, Aggs...>;
    auto op = ds_.node(detail::OpKind::shuffle, "GroupBy(" + detail::function_label(key_) + ")." +
                                                    aggregation_names<Aggs...>());
    op->row_type = detail::row_type<typename K::Out>();
    op->shuffle.kind = detail::ShuffleSpec::Kind::hash;
    op->shuffle.kernel = detail::shuffle_kernel<K>();
    op->shuffle.function = K::save(key_, aggs...);
    op->shuffle.piece_type = detail::row_type<typename K::Piece>();
    return Dataset<typename K::Out>(op);
  }
  /// f(const Key&, std::span<const T>) -> std::vector<U> per group, groups sorted by key.
  template <class F>
  auto map_groups(F f) const {
    detail::check_portable<F>();
    using K = detail::MapGroupsKernel<T, KeyF, F>;
    auto op = ds_.node(detail::OpKind::shuffle, "MapGroups(" + detail::function_label(key_) + ", " +
                                                    detail::function_label(f) + ")");
    op->row_type = detail::row_type<typename K::Out>();
    op->shuffle.kind = detail::ShuffleSpec::Kind::hash;
    op->shuffle.kernel = detail::shuffle_kernel<K>();
    op->shuffle.function = K::save(key_, f);
    op->shuffle.piece_type = detail::row_type<T>();
    return Dataset<typename K::Out>(op);
  }

 private:
  template <class... Aggs>
  static std::string aggregation_names() {
    std::string names;
    ((names += (names.empty() ? "" : "+") + short_name<Aggs>()), ...);
    return names;
  }
  template <class A>
  static std::string short_name() {
    std::string n = manta::detail::type_name<A>();
    if (auto lt = n.find('<'); lt != std::string::npos) n = n.substr(0, lt);
    if (auto colon = n.rfind("::"); colon != std::string::npos) n = n.substr(colon + 2);
    return n;
  }

  Dataset<T> ds_;
  KeyF key_;
};

}  // namespace manta::data
