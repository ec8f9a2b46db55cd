// The kernels that run a dataset's work on any rank: per row type (encode, decode, join blocks),
// per transform (map, filter, flat_map, map_batches). Each is a function instantiated from the
// user's types and registered by name during static initialisation, so every rank (all run the
// same binary) finds it by the name the plan carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <manta/data/block.h>
#include <manta/data/callable.h>

namespace manta::data::detail {

/// What a transform kernel gets besides its rows.
struct StageCall {
  const std::vector<std::byte>& function;  // from save_function
  std::uint64_t batch_size = 0;            // map_batches: rows per call (0: the whole block)
  std::uint64_t block_index = 0;           // the block's place in the operator's input
};
using StageFn = Rows (*)(const StageCall& call, const Rows& in);

/// What the runtime does with rows of one type without knowing the type.
struct RowKernels {
  BlockBytes (*encode)(const Rows& rows) = nullptr;
  Rows (*decode)(const BlockBytes& bytes) = nullptr;
  Rows (*concat)(const std::vector<Rows>& parts) = nullptr;
  Rows (*slice)(const Rows& rows, std::size_t first, std::size_t n) = nullptr;
  std::size_t plain_size = 0;  // sizeof(T) for plain rows, 0 for encoded ones
};

/// A source kernel: reads one part of a source (its `args`) into rows, at most `limit` of them
/// when not 0.
using SourceFn = Rows (*)(const std::vector<std::byte>& args, std::uint64_t limit);

/// A transform run by a pool of actors: each actor makes the function object once.
struct ActorStageFns {
  void* (*create)(const std::vector<std::byte>& function) = nullptr;
  void (*destroy)(void* instance) = nullptr;
  Rows (*run)(void* instance, const StageCall& call, const Rows& in) = nullptr;
};

/// The tables; a name registered twice for different functions (two lambdas whose types print
/// alike) is remembered as ambiguous and refused when looked up.
bool add_stage_kernel(const std::string& name, StageFn fn);
StageFn find_stage_kernel(const std::string& name);
bool add_row_kernels(const std::string& name, const RowKernels& kernels);
const RowKernels& find_row_kernels(const std::string& name);
bool add_source_kernel(const std::string& name, SourceFn fn);
SourceFn find_source_kernel(const std::string& name);
bool add_actor_kernel(const std::string& name, const ActorStageFns& fns);
const ActorStageFns& find_actor_kernel(const std::string& name);

template <class T>
Rows concat_rows(const std::vector<Rows>& parts) {
  if (parts.size() == 1) return parts.front();
  std::size_t n = 0;
  for (const Rows& p : parts) n += p.size();
  std::vector<T> out;
  out.reserve(n);
  for (const Rows& p : parts) {
    auto s = p.as<T>();
    out.insert(out.end(), s.begin(), s.end());
  }
  return Rows::of(std::move(out));
}

template <class T>
struct RowKernelsOf {
  static BlockBytes encode(const Rows& rows) { return encode_rows<T>(rows.as<T>()); }
  static Rows decode(const BlockBytes& bytes) { return decode_rows<T>(bytes); }
  static Rows slice(const Rows& rows, std::size_t first, std::size_t n) {
    return rows.slice<T>(first, n);
  }
  static RowKernels make() {
    RowKernels k;
    k.encode = &encode;
    k.decode = &decode;
    k.concat = &concat_rows<T>;
    k.slice = &slice;
    k.plain_size = is_plain_row<T> ? sizeof(T) : 0;
    return k;
  }
};

template <class T>
inline const bool row_kernels_registered = add_row_kernels(manta::detail::type_name<T>(),
                                                           RowKernelsOf<T>::make());

/// The name a plan gives rows of type T; using it registers T's kernels.
template <class T>
std::string row_type() {
  static_assert(std::is_default_constructible_v<T>, "dataset rows need a default constructor");
  (void)row_kernels_registered<T>;
  return manta::detail::type_name<T>();
}

template <class K>
inline const bool stage_registered = add_stage_kernel(K::name(), &K::run);

/// Registers a transform kernel and returns its name.
template <class K>
std::string stage_kernel() {
  (void)stage_registered<K>;
  return K::name();
}

template <class K>
inline const bool source_registered = add_source_kernel(K::name(), &K::run);

/// Registers a source kernel and returns its name.
template <class K>
std::string source_kernel() {
  (void)source_registered<K>;
  return K::name();
}

template <class K>
inline const bool actor_kernel_registered = add_actor_kernel(K::name(), K::fns());

/// Registers an actor-pool kernel and returns its name.
template <class K>
std::string actor_kernel() {
  (void)actor_kernel_registered<K>;
  return K::name();
}

template <class T, class F>
std::string kernel_name(const char* kind) {
  return std::string(kind) + " " + manta::detail::type_name<T>() + " " +
         manta::detail::type_name<F>();
}

/// map(f): one row out per row in.
template <class T, class F>
struct MapKernel {
  using Out = std::decay_t<std::invoke_result_t<F&, const T&>>;
  static std::string name() { return kernel_name<T, F>("map"); }
  static Rows run(const StageCall& call, const Rows& in) {
    F f = load_function<F>(call.function);
    auto rows = in.as<T>();
    std::vector<Out> out;
    out.reserve(rows.size());
    for (const T& row : rows) out.push_back(std::invoke(f, row));
    return Rows::of(std::move(out));
  }
};

/// filter(f): the rows for which f is true.
template <class T, class F>
struct FilterKernel {
  static std::string name() { return kernel_name<T, F>("filter"); }
  static Rows run(const StageCall& call, const Rows& in) {
    F f = load_function<F>(call.function);
    auto rows = in.as<T>();
    std::vector<T> out;
    for (const T& row : rows) {
      if (std::invoke(f, row)) out.push_back(row);
    }
    return Rows::of(std::move(out));
  }
};

/// flat_map(f): f returns a container of rows (any range); they are concatenated.
template <class T, class F>
struct FlatMapKernel {
  using Range = std::decay_t<std::invoke_result_t<F&, const T&>>;
  using Out = std::decay_t<typename Range::value_type>;
  static std::string name() { return kernel_name<T, F>("flat_map"); }
  static Rows run(const StageCall& call, const Rows& in) {
    F f = load_function<F>(call.function);
    std::vector<Out> out;
    for (const T& row : in.as<T>()) {
      Range produced = std::invoke(f, row);
      for (auto& x : produced) out.push_back(std::move(x));
    }
    return Rows::of(std::move(out));
  }
};

/// map_batches(f): f takes a span of rows and returns a vector of rows.
template <class T, class F>
struct MapBatchesKernel {
  using Batch = std::decay_t<std::invoke_result_t<F&, std::span<const T>>>;
  using Out = std::decay_t<typename Batch::value_type>;
  static std::string name() { return kernel_name<T, F>("map_batches"); }
  static Rows run(const StageCall& call, const Rows& in) {
    F f = load_function<F>(call.function);
    auto rows = in.as<T>();
    const std::size_t step = call.batch_size == 0 ? rows.size() : call.batch_size;
    std::vector<Out> out;
    for (std::size_t first = 0; first < rows.size(); first += step) {
      Batch produced = std::invoke(f, rows.subspan(first, std::min(step, rows.size() - first)));
      if (out.empty()) {
        out = std::vector<Out>(std::make_move_iterator(produced.begin()),
                               std::make_move_iterator(produced.end()));
      } else {
        out.insert(out.end(), std::make_move_iterator(produced.begin()),
                   std::make_move_iterator(produced.end()));
      }
    }
    return Rows::of(std::move(out));
  }
};

}  // namespace manta::data::detail

namespace manta::data::detail {

template <class F>
concept HasSetup = requires(F& f) {
  f.setup();
};

/// map_batches over an actor pool: the function object is built once per actor (and its
/// setup() called, if it has one: where a model is loaded), then called per batch.
template <class T, class F>
struct ActorBatchesKernel {
  using Batch = std::decay_t<std::invoke_result_t<F&, std::span<const T>>>;
  using Out = std::decay_t<typename Batch::value_type>;
  static std::string name() { return kernel_name<T, F>("actor_map_batches"); }
  static void* create(const std::vector<std::byte>& function) {
    auto f = std::make_unique<F>(load_function<F>(function));
    if constexpr (HasSetup<F>) f->setup();
    return f.release();
  }
  static void destroy(void* instance) { delete static_cast<F*>(instance); }
  static Rows run(void* instance, const StageCall& call, const Rows& in) {
    F& f = *static_cast<F*>(instance);
    auto rows = in.as<T>();
    const std::size_t step = call.batch_size == 0 ? rows.size() : call.batch_size;
    std::vector<Out> out;
    for (std::size_t first = 0; first < rows.size(); first += step) {
      Batch produced = std::invoke(f, rows.subspan(first, std::min(step, rows.size() - first)));
      out.insert(out.end(), std::make_move_iterator(produced.begin()),
                 std::make_move_iterator(produced.end()));
    }
    return Rows::of(std::move(out));
  }
  static ActorStageFns fns() { return {&create, &destroy, &run}; }
};

}  // namespace manta::data::detail
