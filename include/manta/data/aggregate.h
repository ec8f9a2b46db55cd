// Aggregations for groupby: Count, Sum, Mean, Min and Max of a value function, and custom ones.
// A custom aggregation is a function object (empty, or with a Boost serialize) with
//   using Acc = ...; using Result = ...;
//   Acc init() const; void add(Acc&, const Row&) const; void merge(Acc&, const Acc&) const;
//   Result finish(const Acc&) const;
// Acc travels between ranks (partial aggregates), so it must be serializable too.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <manta/data/callable.h>
#include <manta/detail/std_types.h>  // tuples (groupby results with several aggregations)

namespace manta::data {

/// Rows per group.
struct Count {};
/// The sum of value(row) per group.
template <class F>
struct Sum {
  F value;
};
/// The mean of value(row) per group, as a double.
template <class F>
struct Mean {
  F value;
};
/// The least value(row) per group.
template <class F>
struct Min {
  F value;
};
/// The greatest value(row) per group.
template <class F>
struct Max {
  F value;
};
template <class F>
Sum(F) -> Sum<F>;
template <class F>
Mean(F) -> Mean<F>;
template <class F>
Min(F) -> Min<F>;
template <class F>
Max(F) -> Max<F>;

namespace detail {

/// Several accumulators as one serializable value.
template <class... A>
struct AccPack {
  std::tuple<A...> v;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    std::apply([&](auto&... x) { ((ar & x), ...); }, v);
  }
};

struct MeanAcc {
  double sum = 0;
  std::uint64_t n = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& sum& n;
  }
};

template <class V>
struct ExtremeAcc {
  V value{};
  bool set = false;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& value& set;
  }
};

/// How an aggregation D works on rows of type T (a custom D: its own members).
template <class T, class D>
struct AggOf {
  using Acc = typename D::Acc;
  using Result = typename D::Result;
  static std::vector<std::byte> save(const D& d) { return save_function(d); }
  static D load(const std::vector<std::byte>& b) { return load_function<D>(b); }
  static Acc init(const D& d) { return d.init(); }
  static void add(D& d, Acc& a, const T& row) { d.add(a, row); }
  static void merge(const D& d, Acc& a, const Acc& b) { d.merge(a, b); }
  static Result finish(const D& d, const Acc& a) { return d.finish(a); }
};

template <class T>
struct AggOf<T, Count> {
  using Acc = std::uint64_t;
  using Result = std::uint64_t;
  static std::vector<std::byte> save(const Count&) { return {}; }
  static Count load(const std::vector<std::byte>&) { return {}; }
  static Acc init(const Count&) { return 0; }
  static void add(Count&, Acc& a, const T&) { ++a; }
  static void merge(const Count&, Acc& a, const Acc& b) { a += b; }
  static Result finish(const Count&, const Acc& a) { return a; }
};

template <class T, class F>
using value_of = std::decay_t<std::invoke_result_t<F&, const T&>>;

/// What Sum, Mean, Min and Max share: the value function travels as functions do.
template <class D, class F>
struct ValueAgg {
  static std::vector<std::byte> save(const D& d) { return save_function(d.value); }
  static D load(const std::vector<std::byte>& b) { return D{load_function<F>(b)}; }
};

template <class T, class F>
struct AggOf<T, Sum<F>> : ValueAgg<Sum<F>, F> {
  using Acc = value_of<T, F>;
  using Result = Acc;
  static Acc init(const Sum<F>&) { return Acc{}; }
  static void add(Sum<F>& d, Acc& a, const T& row) { a += std::invoke(d.value, row); }
  static void merge(const Sum<F>&, Acc& a, const Acc& b) { a += b; }
  static Result finish(const Sum<F>&, const Acc& a) { return a; }
};

template <class T, class F>
struct AggOf<T, Mean<F>> : ValueAgg<Mean<F>, F> {
  using Acc = MeanAcc;
  using Result = double;
  static Acc init(const Mean<F>&) { return {}; }
  static void add(Mean<F>& d, Acc& a, const T& row) {
    a.sum += static_cast<double>(std::invoke(d.value, row));
    ++a.n;
  }
  static void merge(const Mean<F>&, Acc& a, const Acc& b) {
    a.sum += b.sum;
    a.n += b.n;
  }
  static Result finish(const Mean<F>&, const Acc& a) {
    return a.n ? a.sum / static_cast<double>(a.n) : 0.0;
  }
};

template <class T, class D, class F, bool Least>
struct ExtremeAgg : ValueAgg<D, F> {
  using Acc = ExtremeAcc<value_of<T, F>>;
  using Result = value_of<T, F>;
  static Acc init(const D&) { return {}; }
  static void keep(Acc& a, const Result& v) {
    if (!a.set || (Least ? v < a.value : a.value < v)) {
      a.value = v;
      a.set = true;
    }
  }
  static void add(D& d, Acc& a, const T& row) { keep(a, std::invoke(d.value, row)); }
  static void merge(const D&, Acc& a, const Acc& b) {
    if (b.set) keep(a, b.value);
  }
  static Result finish(const D&, const Acc& a) { return a.value; }
};

template <class T, class F>
struct AggOf<T, Min<F>> : ExtremeAgg<T, Min<F>, F, true> {};
template <class T, class F>
struct AggOf<T, Max<F>> : ExtremeAgg<T, Max<F>, F, false> {};

}  // namespace detail
}  // namespace manta::data
