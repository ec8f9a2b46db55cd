// The kernels of all-to-all operations, per row type: how a map task splits a block into
// partitions, how a merger combines pieces early and finishes a partition, and for sort how
// keys are sampled and partition boundaries chosen. Random shuffle, sort by a key, and groupby
// with aggregations (partial aggregation in the map stage) or map_groups.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <manta/data/aggregate.h>
#include <manta/data/block.h>
#include <manta/data/callable.h>
#include <manta/data/kernels.h>

namespace manta::data::detail {

struct ShuffleCall {
  const std::vector<std::byte>& function;
  std::uint64_t seed = 0;
  std::uint32_t partitions = 1;
  std::uint64_t index = 0;  // the block (map) or partition (merge)
  const std::vector<std::byte>& boundaries;
  bool descending = false;
};

struct ShuffleKernels {
  std::vector<Rows> (*partition)(const ShuffleCall& call, const Rows& in) = nullptr;
  /// Merges pieces of one partition into one piece early; nullptr: never (random shuffle keeps
  /// pieces apart so that the order does not depend on timing).
  Rows (*combine)(const ShuffleCall& call, const std::vector<Rows>& pieces) = nullptr;
  Rows (*finish)(const ShuffleCall& call, const std::vector<Rows>& pieces) = nullptr;
  Rows (*sample)(const ShuffleCall& call, const Rows& in, std::size_t k) = nullptr;
  std::vector<std::byte> (*boundaries)(const ShuffleCall& call,
                                       const std::vector<Rows>& samples) = nullptr;
  std::string key_type;  // sort: rows of samples and boundaries
};

bool add_shuffle_kernels(const std::string& name, ShuffleKernels (*make)());
const ShuffleKernels& find_shuffle_kernels(const std::string& name);

template <class K>
inline const bool shuffle_registered = add_shuffle_kernels(K::name(), &K::make);

template <class K>
std::string shuffle_kernel() {
  (void)shuffle_registered<K>;
  return K::name();
}

inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Packs several functions' bytes into one (groupby: the key and each aggregation).
std::vector<std::byte> pack_functions(const std::vector<std::vector<std::byte>>& parts);
std::vector<std::vector<std::byte>> unpack_functions(const std::vector<std::byte>& bytes);

template <class T>
struct RandomShuffleKernel {
  static std::string name() { return "random_shuffle " + manta::detail::type_name<T>(); }
  static std::vector<Rows> partition(const ShuffleCall& call, const Rows& in) {
    std::mt19937_64 rng(mix(call.seed ^ mix(call.index)));
    std::vector<std::vector<T>> parts(call.partitions);
    for (const T& row : in.as<T>()) parts[rng() % call.partitions].push_back(row);
    std::vector<Rows> out;
    for (auto& p : parts) out.push_back(Rows::of(std::move(p)));
    return out;
  }
  static Rows finish(const ShuffleCall& call, const std::vector<Rows>& pieces) {
    std::vector<T> rows;
    for (const Rows& p : pieces) {
      auto s = p.as<T>();
      rows.insert(rows.end(), s.begin(), s.end());
    }
    std::mt19937_64 rng(mix(call.seed ^ mix(~call.index)));
    std::shuffle(rows.begin(), rows.end(), rng);
    return Rows::of(std::move(rows));
  }
  static ShuffleKernels make() {
    ShuffleKernels k;
    k.partition = &partition;
    k.finish = &finish;
    return k;
  }
};

template <class T, class F>
struct SortKernel {
  using Key = std::decay_t<std::invoke_result_t<F&, const T&>>;
  static std::string name() { return kernel_name<T, F>("sort"); }

  static bool before(const Key& a, const Key& b, bool descending) {
    return descending ? b < a : a < b;
  }
  static std::vector<T> sorted(std::vector<T> rows, F& f, bool descending) {
    std::stable_sort(rows.begin(), rows.end(), [&](const T& a, const T& b) {
      return before(std::invoke(f, a), std::invoke(f, b), descending);
    });
    return rows;
  }
  static std::vector<Rows> partition(const ShuffleCall& call, const Rows& in) {
    F f = load_function<F>(call.function);
    const Rows bounds_rows =
        decode_rows<Key>(BlockBytes(Buffer(call.boundaries.data(), call.boundaries.size())));
    auto bounds = bounds_rows.as<Key>();
    std::vector<std::vector<T>> parts(call.partitions);
    for (const T& row : in.as<T>()) {
      const Key key = std::invoke(f, row);
      const auto it = std::upper_bound(
          bounds.begin(), bounds.end(), key,
          [&](const Key& a, const Key& b) { return before(a, b, call.descending); });
      const auto p = static_cast<std::size_t>(it - bounds.begin());
      parts[std::min<std::size_t>(p, call.partitions - 1)].push_back(row);
    }
    std::vector<Rows> out;
    for (auto& p : parts) out.push_back(Rows::of(sorted(std::move(p), f, call.descending)));
    return out;
  }
  static Rows merge(const ShuffleCall& call, const std::vector<Rows>& pieces) {
    F f = load_function<F>(call.function);
    std::vector<T> rows;
    for (const Rows& p : pieces) {
      auto s = p.as<T>();
      const auto middle = static_cast<std::ptrdiff_t>(rows.size());
      rows.insert(rows.end(), s.begin(), s.end());
      // Each piece is sorted: merging keeps the whole sorted in linear time per piece.
      std::inplace_merge(rows.begin(), rows.begin() + middle, rows.end(),
                         [&](const T& a, const T& b) {
                           return before(std::invoke(f, a), std::invoke(f, b), call.descending);
                         });
    }
    return Rows::of(std::move(rows));
  }
  static Rows sample(const ShuffleCall& call, const Rows& in, std::size_t k) {
    F f = load_function<F>(call.function);
    auto rows = in.as<T>();
    std::vector<Key> keys;
    if (rows.empty()) return Rows::of(std::move(keys));
    k = std::min(k, rows.size());
    for (std::size_t i = 0; i < k; ++i)
      keys.push_back(std::invoke(f, rows[(2 * i + 1) * rows.size() / (2 * k)]));
    return Rows::of(std::move(keys));
  }
  static std::vector<std::byte> boundaries(const ShuffleCall& call,
                                           const std::vector<Rows>& samples) {
    std::vector<Key> keys;
    for (const Rows& s : samples) {
      auto k = s.as<Key>();
      keys.insert(keys.end(), k.begin(), k.end());
    }
    std::sort(keys.begin(), keys.end(),
              [&](const Key& a, const Key& b) { return before(a, b, call.descending); });
    std::vector<Key> bounds;
    for (std::uint32_t i = 1; i < call.partitions && !keys.empty(); ++i) {
      bounds.push_back(keys[i * keys.size() / call.partitions]);
    }
    BlockBytes bytes = encode_rows<Key>(bounds);
    return {bytes.data(), bytes.data() + bytes.size()};
  }
  static ShuffleKernels make() {
    ShuffleKernels k;
    k.partition = &partition;
    k.combine = &merge;
    k.finish = &merge;
    k.sample = &sample;
    k.boundaries = &boundaries;
    k.key_type = row_type<Key>();
    return k;
  }
};

template <class K>
std::uint32_t partition_of(const K& key, std::uint32_t partitions) {
  return static_cast<std::uint32_t>(mix(std::hash<K>{}(key)) % partitions);
}

template <class First, class... Rest>
struct first_of_pack {
  using type = First;
};
template <class... A>
using first_of = typename first_of_pack<A...>::type;

/// groupby(key) with aggregations: each map task aggregates its block per key (partial
/// aggregation), mergers merge the partial results, and finish yields one row per key, sorted
/// by key: (key, result) for one aggregation, (key, tuple of results) for several.
template <class T, class KeyF, class... Aggs>
struct GroupAggregateKernel {
  using Key = std::decay_t<std::invoke_result_t<KeyF&, const T&>>;
  using Accs = AccPack<typename AggOf<T, Aggs>::Acc...>;
  using Piece = std::pair<Key, Accs>;
  using Result =
      std::conditional_t<sizeof...(Aggs) == 1, typename AggOf<T, first_of<Aggs...>>::Result,
                         std::tuple<typename AggOf<T, Aggs>::Result...>>;
  using Out = std::pair<Key, Result>;
  using Index = std::index_sequence_for<Aggs...>;

  static std::string name() {
    std::string n = kernel_name<T, KeyF>("groupby");
    ((n += " " + manta::detail::type_name<Aggs>()), ...);
    return n;
  }

  struct Functions {
    KeyF key;
    std::tuple<Aggs...> aggs;
  };
  static std::vector<std::byte> save(const KeyF& key, const Aggs&... aggs) {
    return pack_functions({save_function(key), AggOf<T, Aggs>::save(aggs)...});
  }
  template <std::size_t... I>
  static Functions load(const std::vector<std::byte>& bytes, std::index_sequence<I...>) {
    const auto parts = unpack_functions(bytes);
    return Functions{load_function<KeyF>(parts.at(0)),
                     std::tuple<Aggs...>{AggOf<T, Aggs>::load(parts.at(I + 1))...}};
  }
  template <std::size_t... I>
  static Accs init(Functions& f, std::index_sequence<I...>) {
    return Accs{
        std::tuple<typename AggOf<T, Aggs>::Acc...>{AggOf<T, Aggs>::init(std::get<I>(f.aggs))...}};
  }
  template <std::size_t... I>
  static void add(Functions& f, Accs& a, const T& row, std::index_sequence<I...>) {
    (AggOf<T, Aggs>::add(std::get<I>(f.aggs), std::get<I>(a.v), row), ...);
  }
  template <std::size_t... I>
  static void merge(const Functions& f, Accs& a, const Accs& b, std::index_sequence<I...>) {
    (AggOf<T, Aggs>::merge(std::get<I>(f.aggs), std::get<I>(a.v), std::get<I>(b.v)), ...);
  }
  template <std::size_t... I>
  static Result finish(const Functions& f, const Accs& a, std::index_sequence<I...>) {
    if constexpr (sizeof...(Aggs) == 1) {
      return AggOf<T, Aggs...>::finish(std::get<0>(f.aggs), std::get<0>(a.v));
    } else {
      return Result{AggOf<T, Aggs>::finish(std::get<I>(f.aggs), std::get<I>(a.v))...};
    }
  }

  static std::vector<Rows> partition(const ShuffleCall& call, const Rows& in) {
    Functions f = load(call.function, Index{});
    std::unordered_map<Key, Accs> table;
    for (const T& row : in.as<T>()) {
      auto [it, inserted] = table.try_emplace(std::invoke(f.key, row));
      if (inserted) it->second = init(f, Index{});
      add(f, it->second, row, Index{});
    }
    std::vector<std::vector<Piece>> parts(call.partitions);
    for (auto& [key, acc] : table) {
      parts[partition_of(key, call.partitions)].emplace_back(key, std::move(acc));
    }
    std::vector<Rows> out;
    for (auto& p : parts) out.push_back(Rows::of(std::move(p)));
    return out;
  }
  static std::unordered_map<Key, Accs> merged(const Functions& f, const std::vector<Rows>& pieces) {
    std::unordered_map<Key, Accs> table;
    for (const Rows& p : pieces) {
      for (const Piece& piece : p.as<Piece>()) {
        auto [it, inserted] = table.try_emplace(piece.first, piece.second);
        if (!inserted) merge(f, it->second, piece.second, Index{});
      }
    }
    return table;
  }
  static Rows combine(const ShuffleCall& call, const std::vector<Rows>& pieces) {
    const Functions f = load(call.function, Index{});
    auto table = merged(f, pieces);
    std::vector<Piece> out(std::make_move_iterator(table.begin()),
                           std::make_move_iterator(table.end()));
    return Rows::of(std::move(out));
  }
  static Rows finish_rows(const ShuffleCall& call, const std::vector<Rows>& pieces) {
    const Functions f = load(call.function, Index{});
    auto table = merged(f, pieces);
    std::vector<Out> out;
    out.reserve(table.size());
    for (const auto& [key, acc] : table) out.emplace_back(key, finish(f, acc, Index{}));
    std::sort(out.begin(), out.end(), [](const Out& a, const Out& b) { return a.first < b.first; });
    return Rows::of(std::move(out));
  }
  static ShuffleKernels make() {
    ShuffleKernels k;
    k.partition = &partition;
    k.combine = &combine;
    k.finish = &finish_rows;
    (void)row_type<Piece>();
    return k;
  }
};

/// groupby(key).map_groups(f): f(key, rows of the group) returns the group's output rows.
/// Groups come out sorted by key; rows within a group keep their order in the dataset.
template <class T, class KeyF, class F>
struct MapGroupsKernel {
  using Key = std::decay_t<std::invoke_result_t<KeyF&, const T&>>;
  using Batch = std::decay_t<std::invoke_result_t<F&, const Key&, std::span<const T>>>;
  using Out = std::decay_t<typename Batch::value_type>;
  static std::string name() {
    return kernel_name<T, KeyF>("map_groups") + " " + manta::detail::type_name<F>();
  }
  static std::vector<std::byte> save(const KeyF& key, const F& f) {
    return pack_functions({save_function(key), save_function(f)});
  }
  static std::vector<Rows> partition(const ShuffleCall& call, const Rows& in) {
    const auto parts_bytes = unpack_functions(call.function);
    KeyF key = load_function<KeyF>(parts_bytes.at(0));
    std::vector<std::vector<T>> parts(call.partitions);
    for (const T& row : in.as<T>()) {
      parts[partition_of(std::invoke(key, row), call.partitions)].push_back(row);
    }
    std::vector<Rows> out;
    for (auto& p : parts) out.push_back(Rows::of(std::move(p)));
    return out;
  }
  static Rows finish(const ShuffleCall& call, const std::vector<Rows>& pieces) {
    const auto parts_bytes = unpack_functions(call.function);
    KeyF key = load_function<KeyF>(parts_bytes.at(0));
    F f = load_function<F>(parts_bytes.at(1));
    std::vector<std::pair<Key, T>> rows;
    for (const Rows& p : pieces) {
      for (const T& row : p.as<T>()) rows.emplace_back(std::invoke(key, row), row);
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Out> out;
    std::vector<T> group;
    for (std::size_t i = 0; i < rows.size();) {
      std::size_t j = i;
      group.clear();
      while (j < rows.size() && !(rows[i].first < rows[j].first)) group.push_back(rows[j++].second);
      Batch produced = std::invoke(f, rows[i].first, std::span<const T>(group));
      out.insert(out.end(), std::make_move_iterator(produced.begin()),
                 std::make_move_iterator(produced.end()));
      i = j;
    }
    return Rows::of(std::move(out));
  }
  static ShuffleKernels make() {
    ShuffleKernels k;
    k.partition = &partition;
    k.finish = &finish;
    return k;
  }
};

}  // namespace manta::data::detail
